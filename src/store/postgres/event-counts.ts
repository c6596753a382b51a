/**
 * Per-topic and per-source event counts on PostgreSQL: an `event_counts` row per
 * (topic, source), raised by the append phase's insert statement itself, so dashboards read
 * totals without scanning the log.
 */
import type { EventCount, EventCounts } from '../event-store.js';
import type { Sql, Statement } from './connection.js';
import type { Tables } from './tables.js';

export class PostgresEventCounts implements EventCounts {
  readonly #totals: Statement;
  readonly #after: Statement;

  constructor(
    t: Tables,
    private readonly reader: Sql,
  ) {
    this.#totals = {
      name: 'ab_counts_totals',
      text: `SELECT topic, source, events, last_seq FROM ${t.eventCounts} ORDER BY topic, source`,
    };
    this.#after = { name: 'ab_counts_after', text: `SELECT count(*) AS n FROM ${t.events} WHERE topic = $1 AND seq > $2` };
  }

  async totals(): Promise<EventCount[]> {
    const rows = await this.reader.rows<{ topic: string; source: string; events: number; last_seq: number }>(this.#totals);
    return rows.map((r) => ({ topic: r.topic, source: r.source, events: Number(r.events), lastSeq: Number(r.last_seq) }));
  }

  async after(topic: string, afterSeq: number): Promise<number> {
    const [row] = await this.reader.rows<{ n: number }>(this.#after, [topic, afterSeq]);
    return Number(row?.n ?? 0);
  }
}
