/**
 * The `stream_events` table: an event's place in its stream, for event-sourced aggregates.
 * An append to a stream runs as one group-commit job: the version check, the log insert and
 * the stream rows commit together, and the write lock of the flush makes the check and the
 * insert atomic across processes.
 */
import type Database from 'better-sqlite3';
import type { AgentbusError } from '../../errors.js';
import type {
  AppendItem,
  AppendedEvent,
  StreamAppendResult,
  StreamEvent,
  StreamExpectedVersion,
  StreamStore,
} from '../event-store.js';
import { invalidStreamAppend, streamConflict } from '../stream-version.js';
import type { EventRow } from './event-log.js';
import type { FlushContext } from './group-commit.js';

const PAGE_SIZE = 500;

/** Runs a job inside the next group commit; a returned `Error` rejects without writing. */
export type StreamJobRunner = <T>(job: (ctx: FlushContext) => T | Error) => Promise<Exclude<T, Error>>;

/** Appends to the log inside the running transaction (the store's own append path). */
export type LogAppender = (items: readonly AppendItem[], ctx: FlushContext) => AppendedEvent[];

interface StreamRow extends EventRow {
  stream: string;
  version: number;
}

export class SqliteStreamStore implements StreamStore {
  readonly #version: Database.Statement;
  readonly #insert: Database.Statement;
  readonly #read: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly run: StreamJobRunner,
    private readonly appendToLog: LogAppender,
  ) {
    this.#version = db.prepare('SELECT max(version) FROM stream_events WHERE stream = ?').pluck();
    this.#insert = db.prepare('INSERT INTO stream_events (stream, version, seq) VALUES (?, ?, ?)');
    this.#read = db.prepare(
      `SELECT s.stream, s.version, e.seq, e.stored_at, e.body FROM stream_events s JOIN events e ON e.seq = s.seq
       WHERE s.stream = ? AND s.version >= ? AND s.version <= ? ORDER BY s.version LIMIT ${PAGE_SIZE}`,
    );
  }

  append(stream: string, items: readonly AppendItem[], expected: StreamExpectedVersion = 'any'): Promise<StreamAppendResult> {
    const refused = invalidStreamAppend(stream, expected);
    if (refused) return Promise.reject(refused);
    return this.run((ctx) => this.#appendNow(stream, items, expected, ctx));
  }

  async version(stream: string): Promise<number> {
    return this.#current(stream);
  }

  async *read(
    stream: string,
    options: { fromVersion?: number; toVersion?: number; limit?: number } = {},
  ): AsyncGenerator<StreamEvent> {
    let from = Math.max(1, options.fromVersion ?? 1);
    const to = options.toVersion ?? Number.MAX_SAFE_INTEGER;
    let remaining = options.limit ?? Number.POSITIVE_INFINITY;
    while (remaining > 0 && from <= to) {
      const rows = this.#read.all(stream, from, to) as StreamRow[];
      for (const row of rows) {
        yield {
          seq: row.seq,
          storedAt: row.stored_at,
          envelope: JSON.parse(row.body),
          stream: row.stream,
          version: row.version,
        };
        if (--remaining <= 0) return;
      }
      if (rows.length < PAGE_SIZE) return;
      from = (rows[rows.length - 1] as StreamRow).version + 1;
    }
  }

  #current(stream: string): number {
    return (this.#version.get(stream) as number | null) ?? 0;
  }

  /** Check, log insert and stream rows, synchronously inside the flush's transaction. */
  #appendNow(
    stream: string,
    items: readonly AppendItem[],
    expected: StreamExpectedVersion,
    ctx: FlushContext,
  ): StreamAppendResult | AgentbusError {
    const actual = this.#current(stream);
    const conflict = streamConflict(stream, expected, actual);
    if (conflict) return conflict;
    const events = this.appendToLog(items, ctx);
    let version = actual;
    for (const event of events) {
      if (event.duplicate) continue;
      version += 1;
      this.#insert.run(stream, version, event.seq);
    }
    return { version, events };
  }
}
