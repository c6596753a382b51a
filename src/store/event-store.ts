/**
 * The EventStore contract: agentbus's history and state, in agentbus's own words.
 *
 * An adapter owns its connections, so callers never thread a connection through an
 * operation. Every implementation must pass `test/conformance/event-store.contract.ts`
 * against its real engine.
 */
import type { Envelope } from '../envelope/envelope.js';
import type { Retention } from './retention.js';

/** An envelope as the store keeps it: with its global position. */
export interface StoredEvent {
  /** Global position in the log, starting at 1, strictly increasing, never reused. */
  readonly seq: number;
  readonly envelope: Envelope;
  /** When the store committed it (ms since the epoch). Never decreases along `seq`. */
  readonly storedAt: number;
}

/** An envelope ready to append, with its JSON text (serialised once, by the caller). */
export interface AppendItem {
  readonly envelope: Envelope;
  /** `JSON.stringify(envelope)`; stored as is and never re-serialised. */
  readonly text: string;
  /**
   * A deep-frozen copy of `envelope` equal to `JSON.parse(text)`, taken when the item was
   * built (`frozenEnvelopeCopy`). A store may hand it to subscribers in its own process
   * instead of parsing `text` again.
   */
  readonly frozen?: Envelope;
}

/** The result of appending one item: the stored copy, which is the first copy for a repeated id. */
export interface AppendedEvent extends StoredEvent {
  /** True when an event with this id was already stored; `envelope` is then the first copy. */
  readonly duplicate: boolean;
}

/** A history query. Every field narrows the result; all are optional. */
export interface HistoryQuery {
  /** Lowest position, inclusive. */
  readonly fromSeq?: number;
  /** Highest position, inclusive. */
  readonly toSeq?: number;
  /** Topic pattern with NATS wildcards (`project.*`, `project.>`). */
  readonly topic?: string;
  readonly type?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  /** Events whose `event.timestamp` is at or after this instant (ms). */
  readonly since?: number;
  /** Events whose `event.timestamp` is before this instant (ms). */
  readonly until?: number;
  /** At most this many events. */
  readonly limit?: number;
  /** `backward` reads newest first. @default "forward" */
  readonly direction?: 'forward' | 'backward';
}

/** A versioned value in the state area. */
export interface StateRecord<T = unknown> {
  readonly namespace: string;
  readonly key: string;
  readonly value: T;
  /** Starts at 1 and increases by one on every write. */
  readonly version: number;
  readonly updatedAt: number;
}

/** Compare-and-set condition: the version the caller last saw, or `absent` for a new key. */
export type ExpectedVersion = number | 'absent' | 'any';

/** Which records {@link StateArea.list} returns. Every field narrows the result. */
export interface StateListOptions {
  /** Only keys starting with this text. @default "" (every key) */
  readonly prefix?: string;
  /**
   * Only records last written (`updatedAt`) before this instant (ms since the epoch, by the
   * store's clock), and then oldest first (by `updatedAt`, then key) instead of in key order.
   * Read from an index by namespace and write time, so the cost is proportional to the
   * records returned (plus, with `prefix`, the older records of the namespace outside it),
   * not to the namespace's size: what prunes of old records use.
   */
  readonly updatedBefore?: number;
}

/**
 * Durable key-value state for sagas, aggregators, timers and checkpoints, with
 * compare-and-set. A version mismatch throws `CONCURRENCY_CONFLICT`.
 */
export interface StateArea {
  get<T = unknown>(namespace: string, key: string): Promise<StateRecord<T> | undefined>;
  /** Writes `value` if the current version matches; returns the new version. */
  put<T = unknown>(namespace: string, key: string, value: T, expected?: ExpectedVersion): Promise<number>;
  /** Deletes the key if the current version matches; false when there was nothing to delete. */
  delete(namespace: string, key: string, expected?: ExpectedVersion): Promise<boolean>;
  /**
   * The records of a namespace, streamed: all of them in key order, or those `options`
   * selects (see {@link StateListOptions}; `updatedBefore` orders them oldest first). A page
   * is read at a time, so a caller may delete what it has read as it goes.
   * @throws AgentbusError `OPTIONS_INVALID` naming the field (`namespace`, `prefix`,
   *   `updatedBefore`: not a finite number), before anything is read
   */
  list<T = unknown>(namespace: string, options?: StateListOptions): AsyncIterable<StateRecord<T>>;
}

