/**
 * Counts on PostgreSQL, kept by the transactions that write what they count, so dashboards
 * read them without scanning the log:
 * - an `event_counts` row per (topic, source), raised by the append phase's insert itself;
 * - `activity` rows per (minute, topic, kind): published raised by that same insert,
 *   settlements (consumed, retried, dead-lettered) collected by the flush and written at its
 *   end in one upsert, rows in a fixed order;
 * - a `consumer_counts` row per subscription, raised by its accepted acknowledgements in that
 *   same statement (a second `INSERT` in a `WITH`: no extra round trip).
 * The end of a flush that wrote activity also drops minutes older than a day, at most once
 * every few minutes per process.
 */
import {
  type ActivityTally,
  PruneSchedule,
  bucketOf,
  checkActivity,
  checkHandled,
  firstBucketSince,
  oldestKeptBucket,
} from '../activity.js';
import type { ActivityCount, EventCount, EventCounts, HandledCount } from '../event-store.js';
import type { Sql, Statement } from './connection.js';
import type { Flush } from './group-commit.js';
import type { Tables } from './tables.js';

/** Runs a job in the store's next flush. */
type RunInFlush = (job: (flush: Flush) => Promise<undefined>) => Promise<unknown>;

export class PostgresEventCounts implements EventCounts {
  readonly #s: Record<'totals' | 'after' | 'recent' | 'upsertActivity' | 'prune' | 'handled', Statement>;
  readonly #pruning = new PruneSchedule();

  constructor(
    t: Tables,
    private readonly reader: Sql,
    private readonly run: RunInFlush,
  ) {
    this.#s = {
      totals: {
        name: 'ab_counts_totals',
        text: `SELECT topic, source, events, last_seq FROM ${t.eventCounts} ORDER BY topic, source`,
      },
      after: { name: 'ab_counts_after', text: `SELECT count(*) AS n FROM ${t.events} WHERE topic = $1 AND seq > $2` },
      recent: {
        name: 'ab_activity_recent',
        text: `SELECT topic, kind, sum(n) AS count FROM ${t.activity} WHERE bucket >= $1 GROUP BY topic, kind ORDER BY topic, kind`,
      },
      // Both row sets come sorted (topic and kind; subscription), so that two processes'
      // flushes lock shared rows in the same order.
      upsertActivity: {
        name: 'ab_activity_upsert',
        text: `WITH handled AS (
            INSERT INTO ${t.consumerCounts} AS c (consumer, handled)
            SELECT h.consumer, h.n FROM unnest($5::text[], $6::bigint[]) AS h(consumer, n)
            ON CONFLICT (consumer) DO UPDATE SET handled = c.handled + excluded.handled)
          INSERT INTO ${t.activity} AS a (bucket, topic, kind, n)
          SELECT $1, u.topic, u.kind, u.n FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(topic, kind, n)
          ON CONFLICT (bucket, topic, kind) DO UPDATE SET n = a.n + excluded.n`,
      },
      handled: {
        name: 'ab_counts_handled',
        text: `SELECT consumer, handled FROM ${t.consumerCounts} ORDER BY consumer`,
      },
      prune: { name: 'ab_activity_prune', text: `DELETE FROM ${t.activity} WHERE bucket < $1` },
    };
  }

  async totals(): Promise<EventCount[]> {
    const rows = await this.reader.rows<{ topic: string; source: string; events: number; last_seq: number }>(this.#s.totals);
    return rows.map((r) => ({ topic: r.topic, source: r.source, events: Number(r.events), lastSeq: Number(r.last_seq) }));
  }

  async after(topic: string, afterSeq: number): Promise<number> {
    const [row] = await this.reader.rows<{ n: number }>(this.#s.after, [topic, afterSeq]);
    return Number(row?.n ?? 0);
  }

  async recent(sinceMs: number): Promise<ActivityCount[]> {
    const rows = await this.reader.rows<ActivityCount>(this.#s.recent, [firstBucketSince(sinceMs)]);
    return rows.map((r) => ({ topic: r.topic, kind: r.kind, count: Number(r.count) }));
  }

  async handled(): Promise<HandledCount[]> {
    const rows = await this.reader.rows<{ consumer: string; handled: number }>(this.#s.handled);
    return rows.map((r) => ({ consumer: r.consumer, count: Number(r.handled) }));
  }

  async record(counts: readonly ActivityCount[], handled: readonly HandledCount[] = []): Promise<void> {
    checkActivity(counts);
    checkHandled(handled);
    if (counts.length === 0 && handled.length === 0) return;
    await this.run(async (flush) => {
      flush.activity.addAll(counts, handled);
      return undefined;
    });
  }

  /**
   * The end of a flush: writes its settlements' activity and handled counts in one statement,
   * and drops old minutes when due. `appended` says whether the flush's insert already counted published events.
   */
  async finish(sql: Sql, activity: ActivityTally, appended: boolean, now: number): Promise<void> {
    if (!activity.empty) {
      const rows = activity.rows();
      const handled = activity.handledRows();
      await sql.rows(this.#s.upsertActivity, [
        bucketOf(now),
        rows.map((r) => r.topic),
        rows.map((r) => r.kind),
        rows.map((r) => r.count),
        handled.map((h) => h.consumer),
        handled.map((h) => h.count),
      ]);
    }
    if ((appended || !activity.empty) && this.#pruning.due(now)) {
      await sql.rows(this.#s.prune, [oldestKeptBucket(now)]);
    }
  }
}
