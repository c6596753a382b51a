/**
 * Recent activity as every adapter keeps it (see `EventCounts.recent`): minute buckets, a
 * tally per commit (one entry per kind and topic, so a commit writes one upsert per pair,
 * never one per event), when old buckets are dropped, and the checks of what callers pass.
 */
import { invalidField } from '../errors.js';
import {
  ACTIVITY_RETENTION_MS,
  type ActivityCount,
  type ActivityKind,
  type HandledCount,
  type SettleOutcome,
} from './event-store.js';

/** A bucket is one minute (epoch ms, floored). */
export const ACTIVITY_BUCKET_MS = 60_000;

/** A store drops old buckets at most this often, in a commit that writes activity anyway. */
export const ACTIVITY_PRUNE_EVERY_MS = 5 * 60_000;

const KINDS = new Set<string>(['published', 'consumed', 'retried', 'dead_lettered'] satisfies ActivityKind[]);

/** What an accepted settlement counts as. */
export const SETTLED_AS: Readonly<Record<SettleOutcome['kind'], ActivityKind>> = {
  ack: 'consumed',
  retry: 'retried',
  dead: 'dead_lettered',
};

/** The bucket holding `ms`. */
export function bucketOf(ms: number): number {
  return Math.floor(ms / ACTIVITY_BUCKET_MS) * ACTIVITY_BUCKET_MS;
}

/** The oldest bucket kept at `now`: older ones are dropped. */
export function oldestKeptBucket(now: number): number {
  return bucketOf(now - ACTIVITY_RETENTION_MS);
}

/**
 * The first bucket a window starting at `sinceMs` reads.
 * @throws `OPTIONS_INVALID` when `sinceMs` is not a finite number
 */
export function firstBucketSince(sinceMs: number): number {
  if (typeof sinceMs !== 'number' || !Number.isFinite(sinceMs)) {
    throw invalidField('OPTIONS_INVALID', 'sinceMs', 'must be a finite number of ms since the epoch');
  }
  return bucketOf(sinceMs);
}

/**
 * Checks counts handed to `EventCounts.record`.
 * @throws `OPTIONS_INVALID` naming the first bad entry
 */
export function checkActivity(counts: readonly ActivityCount[]): void {
  if (!Array.isArray(counts)) throw invalidField('OPTIONS_INVALID', 'counts', 'must be an array');
  counts.forEach((c, i) => {
    if (typeof c?.topic !== 'string' || c.topic === '') {
      throw invalidField('OPTIONS_INVALID', `counts[${i}].topic`, 'must be a non-empty topic');
    }
    if (!KINDS.has(c.kind)) {
      throw invalidField('OPTIONS_INVALID', `counts[${i}].kind`, `must be one of ${[...KINDS].join(', ')}`);
    }
    if (!Number.isSafeInteger(c.count) || c.count < 1) {
      throw invalidField('OPTIONS_INVALID', `counts[${i}].count`, 'must be a whole number of at least 1');
    }
  });
}

/**
 * Checks handled counts handed to `EventCounts.record`.
 * @throws `OPTIONS_INVALID` naming the first bad entry
 */
export function checkHandled(handled: readonly HandledCount[]): void {
  if (!Array.isArray(handled)) throw invalidField('OPTIONS_INVALID', 'handled', 'must be an array');
  handled.forEach((h, i) => {
    if (typeof h?.consumer !== 'string' || h.consumer === '') {
      throw invalidField('OPTIONS_INVALID', `handled[${i}].consumer`, 'must be a non-empty subscription name');
    }
    if (!Number.isSafeInteger(h.count) || h.count < 1) {
      throw invalidField('OPTIONS_INVALID', `handled[${i}].count`, 'must be a whole number of at least 1');
    }
  });
}

/**
 * Counts of one commit, per kind and topic, and acknowledgements per subscription (the
 * `handled` counts). Adding is one Map lookup (a hit updates in place).
 */
export class ActivityTally {
  readonly #byKind: Record<ActivityKind, Map<string, { n: number }>> = {
    published: new Map(),
    consumed: new Map(),
    retried: new Map(),
    dead_lettered: new Map(),
  };
  readonly #handled = new Map<string, { n: number }>();
  #empty = true;

  add(kind: ActivityKind, topic: string, n = 1): void {
    const counts = this.#byKind[kind];
    const box = counts.get(topic);
    if (box) box.n += n;
    else counts.set(topic, { n });
    this.#empty = false;
  }

  /** Counts `n` deliveries acknowledged by the handlers of subscription `consumer`. */
  handled(consumer: string, n = 1): void {
    const box = this.#handled.get(consumer);
    if (box) box.n += n;
    else this.#handled.set(consumer, { n });
    this.#empty = false;
  }

  addAll(counts: readonly ActivityCount[], handled: readonly HandledCount[] = []): void {
    for (const c of counts) this.add(c.kind, c.topic, c.count);
    for (const h of handled) this.handled(h.consumer, h.count);
  }

  get empty(): boolean {
    return this.#empty;
  }

  /**
   * The counts by topic, then kind: a fixed order, so that two commits raising the same rows
   * lock them in the same order (no deadlock between writers on PostgreSQL).
   */
  rows(): ActivityCount[] {
    const out: ActivityCount[] = [];
    for (const [kind, counts] of Object.entries(this.#byKind) as Array<[ActivityKind, Map<string, { n: number }>]>) {
      for (const [topic, { n }] of counts) out.push({ topic, kind, count: n });
    }
    return out.sort((a, b) => compare(a.topic, b.topic) || compare(a.kind, b.kind));
  }

  /** The handled counts by subscription name: a fixed order, for the same reason as {@link rows}. */
  handledRows(): HandledCount[] {
    const out: HandledCount[] = [];
    for (const [consumer, { n }] of this.#handled) out.push({ consumer, count: n });
    return out.sort((a, b) => compare(a.consumer, b.consumer));
  }
}

/** Whether a store should drop old buckets now: at most once every {@link ACTIVITY_PRUNE_EVERY_MS}. */
export class PruneSchedule {
  #last = Number.NEGATIVE_INFINITY;

  due(now: number): boolean {
    if (now - this.#last < ACTIVITY_PRUNE_EVERY_MS) return false;
    this.#last = now;
    return true;
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
