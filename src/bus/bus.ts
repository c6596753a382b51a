/**
 * The bus: publish, subscribe durably, read history, manage subscriptions. On the embedded
 * default it needs nothing but a file path.
 */
import type { Envelope, JsonValue, PublishInput } from '../envelope/envelope.js';
import { createIdGenerator } from '../envelope/ids.js';
import { createEnvelopeWithText } from '../envelope/create.js';
import { frozenEnvelopeCopy } from '../envelope/frozen.js';
import {
  type EnvelopeLimits,
  type EnvelopeWithText,
  SOURCE_RULE,
  isEventSource,
  parseEnvelopeWithText,
  resolveLimits,
} from '../envelope/validate.js';
import { AgentbusError, invalidField, prefixField, refuseUnknownKeys } from '../errors.js';
import type { AppendItem, ConsumerInfo, EventStore, HistoryQuery, StartPosition, StoredEvent } from '../store/event-store.js';
import { validateEventIdQuery, validateHistoryQuery } from '../store/history-query.js';
import type { SqliteStoreOptions } from '../store/sqlite/index.js';
import { type Clock, MAX_TIMER_MS, parseDuration } from '../time.js';
import type { Transport, TransportSubscriptionAdmin } from '../transport/transport.js';
import { type StoreChoice, type TransportChoice, openBackends } from './backends.js';
import { type DeadLetterAdmin, createDeadLetterAdmin } from './dead-letters.js';
import { Dispatcher } from './dispatcher.js';
import { Backpressure, DEFAULT_BLOCK_TIMEOUT_MS } from './backpressure.js';
import {
  type StartInput,
  type SubscribeOptions,
  parseStart,
  resolveSubscribeOptions,
  validateSubscriptionName,
} from './options.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicyInput, parseRetryPolicy } from './retry-policy.js';
import { type BusObserver, Observers } from './observer.js';
import type { BusStatus, StatusListener } from './status.js';
import { loadTracing, startPublishTrace, tracingOn } from './tracing.js';
import { type DelayOptions, Timers, resolveDueAt } from './timers.js';
import type { CompactOptions, CompactResult, PruneResult } from '../store/retention.js';
import {
  type BusPruneOptions,
  type ResolvedRetention,
  type RetentionOptions,
  RetentionRunner,
  resolvePruneOptions,
  resolveRetention,
} from './retention.js';

/** Options of {@link createBus}. */
export interface BusOptions {
  /** SQLite database file of the embedded default. @default ".agentbus/agentbus.db" */
  path?: string;
  /** More SQLite settings (synchronous level, busy timeout, ...). */
  sqlite?: Omit<SqliteStoreOptions, 'path' | 'clock'>;
  /**
   * Where history and state live: `{ postgres: URL }`, `{ sqlite: PATH }`, or an EventStore
   * opened by the caller (the bus does not close it). Overrides `path`. @default SQLite at `path`
   */
  store?: StoreChoice;
  /**
   * Who delivers: `{ nats: SERVERS }` for NATS JetStream, or a transport created by the caller
   * (the bus does not close it). @default store-backed (delivery from the store's own tables)
   */
  transport?: TransportChoice;
  /** `event.source` of events published without one. @default "/agentbus" */
  source?: string;
  /** Envelope size limits. */
  limits?: EnvelopeLimits;
  /** Bus-wide default retry policy, the seed's JSON. @default the seed's policy */
  retry?: RetryPolicyInput;
  /** How long a publish blocked by a subscription's `maxLag` waits before failing with `BACKPRESSURE`. @default "30s" */
  blockTimeout?: string | number;
  /**
   * How much history to keep: `{ maxAge: '30d' }`, `{ maxEvents: 10_000_000 }` or both (an
   * event goes when either says so). The bus prunes in the background, in small batches,
   * never what a subscription, a dead letter, a stream, a projection or the outbox still
   * needs (docs/operations.md, Retention). @default none: the log keeps everything
   */
  retention?: RetentionOptions;
  /** @default the system clock */
  clock?: Clock;
}

