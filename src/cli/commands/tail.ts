/**
 * `agentbus tail`: follows the log live, as a read-only follower (no durable subscription).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { compilePattern, parseFilter, validateTopicPattern } from '../../routing/index.js';
import type { StoredEvent } from '../../store/event-store.js';
import { globalOptions, withBus } from '../context.js';
import { followEvents } from '../../bus/follow.js';
import { note, storedEventJson, writeLine } from '../output.js';
import { parseNonEmpty, parsePositiveInt } from '../parse.js';

/** Where tailing starts. */
type From = 'earliest' | 'latest' | number;

interface TailFlags {
  filter?: string;
  from: From;
}

function parseFrom(value: string): From {
  if (value === 'earliest' || value === 'latest') return value;
  try {
    return parsePositiveInt(value);
  } catch {
    throw new InvalidArgumentError('Must be earliest, latest or a position (1, 2, ...).');
  }
}

/** One event as a tail line: `seq  time  topic  type  source  correlation_id`. */
export function formatTailLine({ seq, envelope: { event, routing } }: StoredEvent): string {
  return [String(seq), event.timestamp, routing.topic, event.type, event.source, event.correlation_id].join('  ');
}

async function tailAction(pattern: string, flags: TailFlags, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  // Refuse a bad pattern or filter before opening anything.
  const topic = validateTopicPattern(pattern, 'pattern');
  const matcher = flags.filter !== undefined ? compilePattern(parseFilter(flags.filter)) : undefined;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await withBus(
      target,
      async (bus) => {
        const fromSeq = flags.from === 'earliest' ? 1 : flags.from === 'latest' ? (await bus.store.head()) + 1 : flags.from;
        await followEvents(bus, {
          fromSeq,
          topic,
          ...(matcher ? { match: (event: StoredEvent) => matcher(event.envelope) } : {}),
          signal: stop.signal,
          onEvent: (event) => writeLine(json ? JSON.stringify(storedEventJson(event)) : formatTailLine(event)),
          onReady: () =>
            note(`tailing ${topic}${flags.filter ? ` where ${flags.filter}` : ''}: waiting for events (Ctrl-C to stop)`),
        });
      },
      { mustExist: true },
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Adds `tail` to `program`. */
export function registerTail(program: Command): void {
  program
    .command('tail')
    .summary('follow events live, read-only (no subscription)')
    .description(
      'Follow events live without creating a subscription (read-only). One line per event: ' +
        'seq  time  topic  type  source  correlation_id; with --json one {seq, stored_at, envelope} per line. ' +
        'Runs until Ctrl-C (SIGINT) or SIGTERM.',
    )
    .argument('<pattern>', 'topic pattern: project.tasks, project.*, project.>, >')
    .option('--filter <expr>', 'content filter, e.g. "type=APIDesignCompleted and payload.result.endpoints>10"', parseNonEmpty)
    .option('--from <where>', 'earliest, latest, or a position', parseFrom, 'latest' as From)
    .action(tailAction);
}
