/**
 * Retention of finished workflow instances (sagas, aggregators). An instance is kept after
 * it ends so that status commands show it and late events for it are ignored; without a
 * limit the namespace grows by one record per saga or correlation for ever (soak: about two
 * aggregator instances a second, each holding the envelopes it collected). A runner deletes
 * the instances of its own saga or aggregator that ended more than `retention` ago, at most
 * once an hour (of its bus clock), in the background of handling an event.
 */
import type { Bus } from '../bus/bus.js';
import { isAgentbusError } from '../errors.js';
import type { StateArea } from '../store/event-store.js';
import { MAX_DURATION_MS, positiveDuration } from '../time.js';

/** How long a finished instance is kept by default: 7 days. */
export const DEFAULT_INSTANCE_RETENTION_MS = 7 * 86_400_000;
/** A runner prunes at most this often (or every `retention`, if shorter). */
const PRUNE_EVERY_MS = 3_600_000;

/** Deletes in flight at once while pruning: on SQLite they share a group commit, on PostgreSQL the pool. */
const DELETES_AT_ONCE = 256;

/**
 * Deletes the records under `prefix` of `namespace` that `finished` accepts and that were
 * last written before `before` (ms since the epoch); returns how many. Only those records are
 * read (`list` with `updatedBefore`: an index range), so a prune costs what it finds old, not
 * the namespace's size. A record written meanwhile stays (each delete is a compare-and-set on
 * the version read). Deletes go {@link DELETES_AT_ONCE} at a time, not one commit each.
 */
export async function pruneFinished<T>(
  state: StateArea,
  namespace: string,
  prefix: string,
  before: number,
  finished: (value: T) => boolean,
): Promise<number> {
  let pruned = 0;
  // Settled promises only (never rejected while the loop awaits the next page): an error is kept and thrown after.
  let pending: Array<Promise<unknown>> = [];
  let failure: { error: unknown } | undefined;
  const settle = async () => {
    await Promise.all(pending);
    pending = [];
    if (failure) throw failure.error;
  };
  for await (const record of state.list<T>(namespace, { prefix, updatedBefore: before })) {
    if (!finished(record.value)) continue;
    pending.push(
      state.delete(namespace, record.key, record.version).then(
        (deleted) => {
          if (deleted) pruned++;
        },
        (error: unknown) => {
          if (!isAgentbusError(error, 'CONCURRENCY_CONFLICT')) failure ??= { error };
        },
      ),
    );
    if (pending.length >= DELETES_AT_ONCE) await settle();
  }
  await settle();
  return pruned;
}

/** Prunes one runner's finished instances now and then; see {@link pruneFinished}. */
export class InstancePruner<T> {
  readonly retentionMs: number;
  readonly #everyMs: number;
  #prunedAt = Number.NEGATIVE_INFINITY;
  #running: Promise<unknown> | undefined;

  /** @throws AgentbusError `OPTIONS_INVALID` naming `retention`. */
  constructor(
    private readonly bus: Bus,
    private readonly namespace: string,
    private readonly prefix: string,
    retention: string | number | undefined,
    private readonly finished: (value: T) => boolean,
  ) {
    this.retentionMs = positiveDuration(retention, 'retention', DEFAULT_INSTANCE_RETENTION_MS, MAX_DURATION_MS);
    this.#everyMs = Math.min(this.retentionMs, PRUNE_EVERY_MS);
  }

  /** Starts a prune in the background when the last one is old enough (call per event). */
  maybePrune(): void {
    const now = this.bus.timers.clock.now();
    if (this.#running || now - this.#prunedAt < this.#everyMs) return;
    this.#prunedAt = now;
    this.#running = this.prune(now).catch(() => {
      // The store is closing or unavailable: the next prune catches up.
    });
    void this.#running.finally(() => {
      this.#running = undefined;
    });
  }

  /** Deletes the finished instances older than the retention at `now`; returns how many. */
  prune(now: number = this.bus.timers.clock.now()): Promise<number> {
    return pruneFinished(this.bus.store.state, this.namespace, this.prefix, now - this.retentionMs, this.finished);
  }

  /** Waits for a prune in progress (before the bus closes). */
  async close(): Promise<void> {
    await this.#running;
  }
}
