/**
 * Group commit on PostgreSQL: every write issued while no flush runs (one tick, or the time
 * one flush takes under load) shares one transaction on one pooled connection.
 *
 * A job runs inside the transaction and returns a value, an `Error` value for a refusal that
 * must not roll back the others (a lost lease, a version conflict), or a {@link Deferred}
 * read after the flush's appends. Appends are not inserted by the jobs: they are queued on
 * the flush and inserted together, after every job ran, under the log-head lock (see
 * docs/adr/0007-postgres-positions.md). A thrown error fails the whole flush; a deadlock or
 * serialization failure runs it again.
 */
import type { Pool } from 'pg';
import { AgentbusError } from '../../errors.js';
import { ActivityTally } from '../activity.js';
import type { AppendItem, AppendedEvent, StreamExpectedVersion } from '../event-store.js';
import { type Sql, backendError, holdConnection, isNoAnswer, isRetryable, reportingSql, sqlOf } from './connection.js';

/** A value computed once the flush's appends are done. */
export class Deferred<T> {
  constructor(readonly get: () => T) {}
}

/** What a job's result settles to: a deferred value read, refusals (errors) removed. */
export type Settled<R> = R extends Deferred<infer U> ? Exclude<U, Error> : Exclude<R, Error>;

/** Items to append, optionally to a stream with an expected version. */
export interface AppendRequest {
  readonly items: readonly AppendItem[];
  readonly stream?: { readonly name: string; readonly expected: StreamExpectedVersion };
  /** Filled by the append phase. */
  result?: AppendedEvent[];
  /** The stream's version after the append (stream requests). */
  version?: number;
  /** Set instead of `result` when the stream's version did not match. */
  refused?: AgentbusError;
}

/** What one flush (one transaction) collects from its jobs. */
export class Flush {
  readonly appends: AppendRequest[] = [];
  /** Lag-limit counter changes, applied under the log-head lock. */
  readonly lagDeltas = new Map<string, number>();
  /** Work that must run under the log-head lock, after the appends (lag recounts). */
  readonly underHeadLock: Array<(sql: Sql) => Promise<void>> = [];
  /** Write-back of caches, after every job, before the appends. */
  readonly beforeAppends: Array<(sql: Sql) => Promise<void>> = [];
  readonly scratch = new Map<string, unknown>();
  /** Activity of this flush's settlements (and recorded activity), written at its end. */
  readonly activity = new ActivityTally();
  /** Consumers may have new work after the commit: wake them (here and in other processes). */
  wake = false;

  constructor(
    readonly sql: Sql,
    /** The log's head as of this flush's start, refreshed by appends. */
    readonly consumersVersion: number,
  ) {}

  /** Queues `request` for this flush's one insert. */
  append(request: AppendRequest): AppendRequest {
    this.appends.push(request);
    return request;
  }

  lag(consumer: string, delta: number): void {
    if (delta !== 0) this.lagDeltas.set(consumer, (this.lagDeltas.get(consumer) ?? 0) + delta);
  }

  /** True when the flush must take the log-head lock. */
  get needsHead(): boolean {
    return this.appends.length > 0 || this.lagDeltas.size > 0 || this.underHeadLock.length > 0;
  }
}

type Job = {
  run: (flush: Flush) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
};

/** What the store does at the end of every flush (the append phase) and after its commit. */
export interface FlushHooks {
  /** Reads the limited consumers' definitions version at the start of a flush. */
  readonly begin: string;
  /** Runs after the jobs, inside the transaction: inserts, lag, notify. */
  finish(flush: Flush): Promise<void>;
  /** Runs after a committed flush. */
  committed(flush: Flush): void;
}

const MAX_ATTEMPTS = 5;

export class GroupCommitter {
  #queue: Job[] = [];
  #scheduled = false;
  #running = false;
  #held = false;
  #idle: Array<() => void> = [];

  constructor(
    private readonly pool: Pool,
    private readonly hooks: FlushHooks,
  ) {}

