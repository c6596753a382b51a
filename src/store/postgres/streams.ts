import type { AppendItem, StreamAppendResult, StreamEvent, StreamExpectedVersion, StreamStore } from '../event-store.js';
import type { Sql, Statement } from './connection.js';
import type { EventRow } from './event-log.js';
import { Deferred, type Flush, type Settled } from './group-commit.js';
import { invalidStreamAppend } from '../stream-version.js';
import type { Tables } from './tables.js';

const PAGE_SIZE = 500;

/** Runs a job in the next group commit. */
export type StreamJobRunner = <R>(job: (flush: Flush) => Promise<R>) => Promise<Settled<R>>;

interface StreamRow extends EventRow {
  stream: string;
  version: number;
}

export class PostgresStreamStore implements StreamStore {
  readonly #version: Statement;
  readonly #read: Statement;

  constructor(
    t: Tables,
    private readonly reader: Sql,
    private readonly run: StreamJobRunner,
  ) {
    this.#version = {
      name: 'ab_stream_version',
      text: `SELECT coalesce(max(version), 0) AS version FROM ${t.streamEvents} WHERE stream = $1`,
    };
    this.#read = {
      name: 'ab_stream_read',
      text: `SELECT s.stream, s.version, e.seq, e.stored_at, e.body FROM ${t.streamEvents} s JOIN ${t.events} e ON e.seq = s.seq
             WHERE s.stream = $1 AND s.version >= $2 AND s.version <= $3 ORDER BY s.version LIMIT ${PAGE_SIZE}`,
    };
  }

  append(stream: string, items: readonly AppendItem[], expected: StreamExpectedVersion = 'any'): Promise<StreamAppendResult> {
    const refused = invalidStreamAppend(stream, expected);
    if (refused) return Promise.reject(refused);
    return this.run(async (flush) => {
      const request = flush.append({ items, stream: { name: stream, expected } });
      return new Deferred<StreamAppendResult | Error>(() =>
        request.refused ? request.refused : { version: request.version ?? 0, events: request.result ?? [] },
      );
    });
  }

  async version(stream: string): Promise<number> {
    const [row] = await this.reader.rows<{ version: number }>(this.#version, [stream]);
    return Number(row?.version ?? 0);
  }

  async *read(
    stream: string,
    options: { fromVersion?: number; toVersion?: number; limit?: number } = {},
  ): AsyncGenerator<StreamEvent> {
    let from = Math.max(1, options.fromVersion ?? 1);
    const to = Math.min(options.toVersion ?? 2_147_483_647, 2_147_483_647);
    let remaining = options.limit ?? Number.POSITIVE_INFINITY;
    while (remaining > 0 && from <= to) {
      const rows = await this.reader.rows<StreamRow>(this.#read, [stream, from, to]);
      for (const row of rows) {
        yield {
          seq: Number(row.seq),
          storedAt: Number(row.stored_at),
          envelope: JSON.parse(row.body),
          stream: row.stream,
          version: Number(row.version),
        };
        if (--remaining <= 0) return;
      }
      if (rows.length < PAGE_SIZE) return;
      from = Number((rows[rows.length - 1] as StreamRow).version) + 1;
    }
  }
}