const BUS_OPTIONS: ReadonlySet<string> = new Set([
  'path',
  'sqlite',
  'store',
  'transport',
  'source',
  'limits',
  'retry',
  'blockTimeout',
  'retention',
  'clock',
]);
const SQLITE_OPTIONS: ReadonlySet<string> = new Set([
  'synchronous',
  'busyTimeoutMs',
  'backgroundCheckpoints',
  'watch',
  'create',
  'onMigrate',
]);
const LIMIT_OPTIONS: ReadonlySet<string> = new Set(['maxPayloadBytes', 'maxDepth', 'maxExtensionBytes']);

/** A running subscription in this process. */
export interface Subscription {
  readonly name: string;
  /** Resolves when this process holds no deliveries of it (handy in tests). */
  idle(): Promise<void>;
  /** Stops fetching and waits for running handlers; the durable subscription remains. */
  close(): Promise<void>;
}

/** Administration of durable subscriptions. */
export interface SubscriptionAdmin {
  list(): Promise<ConsumerInfo[]>;
  get(name: string): Promise<ConsumerInfo | undefined>;
  /** A paused subscription keeps its position and delivers nothing until resumed. */
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  /** Moves the position; in-flight and scheduled deliveries are dropped. */
  reset(name: string, to: StartInput): Promise<ConsumerInfo>;
  delete(name: string): Promise<boolean>;
}

const SYSTEM_CLOCK: Clock = { now: () => Date.now() };

/**
 * Opens a bus. With no options it uses `.agentbus/agentbus.db` in the working directory.
 *
 * @example
 * const bus = await createBus({ path: 'agentbus.db' })
 * await bus.subscribe({ name: '/frontend-specialist', topic: 'project.tasks',
 *   filter: 'type=APIDesignCompleted', handler: async (event, ctx) => {
 *     await ctx.publish('UIImplementationStarted', { endpoints: event.payload })
 *   } })
 * await bus.publish({ topic: 'project.tasks', type: 'APIDesignCompleted', payload: { endpoints: 12 } })
 */
export async function createBus(options: BusOptions = {}): Promise<Bus> {
  refuseUnknownKeys(options, BUS_OPTIONS, '');
  if (options.sqlite !== undefined) refuseUnknownKeys(options.sqlite, SQLITE_OPTIONS, 'sqlite.');
  if (options.limits !== undefined) refuseUnknownKeys(options.limits, LIMIT_OPTIONS, 'limits.');
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'clock', 'must be an object with a now() method returning ms since the epoch');
  }
  const clock = options.clock ?? SYSTEM_CLOCK;
  const source = options.source ?? '/agentbus';
  if (!isEventSource(source)) throw invalidField('OPTIONS_INVALID', 'source', `must be ${SOURCE_RULE}`);
  const retry = parseRetryPolicy(options.retry, DEFAULT_RETRY_POLICY, 'retry');
  // Refuse bad limits now, not at the first publish.
  if (options.limits !== undefined) resolveLimits(options.limits);
  const blockTimeout = parseDuration(options.blockTimeout ?? DEFAULT_BLOCK_TIMEOUT_MS, MAX_TIMER_MS);
  if (typeof blockTimeout !== 'number') throw invalidField('OPTIONS_INVALID', 'blockTimeout', blockTimeout.error);
  if (options.path !== undefined && (typeof options.path !== 'string' || options.path === '')) {
    throw invalidField('OPTIONS_INVALID', 'path', 'must be a non-empty file path');
  }
  const retention = resolveRetention(options.retention);
  const { store, transport, ownsStore, ownsTransport } = await openBackends({ ...options, clock });
  if (retention && typeof store.retention?.prune !== 'function') {
    if (ownsTransport) await transport.close();
    if (ownsStore) await store.close();
    throw invalidField('OPTIONS_INVALID', 'retention', 'the store given has no retention (store.retention.prune)');
  }
  // Loads @opentelemetry/api only when an SDK registered itself (else resolves at once).
  await loadTracing();
  const bus = new Bus({
    store,
    transport,
    clock,
    source,
    retry,
    limits: options.limits,
    ownsStore,
    ownsTransport,
    blockTimeout,
    retention,
  });
  bus.startRetention();
  return bus;
}

