/**
 * The bus's retention (ADR 0018): the `retention` option, a background pruner on a timer with
 * jitter (off the publish path: each batch is a transaction of its own), and `bus.prune`.
 */
import { invalidField, refuseUnknownKeys } from '../errors.js';
import type { PruneProgress, PruneResult, Retention } from '../store/retention.js';
import { MAX_DURATION_MS, MAX_TIMER_MS, positiveDuration } from '../time.js';
import type { BusStatus } from './status.js';

/** How much history the bus keeps. Without it the log keeps everything. */
export interface RetentionOptions {
  /** Prune events stored longer ago than this (`"30d"`, `"12h"`, or ms). */
  maxAge?: string | number;
  /** Keep the newest this many positions of the log. */
  maxEvents?: number;
  /** How often the bus prunes, with ±20% jitter (`"5m"` or ms). @default "5m" */
  interval?: string | number;
}

/** The retention option after validation. */
export interface ResolvedRetention {
  readonly maxAgeMs?: number;
  readonly maxEvents?: number;
  readonly intervalMs: number;
}

/** Options of `bus.prune`: the bus's `retention` unless `maxAge` or `maxEvents` is given. */
export interface BusPruneOptions {
  /** Prune events stored longer ago than this (`"30d"` or ms). */
  maxAge?: string | number;
  /** Keep the newest this many positions. */
  maxEvents?: number;
  /** Count what would be pruned; delete nothing. @default false */
  dryRun?: boolean;
  /** Called after each batch. */
  onProgress?: (progress: PruneProgress) => void;
  /** Stops between two batches. */
  signal?: AbortSignal;
}

/** Kafka checks its retention every 5 minutes; so does the bus by default. */
export const DEFAULT_RETENTION_INTERVAL_MS = 5 * 60_000;
/** The first background prune comes at most this long after the bus opens (jittered). */
const FIRST_RUN_MAX_MS = 30_000;
const RETENTION_OPTIONS: ReadonlySet<string> = new Set(['maxAge', 'maxEvents', 'interval']);
const PRUNE_OPTIONS: ReadonlySet<string> = new Set(['maxAge', 'maxEvents', 'dryRun', 'onProgress', 'signal']);

function maxEventsOf(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidField('OPTIONS_INVALID', field, 'must be a whole number, at least 1');
  }
  return value;
}

function maxAgeOf(value: unknown, field: string): number | undefined {
  return value === undefined ? undefined : positiveDuration(value, field, 0, MAX_DURATION_MS);
}

/**
 * Validates the `retention` option (`field` names it in errors).
 * @throws AgentbusError `OPTIONS_INVALID` naming the field, for an unknown key, a bad value, or
 *   neither `maxAge` nor `maxEvents`.
 */
export function resolveRetention(value: unknown, field = 'retention'): ResolvedRetention | undefined {
  if (value === undefined) return undefined;
  refuseUnknownKeys(value, RETENTION_OPTIONS, `${field}.`);
  const v = value as RetentionOptions;
  const maxAgeMs = maxAgeOf(v.maxAge, `${field}.maxAge`);
  const maxEvents = maxEventsOf(v.maxEvents, `${field}.maxEvents`);
  if (maxAgeMs === undefined && maxEvents === undefined) {
    throw invalidField('OPTIONS_INVALID', field, 'give maxAge or maxEvents (or both); leave retention out to keep everything');
  }
  const intervalMs = positiveDuration(v.interval, `${field}.interval`, DEFAULT_RETENTION_INTERVAL_MS, MAX_TIMER_MS);
  return { ...(maxAgeMs !== undefined ? { maxAgeMs } : {}), ...(maxEvents !== undefined ? { maxEvents } : {}), intervalMs };
}

/** The store's prune options for `bus.prune(options)`, on the bus's policy unless overridden. */
export function resolvePruneOptions(options: BusPruneOptions, policy: ResolvedRetention | undefined) {
  refuseUnknownKeys(options, PRUNE_OPTIONS, '');
  const maxAgeMs = maxAgeOf(options.maxAge, 'maxAge');
  const maxEvents = maxEventsOf(options.maxEvents, 'maxEvents');
  const given = maxAgeMs !== undefined || maxEvents !== undefined;
  const limits = given ? { maxAgeMs, maxEvents } : { maxAgeMs: policy?.maxAgeMs, maxEvents: policy?.maxEvents };
  if (limits.maxAgeMs === undefined && limits.maxEvents === undefined) {
    throw invalidField('OPTIONS_INVALID', 'maxAge', 'give maxAge or maxEvents: the bus has no retention option');
  }
  if (options.dryRun !== undefined && typeof options.dryRun !== 'boolean') {
    throw invalidField('OPTIONS_INVALID', 'dryRun', 'must be true or false');
  }
  return {
    ...(limits.maxAgeMs !== undefined ? { maxAgeMs: limits.maxAgeMs } : {}),
    ...(limits.maxEvents !== undefined ? { maxEvents: limits.maxEvents } : {}),
    dryRun: options.dryRun === true,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** `ms` give or take 20%, so that processes sharing a store do not prune in step. */
export function jittered(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * (0.8 + 0.4 * random()));
}

/**
 * Prunes in the background: one `setTimeout` at a time (unref'd: it never keeps a process
 * alive), the first within 30 s of opening, then every `interval` with jitter. A failure is
 * reported as a status event and retried at the next run.
 */
export class RetentionRunner {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #abort = new AbortController();
  #closed = false;

  constructor(
    private readonly retention: Retention,
    private readonly policy: ResolvedRetention,
    private readonly emit: (status: BusStatus) => void,
  ) {}

  start(): void {
    this.#arm(jittered(Math.min(this.policy.intervalMs, FIRST_RUN_MAX_MS)));
  }

  /** Stops the timer and the prune under way (between two batches). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#abort.abort();
    await this.#running;
  }

  #arm(ms: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#run().finally(() => {
        this.#running = undefined;
        this.#arm(jittered(this.policy.intervalMs));
      });
    }, ms);
    this.#timer.unref();
  }

  async #run(): Promise<void> {
    let result: PruneResult;
    try {
      result = await this.retention.prune({
        ...(this.policy.maxAgeMs !== undefined ? { maxAgeMs: this.policy.maxAgeMs } : {}),
        ...(this.policy.maxEvents !== undefined ? { maxEvents: this.policy.maxEvents } : {}),
        signal: this.#abort.signal,
      });
    } catch (error) {
      if (!this.#closed) this.emit({ type: 'retention_failed', error: error as Error });
      return;
    }
    if (result.pruned === 0 && !result.heldBy) return;
    this.emit({
      type: 'retention_pruned',
      pruned: result.pruned,
      firstRetained: result.firstRetained,
      ...(result.heldBy ? { heldBy: { kind: result.heldBy.kind, name: result.heldBy.name, seq: result.heldBy.seq } } : {}),
    });
  }
}
