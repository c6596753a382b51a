/**
 * Publisher-side backpressure: before events are appended, each subscription with a
 * `max_lag` that would receive them is checked. `reject` fails the publish with
 * `BackpressureError`; `block` waits until the subscription catches up, or fails with
 * `BACKPRESSURE` after the block timeout. Nothing is written when a publish is refused.
 */
import type { Envelope } from '../envelope/envelope.js';
import { BackpressureError } from '../errors.js';
import type { EventStore, LagLimit } from '../store/event-store.js';

/** How long the limits last read let publishes through without waiting for a fresh read. */
const KNOWN_FOR_MS = 100;

/** Default longest wait of a blocked publisher. */
export const DEFAULT_BLOCK_TIMEOUT_MS = 30_000;

export class Backpressure {
  /** Limits read once per tick and shared by every publish of that tick. */
  #tick: Promise<Map<string, LagLimit & { reserved: number }>> | undefined;
  /**
   * The limits last read, for publishes issued before this tick's read comes back: when
   * there are none (no subscription has a `max_lag`), they go ahead without waiting.
   */
  #known: Map<string, LagLimit & { reserved: number }> | undefined;
  #knownAt = 0;

  constructor(
    private readonly store: EventStore,
    private readonly blockTimeoutMs: number,
  ) {}

  /**
   * Undefined when `items` may be appended at once (no subscription of this tick has a
   * `max_lag`: the publish hot path waits for nothing); otherwise a promise that resolves
   * when they may, or rejects with `BackpressureError`.
   */
  admit(items: readonly { readonly envelope: Envelope }[]): Promise<void> | undefined {
    if (this.#known?.size === 0 && Date.now() - this.#knownAt < KNOWN_FOR_MS) {
      // This tick's read, for the publishes that follow. Nobody awaits it here: a failure (the
      // store unreachable) is theirs to see, not an unhandled rejection.
      this.#limits().catch(() => {});
      return undefined;
    }
    return this.#admit(items.map((i) => i.envelope));
  }

  /** Forgets the limits read: a subscription of this process was just added or changed. */
  invalidate(): void {
    this.#known = undefined;
  }

  async #admit(envelopes: readonly Envelope[]): Promise<void> {
    const deadline = Date.now() + this.blockTimeoutMs;
    for (;;) {
      const limits = await this.#limits();
      if (limits.size === 0) return;
      const over = this.#firstOver(limits, envelopes);
      if (!over) {
        for (const [limit, n] of this.#counts(limits, envelopes)) limit.reserved += n;
        return;
      }
      const { limit, n } = over;
      const lag = limit.pending + limit.reserved;
      const details = { subscription: limit.subscription, lag, limit: limit.maxLag, publishing: n };
      if (n > limit.maxLag) {
        throw new BackpressureError(
          `subscription ${limit.subscription}: a publish of ${n} events can never fit its max_lag of ${limit.maxLag}`,
          details,
        );
      }
      if (limit.onFull === 'reject') {
        throw new BackpressureError(
          `subscription ${limit.subscription} is ${lag} events behind (max_lag ${limit.maxLag}); publish refused`,
          details,
        );
      }
      if (!(await this.#waitForProgress(deadline))) {
        throw new BackpressureError(
          `subscription ${limit.subscription} stayed ${lag} events behind (max_lag ${limit.maxLag}) for ${this.blockTimeoutMs} ms; publish refused`,
          { ...details, waitedMs: this.blockTimeoutMs },
        );
      }
    }
  }

  #limits(): Promise<Map<string, LagLimit & { reserved: number }>> {
    if (!this.#tick) {
      const invalidated = this.#known === undefined;
      this.#tick = this.store.deliveries.lagLimits().then((limits) => {
        const known = new Map(limits.map((l) => [l.subscription, { ...l, reserved: 0 }]));
        if (invalidated || this.#known !== undefined) {
          this.#known = known;
          this.#knownAt = Date.now();
        }
        return known;
      });
      setImmediate(() => {
        this.#tick = undefined;
      });
    }
    return this.#tick;
  }

  #counts(limits: Map<string, LagLimit & { reserved: number }>, envelopes: readonly Envelope[]) {
    const counts = new Map<LagLimit & { reserved: number }, number>();
    for (const envelope of envelopes) {
      const target = envelope.routing.deliver_to;
      for (const limit of limits.values()) {
        if (target !== undefined ? target === limit.subscription : limit.matches(envelope)) {
          counts.set(limit, (counts.get(limit) ?? 0) + 1);
        }
      }
    }
    return counts;
  }

  #firstOver(limits: Map<string, LagLimit & { reserved: number }>, envelopes: readonly Envelope[]) {
    for (const [limit, n] of this.#counts(limits, envelopes)) {
      if (limit.pending + limit.reserved + n > limit.maxLag) return { limit, n };
    }
    return undefined;
  }

  /** Waits for a settlement (or any commit) to be noticed; false at the deadline. */
  #waitForProgress(deadline: number): Promise<boolean> {
    const remaining = deadline - Date.now();
    if (remaining <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const stop = this.store.changes.onAppend(() => finish(true));
      const timer = setTimeout(() => finish(false), remaining);
      function finish(progressed: boolean) {
        clearTimeout(timer);
        stop();
        resolve(progressed);
      }
    }).then((progressed) => {
      this.#tick = undefined;
      return progressed as boolean;
    });
  }
}
