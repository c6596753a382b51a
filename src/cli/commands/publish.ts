/**
 * `agentbus publish`: one event from flags, or a whole envelope (the seed's JSON) from stdin.
 */
import { type Command, Option } from 'commander';
import type { Bus } from '../../bus/index.js';
import { createEnvelope, createIdGenerator, parseEnvelope } from '../../envelope/index.js';
import type { Envelope, JsonValue, Priority, PublishInput } from '../../envelope/index.js';
import { resolveDueAt } from '../../bus/timers.js';
import { AgentbusError, invalidField } from '../../errors.js';
import { globalOptions, withBus } from '../context.js';
import { printJson } from '../output.js';
import { parseJsonValue } from '../parse.js';
import { readJsonFromStdin } from '../stdin.js';

interface PublishFlags {
  topic?: string;
  type?: string;
  data?: JsonValue;
  correlationId?: string;
  causationId?: string;
  partitionKey?: string;
  priority?: Priority;
  source?: string;
  id?: string;
  delay?: string;
  deliverAt?: string;
}

/** Flags that build an event; none of them may accompany an envelope read from stdin. */
const EVENT_FLAGS: ReadonlyArray<[keyof PublishFlags, string]> = [
  ['topic', '--topic'],
  ['type', '--type'],
  ['data', '--data'],
  ['correlationId', '--correlation-id'],
  ['causationId', '--causation-id'],
  ['partitionKey', '--partition-key'],
  ['priority', '--priority'],
  ['source', '--source'],
  ['id', '--id'],
  ['delay', '--delay'],
  ['deliverAt', '--deliver-at'],
];

/** The same refusal, naming the CLI flag instead of the library option. */
function renameField(error: unknown, names: Record<string, string>): unknown {
  if (!(error instanceof AgentbusError)) return error;
  const field = names[String(error.details.field)];
  if (field === undefined) return error;
  return new AgentbusError('OPTIONS_INVALID', `${field}: ${error.details.reason ?? error.message}`, { ...error.details, field });
}

/** Builds the publish input from flags. @throws AgentbusError `OPTIONS_INVALID` when topic or type is missing. */
function inputFromFlags(flags: PublishFlags): PublishInput {
  if (flags.topic === undefined)
    throw invalidField('OPTIONS_INVALID', '--topic', 'required with --type (or pipe a whole envelope on stdin)');
  if (flags.type === undefined)
    throw invalidField('OPTIONS_INVALID', '--type', 'required with --topic (or pipe a whole envelope on stdin)');
  return {
    topic: flags.topic,
    type: flags.type,
    ...(flags.data === undefined ? {} : { payload: flags.data }),
    ...(flags.correlationId === undefined ? {} : { correlationId: flags.correlationId }),
    ...(flags.causationId === undefined ? {} : { causationId: flags.causationId }),
    ...(flags.partitionKey === undefined ? {} : { partitionKey: flags.partitionKey }),
    ...(flags.priority === undefined ? {} : { priority: flags.priority }),
    ...(flags.source === undefined ? {} : { source: flags.source }),
    ...(flags.id === undefined ? {} : { id: flags.id }),
  };
}

async function publishAction(stdinArg: string | undefined, flags: PublishFlags, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  if (stdinArg !== undefined && stdinArg !== '-') {
    throw invalidField('OPTIONS_INVALID', `argument "${stdinArg}"`, 'only - (read the envelope from stdin) is accepted');
  }
  const firstFlag = EVENT_FLAGS.find(([key]) => flags[key] !== undefined);
  const fromStdin = stdinArg === '-' || (firstFlag === undefined && !process.stdin.isTTY);
  let publish: (bus: Bus) => Promise<Envelope>;
  if (fromStdin) {
    if (firstFlag) throw invalidField('OPTIONS_INVALID', firstFlag[1], 'cannot be combined with an envelope on stdin');
    const wire = await readJsonFromStdin();
    parseEnvelope(wire); // refused before the database is opened, like flags below
    publish = (bus) => bus.publishEnvelope(wire);
  } else {
    const input = inputFromFlags(flags);
    // Validate before opening the database: refused input never even creates the file.
    const clock = { now: () => Date.now() };
    createEnvelope(input, { clock, newId: createIdGenerator({ clock }) });
    const delay = {
      ...(flags.delay === undefined ? {} : { delay: flags.delay }),
      ...(flags.deliverAt === undefined ? {} : { deliverAt: flags.deliverAt }),
    };
    try {
      resolveDueAt(delay, clock.now());
    } catch (error) {
      throw renameField(error, { delay: '--delay', deliverAt: '--deliver-at' });
    }
    publish = (bus) => bus.publish({ ...input, ...delay });
  }
  const stored = await withBus(target, publish);
  printJson(stored, json);
}

/** Adds `publish` to `program`. */
export function registerPublish(program: Command): void {
  program
    .command('publish')
    .summary('publish one event from flags, or a whole envelope from stdin')
    .description(
      'Publish one event from flags, or a whole envelope (the JSON of {event, payload, routing}) from stdin. ' +
        'Prints the stored envelope as JSON (compact with --json). Publishing an id again returns the first copy.',
    )
    .argument('[-]', "'-' to read the envelope from stdin (the default when stdin is piped and no event flag is given)")
    .option('--topic <topic>', 'topic, e.g. project.tasks')
    .option('--type <type>', 'event type, e.g. TaskCompletedEvent')
    .option('--data <json>', 'payload as JSON', parseJsonValue)
    .option('--correlation-id <id>', 'correlation id (default: the new event id)')
    .option('--causation-id <id>', 'id of the event that caused this one')
    .option('--partition-key <key>', 'ordering key')
    .addOption(new Option('--priority <priority>', 'delivery priority').choices(['high', 'normal', 'low']))
    .option('--source <agent>', 'publishing agent, e.g. /backend-architect (default: /agentbus)')
    .option('--id <id>', 'event id to keep (publishing it twice is a no-op)')
    .option('--delay <duration>', 'publish later, e.g. 30s, 2h (kept on a durable timer)')
    .option('--deliver-at <time>', 'publish at this RFC 3339 time (kept on a durable timer)')
    .action(publishAction);
}