/** What a function running inside `EventStore.transaction` may do; all of it commits or none. */
export interface StoreTransaction {
  append(items: readonly AppendItem[]): Promise<AppendedEvent[]>;
  readonly state: StateArea;
}

/**
 * What an append to a stream expects of it: absent (`no_stream`), present (`exists`),
 * at exactly this version, or anything (`any`).
 */
export type StreamExpectedVersion = 'no_stream' | 'any' | 'exists' | number;

/** An event of a stream: its global position plus its place in the stream. */
export interface StreamEvent extends StoredEvent {
  readonly stream: string;
  /** 1 for the stream's first event, increasing by one without gaps. */
  readonly version: number;
}

/** The result of an append to a stream. */
export interface StreamAppendResult {
  /** The stream's version after the append: its last event's version. */
  readonly version: number;
  readonly events: AppendedEvent[];
}

/**
 * Streams for event-sourced aggregates: named sequences of events inside the global log,
 * with a version per stream and optimistic concurrency.
 */
export interface StreamStore {
  /**
   * Appends `items` to `stream` (they are also appended to the global log, in one
   * transaction) if the stream's version matches `expected` (default `any`).
   * Appending no items checks the version only.
   * An item whose id is already stored is not appended again and gets no new version.
   * @throws AgentbusError `CONCURRENCY_CONFLICT` with details `{ stream, expected, actual }`;
   *   nothing is written then.
   */
  append(stream: string, items: readonly AppendItem[], expected?: StreamExpectedVersion): Promise<StreamAppendResult>;
  /** The stream's current version; 0 when it has no events. */
  version(stream: string): Promise<number>;
  /** The stream's events in version order, streamed. */
  read(stream: string, options?: { fromVersion?: number; toVersion?: number; limit?: number }): AsyncIterable<StreamEvent>;
}

/** Where a new consumer starts reading. */
export type StartPosition = 'earliest' | 'latest' | { readonly seq: number } | { readonly time: number };

/** The durable identity and selection of a consumer (a subscription name). */
export interface ConsumerSpec {
  readonly name: string;
  /** Topic pattern with NATS wildcards. */
  readonly topic: string;
  /** EventBridge-style pattern, stored for inspection and lag counting; claims match with `ClaimRequest.matchEvent`. */
  readonly filter?: unknown;
  /** Only used when the consumer does not exist yet. @default "latest" */
  readonly start?: StartPosition;
  /** Most events pending for this consumer before publishers feel backpressure. */
  readonly maxLag?: number;
  /** What publishers do at `maxLag`: wait, or fail with `BACKPRESSURE`. @default "block" */
  readonly onFull?: 'block' | 'reject';
  /**
   * Per-partition-key order: one member of the group is active at a time (the others take
   * over when its lease lapses), and claims report keys held back by scheduled retries.
   */
  readonly ordered?: boolean;
}

/** A consumer's lag limit and its exact count, as publishers check it. */
export interface LagLimit {
  readonly subscription: string;
  readonly maxLag: number;
  readonly onFull: 'block' | 'reject';
  /** Events published for it and not yet settled. */
  readonly pending: number;
  /** Whether an envelope will be delivered to it. */
  readonly matches: (envelope: Envelope) => boolean;
}

/** A consumer's durable position and counters. */
export interface ConsumerInfo {
  readonly name: string;
  readonly topic: string;
  readonly filter: unknown;
  /** Every event at or below this position is settled (acked, filtered out, or dead). */
  readonly ackFloor: number;
  /** The next position not yet handed out to any member. */
  readonly nextSeq: number;
  /** Deliveries handed out and not yet settled. */
  readonly inFlight: number;
  /** Failed deliveries waiting for their retry time. */
  readonly scheduled: number;
  readonly redelivered: number;
  readonly deadLettered: number;
  readonly expired: number;
  readonly paused: boolean;
  readonly createdAt: number;
  readonly ordered: boolean;
  /** Ordered consumers: the member currently active. */
  readonly activeMember?: string;
  /** Set for consumers with a lag limit, with their exact pending count. */
  readonly lag?: { readonly maxLag: number; readonly onFull: 'block' | 'reject'; readonly pending: number };
}

/**
 * A lease on a delivery. Settling with a lease that another member has since taken over
 * is refused with `LEASE_LOST`.
 */
