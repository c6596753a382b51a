/**
 * Waiting for a reply written by any process: the reply is an event whose causation is the
 * request's id. Waiters share one change-feed listener per bus (the SQLite feed wakes on
 * other processes' commits too); each wake looks each pending request up by causation, an
 * indexed read. A slow safety check covers a lost wake-up.
 */
import type { EventStore, StoredEvent } from '../store/event-store.js';

/** How often pending waiters look again without a wake-up. */
const SAFETY_CHECK_MS = 1_000;

interface Pending {
  readonly topic: string;
  readonly types: ReadonlySet<string>;
  readonly resolve: (event: StoredEvent | undefined) => void;
  readonly timer: NodeJS.Timeout;
}

/** Finds replies by causation for any number of concurrent requests. */
export class ReplyWaiter {
  readonly #store: EventStore;
  readonly #pending = new Map<string, Pending>();
  #stopFeed: (() => void) | undefined;
  #safety: NodeJS.Timeout | undefined;
  #checking = false;
  #again = false;
  #closed = false;

  constructor(store: EventStore) {
    this.#store = store;
  }

  /**
   * Resolves with the first event on `topic` of one of `types` caused by `requestId`, or
   * undefined after `timeoutMs`.
   */
  wait(
    requestId: string,
    reply: { topic: string; types: readonly string[] },
    timeoutMs: number,
  ): Promise<StoredEvent | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#settle(requestId, undefined), timeoutMs);
      this.#pending.set(requestId, { topic: reply.topic, types: new Set(reply.types), resolve, timer });
      this.#listen();
      this.#check();
    });
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves every waiter with undefined and stops listening. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.#pending.keys()]) this.#settle(id, undefined);
  }

  #listen(): void {
    if (this.#stopFeed) return;
    this.#stopFeed = this.#store.changes.onAppend(() => this.#check());
    this.#safety = setInterval(() => this.#check(), SAFETY_CHECK_MS);
    this.#safety.unref();
  }

  #settle(id: string, event: StoredEvent | undefined): void {
    const pending = this.#pending.get(id);
    if (!pending) return;
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(event);
    if (this.#pending.size === 0) {
      this.#stopFeed?.();
      this.#stopFeed = undefined;
      if (this.#safety) clearInterval(this.#safety);
      this.#safety = undefined;
    }
  }

  /** One lookup round at a time; a wake during a round asks for another. */
  #check(): void {
    if (this.#checking) {
      this.#again = true;
      return;
    }
    this.#checking = true;
    void this.#round().finally(() => {
      this.#checking = false;
      if (this.#again && this.#pending.size > 0) {
        this.#again = false;
        this.#check();
      }
    });
  }

  async #round(): Promise<void> {
    for (const [id, pending] of [...this.#pending]) {
      try {
        for await (const event of this.#store.read({ causationId: id, topic: pending.topic })) {
          if (pending.types.has(event.envelope.event.type)) {
            this.#settle(id, event);
            break;
          }
        }
      } catch {
        // The store is closing or briefly unavailable: the next wake or the timeout settles it.
      }
    }
  }
}
