/**
 * The outbox for a transport with a log of its own (NATS). Workflow effects and fired timers
 * are appended to the store inside a store transaction, and must then reach the transport's
 * log too. Without an outbox, a crash (or the transport being down) between the commit and
 * the publish left them in history only: never delivered.
 *
 * - In the transaction: each event's id is written to the state area (namespace `outbox`)
 *   beside the append, so the record commits with the event or not at all.
 * - After the commit: the events are published, then their records deleted.
 * - When that publish fails, or the process died before it: the records stay, and the next
 *   {@link Outbox.drain} (at start, and on a backoff timer while records remain) publishes
 *   the events again from history and deletes the records. Another process's records
 *   younger than {@link OUTBOX_GRACE_MS} are left to it (it is probably relaying them).
 *
 * Publishing is idempotent by event id within the transport's dedup window (JetStream's
 * `duplicate_window`, 2 minutes by default), so a relay that races a drain delivers once; an
 * event relayed again after the window is delivered again (delivery is at least once).
 */
import type { AppendItem, EventStore, StateArea } from '../store/event-store.js';
import { OUTBOX_NAMESPACE } from '../store/retention.js';
import type { Clock } from '../time.js';
import type { BusStatus } from './status.js';

/** State-area namespace of the outbox records (key: event id); retention keeps their events. */
export { OUTBOX_NAMESPACE } from '../store/retention.js';
/** A record younger than this is left to the process relaying it (ms). */
export const OUTBOX_GRACE_MS = 10_000;
/** Records published per round of a drain. */
const DRAIN_BATCH = 100;
/** Retry backoff of a drain that failed or left records: from 1 s, doubling, up to 60 s. */
const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/** An outbox record as the state area keeps it. */
export interface OutboxValue {
  /** When the event was committed (ms since the epoch). */
  readonly at: number;
}

/** A non-fatal condition of the outbox (the transport refused a publish; it will retry). */
export type OutboxStatus = Extract<BusStatus, { type: 'outbox_retry' }>;

export class Outbox {
  readonly #store: EventStore;
  readonly #clock: Clock;
  readonly #publish: (items: readonly AppendItem[]) => Promise<unknown>;
  readonly #onStatus: (status: OutboxStatus) => void;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs = RETRY_MIN_MS;
  #draining: Promise<number> | undefined;
  /** Events whose relay failed in this process: a drain takes them whatever their age. */
  readonly #failed = new Set<string>();
  #closed = false;

  constructor(
    store: EventStore,
    clock: Clock,
    publish: (items: readonly AppendItem[]) => Promise<unknown>,
    onStatus: (status: OutboxStatus) => void = () => {},
  ) {
    this.#store = store;
    this.#clock = clock;
    this.#publish = publish;
    this.#onStatus = onStatus;
  }

  /** Inside the transaction that appends `items`: records that they still have to be published. */
  async record(state: StateArea, items: readonly AppendItem[]): Promise<void> {
    const value: OutboxValue = { at: this.#clock.now() };
    for (const item of items) await state.put(OUTBOX_NAMESPACE, item.envelope.event.id, value, 'any');
  }

  /**
   * After the commit: publishes `items` and deletes their records. When the publish fails the
   * records stay and a drain is scheduled; the error is not thrown (the events are committed,
   * and they will be published).
   */
  async relay(items: readonly AppendItem[]): Promise<void> {
    if (items.length === 0) return;
    try {
      await this.#publish(items);
    } catch (error) {
      for (const item of items) this.#failed.add(item.envelope.event.id);
      this.#retryLater(error);
      return;
    }
    await this.#clear(items.map((item) => item.envelope.event.id)).catch((error: unknown) => this.#retryLater(error));
  }

  /**
   * Publishes what is in the outbox and older than the grace period, from history, and deletes
   * the records. Resolves with how many it published. Schedules itself again while records
   * remain (younger ones, or a failed publish).
   */
  drain(): Promise<number> {
    if (this.#draining) return this.#draining;
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }

  async #drain(): Promise<number> {
    let published = 0;
    let youngest: number | undefined;
    try {
      const cutoff = this.#clock.now() - OUTBOX_GRACE_MS;
      let batch: string[] = [];
      const flush = async () => {
        const items: AppendItem[] = [];
        for (const id of batch) {
          const stored = await this.#store.get(id);
          // Not in history: the record outlived its event (retention); nothing to publish.
          if (stored) items.push({ envelope: stored.envelope, text: JSON.stringify(stored.envelope) });
        }
        if (items.length > 0) await this.#publish(items);
        await this.#clear(batch);
        for (const id of batch) this.#failed.delete(id);
        published += items.length;
        batch = [];
      };
      for await (const record of this.#store.state.list<OutboxValue>(OUTBOX_NAMESPACE)) {
        if (this.#closed) return published;
        if (record.value.at > cutoff && !this.#failed.has(record.key)) {
          youngest = Math.min(youngest ?? record.value.at, record.value.at);
          continue;
        }
        batch.push(record.key);
        if (batch.length >= DRAIN_BATCH) await flush();
      }
      if (batch.length > 0) await flush();
    } catch (error) {
      this.#retryLater(error);
      return published;
    }
    this.#retryMs = RETRY_MIN_MS;
    if (youngest !== undefined) this.#schedule(youngest + OUTBOX_GRACE_MS - this.#clock.now());
    return published;
  }

  async #clear(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#store.transaction(async (tx) => {
      for (const id of ids) await tx.state.delete(OUTBOX_NAMESPACE, id);
    });
  }

  #retryLater(error: unknown): void {
    if (this.#closed) return;
    this.#onStatus({ type: 'outbox_retry', error: error instanceof Error ? error : new Error(String(error)) });
    this.#schedule(this.#retryMs);
    this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2);
  }

  #schedule(ms: number): void {
    if (this.#closed || this.#retryTimer) return;
    this.#retryTimer = setTimeout(
      () => {
        this.#retryTimer = undefined;
        void this.drain();
      },
      Math.max(0, ms),
    );
    this.#retryTimer.unref();
  }
}
