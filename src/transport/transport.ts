/**
 * The Transport contract: delivery to durable consumers, in JetStream's vocabulary
 * (fetch, ack, nak with delay, term, working). Every implementation must pass
 * `test/conformance/transport.contract.ts` against its real engine.
 */
import type {
  AppendItem,
  AppendedEvent,
  ConsumerInfo,
  DeadLetter,
  FailureInfo,
  StartPosition,
  StateIncrement,
  StoredEvent,
} from '../store/event-store.js';

/** One delivery of one event to one consumer-group member. */
export interface Delivery {
  readonly event: StoredEvent;
  /** 1 for the first delivery, 2 for the first redelivery, ... */
  readonly attempt: number;
  /** Handler failures so far; a redelivery after a lapsed lease does not count one. */
  readonly failures: number;
  /** When the lease lapses unless extended (ms); `working()` moves it. */
  readonly leaseUntil: number;
  /** True once `working()` learnt that another member took the lease over. */
  readonly leaseLost: boolean;
  /** When the event first failed for this consumer (ms), for redeliveries. */
  readonly firstFailedAt?: number;
  /**
   * Where the events published with the acknowledgement are not committed with it (NATS): the
   * id for the published event labelled `label` (a handler's n-th publish is labelled `n`),
   * the same on every delivery of this copy of the event. A redelivery after a crash between
   * the publish and the ack then publishes the same ids again, and the stream's dedup window
   * and the store's idempotent append keep one copy. Absent where effects commit with the ack.
   */
  effectId?(label: string): string;
  /**
   * Settles the delivery as done. Events in `publish` are appended, and `counters`
   * increased, atomically with the acknowledgement where the transport can (the store-backed
   * one does; NATS increases the counters, then publishes, then acknowledges).
   * @throws AgentbusError `LEASE_LOST` when the lease moved on; nothing is then written.
   */
  ack(effects?: AckEffects): Promise<AppendedEvent[]>;
  /** Asks for redelivery after `delayMs`, recording why. @throws `LEASE_LOST` */
  nak(delayMs: number, error: FailureInfo): Promise<void>;
  /** Gives up on the event: it becomes a dead letter. @throws `LEASE_LOST` */
  term(error: FailureInfo, effects?: { publish?: readonly AppendItem[] }): Promise<AppendedEvent[]>;
}

/** Selection and lease settings of a durable consumer. */
export interface ConsumerOptions {
  /** Durable name; members using the same name share (split) its events. */
  readonly name: string;
  /** Topic pattern with NATS wildcards. */
  readonly topic: string;
  /** Content filter (EventBridge-style pattern), already validated. */
  readonly filter?: unknown;
  /** Matcher compiled from `filter`. */
  readonly matchEvent?: (event: StoredEvent) => boolean;
  /** Used only when the consumer is new. @default "latest" */
  readonly start?: StartPosition;
  /** How long a delivery stays with this member without `working()`. @default 30000 */
  readonly leaseMs?: number;
  /** Lag limit publishers check before appending (see `Bus` backpressure). */
  readonly maxLag?: number;
  /** @default "block" */
  readonly onFull?: 'block' | 'reject';
  /** Per-partition-key order: one active member at a time. @default false */
  readonly ordered?: boolean;
}

/** A member of a consumer group. */
export interface TransportConsumer {
  readonly name: string;
  /**
   * Resolves with 1..max deliveries as soon as any are available (new events, due retries,
   * lapsed leases of other members); with [] when `signal` aborts.
   */
  fetch(max: number, options?: { signal?: AbortSignal; retriesOnly?: boolean }): Promise<Delivery[]>;
  /** Extends the leases of these deliveries (long work in progress). */
  working(deliveries: readonly Delivery[]): Promise<void>;
  /** Returns deliveries whose handling never started, without counting an attempt. */
  release(deliveries: readonly Delivery[]): Promise<void>;
  /**
   * Ordered consumers: partition keys held back by a scheduled retry (with the earliest such
   * position), as of the last fetch. Later events of these keys must wait for it.
   */
  readonly heldKeys: ReadonlyMap<string, number>;
  /** Stops fetching. Unsettled deliveries stay leased until released or lapsed. */
  close(): Promise<void>;
}

/**
 * Administration of durable subscriptions kept by the transport rather than the store (NATS
 * JetStream consumers). Operations the engine cannot do are refused with `OPTIONS_INVALID`
 * saying why; names are already validated.
 */
export interface TransportSubscriptionAdmin {
  list(): Promise<ConsumerInfo[]>;
  /**
   * Each subscription's backlog as the engine counts it, for status views: one read of the
   * engine for all subscriptions (NATS: the stream's consumer list), shared by the calls made
   * within a second of it; nothing is read per event.
   * @throws AgentbusError `BACKEND_UNAVAILABLE` when the engine cannot be asked
   */
  backlog(): Promise<SubscriptionBacklog[]>;
  get(name: string): Promise<ConsumerInfo | undefined>;
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  reset(name: string, to: StartPosition): Promise<ConsumerInfo>;
  delete(name: string): Promise<boolean>;
}

/** A subscription's backlog as the engine that keeps it counts it (NATS: its consumer's info). */
export interface SubscriptionBacklog {
  readonly name: string;
  /** Its topic pattern. */
  readonly topic: string;
  /** Events of its topics not delivered yet (JetStream `num_pending`). */
  readonly pending: number;
  /**
   * Deliveries its members hold and have not settled, retries waiting for their delay
   * included (JetStream `num_ack_pending`).
   */
  readonly inFlight: number;
  /** Every event at or below this position is settled (JetStream's ack floor, a stream sequence). */
  readonly ackFloor: number;
  /** The last position delivered (a stream sequence). */
  readonly delivered: number;
  /** Deliveries made again (failures and lapsed leases). */
  readonly redelivered: number;
}

/** What a handler's acknowledgement carries: the events it published, and counters it moved. */
export interface AckEffects {
  readonly publish?: readonly AppendItem[];
  readonly counters?: readonly StateIncrement[];
}

/** Delivery to durable consumers; publishing into the log it delivers from. */
export interface Transport {
  /** Appends events, idempotent by id; resolves once they are durable. */
  publish(items: readonly AppendItem[]): Promise<AppendedEvent[]>;
  /** Joins (creating if needed) the consumer group `options.name`. */
  consumer(options: ConsumerOptions): Promise<TransportConsumer>;
  /**
   * Transports that deliver outside the store: redelivers a dead letter to its subscription
   * only (the same event, or `replacement`). The caller then marks it replayed with
   * `DeliveryState.replayDeadLetter(id, replacement, { redelivered: true })`. Safe to repeat.
   */
  redeliver?(dead: DeadLetter, replacement?: AppendItem): Promise<void>;
  /** Transports that keep consumers themselves: subscription administration. */
  readonly subscriptions?: TransportSubscriptionAdmin;
  /**
   * True when consumers in the publishing process may be handed `AppendItem.frozen` (the
   * store-backed transport on a store that shares them, SQLite's in-memory tail): only then
   * does the bus take that copy at publish.
   */
  readonly sharesFrozenCopies?: boolean;
  /**
   * True when the transport delivers from a log of its own (NATS), not from the store: events
   * a transaction commits to the store (workflow effects, fired timers) then go through the
   * bus's outbox to reach it.
   */
  readonly ownLog?: boolean;
  close(): Promise<void>;
}
