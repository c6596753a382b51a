/**
 * Event-log retention as every adapter implements it (ADR 0018): what a prune is asked, what
 * it answers, what holds it back, and the pure steps shared by the SQLite and PostgreSQL
 * pruners (the policy's cut, a batch's end).
 *
 * A prune deletes a prefix of the log, oldest first, in small transactions. It never deletes:
 * - an event at or above the lowest position something still needs (a hold): a subscription's
 *   unsettled deliveries (its cursor, open windows, scheduled or leased retries, whether it
 *   runs, lags or is paused), a projection's checkpoint, an outbox record not yet relayed;
 * - an event referred to by a dead letter (any status: `dlq purge` releases it) or by a
 *   stream (event-sourced aggregates need their whole stream): such events are kept below
 *   the log start, everything else there is deleted;
 * - the newest event (the head position stays readable, and positions are never reused).
 */
import { invalidField } from '../errors.js';

/** State-area namespace of the outbox records (key: event id); each holds its event. */
export const OUTBOX_NAMESPACE = 'outbox';
/** State-area namespace of projections; `checkpoint/<name>` records hold `position + 1`. */
export const PROJECTION_NAMESPACE = 'agentbus.projections';
/** Key prefix of a projection's checkpoint in {@link PROJECTION_NAMESPACE}. */
export const PROJECTION_CHECKPOINT_PREFIX = 'checkpoint/';

/** Rows deleted per transaction at most: a few milliseconds of the write lock. */
export const PRUNE_BATCH_ROWS = 1_000;

/** How much history to keep. An event goes when either limit says so. */
export interface RetentionPolicy {
  /** Keep events stored less than this long ago (ms, by the store's `storedAt`). */
  readonly maxAgeMs?: number;
  /** Keep the newest this many positions of the log. */
  readonly maxEvents?: number;
}

/** What a prune reports as it goes, after each batch. */
export interface PruneProgress {
  /** Events deleted so far (or, in a dry run, that would be). */
  readonly pruned: number;
  /** The log start so far: every position below it is pruned, except events kept for streams and dead letters. */
  readonly logStart: number;
  /** The position this prune stops before (its policy cut, lowered by holds), as computed at its start. */
  readonly target: number;
}

/** Options of {@link Retention.prune}. */
export interface PruneOptions extends RetentionPolicy {
  /** Count what would be pruned; delete nothing. @default false */
  readonly dryRun?: boolean;
  /** Rows per transaction. @default 1000 */
  readonly batchSize?: number;
  /** Called after each batch. */
  readonly onProgress?: (progress: PruneProgress) => void;
  /** Stops between two batches (what was deleted stays deleted). */
  readonly signal?: AbortSignal;
}

/** Something that needs every event from `seq` on, and so holds retention back. */
export interface RetentionHold {
  readonly kind: 'subscription' | 'projection' | 'outbox';
  /** The subscription or projection name; `outbox` for the outbox (all its records). */
  readonly name: string;
  /** The lowest position it still needs. */
  readonly seq: number;
  /** Subscriptions: paused (holds retention until resumed or deleted). */
  readonly paused?: boolean;
}

/** What a prune did. */
export interface PruneResult {
  /** Events deleted (in a dry run: that would be). */
  readonly pruned: number;
  /**
   * The log start after it: the first retained position, from which history is complete.
   * Below it only events of streams and of dead letters are kept. `head + 1` never: the
   * newest event is always kept.
   */
  readonly firstRetained: number;
  readonly head: number;
  /** The lowest hold when it stopped the prune short of its policy cut. */
  readonly heldBy?: RetentionHold;
  /** Transactions run (0 in a dry run). */
  readonly batches: number;
  /** The longest of them, from its first statement to its commit (ms). */
  readonly longestBatchMs: number;
  /** Another process was pruning the same store (PostgreSQL): this one stopped. */
  readonly busy?: boolean;
  readonly dryRun: boolean;
}

/** The retention state of a store, cheap to read (for status). */
export interface RetentionInfo {
  /** The log start: the first position from which history is complete (1 when nothing was pruned). */
  readonly firstRetained: number;
  readonly head: number;
  /** Events pruned since the store was created, by every process. */
  readonly pruned: number;
  /** When the last batch that deleted something committed (ms), if ever. */
  readonly lastPrunedAt?: number;
  /** What holds retention back, lowest position first. */
  readonly holds: readonly RetentionHold[];
}

