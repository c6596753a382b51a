/**
 * The default transport: delivery straight from the EventStore's log, with consumer
 * positions, leases and retries kept in the store's own tables. A handler's published
 * events and its acknowledgement commit in one transaction (a built-in outbox).
 */
import { AgentbusError } from '../../errors.js';
import { compileTopicPattern } from '../../routing/index.js';
import type {
  AppendItem,
  AppendedEvent,
  ClaimRequest,
  ClaimResult,
  ClaimedDelivery,
  EventStore,
  FailureInfo,
  LeaseRef,
  SettleOutcome,
  Settlement,
} from '../../store/event-store.js';
import { createOwnerId } from '../../store/owner.js';
import type { AckEffects, ConsumerOptions, Delivery, Transport, TransportConsumer } from '../transport.js';

function leaseKey(lease: LeaseRef): string {
  return `${lease.kind}:${lease.key}:${lease.token}`;
}

/** Default lease of a delivery, like JetStream's ack_wait. */
export const DEFAULT_LEASE_MS = 30_000;

/**
 * Creates the store-backed transport over `store`. The transport does not own the store:
 * closing it leaves the store open.
 */
export function createStoreBackedTransport(store: EventStore): Transport {
  const consumers = new Set<StoreBackedConsumer>();
  return {
    sharesFrozenCopies: store.sharesFrozenCopies === true,
    publish: (items) => store.append(items),
    async consumer(options) {
      const consumer = new StoreBackedConsumer(store, options);
      await consumer.open();
      consumers.add(consumer);
      consumer.onClose(() => consumers.delete(consumer));
      return consumer;
    },
    async close() {
      await Promise.all([...consumers].map((c) => c.close()));
    },
  };
}

/** A plain acknowledgement waiting for this tick's settle call. */
interface PendingAck {
  readonly settlement: Settlement;
  readonly resolve: (appended: AppendedEvent[]) => void;
  readonly reject: (error: unknown) => void;
}

/** A store's answer for one settlement: the events it appended, or its refusal thrown. */
function settled(result: AppendedEvent[] | Error | undefined): AppendedEvent[] {
  if (result instanceof Error) throw result;
  return result ?? [];
}

class StoreBackedDelivery implements Delivery {
  readonly event;
  readonly attempt;
  readonly failures;
  readonly firstFailedAt;
  readonly lease: LeaseRef;
  leaseUntil: number;
  leaseLost = false;
  #settled = false;

  constructor(
    private readonly consumer: StoreBackedConsumer,
    claimed: ClaimedDelivery,
  ) {
    this.event = claimed.event;
    this.attempt = claimed.attempt;
    this.failures = claimed.failures;
    this.firstFailedAt = claimed.firstFailedAt;
    this.lease = claimed.lease;
    this.leaseUntil = claimed.leaseUntil;
  }

  get settled(): boolean {
    return this.#settled;
  }

  ack(effects?: AckEffects): Promise<AppendedEvent[]> {
    return this.#settle({ kind: 'ack' }, effects);
  }

  async nak(delayMs: number, error: FailureInfo): Promise<void> {
    await this.#settle({ kind: 'retry', delayMs, error });
  }

  term(error: FailureInfo, effects?: { publish?: readonly AppendItem[] }): Promise<AppendedEvent[]> {
    return this.#settle({ kind: 'dead', error }, effects);
  }

  markReleased(): void {
    this.#settled = true;
  }

  #settle(outcome: SettleOutcome, effects?: AckEffects): Promise<AppendedEvent[]> {
    if (this.#settled) {
      return Promise.reject(
        new AgentbusError('LEASE_LOST', `delivery of position ${this.event.seq} was already settled`, {
          seq: this.event.seq,
        }),
      );
    }
    this.#settled = true;
    return this.consumer.settle(this, outcome, effects);
  }
}

class StoreBackedConsumer implements TransportConsumer {
  readonly name: string;
  readonly #owner = createOwnerId();
  readonly #matchTopic: (topic: string) => boolean;
  readonly #leaseMs: number;
  #stopListening: (() => void) | undefined;
  #dirty = true;
  /** The last claim reached the head of the log (with `#nextWakeAt`, its next deadline). */
  #caughtUp = false;
  #nextWakeAt: number | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #closeListeners: Array<() => void> = [];
  #heldKeys: ReadonlyMap<string, number> = new Map();
  #acks: PendingAck[] = [];

  constructor(
    private readonly store: EventStore,
    private readonly options: ConsumerOptions,
  ) {
    this.name = options.name;
    this.#matchTopic = compileTopicPattern(options.topic);
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  }