  /**
   * Queues `run` for the next flush; resolves with its result once committed, or rejects
   * with the `Error` it returned (a refusal).
   */
  enqueue<R>(run: (flush: Flush) => Promise<R>): Promise<Settled<R>> {
    return new Promise<Settled<R>>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /**
   * Gives `fn` a connection inside one transaction, across awaits; no flush of this store
   * runs meanwhile (jobs enqueued meanwhile wait for it). A failure of the connection (to
   * connect, to begin or commit, or a statement of `fn`'s) rejects with `BACKEND_UNAVAILABLE`;
   * what `fn` throws itself is passed on as it is.
   */
  async exclusive<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    while (this.#held || this.#running || this.#scheduled || this.#queue.length > 0) {
      await new Promise<void>((r) => this.#idle.push(r));
    }
    this.#held = true;
    try {
      const held = await holdConnection(this.pool).catch((error: unknown) => {
        throw backendError('PostgreSQL transaction failed', error);
      });
      const { client } = held;
      const checked = reportingSql(sqlOf(client), 'PostgreSQL transaction failed', held.explain);
      let broken: Error | undefined;
      try {
        await checked.rows({ text: 'BEGIN' });
        try {
          const result = await fn(checked);
          await checked.rows({ text: 'COMMIT' });
          return result;
        } catch (error) {
          await rollback(client, error).catch((e: Error) => {
            broken = e;
          });
          throw error;
        }
      } finally {
        held.release(broken);
      }
    } finally {
      this.#held = false;
      this.#schedule();
      this.#wakeIdle();
    }
  }

  /** Resolves when nothing is queued or being flushed. */
  async drain(): Promise<void> {
    while (this.#held || this.#running || this.#scheduled || this.#queue.length > 0) {
      await new Promise<void>((r) => this.#idle.push(r));
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#running || this.#held || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  #wakeIdle(): void {
    if (this.#held || this.#running || this.#scheduled || this.#queue.length > 0) return;
    for (const w of this.#idle.splice(0)) w();
  }

  async #flush(): Promise<void> {
    if (this.#held || this.#running) return;
    const jobs = this.#queue;
    this.#queue = [];
    if (jobs.length === 0) return this.#wakeIdle();
    this.#running = true;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const { flush, results } = await this.#runOnce(jobs);
          for (let i = 0; i < jobs.length; i++) {
            const job = jobs[i] as Job;
            const result = results[i];
            if (result instanceof Error) job.reject(result);
            else job.resolve(result);
          }
          this.hooks.committed(flush);
          break;
        } catch (error) {
          if (attempt < MAX_ATTEMPTS && isRetryable(error)) continue;
          const failure = backendError('PostgreSQL write failed', error);
          for (const job of jobs) job.reject(failure);
          break;
        }
      }
    } finally {
      this.#running = false;
      this.#schedule();
      this.#wakeIdle();
    }
  }

  async #runOnce(jobs: readonly Job[]): Promise<{ flush: Flush; results: unknown[] }> {
    const held = await holdConnection(this.pool);
    const { client } = held;
    let broken: Error | undefined;
    try {
      const sql = sqlOf(client);
      // One round trip: BEGIN and the limited consumers' definitions version.
      const begun = (await client.query(`BEGIN; ${this.hooks.begin}`)) as unknown as Array<{
        rows: Array<{ consumers_version: number }>;
      }>;
      const flush = new Flush(sql, Number(begun[1]?.rows[0]?.consumers_version ?? 0));
      try {
        const raw: unknown[] = [];
        for (const job of jobs) raw.push(await job.run(flush));
        for (const fn of flush.beforeAppends) await fn(sql);
        await this.hooks.finish(flush);
        const results = raw.map((r) => (r instanceof Deferred ? r.get() : r));
        await client.query('COMMIT');
        return { flush, results };
      } catch (error) {
        await rollback(client, error).catch((e: Error) => {
          broken = e;
        });
        throw error;
      }
    } catch (thrown) {
      const error = held.explain(thrown);
      // A connection that failed mid-protocol is not given back to the pool.
      if (!isRetryable(error) && !(error instanceof AgentbusError) && (error as { code?: string }).code === undefined) {
        broken ??= error as Error;
      }
      throw error;
    } finally {
      held.release(broken);
    }
  }
}

/**
 * Rolls back after `error`; rejects instead, so the connection is dropped, when the client
 * gave up waiting for an answer (a ROLLBACK would queue behind the statement still pending).
 */
async function rollback(client: { query(text: string): Promise<unknown> }, error: unknown): Promise<void> {
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (isNoAnswer(error) || isNoAnswer(cause)) throw error instanceof Error ? error : new Error(String(error));
  await client.query('ROLLBACK');
}
