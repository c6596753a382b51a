/**
 * Per-topic and per-source event counts on SQLite: an `event_counts` row per (topic, source),
 * raised in the append transaction (one upsert per pair and flush, written before commit),
 * so dashboards read totals without scanning the log.
 */
import type Database from 'better-sqlite3';
import type { AppendedEvent, EventCount, EventCounts } from '../event-store.js';
import type { FlushContext } from './group-commit.js';

const DELTAS = 'counts:deltas';

interface Delta {
  topic: string;
  source: string;
  events: number;
  lastSeq: number;
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

  constructor(db: Database.Database) {
    this.#upsert = db.prepare(
      `INSERT INTO event_counts (topic, source, events, last_seq) VALUES (?, ?, ?, ?)
       ON CONFLICT (topic, source) DO UPDATE SET events = events + excluded.events, last_seq = max(last_seq, excluded.last_seq)`,
    );
    this.#totals = db.prepare('SELECT topic, source, events, last_seq FROM event_counts ORDER BY topic, source');
    this.#after = db.prepare('SELECT count(*) FROM events WHERE topic = ? AND seq > ?').pluck();
  }

  /** Counts newly appended events (duplicates excluded) inside the append transaction. */
  appended(events: readonly AppendedEvent[], ctx: FlushContext | undefined): void {
    const existing = ctx?.scratch.get(DELTAS) as Map<string, Delta> | undefined;
    const deltas = existing ?? new Map<string, Delta>();
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
    if (existing !== undefined || deltas.size === 0) return;
    if (!ctx) {
      this.#write(deltas);
      return;
    }
    // The first append of a flush registers the write-back; later ones add to the same map.
    ctx.scratch.set(DELTAS, deltas);
    ctx.beforeCommit(() => this.#write(deltas));
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

  #write(deltas: Map<string, Delta>): void {
    for (const d of deltas.values()) this.#upsert.run(d.topic, d.source, d.events, d.lastSeq);
  }
}
