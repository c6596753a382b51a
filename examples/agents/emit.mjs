// A subprocess agent for the example workflows: reads the envelope on stdin and prints one
// event per argument (one JSON line each, published in that order with the acknowledgement).
// Usage (from a workflow file): runner: { type: command, command: node, args: [agents/emit.mjs, APIDesignStarted, APIDesignCompleted] }
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { event } = JSON.parse(input);
for (const type of process.argv.slice(2)) {
  process.stdout.write(`${JSON.stringify({ type, payload: { in_reply_to: event.type, cause: event.id } })}\n`);
}
