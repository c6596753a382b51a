/**
 * Group commit: every write issued in the same tick runs in one transaction, flushed on
 * `setImmediate`. One fsync (or none, under synchronous=NORMAL) serves many callers.
 *
 * A job runs synchronously inside the transaction. It returns a value or an `Error` value
 * for a refusal that must not roll back the others (a lost lease); a thrown error is a real
 * failure and rolls back the whole flush, failing every job in it.
 */
import type Database from 'better-sqlite3';

/** Per-flush scratch space shared by the jobs of one transaction. */
export interface FlushContext {
  /**
   * Runs once every job of the flush has run, before the `beforeCommit` write-backs, inside
   * the transaction: work that rides along with a flush (claims of waiting consumers). It may
   * register `beforeCommit` and `afterCommit` callbacks.
   */
  afterJobs(fn: () => void): void;
  /** Runs after the transaction's statements, before COMMIT (write back caches). */
  beforeCommit(fn: () => void): void;
  /** Runs after a successful COMMIT (wake consumers). */
  afterCommit(fn: () => void): void;
  /** A cache that lives for this flush only. */
  readonly scratch: Map<string, unknown>;
}

type Job = {
  run: (ctx: FlushContext) => unknown;
  /** Runs in a transaction of its own, never sharing a flush (see {@link GroupCommitter.solo}). */
  solo?: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
};

export class GroupCommitter {
  #queue: Job[] = [];
  #scheduled = false;
  #held = false;
  #idle: Array<() => void> = [];
  #lazyTimer: NodeJS.Timeout | undefined;

  /** One transaction function, created once: building it per flush costs more than it looks. */
  readonly #transaction: Database.Transaction<
    (jobs: Job[], ctx: FlushContext, results: unknown[], late: Array<() => void>, before: Array<() => void>) => void
  >;

  /** @param onFlushed runs after every committed flush (and every exclusive transaction). */
  constructor(
    private readonly db: Database.Database,
    private readonly onFlushed: () => void = () => {},
  ) {
    this.#transaction = db.transaction(
      (jobs: Job[], ctx: FlushContext, results: unknown[], late: Array<() => void>, before: Array<() => void>) => {
        for (let i = 0; i < jobs.length; i++) results[i] = (jobs[i] as Job).run(ctx);
        for (const fn of late) fn();
        for (const fn of before) fn();
      },
    );
  }

  /** Queues `run` for the next flush; resolves with its result once committed. */
  enqueue<T>(run: (ctx: FlushContext) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /**
   * Queues `run` to run alone in a transaction of its own, in queue order: jobs queued before
   * it flush first, jobs queued after it wait for its commit. For maintenance (a prune batch)
   * that must not lengthen the flushes publishers wait on, and must not wait for the queue to
   * be empty (which under steady load it never is).
   */
  solo<T>(run: (ctx: FlushContext) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, solo: true, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /**
   * Queues `run` without asking for a flush of its own: it rides along with the next flush
   * that something else asks for, and is flushed within `maxDelayMs` in any case. For writes
   * that nobody waits on to make progress (plain acknowledgements): one commit fewer per event
   * when events trickle in. Resolves once committed, like {@link enqueue}.
   */
  enqueueLazy<T>(run: (ctx: FlushContext) => T, maxDelayMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (this.#scheduled || this.#lazyTimer) return;
      this.#lazyTimer = setTimeout(() => {
        this.#lazyTimer = undefined;
        this.#schedule();
      }, maxDelayMs);
    });
  }

  /**
   * The function of the job queued last, while it waits for the next flush: a caller may add
   * work to its own job (instead of queueing another) while it is still the last, so that
   * jobs queued in between keep their order.
   */
  get lastQueued(): ((ctx: FlushContext) => unknown) | undefined {
    return this.#queue[this.#queue.length - 1]?.run;
  }

  /** Number of jobs waiting for the next flush. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Gives `fn` the connection alone inside one IMMEDIATE transaction, across awaits.
   * Jobs enqueued meanwhile wait for it.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#held || this.#queue.length > 0 || this.#scheduled) {
      await new Promise<void>((r) => this.#idle.push(r));
    }
    this.#held = true;
    this.db.prepare('BEGIN IMMEDIATE').run();
    try {
      const result = await fn();
      this.db.prepare('COMMIT').run();
      return result;
    } catch (error) {
      if (this.db.inTransaction) this.db.prepare('ROLLBACK').run();
      throw error;
    } finally {
      this.#held = false;
      this.#schedule();
      this.#wakeIdle();
    }
  }

  /**
   * Runs `fn` on the connection outside any transaction once nothing is queued or held (for
   * statements that cannot run in one: VACUUM, a checkpoint); jobs enqueued meanwhile wait.
   */
  async outside<T>(fn: () => T | Promise<T>): Promise<T> {
    while (this.#held || this.#queue.length > 0 || this.#scheduled) {
      await new Promise<void>((r) => this.#idle.push(r));
    }
    this.#held = true;
    try {
      return await fn();
    } finally {
      this.#held = false;
      this.#schedule();
      this.#wakeIdle();
    }
  }

  /** Resolves when nothing is queued or being flushed. */
  async drain(): Promise<void> {
    while (this.#held || this.#queue.length > 0 || this.#scheduled) {
      await new Promise<void>((r) => this.#idle.push(r));
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#held || this.#queue.length === 0) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #wakeIdle(): void {
    if (this.#held || this.#queue.length > 0 || this.#scheduled) return;
    const waiters = this.#idle;
    this.#idle = [];
    for (const w of waiters) w();
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#held) return;
    if (this.#lazyTimer) {
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
    }
    // A solo job runs alone; other jobs run together up to the next solo one.
    const soloAt = this.#queue.findIndex((job) => job.solo === true);
    const take = soloAt === 0 ? 1 : soloAt > 0 ? soloAt : this.#queue.length;
    const jobs = take === this.#queue.length ? this.#queue : this.#queue.slice(0, take);
    this.#queue = take === this.#queue.length ? [] : this.#queue.slice(take);
    if (jobs.length === 0) {
      this.#wakeIdle();
      return;
    }
    const late: Array<() => void> = [];
    const before: Array<() => void> = [];
    const after: Array<() => void> = [];
    const ctx: FlushContext = {
      afterJobs: (fn) => late.push(fn),
      beforeCommit: (fn) => before.push(fn),
      afterCommit: (fn) => after.push(fn),
      scratch: new Map(),
    };
    const results: unknown[] = new Array(jobs.length);
    try {
      this.#transaction.immediate(jobs, ctx, results, late, before);
    } catch (error) {
      for (const job of jobs) job.reject(error);
      this.#schedule();
      this.#wakeIdle();
      return;
    }
    for (let i = 0; i < jobs.length; i++) (jobs[i] as Job).resolve(results[i]);
    for (const fn of after) fn();
    this.onFlushed();
    this.#schedule();
    this.#wakeIdle();
  }
}
