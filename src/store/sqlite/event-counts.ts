/**
 * Counts on SQLite, kept by the transactions that write what they count, so dashboards read
 * them without scanning the log:
 * - an `event_counts` row per (topic, source), raised by appends;
 * - `activity` rows per (minute, topic, kind), raised by appends (published) and by
 *   settlements (consumed, retried, dead-lettered);
 * - a `consumer_counts` row per subscription, raised by its accepted acknowledgements.
 * A flush collects them in memory and writes them back before its commit: one upsert per
 * pair, never one per event. That write-back also drops minutes older than a day, at most
 * once every few minutes.
 */
import type Database from 'better-sqlite3';
import {
  ActivityTally,
  PruneSchedule,
  bucketOf,
  checkActivity,
  checkHandled,
  firstBucketSince,
  oldestKeptBucket,
} from '../activity.js';
import type { ActivityCount, AppendedEvent, EventCount, EventCounts, HandledCount } from '../event-store.js';
import type { FlushContext, GroupCommitter } from './group-commit.js';

const FLUSH_COUNTS = 'counts:flush';

/** Longest recorded activity waits for a flush to ride along with (ms). */
const RECORD_DELAY_MS = 50;

interface Delta {
  topic: string;
  source: string;
  events: number;
  lastSeq: number;
}

/** What one flush counted, written back before its commit. */
interface FlushCounts {
  /** (topic, source) -> new events. */
  readonly events: Map<string, Delta>;
  /** Settlements and recorded activity (published is added from `events` at write-back). */
  readonly activity: ActivityTally;
}

interface CountRow {
  topic: string;
  source: string;
  events: number;
  last_seq: number;
}

export class SqliteEventCounts implements EventCounts {
  readonly #upsert: Database.Statement;
  readonly #totals: Database.Statement;
  readonly #after: Database.Statement;
  readonly #upsertActivity: Database.Statement;
  readonly #recent: Database.Statement;
  readonly #prune: Database.Statement;
  readonly #upsertHandled: Database.Statement;
  readonly #handled: Database.Statement;
  readonly #pruning = new PruneSchedule();

  constructor(
    db: Database.Database,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
  ) {
    this.#upsert = db.prepare(
      `INSERT INTO event_counts (topic, source, events, last_seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (topic, source) DO UPDATE SET events = events + excluded.events, last_seq = max(last_seq, excluded.last_seq)`,
    );
    this.#totals = db.prepare('SELECT topic, source, events, last_seq FROM event_counts ORDER BY topic, source');
    this.#after = db.prepare('SELECT count(*) FROM events WHERE topic = ? AND seq > ?').pluck();
    this.#upsertActivity = db.prepare(
      `INSERT INTO activity (bucket, topic, kind, n) VALUES (?, ?, ?, ?)
       ON CONFLICT (bucket, topic, kind) DO UPDATE SET n = n + excluded.n`,
    );
    this.#recent = db.prepare(
      'SELECT topic, kind, sum(n) AS count FROM activity WHERE bucket >= ? GROUP BY topic, kind ORDER BY topic, kind',
    );
    this.#prune = db.prepare('DELETE FROM activity WHERE bucket < ?');
    this.#upsertHandled = db.prepare(
      `INSERT INTO consumer_counts (consumer, handled) VALUES (?, ?)
       ON CONFLICT (consumer) DO UPDATE SET handled = handled + excluded.handled`,
    );
    this.#handled = db.prepare('SELECT consumer, handled AS count FROM consumer_counts ORDER BY consumer');
  }

  /** Counts newly appended events (duplicates excluded) inside the append transaction. */
  appended(events: readonly AppendedEvent[], ctx: FlushContext | undefined): void {
    const counts = ctx ? this.#flushCounts(ctx) : { events: new Map<string, Delta>(), activity: new ActivityTally() };
    const deltas = counts.events;
    for (const e of events) {
      if (e.duplicate) continue;
      const topic = e.envelope.routing.topic;
      const source = e.envelope.event.source;
      const key = `${topic}\u0000${source}`;
      const d = deltas.get(key);
      if (d) {
        d.events++;
        d.lastSeq = Math.max(d.lastSeq, e.seq);
      } else {
        deltas.set(key, { topic, source, events: 1, lastSeq: e.seq });
      }
    }
    // Inside a transaction of its own (no flush): written at once, committed with it.
    if (!ctx) this.#write(counts);
  }

  /**
   * The tally of `ctx`'s flush for settlements: `add` one per accepted settlement (a Map
   * lookup); written back before the commit.
   */
  activity(ctx: FlushContext): ActivityTally {
    return this.#flushCounts(ctx).activity;
  }

  async totals(): Promise<EventCount[]> {
    return (this.#totals.all() as CountRow[]).map((r) => ({
      topic: r.topic,
      source: r.source,
      events: r.events,
      lastSeq: r.last_seq,
    }));
  }

  async after(topic: string, afterSeq: number): Promise<number> {
    return this.#after.get(topic, afterSeq) as number;
  }

  async recent(sinceMs: number): Promise<ActivityCount[]> {
    return this.#recent.all(firstBucketSince(sinceMs)) as ActivityCount[];
  }

  async handled(): Promise<HandledCount[]> {
    return this.#handled.all() as HandledCount[];
  }

  async record(counts: readonly ActivityCount[], handled: readonly HandledCount[] = []): Promise<void> {
    checkActivity(counts);
    checkHandled(handled);
    if (counts.length === 0 && handled.length === 0) return;
    // Nobody waits on it to make progress: it rides along with the next flush.
    await this.committer.enqueueLazy((ctx) => this.activity(ctx).addAll(counts, handled), RECORD_DELAY_MS);
  }

  /** The flush's counts, created (and their write-back registered) by the first caller. */
  #flushCounts(ctx: FlushContext): FlushCounts {
    let counts = ctx.scratch.get(FLUSH_COUNTS) as FlushCounts | undefined;
    if (!counts) {
      const created: FlushCounts = { events: new Map(), activity: new ActivityTally() };
      counts = created;
      ctx.scratch.set(FLUSH_COUNTS, created);
      ctx.beforeCommit(() => this.#write(created));
    }
    return counts;
  }

  #write(counts: FlushCounts): void {
    const { events, activity } = counts;
    for (const d of events.values()) {
      this.#upsert.run(d.topic, d.source, d.events, d.lastSeq);
      activity.add('published', d.topic, d.events);
    }
    if (activity.empty) return;
    const now = this.now();
    const bucket = bucketOf(now);
    for (const row of activity.rows()) this.#upsertActivity.run(bucket, row.topic, row.kind, row.count);
    for (const row of activity.handledRows()) this.#upsertHandled.run(row.consumer, row.count);
    if (this.#pruning.due(now)) this.#prune.run(oldestKeptBucket(now));
  }
}
