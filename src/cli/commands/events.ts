/**
 * `agentbus events`: reads history as the seed's markdown table, or as JSON.
 */
import type { Command } from 'commander';
import { validateTopicPattern } from '../../routing/index.js';
import type { HistoryQuery, StoredEvent } from '../../store/event-store.js';
import { globalOptions, withBus } from '../context.js';
import { formatTimeColumn, note, printJson, storedEventJson, writeLine } from '../output.js';
import { parseNonEmpty, parsePositiveInt, parseWhen } from '../parse.js';
import { formatTable } from '../table.js';

interface EventsFlags {
  topic?: string;
  type?: string;
  correlationId?: string;
  causationId?: string;
  since?: number;
  until?: number;
  fromSeq?: number;
  limit: number;
  reverse?: boolean;
}

/** The default of `--limit`. */
const DEFAULT_LIMIT = 50;

/** The table's columns, after the seed's correlation table. */
const HEADERS = ['Seq', 'Time', 'Topic', 'Event', 'Agent', 'Correlation ID'];

/**
 * The seed-style table of `events`: `| Seq | Time | Topic | Event | Agent | Correlation ID |`.
 * An event whose `expires_at` has passed (never delivered) is marked `(expired)`.
 */
export function formatEventsTable(events: readonly StoredEvent[], now: number = Date.now()): string {
  const times = formatTimeColumn(events.map((e) => e.envelope.event.timestamp));
  const rows = events.map(({ seq, envelope: { event, routing } }, i) => [
    String(seq),
    times[i] as string,
    routing.topic,
    event.expires_at !== undefined && Date.parse(event.expires_at) <= now ? `${event.type} (expired)` : event.type,
    event.source,
    event.correlation_id,
  ]);
  return formatTable(HEADERS, rows);
}

function queryOf(flags: EventsFlags): HistoryQuery {
  return {
    ...(flags.topic === undefined ? {} : { topic: validateTopicPattern(flags.topic, '--topic') }),
    ...(flags.type === undefined ? {} : { type: flags.type }),
    ...(flags.correlationId === undefined ? {} : { correlationId: flags.correlationId }),
    ...(flags.causationId === undefined ? {} : { causationId: flags.causationId }),
    ...(flags.since === undefined ? {} : { since: flags.since }),
    ...(flags.until === undefined ? {} : { until: flags.until }),
    ...(flags.fromSeq === undefined ? {} : { fromSeq: flags.fromSeq }),
    // One more than asked, to tell the reader when there is more.
    limit: flags.limit + 1,
    direction: flags.reverse ? 'backward' : 'forward',
  };
}

async function eventsAction(flags: EventsFlags, command: Command): Promise<void> {
  const { target, json } = globalOptions(command);
  const query = queryOf(flags);
  const events = await withBus(
    target,
    async (bus) => {
      const found: StoredEvent[] = [];
      for await (const event of bus.events(query)) found.push(event);
      return found;
    },
    { mustExist: true },
  );
  const more = events.length > flags.limit;
  const shown = more ? events.slice(0, flags.limit) : events;
  if (json) {
    printJson(shown.map(storedEventJson), true);
    return;
  }
  if (shown.length === 0) {
    note('no events');
    return;
  }
  writeLine(formatEventsTable(shown));
  if (more) {
    const last = (shown[shown.length - 1] as StoredEvent).seq;
    note(`(first ${flags.limit} shown; more match: raise --limit${flags.reverse ? '' : ` or pass --from-seq ${last + 1}`})`);
  }
}

/** Adds `events` to `program`. */
export function registerEvents(program: Command): void {
  program
    .command('events')
    .summary('show history as a seed-style table (or JSON)')
    .description(
      'Show history as a table: | Seq | Time | Topic | Event | Agent | Correlation ID | (Agent is event.source; ' +
        'Time is UTC, HH:MM:SS when all rows share a day). Oldest first from --from-seq, or newest first with --reverse. ' +
        'With --json: one JSON array of {seq, stored_at, envelope} (stored_at: RFC 3339 commit time), [] when none match.',
    )
    .option('--topic <pattern>', 'topic pattern: project.tasks, project.*, project.>', parseNonEmpty)
    .option('--type <type>', 'only this event type', parseNonEmpty)
    .option('--correlation-id <id>', 'only events of this correlation', parseNonEmpty)
    .option('--causation-id <id>', 'only events caused by this event id', parseNonEmpty)
    .option('--since <when>', 'events at or after WHEN: RFC 3339, or a duration ago (30m, 1h, 2d)', (v: string) => parseWhen(v))
    .option('--until <when>', 'events before WHEN: RFC 3339, or a duration ago', (v: string) => parseWhen(v))
    .option('--from-seq <n>', 'lowest position to show', parsePositiveInt)
    .option('--limit <n>', 'most events to show', parsePositiveInt, DEFAULT_LIMIT)
    .option('--reverse', 'newest first')
    .action(eventsAction);
}