export interface LeaseRef {
  /** `window`: a first delivery, part of a claimed window; `retry`: a redelivery. */
  readonly kind: 'window' | 'retry';
  /** The window's first position (for `window`) or the event's position (for `retry`). */
  readonly key: number;
  readonly token: number;
}

/** One delivery handed out by `claim`. */
export interface ClaimedDelivery {
  readonly event: StoredEvent;
  /** 1 for the first delivery, 2 for the first redelivery, ... */
  readonly attempt: number;
  /**
   * Handler failures so far (retries spend this budget). Redeliveries after a lapsed lease
   * (a crashed or stalled member) do not count.
   */
  readonly failures: number;
  readonly lease: LeaseRef;
  /** When this lease lapses unless extended (ms). */
  readonly leaseUntil: number;
  /** For redeliveries: when the event first failed (ms). */
  readonly firstFailedAt?: number;
}

/** A request for deliveries on behalf of one member of a consumer group. */
export interface ClaimRequest {
  readonly consumer: string;
  /** Identifies the member; a lease of a member that is gone may be taken over at once. */
  readonly owner: string;
  readonly max: number;
  readonly leaseMs: number;
  /** Decides on the topic alone, before the envelope is parsed. */
  readonly matchTopic: (topic: string) => boolean;
  /** Content filter on the parsed event; absent means every event on a matching topic. */
  readonly matchEvent?: (event: StoredEvent) => boolean;
  /** Only due retries, no new events (a member whose window is full of held-back keys). */
  readonly retriesOnly?: boolean;
}

/** A claim waiting for this process's next append; see {@link DeliveryState.claimOnAppend}. */
export interface ParkedClaim {
  /** Settles after the commit that ran the claim (or with its error). */
  readonly result: Promise<ClaimResult>;
  /** Withdraws the claim; false when it already ran (then take `result`). */
  cancel(): boolean;
}

/** What a claim returned, and when it is worth asking again if nothing new is published. */
export interface ClaimResult {
  readonly deliveries: ClaimedDelivery[];
  /** Earliest time at which a scheduled retry becomes due or a lease of another member lapses. */
  readonly nextWakeAt?: number;
  /** True when the claim stopped before reaching the head of the log: ask again at once. */
  readonly more: boolean;
  /**
   * Ordered consumers only: partition keys with a scheduled retry not handed out yet, each
   * with the position of its earliest such event. Later events of these keys must wait.
   */
  readonly heldKeys?: ReadonlyMap<string, number>;
}

/** How a delivery ends (or is postponed). */
export type SettleOutcome =
  | { readonly kind: 'ack' }
  /** Redeliver after `delayMs` (measured by the store's clock); `error` describes the failure. */
  | { readonly kind: 'retry'; readonly delayMs: number; readonly error: FailureInfo }
  /** Give up: the delivery becomes a dead letter. */
  | { readonly kind: 'dead'; readonly error: FailureInfo };

/** Why a delivery failed. */
export interface FailureInfo {
  /** Classification: `timeout`, `temporary_failure`, `invalid_payload`, `unauthorized`, or a custom code. */
  readonly reason: string;
  readonly message: string;
  readonly stack?: string;
}

/** Settles one delivery, atomically with the events its handler published. */
export interface Settlement {
  readonly consumer: string;
  readonly seq: number;
  /**
   * The settled event's topic (`routing.topic`), as the delivery carried it: an accepted
   * settlement is counted under it in the store's recent activity ({@link EventCounts.recent}).
   */
  readonly topic: string;
  readonly attempt: number;
  readonly lease: LeaseRef;
  readonly outcome: SettleOutcome;
  /** Events the handler published; appended only if the settlement is accepted. */
  readonly publish?: readonly AppendItem[];
  /** Counters of the state area increased in the same transaction, for an accepted `ack` only. */
  readonly counters?: readonly StateIncrement[];
}

/**
 * An integer value of the state area increased by `by` (created at `by` when absent), its
 * version bumped. Rides with an acknowledgement so that a count of what handlers did commits
 * with it or not at all (the agents' chain budget).
 */
export interface StateIncrement {
  readonly namespace: string;
  readonly key: string;
  readonly by: number;
}

/**
 * One failed attempt of a delivery, as the store keeps it with the delivery's scheduled retry
 * and then its dead letter (the seed's "Retry Timeline"). Only handler failures are recorded:
 * a lease that lapsed (a crashed or stalled member) is not an attempt that failed.
 */