/** Options of {@link Retention.compact}. */
export interface CompactOptions {
  /**
   * SQLite: pages freed per transaction when the file allows incremental vacuum (each step
   * holds the write lock a few milliseconds). @default 256 (2 MiB of 8 KiB pages)
   */
  readonly stepPages?: number;
  /** Called after each step. */
  readonly onProgress?: (progress: CompactProgress) => void;
  /** Stops between two steps (what was given back stays given back). */
  readonly signal?: AbortSignal;
}

/** What a compaction reports as it goes. */
export interface CompactProgress {
  /** Bytes given back to the file system so far (once checkpointed). */
  readonly freedBytes: number;
  /** Bytes free inside the database when it started. */
  readonly reclaimableBytes: number;
}

/** What a compaction did. */
export interface CompactResult {
  /**
   * `incremental`: freed pages given back in small transactions (SQLite files created with
   * incremental vacuum, or compacted once before); `vacuum`: the whole file rewritten once
   * (older SQLite files; this also turns incremental vacuum on for the next time);
   * `postgres-vacuum`: PostgreSQL's VACUUM (not FULL) of agentbus's tables; `none`: nothing to do.
   */
  readonly method: 'incremental' | 'vacuum' | 'postgres-vacuum' | 'none';
  /** SQLite: the database file plus its WAL; PostgreSQL: the tables with their indexes. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** Transactions (SQLite incremental steps), or statements run. */
  readonly steps: number;
  /** The longest of them, in ms. */
  readonly longestStepMs: number;
  /** What the operator should know (a checkpoint still to come, what PostgreSQL's VACUUM does not do). */
  readonly note?: string;
}

/** Retention of the log: prune on demand, and what holds it back. */
export interface Retention {
  /**
   * Deletes the oldest events the policy lets go and nothing holds, in transactions of at most
   * `batchSize` rows. Safe to run in several processes at once.
   * @throws AgentbusError `OPTIONS_INVALID` naming the field for a bad option, or when neither
   *   `maxAgeMs` nor `maxEvents` is given; nothing is deleted then.
   */
  prune(options: PruneOptions): Promise<PruneResult>;
  info(): Promise<RetentionInfo>;
  /**
   * Gives the space of pruned events back to the file system (ADR 0025). Optional: a store
   * without it has nothing to compact.
   * @throws AgentbusError `OPTIONS_INVALID` naming the field; `BACKEND_UNAVAILABLE` when a
   *   SQLite file needs a one-time VACUUM and another process has it open, or the disk lacks room.
   */
  compact?(options?: CompactOptions): Promise<CompactResult>;
}

/** Pages per incremental-vacuum step by default: 2 MiB of 8 KiB pages, about a prune batch's lock time. */
export const COMPACT_STEP_PAGES = 256;

/** @throws AgentbusError `OPTIONS_INVALID` naming the field. */
export function checkCompactOptions(options: CompactOptions = {}): Required<Pick<CompactOptions, 'stepPages'>> & CompactOptions {
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  const { stepPages = COMPACT_STEP_PAGES } = options;
  if (!wholeAtLeast(stepPages, 1) || stepPages > 1_000_000) {
    throw invalidField('OPTIONS_INVALID', 'stepPages', 'must be a whole number from 1 to 1000000');
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'onProgress', 'must be a function');
  }
  return { ...options, stepPages };
}

/** Prune options after validation. */
export interface CheckedPruneOptions {
  readonly maxAgeMs: number | undefined;
  readonly maxEvents: number | undefined;
  readonly dryRun: boolean;
  readonly batchSize: number;
  readonly onProgress: ((progress: PruneProgress) => void) | undefined;
  readonly signal: AbortSignal | undefined;
}

const wholeAtLeast = (value: unknown, min: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= min;

/** @throws AgentbusError `OPTIONS_INVALID` naming the field. */
export function checkPruneOptions(options: PruneOptions): CheckedPruneOptions {
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  const { maxAgeMs, maxEvents, batchSize = PRUNE_BATCH_ROWS } = options;
  if (maxAgeMs !== undefined && !(typeof maxAgeMs === 'number' && Number.isFinite(maxAgeMs) && maxAgeMs > 0)) {
    throw invalidField('OPTIONS_INVALID', 'maxAgeMs', 'must be a number of milliseconds above zero');
  }
  if (maxEvents !== undefined && !wholeAtLeast(maxEvents, 1)) {
    throw invalidField('OPTIONS_INVALID', 'maxEvents', 'must be a whole number, at least 1');
  }
  if (maxAgeMs === undefined && maxEvents === undefined) {
    throw invalidField('OPTIONS_INVALID', 'maxAgeMs', 'give maxAgeMs or maxEvents (or both): nothing to prune by');
  }
  if (!wholeAtLeast(batchSize, 1) || batchSize > 100_000) {
    throw invalidField('OPTIONS_INVALID', 'batchSize', 'must be a whole number from 1 to 100000');
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'onProgress', 'must be a function');
  }
  return {
    maxAgeMs,
    maxEvents,
    dryRun: options.dryRun === true,
    batchSize,
    onProgress: options.onProgress,
    signal: options.signal,
  };
}