/** Publish, subscribe, history. Create it with {@link createBus}. */
export class Bus {
  readonly store: EventStore;
  readonly transport: Transport;
  readonly subscriptions: SubscriptionAdmin;
  /** The dead-letter queue: list, group, show, replay (fix and replay), archive, purge. */
  readonly deadLetters: DeadLetterAdmin;
  /** Durable timers: delayed events and the timeouts of aggregators and sagas. */
  readonly timers: Timers;

  readonly #clock: Clock;
  readonly #source: string;
  readonly #retry;
  readonly #limits: EnvelopeLimits | undefined;
  readonly #newId;
  readonly #owns: { store: boolean; transport: boolean };
  readonly #dispatchers = new Set<Dispatcher>();
  readonly #status = new Set<StatusListener>();
  readonly #observers = new Observers();
  readonly #backpressure: Backpressure;
  readonly #retention: ResolvedRetention | undefined;
  #pruner: RetentionRunner | undefined;
  #closed = false;

  /** @internal use {@link createBus} */
  constructor(parts: {
    store: EventStore;
    transport: Transport;
    clock: Clock;
    source: string;
    retry: ReturnType<typeof parseRetryPolicy>;
    limits: EnvelopeLimits | undefined;
    ownsStore: boolean;
    ownsTransport: boolean;
    blockTimeout: number;
    retention?: ResolvedRetention | undefined;
  }) {
    this.store = parts.store;
    this.#retention = parts.retention;
    this.transport = parts.transport;
    this.#clock = parts.clock;
    this.#source = parts.source;
    this.#retry = parts.retry;
    this.#limits = parts.limits;
    this.#owns = { store: parts.ownsStore, transport: parts.ownsTransport };
    this.#newId = createIdGenerator({ clock: parts.clock });
    this.#backpressure = new Backpressure(parts.store, parts.blockTimeout);
    const deliveries = this.store.deliveries;
    this.deadLetters = createDeadLetterAdmin(
      deliveries,
      (input) => this.#create(input),
      this.transport.redeliver?.bind(this.transport),
    );
    this.timers = new Timers(
      parts.store,
      parts.clock,
      (input) => this.#create(input),
      (items) => this.transport.publish(items),
      this.transport.ownLog ? { onStatus: (status) => this.#emit(status) } : undefined,
    );
    const kept = this.transport.subscriptions;
    this.subscriptions = kept
      ? adminOf(kept)
      : {
          list: () => deliveries.listConsumers(),
          get: (name) => deliveries.getConsumer(validateSubscriptionName(name)),
          pause: (name) => deliveries.setPaused(validateSubscriptionName(name), true),
          resume: (name) => deliveries.setPaused(validateSubscriptionName(name), false),
          reset: async (name, to) => {
            const start = parseStart(to, 'to');
            await this.#assertInLog(start, 'to');
            return deliveries.resetConsumer(validateSubscriptionName(name), start);
          },
          delete: (name) => deliveries.deleteConsumer(validateSubscriptionName(name)),
        };
  }

  /**
   * Publishes one event and resolves with the stored envelope once it is durable. A repeated
   * `id` is a no-op that resolves with the first copy. With `delay` or `deliverAt` the event
   * is kept on a durable timer and appended when due (resolving with the envelope to come).
   * @throws AgentbusError `ENVELOPE_INVALID` naming the field; nothing is written.
   */
  async publish<P extends JsonValue = JsonValue>(input: PublishInput<P> & DelayOptions): Promise<Envelope<P>> {
    if (input !== null && typeof input === 'object' && (input.delay !== undefined || input.deliverAt !== undefined)) {
      this.#assertOpen();
      const { delay, deliverAt, ...rest } = input;
      const dueAt = resolveDueAt({ delay, deliverAt }, this.#clock.now()) as number;
      return (await this.timers.publishAt(rest, dueAt)) as Envelope<P>;
    }
    const [stored] = await this.#traced([input], (traced) => this.#append([this.#create(traced[0] as PublishInput)]));
    return stored as Envelope<P>;
  }

  /** Publishes several events in one commit; all are validated before any is written. */
  async publishBatch(inputs: readonly PublishInput[]): Promise<Envelope[]> {
    if (!Array.isArray(inputs)) throw invalidField('ENVELOPE_INVALID', 'inputs', 'publishBatch takes an array');
    return this.#traced(inputs, (traced) => {
      const items = traced.map((input, index) => {
        try {
          return this.#create(input);
        } catch (error) {
          throw prefixField(error, `[${index}]`);
        }
      });
      return this.#append(items);
    });
  }