  async open(): Promise<void> {
    // Listen before the first claim, so nothing appended in between is missed.
    this.#stopListening = this.store.changes.onAppend(() => this.#poke());
    await this.store.deliveries.ensureConsumer({
      name: this.options.name,
      topic: this.options.topic,
      filter: this.options.filter,
      start: this.options.start ?? 'latest',
      ...(this.options.maxLag !== undefined ? { maxLag: this.options.maxLag, onFull: this.options.onFull ?? 'block' } : {}),
      ...(this.options.ordered ? { ordered: true } : {}),
    });
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  async fetch(max: number, options: { signal?: AbortSignal; retriesOnly?: boolean } = {}): Promise<Delivery[]> {
    const { signal, retriesOnly } = options;
    const request: ClaimRequest = {
      consumer: this.name,
      owner: this.#owner,
      max: Math.max(1, Math.trunc(max)),
      leaseMs: this.#leaseMs,
      matchTopic: this.#matchTopic,
      ...(this.options.matchEvent ? { matchEvent: this.options.matchEvent } : {}),
      ...(retriesOnly ? { retriesOnly } : {}),
    };
    while (!this.#closed && !signal?.aborted) {
      let result: ClaimResult;
      if (this.#caughtUp && !this.#dirty && !retriesOnly) {
        // The last claim reached the head and nothing was appended since: nothing to ask for.
        result = { deliveries: [], more: false, ...(this.#nextWakeAt !== undefined ? { nextWakeAt: this.#nextWakeAt } : {}) };
      } else {
        this.#dirty = false;
        result = await this.store.deliveries.claim(request);
        if (result.heldKeys) this.#heldKeys = result.heldKeys;
      }
      this.#caughtUp = false;
      if (result.deliveries.length === 0 && !result.more && !this.#dirty) {
        // While it sleeps, the claim rides along with this process's next append (if the
        // store offers it): the events and the claim commit together.
        const parked = retriesOnly ? undefined : this.store.deliveries.claimOnAppend?.(request);
        await this.#sleep(result.nextWakeAt, signal);
        if (!parked || parked.cancel()) continue;
        result = await parked.result;
        if (result.heldKeys) this.#heldKeys = result.heldKeys;
        // It ran after every write of the flush whose commit woke us: that news is taken.
        this.#dirty = false;
      }
      if (result.deliveries.length > 0) {
        this.#caughtUp = !result.more && !retriesOnly;
        this.#nextWakeAt = result.nextWakeAt;
        return result.deliveries.map((d) => new StoreBackedDelivery(this, d));
      }
    }
    return [];
  }

  get heldKeys(): ReadonlyMap<string, number> {
    return this.#heldKeys;
  }

  async working(deliveries: readonly Delivery[]): Promise<void> {
    const leases = new Map<string, LeaseRef>();
    const held: StoreBackedDelivery[] = [];
    for (const d of deliveries) {
      if (!(d instanceof StoreBackedDelivery) || d.settled || d.leaseLost) continue;
      leases.set(leaseKey(d.lease), d.lease);
      held.push(d);
    }
    if (leases.size === 0) return;
    const { until, lost } = await this.store.deliveries.extend(this.name, this.#owner, [...leases.values()], this.#leaseMs);
    const gone = new Set(lost.map(leaseKey));
    for (const d of held) {
      if (gone.has(leaseKey(d.lease))) d.leaseLost = true;
      else d.leaseUntil = until;
    }
  }

  async release(deliveries: readonly Delivery[]): Promise<void> {
    const leases = [];
    for (const d of deliveries) {
      if (!(d instanceof StoreBackedDelivery) || d.settled) continue;
      d.markReleased();
      leases.push({ lease: d.lease, seq: d.event.seq });
    }
    await this.store.deliveries.release(this.name, this.#owner, leases);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopListening?.();
    this.#wake?.();
    if (this.options.ordered) await this.store.deliveries.leave(this.name, this.#owner).catch(() => {});
    for (const listener of this.#closeListeners) listener();
  }

  /** Settles one delivery; rejects with the store's refusal (a lost lease). */
  settle(delivery: StoreBackedDelivery, outcome: SettleOutcome, effects?: AckEffects): Promise<AppendedEvent[]> {
    const publish = effects?.publish;
    const counters = effects?.counters;
    const settlement: Settlement = {
      consumer: this.name,
      seq: delivery.event.seq,
      topic: delivery.event.envelope.routing.topic,
      attempt: delivery.attempt,
      lease: delivery.lease,
      outcome,
      ...(publish?.length ? { publish } : {}),
      ...(counters?.length ? { counters } : {}),
    };
    if (outcome.kind === 'ack' && !publish?.length && !counters?.length) {
      // Plain acknowledgements of one tick go to the store together.
      return new Promise<AppendedEvent[]>((resolve, reject) => {
        this.#acks.push({ settlement, resolve, reject });
        if (this.#acks.length === 1) queueMicrotask(() => this.#settleAcks());
      });
    }
    return this.store.deliveries.settle([settlement]).then(([result]) => settled(result));
  }

  #settleAcks(): void {
    const acks = this.#acks;
    this.#acks = [];
    this.store.deliveries.settle(acks.map((a) => a.settlement)).then(
      (results) => {
        for (let i = 0; i < acks.length; i++) {
          const ack = acks[i] as PendingAck;
          const result = results[i];
          if (result instanceof Error) ack.reject(result);
          else ack.resolve(result ?? []);
        }
      },
      (error: unknown) => {
        for (const ack of acks) ack.reject(error);
      },
    );
  }

  #poke(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  /** Waits for an append, a deadline (retry due, lease lapse), close or abort. Not a poll. */
  #sleep(until: number | undefined, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      if (signal?.aborted || this.#closed) return resolve();
      this.#wake = done;
      signal?.addEventListener('abort', done, { once: true });
      if (until !== undefined) timer = setTimeout(done, Math.max(1, until - Date.now() + 1));
    });
  }
}
