// A subprocess agent: reads the envelope on stdin and answers with one event of the type
// given as its argument (one JSON line on stdout), as the agent runtime's command runner expects.
// Usage (from a workflow file): runner: { type: command, command: node, args: [agents/reply.mjs, WireframeCompleted] }
let input = '';
for await (const chunk of process.stdin) input += chunk;
const envelope = JSON.parse(input);
const type = process.argv[2];
process.stdout.write(`${JSON.stringify({ type, payload: { in_reply_to: envelope.event.type } })}\n`);