  /**
   * Publishes a whole wire envelope (the seed's JSON), e.g. read from stdin or HTTP. An
   * `event.id` or `event.timestamp` it lacks is generated; everything given is kept.
   */
  async publishEnvelope(wire: unknown): Promise<Envelope> {
    this.#assertOpen();
    const [stored] = await this.#append([parseEnvelopeWithText(this.#withDefaults(wire), this.#limits)]);
    return stored as Envelope;
  }

  /**
   * Publishes several wire envelopes in one commit: all are validated first, and a refusal
   * of any (naming `[index].field`) writes none of them.
   */
  async publishEnvelopes(wires: readonly unknown[]): Promise<Envelope[]> {
    this.#assertOpen();
    if (!Array.isArray(wires)) throw invalidField('ENVELOPE_INVALID', 'envelopes', 'must be an array');
    const items = wires.map((wire, index) => {
      try {
        return parseEnvelopeWithText(this.#withDefaults(wire), this.#limits);
      } catch (error) {
        throw prefixField(error, `[${index}]`);
      }
    });
    return this.#append(items);
  }

  #withDefaults(wire: unknown): unknown {
    if (typeof wire !== 'object' || wire === null || Array.isArray(wire)) return wire;
    const event = (wire as { event?: unknown }).event;
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return wire;
    const header = event as Record<string, unknown>;
    if (header.id !== undefined && header.timestamp !== undefined) return wire;
    return {
      ...wire,
      event: {
        ...header,
        id: header.id ?? this.#newId(),
        timestamp: header.timestamp ?? new Date(this.#clock.now()).toISOString(),
      },
    };
  }

  /**
   * Starts delivering to `handler`. The subscription is durable by `name`: it resumes where
   * it left off, and processes using the same name split its events.
   *
   * @typeParam P - What the payloads hold, so the handler reads them without a cast. A promise
   *   the subscriber makes, not a validation: pair it with a `filter` (`type=TaskCompletedEvent`)
   *   or check the payload in the handler when publishers cannot be trusted. @default JsonValue
   * @throws AgentbusError `OPTIONS_INVALID` or `FILTER_SYNTAX` naming the field.
   * @example
   * type TaskCompleted = { task_id: string; result: { endpoints: number } }
   * await bus.subscribe<TaskCompleted>({ name: '/dependency-manager', topic: 'project.tasks',
   *   filter: 'type=TaskCompletedEvent', handler: (event) => track(event.payload.result.endpoints) })
   */
  async subscribe<P = JsonValue>(options: SubscribeOptions<P>): Promise<Subscription> {
    this.#assertOpen();
    const o = resolveSubscribeOptions(options, { retry: this.#retry, source: this.#source });
    await this.#assertInLog(o.start, 'start');
    const consumer = await this.transport.consumer({
      name: o.name,
      topic: o.topic,
      ...(o.filter ? { filter: o.filter } : {}),
      ...(o.matchEvent ? { matchEvent: o.matchEvent } : {}),
      start: o.start,
      leaseMs: o.leaseMs,
      ...(o.maxLag !== undefined ? { maxLag: o.maxLag, onFull: o.onFull } : {}),
      ordered: o.ordered,
    });
    // Publishes from now on see this subscription's max_lag.
    this.#backpressure.invalidate();
    const dispatcher = new Dispatcher(consumer, {
      name: o.name,
      handler: o.handler,
      concurrency: o.concurrency,
      window: o.window,
      retry: o.retry,
      timeoutMs: o.timeoutMs,
      leaseMs: o.leaseMs,
      source: o.source,
      createEnvelope: (input) => this.#create(input),
      status: (status) => this.#emit(status),
      observers: this.#observers,
      random: Math.random,
      now: () => this.#clock.now(),
      ordered: o.ordered,
    });
    this.#dispatchers.add(dispatcher);
    dispatcher.start();
    this.timers.start();
    return {
      name: o.name,
      idle: () => dispatcher.idle(),
      close: async () => {
        this.#dispatchers.delete(dispatcher);
        await dispatcher.close();
      },
    };
  }

  /**
   * Streams history: by position range, topic pattern, type, correlation, causation, time.
   * @throws AgentbusError `OPTIONS_INVALID` naming the query field (`TOPIC_INVALID` for `topic`).
   */
  events(query: HistoryQuery = {}): AsyncIterable<StoredEvent> {
    return this.store.read(validateHistoryQuery(query));
  }

  /** One event by id. @throws AgentbusError `OPTIONS_INVALID` naming `id` when it cannot be an event id. */
  async getEvent(id: string): Promise<StoredEvent | undefined> {
    return this.store.get(validateEventIdQuery(id));
  }

  /** Receives non-fatal conditions (handler failures, refused settlements, backend hiccups). */
  onStatus(listener: StatusListener): () => void {
    this.#status.add(listener);
    return () => this.#status.delete(listener);
  }

  /**
   * Registers an observer of what this bus does in this process (events published, handlers
   * started and finished), e.g. metrics. Returns a function that removes it.
   */
  observe(observer: BusObserver): () => void {
    return this.#observers.add(observer);
  }

  /** The `retention` option as resolved (ms), or undefined when the log keeps everything. */
  get retentionPolicy(): ResolvedRetention | undefined {
    return this.#retention;
  }

  /** @internal starts the background pruner of the `retention` option (createBus calls it). */
  startRetention(): void {
    if (!this.#retention || this.#pruner || this.#closed) return;
    this.#pruner = new RetentionRunner(this.store.retention, this.#retention, (status) => this.#emit(status));
    this.#pruner.start();
  }

  /**
   * Prunes the log now, by the bus's `retention` option or the limits given, in small
   * transactions; never what a subscription, dead letter, stream, projection or the outbox
   * still needs. Safe while other processes publish, consume and prune.
   * @returns how many events went, the first retained position, and what held it back.
   * @throws AgentbusError `OPTIONS_INVALID` naming the field, or when there is no limit at all.
   * @example
   * const { pruned, firstRetained } = await bus.prune({ maxAge: '30d' })
   */
  async prune(options: BusPruneOptions = {}): Promise<PruneResult> {
    this.#assertOpen();
    return this.store.retention.prune(resolvePruneOptions(options, this.#retention));
  }

  /**
   * Gives the space of pruned events back to the file system (ADR 0025). SQLite: freed pages
   * in small transactions, safe while other processes run; a file created by a release
   * before incremental vacuum is rewritten once (VACUUM), which needs the file alone.
   * PostgreSQL: VACUUM (not FULL) of agentbus's tables.
   * @throws AgentbusError `OPTIONS_INVALID` when the store given cannot compact;
   *   `BACKEND_UNAVAILABLE` when the one-time VACUUM finds the file open elsewhere or no room.
   * @example
   * await bus.prune({ maxAge: '30d' })
   * const { bytesBefore, bytesAfter } = await bus.compact()
   */
  async compact(options?: CompactOptions): Promise<CompactResult> {
    this.#assertOpen();
    const retention = this.store.retention;
    if (typeof retention?.compact !== 'function') {
      throw invalidField('OPTIONS_INVALID', 'store', 'the store given has no compaction (store.retention.compact)');
    }
    return retention.compact(options);
  }

  /** Drains running handlers, flushes, and closes what the bus opened. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pruner?.close();
    this.timers.close();
    await Promise.all([...this.#dispatchers].map((d) => d.close()));
    this.#dispatchers.clear();
    if (this.#owns.transport) await this.transport.close();
    if (this.#owns.store) await this.store.close();
  }

  /**
   * Refuses a start position past the end of the log: the subscription would skip every
   * event up to it. (On NATS the stream's sequence is the position, checked by JetStream.)
   */
  async #assertInLog(start: StartPosition, field: string): Promise<void> {
    if (this.transport.ownLog || typeof start !== 'object' || !('seq' in start)) return;
    const next = (await this.store.head()) + 1;
    if (start.seq > next) {
      throw invalidField(
        'OPTIONS_INVALID',
        field,
        `position ${start.seq} is past the end of the log: the next event takes ${next}`,
      );
    }
  }

  #create(input: PublishInput): AppendItem {
    const item = createEnvelopeWithText(input, {
      clock: this.#clock,
      newId: this.#newId,
      defaultSource: this.#source,
      ...(this.#limits ? { limits: this.#limits } : {}),
    });
    // A bus with subscriptions of its own may deliver this event in process: a frozen copy
    // taken now (before the caller can change its payload) spares each delivery a parse.
    // Only where the transport can hand it out (not on NATS, where it would be garbage).
    const shared = this.#dispatchers.size > 0 && this.transport.sharesFrozenCopies === true;
    return shared ? { ...item, frozen: frozenEnvelopeCopy(item.envelope) } : item;
  }

  async #append(items: EnvelopeWithText[]): Promise<Envelope[]> {
    this.#assertOpen();
    const admitted = this.#backpressure.admit(items);
    if (admitted) await admitted;
    const stored = await this.transport.publish(items);
    if (this.#observers.active) this.#observers.published(stored.filter((s) => !s.duplicate).map((s) => s.envelope));
    return stored.map((s) => s.envelope);
  }

  /**
   * Runs `fn` on the inputs, each given a producer span's traceparent when tracing is on
   * and it has none; the spans end when `fn` settles.
   */
  async #traced<T>(inputs: readonly PublishInput[], fn: (inputs: readonly PublishInput[]) => Promise<T>): Promise<T> {
    if (!tracingOn()) return fn(inputs);
    const traces = inputs.map((input) =>
      typeof input === 'object' && input !== null ? startPublishTrace(String(input.topic), input.traceparent) : undefined,
    );
    if (traces.every((t) => t === undefined)) return fn(inputs);
    const traced = inputs.map((input, i) => {
      const traceparent = traces[i]?.traceparent;
      return traceparent ? { ...input, traceparent } : input;
    });
    try {
      const result = await fn(traced);
      for (const t of traces) t?.end();
      return result;
    } catch (error) {
      for (const t of traces) t?.end(error);
      throw error;
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new AgentbusError('CLOSED', 'the bus is closed');
  }

  #emit(status: BusStatus): void {
    for (const listener of this.#status) listener(status);
  }
}

/** Subscription admin over consumers the transport keeps (NATS), with the bus's validation. */
function adminOf(kept: TransportSubscriptionAdmin): SubscriptionAdmin {
  return {
    list: () => kept.list(),
    get: (name) => kept.get(validateSubscriptionName(name)),
    pause: (name) => kept.pause(validateSubscriptionName(name)),
    resume: (name) => kept.resume(validateSubscriptionName(name)),
    reset: (name, to) => kept.reset(validateSubscriptionName(name), parseStart(to, 'to')),
    delete: (name) => kept.delete(validateSubscriptionName(name)),
  };
}