export interface FailedAttempt {
  /** Which delivery failed: 1 for the first delivery, 2 for the first redelivery, ... */
  readonly attempt: number;
  /** When it failed (ms since the epoch): the store's clock, or the transport's on NATS. */
  readonly at: number;
  /** Classification: `timeout`, `temporary_failure`, `invalid_payload`, `unauthorized`, or a custom code. */
  readonly reason: string;
  /** The error message, cut to {@link ATTEMPT_ERROR_MAX} characters (the stack is kept for the last failure only). */
  readonly error: string;
  /** The delay chosen before the next attempt (ms); absent for the attempt that ended in a dead letter. */
  readonly delayMs?: number;
}

/** How many failed attempts a retry or dead letter keeps: the most recent ones. */
export const ATTEMPTS_KEPT = 20;

/** Longest error message kept per attempt (characters). */
export const ATTEMPT_ERROR_MAX = 500;

/** A dead letter: a delivery that will not be retried. */
export interface DeadLetter {
  readonly id: number;
  readonly consumer: string;
  readonly event: StoredEvent;
  readonly reason: string;
  readonly error: string;
  readonly stack?: string;
  readonly retries: number;
  readonly firstFailedAt: number;
  readonly lastFailedAt: number;
  /**
   * Its failed attempts, oldest first, the last one included: at most the {@link ATTEMPTS_KEPT}
   * most recent (a poison event retried more often keeps its latest ones; `retries` still counts
   * them all). Empty for a dead letter written before the store kept attempts (SQLite schema
   * 12, PostgreSQL 6).
   */
  readonly attempts: readonly FailedAttempt[];
  readonly status: 'open' | 'replayed' | 'archived';
  readonly note?: string;
  /** For a "fix and replay": the id of the corrected copy that was published. */
  readonly replayedAs?: string;
}

/** {@link DeliveryState.countOpenDeadLetters}: open dead letters per subscription and per topic. */
export interface OpenDeadLetterCounts {
  readonly bySubscription: ReadonlyArray<{ readonly consumer: string; readonly count: number }>;
  readonly byTopic: ReadonlyArray<{ readonly topic: string; readonly events: number }>;
}

/** A dead letter decided outside the store, for {@link DeliveryState.recordDeadLetter}. */
export interface ExternalDeadLetter {
  /** The subscription (consumer group) name. */
  readonly consumer: string;
  /** The event as delivered; appended to the log if its id is not stored yet. */
  readonly event: AppendItem;
  readonly reason: string;
  readonly error: string;
  readonly stack?: string;
  /** Handler failures before this one (retries spent). */
  readonly retries: number;
  readonly firstFailedAt: number;
  readonly lastFailedAt: number;
  /**
   * The failed attempts, oldest first, this last one included. The store keeps the
   * {@link ATTEMPTS_KEPT} most recent, error messages cut to {@link ATTEMPT_ERROR_MAX}.
   * @default []
   */
  readonly attempts?: readonly FailedAttempt[];
}

/**
 * A delivery that failed at least once and was then handled (ADR 0023): its failed attempts
 * and the attempt that succeeded, kept per subscription and event by the settlement that
 * acknowledged it (the one that deletes its scheduled retry), until retention prunes the event.
 * An acknowledgement of an event that never failed writes none.
 */
export interface RecoveredDelivery {
  /** The subscription (consumer group) name. */
  readonly consumer: string;
  readonly event: StoredEvent;
  /** Handler failures before it was handled (retries spent). */
  readonly retries: number;
  /** When its handler first failed (ms). */
  readonly firstFailedAt: number;
  /**
   * Its failed attempts, oldest first: at most the {@link ATTEMPTS_KEPT} most recent. Empty when
   * its retry was scheduled before the store kept attempts (SQLite schema 12, PostgreSQL 6).
   */
  readonly attempts: readonly FailedAttempt[];
  /** Which delivery attempt was handled: 3 after two failures (more when a lease lapsed between). */
  readonly handledAttempt: number;
  /** When it was acknowledged (ms): the store's clock, or the transport's on NATS. */
  readonly handledAt: number;
}