/**
 * What the policy lets go, at one moment: positions below `belowSeq` (the newest `maxEvents`
 * stay), and events stored before `storedBefore`. An event goes when either says so.
 */
export interface PolicyCut {
  readonly belowSeq: number | undefined;
  readonly storedBefore: number | undefined;
}

/** The policy's cut at `now` for a log whose head is `head`. */
export function policyCut(
  o: { maxAgeMs?: number | undefined; maxEvents?: number | undefined },
  head: number,
  now: number,
): PolicyCut {
  return {
    belowSeq: o.maxEvents === undefined ? undefined : head - o.maxEvents + 1,
    storedBefore: o.maxAgeMs === undefined ? undefined : now - o.maxAgeMs,
  };
}

/** Whether the policy lets the event at `seq`, stored at `storedAt`, go. */
export function mayGo(cut: PolicyCut, seq: number, storedAt: number): boolean {
  return (cut.belowSeq !== undefined && seq < cut.belowSeq) || (cut.storedBefore !== undefined && storedAt < cut.storedBefore);
}

/**
 * The end of one batch: the last of `rows` (positions in order, with their `stored_at`) before
 * the first the policy keeps, or undefined when it keeps the first. Both limits cut a prefix of
 * the log (stored_at never decreases along it), so the first kept row ends the run.
 */
export function batchEnd(rows: readonly { seq: number; stored_at: number }[], cut: PolicyCut): number | undefined {
  let end: number | undefined;
  for (const row of rows) {
    if (!mayGo(cut, Number(row.seq), Number(row.stored_at))) break;
    end = Number(row.seq);
  }
  return end;
}

/** What one batch did, as both adapters report it. */
export interface PruneBatch {
  readonly pruned: number;
  /** The batch's last position (the new log start - 1); undefined when it found nothing to prune. */
  readonly end: number | undefined;
  readonly head: number;
  /** Set on the last batch when a hold stopped the prune short of the policy. */
  readonly heldBy: RetentionHold | undefined;
  /** Where this batch would have stopped at most (the head, lowered by the lowest hold). */
  readonly target: number;
  /** From its first statement to its commit (ms). */
  elapsedMs: number;
  /** Another process holds the prune lock (PostgreSQL). */
  readonly busy?: boolean;
}

/** The loop both adapters run: batches from `from` on until one finds nothing, is busy, or the signal aborts. */
export async function pruneInBatches(
  o: CheckedPruneOptions,
  from: number,
  run: (from: number) => Promise<PruneBatch>,
): Promise<{ pruned: number; from: number; batches: number; longestBatchMs: number; last: PruneBatch | undefined }> {
  let pruned = 0;
  let batches = 0;
  let longestBatchMs = 0;
  let last: PruneBatch | undefined;
  while (!o.signal?.aborted) {
    const batch = await run(from);
    last = batch;
    if (batch.end === undefined || batch.busy) break;
    pruned += batch.pruned;
    from = batch.end;
    if (!o.dryRun) {
      batches++;
      longestBatchMs = Math.max(longestBatchMs, batch.elapsedMs);
    }
    o.onProgress?.({ pruned, logStart: from + 1, target: batch.target });
    // Let the event loop (publishers, consumers) run between two batches.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return { pruned, from, batches, longestBatchMs, last };
}

/** The lowest of `holds`, if any. */
export function lowestHold(holds: readonly RetentionHold[]): RetentionHold | undefined {
  let low: RetentionHold | undefined;
  for (const hold of holds) if (!low || hold.seq < low.seq) low = hold;
  return low;
}

/** A hold row as both adapters select it. */
export interface HoldRow {
  kind: RetentionHold['kind'];
  name: string;
  seq: number | string | null;
  paused: number | boolean | null;
}

/** Holds from rows, lowest first; rows without a position (an empty outbox) dropped. */
export function holdsOf(rows: readonly HoldRow[]): RetentionHold[] {
  const holds: RetentionHold[] = [];
  for (const row of rows) {
    if (row.seq === null) continue;
    const seq = Math.max(1, Number(row.seq));
    holds.push(
      row.kind === 'subscription'
        ? { kind: row.kind, name: row.name, seq, paused: Boolean(row.paused) }
        : { kind: row.kind, name: row.name, seq },
    );
  }
  return holds.sort((a, b) => a.seq - b.seq || a.name.localeCompare(b.name));
}
