/**
 * Which fetched delivery runs next. Priority first (high, normal, low); in an ordered
 * subscription, per partition key: one at a time, in position order, and not past an earlier
 * event of the key that failed and waits for its retry. Pure: no I/O, no clock.
 */

/** What the queue needs to know of a delivery. */
export interface Queued {
  readonly seq: number;
  /** Partition key; undefined for events without one (never held back). */
  readonly key: string | undefined;
  /** 0 high, 1 normal, 2 low. */
  readonly rank: number;
}

interface Hold {
  /** Position of the failed event the key waits for. */
  readonly seq: number;
  /** Fetches started after this generation know of the scheduled retry. */
  committedAt?: number;
}

export class ReadyQueue<T extends Queued> {
  readonly #ordered: boolean;
  readonly #byRank: [T[], T[], T[]] = [[], [], []];
  /** Ordered only: waiting items per key, by position. */
  readonly #byKey = new Map<string, T[]>();
  /** Ordered only: keys with an item running. */
  readonly #running = new Set<string>();
  /** Ordered only: keys whose earlier event failed here and waits for its retry. */
  readonly #local = new Map<string, Hold>();
  /** Ordered only: keys the store reports held by a scheduled retry. */
  #held: ReadonlyMap<string, number> = new Map();
  #size = 0;

  constructor(ordered: boolean) {
    this.#ordered = ordered;
  }

  get size(): number {
    return this.#size;
  }

  push(items: readonly T[]): void {
    for (const item of items) {
      (this.#byRank[Math.min(2, Math.max(0, item.rank))] as T[]).push(item);
      this.#size++;
      if (!this.#ordered || item.key === undefined) continue;
      const list = this.#byKey.get(item.key);
      if (!list) this.#byKey.set(item.key, [item]);
      else insertBySeq(list, item);
    }
  }

  /** The next item allowed to run, removed from the queue; undefined when none may run now. */
  take(): T | undefined {
    for (const queue of this.#byRank) {
      if (queue.length === 0) continue;
      if (!this.#ordered) {
        this.#size--;
        return queue.shift();
      }
      const index = queue.findIndex((item) => this.#mayRun(item));
      if (index < 0) continue;
      const [item] = queue.splice(index, 1) as [T];
      this.#size--;
      if (item.key !== undefined) {
        this.#running.add(item.key);
        const list = this.#byKey.get(item.key) as T[];
        list.shift();
        if (list.length === 0) this.#byKey.delete(item.key);
      }
      return item;
    }
    return undefined;
  }

  /** Records how a taken item ended: `retry` holds its key back until the retry succeeds or dies. */
  finished(item: T, outcome: 'done' | 'retry'): void {
    if (!this.#ordered || item.key === undefined) return;
    this.#running.delete(item.key);
    if (outcome === 'retry') this.#local.set(item.key, { seq: item.seq });
    else if (this.#local.get(item.key)?.seq === item.seq) this.#local.delete(item.key);
  }

  /** The scheduled retry of `item` is committed; fetches started after `generation` know of it. */
  retryCommitted(item: T, generation: number): void {
    if (item.key === undefined) return;
    const hold = this.#local.get(item.key);
    if (hold?.seq === item.seq) hold.committedAt = generation;
  }

  /** The store's held keys, from a fetch that started at `generation`. */
  setHeld(held: ReadonlyMap<string, number>, generation: number): void {
    this.#held = held;
    // A local hold the store no longer reports (its retry expired or the subscription was
    // reset) is dropped once a fetch that started after its commit says so.
    for (const [key, hold] of this.#local) {
      if (hold.committedAt !== undefined && generation > hold.committedAt && !held.has(key) && !this.#has(key, hold.seq)) {
        this.#local.delete(key);
      }
    }
  }

  /** Removes and returns everything waiting. */
  drain(): T[] {
    const all = this.items();
    for (const queue of this.#byRank) queue.length = 0;
    this.#byKey.clear();
    this.#size = 0;
    return all;
  }

  /** Everything waiting, in no particular order. */
  items(): T[] {
    return this.#byRank.flat();
  }

  #mayRun(item: T): boolean {
    if (item.key === undefined) return true;
    if (this.#running.has(item.key)) return false;
    if ((this.#byKey.get(item.key) as T[])[0] !== item) return false;
    const local = this.#local.get(item.key)?.seq;
    const held = this.#held.get(item.key);
    const blocking = Math.min(local ?? Number.POSITIVE_INFINITY, held ?? Number.POSITIVE_INFINITY);
    return item.seq <= blocking;
  }

  #has(key: string, seq: number): boolean {
    return (this.#byKey.get(key) ?? []).some((item) => item.seq === seq);
  }
}

function insertBySeq<T extends Queued>(list: T[], item: T): void {
  let i = list.length;
  while (i > 0 && (list[i - 1] as T).seq > item.seq) i--;
  list.splice(i, 0, item);
}