/** A recovery seen by a transport that delivers outside the store, for {@link RecoveredDeliveries.record}. */
export interface ExternalRecovery {
  /** The subscription (consumer group) name. */
  readonly consumer: string;
  /** The event as delivered; appended to the log if its id is not stored yet. */
  readonly event: AppendItem;
  /** Handler failures before it was handled: at least 1. */
  readonly retries: number;
  readonly firstFailedAt: number;
  /** The failed attempts, oldest first; the store keeps the last {@link ATTEMPTS_KEPT}. @default [] */
  readonly attempts?: readonly FailedAttempt[];
  readonly handledAttempt: number;
  readonly handledAt: number;
}

/** Which recovered deliveries {@link RecoveredDeliveries.list} returns. */
export interface RecoveredFilter {
  /** The correlation id of their events. */
  readonly correlationId: string;
  /** Only this subscription's. */
  readonly consumer?: string;
  /** At most this many. @default no limit (a correlation's own events bound it) */
  readonly limit?: number;
}

/**
 * Deliveries that failed and were then handled (ADR 0023): one record per subscription and
 * event, written with the acknowledgement that deletes the event's scheduled retry, replaced
 * if the same event recovers again (a replay, a reset), deleted by retention with the event.
 */
export interface RecoveredDeliveries {
  /** The recovered deliveries of a correlation's events, by position, then subscription. */
  list(filter: RecoveredFilter): Promise<RecoveredDelivery[]>;
  /**
   * Records a recovery seen by a transport that delivers outside the store (NATS JetStream),
   * in one transaction: appends `record.event` unless its id is stored, then keeps the record
   * (replacing one of the same subscription and event).
   * @throws `OPTIONS_INVALID` naming the field (`retries`, `attempts[1].at`); nothing is written then
   */
  record(record: ExternalRecovery): Promise<void>;
}

/** Options of {@link DeliveryState.replayDeadLetter}. */
export interface ReplayDeadLetterOptions {
  /**
   * The caller's transport has already redelivered the event (or the replacement) to the
   * subscription itself (NATS): only move the dead letter to `replayed`, appending
   * `replacement` to the log if given, and schedule nothing; the consumer need not exist in
   * this store. @default false
   */
  readonly redelivered?: boolean;
}

/** Which dead letters an operation concerns. */
export interface DeadLetterFilter {
  readonly consumer?: string;
  readonly status?: DeadLetter['status'];
  /**
   * Only dead letters of events with this correlation id. Found from the correlation's events
   * (their index, then the dead letters by position), so the cost follows the correlation, not
   * the length of the queue; events kept below the log start for a dead letter are found too.
   * @throws `OPTIONS_INVALID` naming `correlationId` when it is not 1-255 characters without
   *   control characters (as `HistoryQuery.correlationId`)
   */
  readonly correlationId?: string;
  /** Only ids above this one (paging). */
  readonly afterId?: number;
  readonly limit?: number;
}

/**
 * Delivery state for the store-backed transport: per consumer an acknowledged position,
 * claimed windows with leases, scheduled retries and dead letters. Nothing is written per
 * delivery on the happy path: a window of many events is one row.
 */
export interface DeliveryState {
  /** Creates the consumer if absent (positioned per `spec.start`) and returns its info. */
  ensureConsumer(spec: ConsumerSpec): Promise<ConsumerInfo>;
  getConsumer(name: string): Promise<ConsumerInfo | undefined>;
  listConsumers(): Promise<ConsumerInfo[]>;
  deleteConsumer(name: string): Promise<boolean>;
  /** Hands out due retries first, then new events after the consumer's position. */
  claim(request: ClaimRequest): Promise<ClaimResult>;
  /**
   * Optional: parks a claim that runs inside the next transaction of this process that
   * appends events, so a waiting consumer's claim commits with the append (one commit, no
   * extra round). Resolves after that commit, with a result worth acting on.
   */
  claimOnAppend?(request: ClaimRequest): ParkedClaim;
  /**
   * Settles deliveries. Each settlement is accepted or refused on its own
   * (`LEASE_LOST` when its lease was taken over); the accepted ones, with the events
   * they publish, commit together.
   */
  settle(settlements: readonly Settlement[]): Promise<Array<AppendedEvent[] | Error>>;
  /**
   * Extends leases held by `owner`; returns the new lease end and the leases it no longer
   * holds (taken over, or settled), whose deliveries must not be started.
   */
  extend(
    consumer: string,
    owner: string,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<{ until: number; lost: LeaseRef[] }>;
  /**
   * Gives back leases of deliveries whose handler never started, for delivery to another
   * member at once without counting an attempt (clean shutdown of a prefetching member).
   */
  release(consumer: string, owner: string, leases: readonly { lease: LeaseRef; seq: number }[]): Promise<void>;
  /** A member leaves: it steps down as an ordered consumer's active member. */
  leave(consumer: string, owner: string): Promise<void>;
  /** Moves a consumer's position: every event before `nextSeq` counts as settled. */
  resetConsumer(name: string, start: StartPosition): Promise<ConsumerInfo>;
  /** Pauses or resumes a consumer; a paused consumer keeps its position and gets nothing. */
  setPaused(name: string, paused: boolean): Promise<void>;
  /** Consumers with a lag limit and their pending counts. */
  lagLimits(): Promise<LagLimit[]>;
  listDeadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  /**
   * Open dead letters counted in the store, reading no event bodies: per subscription, and per
   * topic as events (an event dead in two subscriptions counts once). What status views need
   * of a queue that may hold many.
   */
  countOpenDeadLetters(): Promise<OpenDeadLetterCounts>;
  getDeadLetter(id: number): Promise<DeadLetter | undefined>;
  /**
   * Moves an open dead letter to `replayed`, atomically with its redelivery to its
   * subscription: the same event again (attempts counted afresh) or, with `replacement`, a
   * corrected copy addressed to that subscription (`routing.deliver_to`).
   * @throws `NOT_FOUND` for an unknown id or subscription, `CONCURRENCY_CONFLICT` when it is not open.
   */
  replayDeadLetter(id: number, replacement?: AppendItem, options?: ReplayDeadLetterOptions): Promise<DeadLetter>;
  /**
   * Records a dead letter decided by a transport that delivers outside the store (NATS
   * JetStream), in one transaction: appends `record.event` to the log unless its id is
   * already stored (idempotent, like `append`), then adds an `open` dead letter for
   * `record.consumer` referring to that stored event. The consumer need not exist in this
   * store (nothing about it is looked up or counted beyond `deadLettered` when it does).
   * Idempotent: when an `open` dead letter of the same consumer and event id exists, it is
   * returned unchanged and nothing is written (a transport retrying after a crash).
   * Such a dead letter is replayed by its transport: replay it with
   * `replayDeadLetter(id, replacement, { redelivered: true })`.
   * @returns the dead letter as `getDeadLetter` would return it.
   */
  recordDeadLetter(record: ExternalDeadLetter): Promise<DeadLetter>;
  /** Moves a dead letter to `archived` with a note. @throws `NOT_FOUND` */
  archiveDeadLetter(id: number, note: string): Promise<DeadLetter>;
  /** Deletes dead letters (by default all replayed and archived ones); returns how many. */
  purgeDeadLetters(filter?: { consumer?: string; status?: DeadLetter['status'] | 'all' }): Promise<number>;
  /** Deliveries that failed and were then handled, with their failed attempts (ADR 0023). */
  readonly recovered: RecoveredDeliveries;
}

/**
 * Deliveries one subscription's handlers acknowledged: a count `EventCounts.handled` returns,
 * or one a transport hands to `EventCounts.record`.
 */
export interface HandledCount {
  /** The subscription (consumer group) name. */
  readonly consumer: string;
  readonly count: number;
}

/** How many events the log holds for one topic and source. */
export interface EventCount {
  readonly topic: string;
  /** `event.source` of the events counted. */
  readonly source: string;
  readonly events: number;
  /** Position of the last of them. */
  readonly lastSeq: number;
}

/**
 * What a count of recent activity counts:
 * - `published`: events appended (duplicates not counted);
 * - `consumed`: deliveries settled with an accepted `ack` (one per subscription that acked);
 * - `retried`: handler failures whose delivery was scheduled again (`retry`);
 * - `dead_lettered`: handler failures that became dead letters (`dead`, or recorded by a
 *   transport that delivers outside the store).
 */
export type ActivityKind = 'published' | 'consumed' | 'retried' | 'dead_lettered';

/** How much of one kind of activity happened on one topic. */
export interface ActivityCount {
  readonly topic: string;
  readonly kind: ActivityKind;
  readonly count: number;
}

/**
 * Aggregate counts of the log for dashboards and metrics, cheap whatever the history's size:
 * never a scan of the whole log.
 */
export interface EventCounts {
  /**
   * Every (topic, source) pair ever appended, with its number of events, in topic then
   * source order. Kept by the appends themselves (committed with them, duplicates not
   * counted), so the cost is proportional to the number of pairs, not of events.
   */
  totals(): Promise<EventCount[]>;
  /**
   * The number of events on `topic` (a literal topic, no wildcards) at positions above
   * `afterSeq`: what a subscription at that position still has to settle on this topic.
   * The cost is proportional to the number counted (an index range), not to the history.
   */
  after(topic: string, afterSeq: number): Promise<number>;
  /**
   * Recent activity per topic and kind, summed over the minutes from the one holding
   * `sinceMs` to now: the window is rounded out to whole minutes (it may start up to a minute
   * earlier). Kept by the store in minute buckets (by its clock, when the write commits),
   * raised in the transactions that append events and settle deliveries, one upsert per
   * topic and kind per commit; buckets older than {@link ACTIVITY_RETENTION_MS} are dropped.
   * Ordered by topic, then kind. The cost is proportional to the buckets read (minutes x
   * topics x kinds), not to the events.
   * @throws `OPTIONS_INVALID` when `sinceMs` is not a finite number
   */
  recent(sinceMs: number): Promise<ActivityCount[]>;
  /**
   * Per subscription, the deliveries its handlers acknowledged (accepted `ack`s), all time, in
   * name order: what "Consumed" means in the dashboard's Agent Activity. Events its filter
   * skipped, expired events, failures and dead letters count nothing; an event retried and then
   * handled counts once. Kept by the acknowledgements' own commits (one upsert per subscription
   * and commit, never one per event), from SQLite schema 12 / PostgreSQL 6 on; a deleted
   * subscription's count stays, like the published counts of `totals`.
   */
  handled(): Promise<HandledCount[]>;
  /**
   * Adds activity a transport saw outside the store's own appends and settlements (NATS
   * members' acks and naks) to the current minute, and the acks to their subscriptions'
   * `handled` counts. Call it once per batch, not per event: it costs a write (riding along
   * with the store's next commit where it can).
   * @throws `OPTIONS_INVALID` naming the entry (`counts[2].kind`, `handled[0].consumer`) for
   * an unknown kind, an empty topic or subscription, or a count that is not a positive whole
   * number; nothing is written then
   */
  record(counts: readonly ActivityCount[], handled?: readonly HandledCount[]): Promise<void>;
}

/** How long the store keeps recent activity: a day. */
export const ACTIVITY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** A subscription to "something new was written". Cross-process where the engine allows. */
export interface ChangeFeed {
  /** Calls `listener` after commits that appended events; returns an unsubscribe function. */
  onAppend(listener: (head: number) => void): () => void;
}

/**
 * The history and the state.
 *
 * @example
 * const store = await openSqliteStore({ path: '.agentbus/agentbus.db' })
 * const [stored] = await store.append([{ envelope, text: JSON.stringify(envelope) }])
 * for await (const e of store.read({ correlationId: 'project-xyz-123' })) console.log(e.seq)
 */
export interface EventStore {
  /** Appends, idempotent by id. Appends issued in the same tick share one transaction. */
  append(items: readonly AppendItem[]): Promise<AppendedEvent[]>;
  /** Streams history matching the query, in position order. */
  read(query?: HistoryQuery): AsyncIterable<StoredEvent>;
  /** One event by id. */
  get(id: string): Promise<StoredEvent | undefined>;
  /** The highest position written so far (0 for an empty log). */
  head(): Promise<number>;
  readonly state: StateArea;
  /** Streams with versions, for event-sourced aggregates. */
  readonly streams: StreamStore;
  readonly deliveries: DeliveryState;
  /** Per-topic and per-source counts, for dashboards and metrics. */
  readonly counts: EventCounts;
  readonly changes: ChangeFeed;
  /**
   * Pruning of the log's oldest events, and what holds it back (ADR 0018). Positions are
   * never reused; `start: 'earliest'` begins at the first retained position.
   */
  readonly retention: Retention;
  /** Runs `fn` atomically: all its appends and state writes commit, or none. */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  /**
   * True when the store hands `AppendItem.frozen` to subscribers in the appending process
   * (SQLite's in-memory tail): only then is that copy worth taking at publish.
   */
  readonly sharesFrozenCopies?: boolean;
  /** Flushes pending writes and closes connections. */
  close(): Promise<void>;
}
