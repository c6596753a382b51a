/**
 * The NATS JetStream transport: topics are subjects of one stream, subscriptions are durable
 * pull consumers, and a recorder writes every event into the EventStore for history. nats.js
 * is loaded by `await import` in {@link createNatsTransport} only.
 */
import { createHash } from 'node:crypto';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Envelope } from '../../envelope/envelope.js';
import { AgentbusError, invalidField } from '../../errors.js';
import type { AppendItem, AppendedEvent, DeadLetter, EventStore } from '../../store/event-store.js';
import type { ConsumerOptions, Transport, TransportConsumer, TransportSubscriptionAdmin } from '../transport.js';
import { AckBatch } from './ack-batch.js';
import { CLOSE_DRAIN_MS, settlesWithin } from './bounded-wait.js';
import { ActivityBatch } from './activity-batch.js';
import { FailureLedger } from './failure-ledger.js';
import { LocalCopies } from './local-copies.js';
import {
  type NatsModules,
  describeConsumer,
  ensureDurable,
  ensureStream,
  loadNatsModules,
  unavailable,
} from './jetstream-setup.js';
import { DELIVER_TO_HEADER, NatsConsumer } from './nats-consumer.js';
import { durableName, subjectOf } from './names.js';
import { type NatsTransportOptions, type NatsTransportStatus, resolveNatsOptions } from './options.js';
import { type PubAck, JetStreamPublisher } from './publisher.js';
import { Puller } from './puller.js';
import { Recorder } from './recorder.js';
import { createNatsSubscriptionAdmin } from './subscription-admin.js';

/** The NATS transport: a `Transport` plus what only it has. */
export interface NatsTransport extends Transport {
  readonly stream: string;
  readonly subjectPrefix: string;
  /** Redelivers a dead letter to its subscription only (used by the bus's dead-letter replay). */
  redeliver(dead: DeadLetter, replacement?: AppendItem): Promise<void>;
  /** Subscriptions are JetStream consumers: list, get, delete and backlog; pause, resume and reset are refused. */
  readonly subscriptions: TransportSubscriptionAdmin;
  /**
   * Resolves once the recorder consumer has stored everything published so far (by any
   * process). For tests, benchmarks and tools that need history to be complete.
   * @throws `TIMEOUT` after `timeoutMs`; `OPTIONS_INVALID` when this transport records nothing
   */
  waitForHistory(timeoutMs?: number): Promise<void>;
  /** Deletes the stream with every consumer and message (tests, benchmarks, teardown). */
  destroy(): Promise<void>;
}

/**
 * Connects to NATS and creates (or joins) the stream. The transport does not own `store`.
 *
 * @example
 * const store = await openSqliteStore({ path: 'history.db' })
 * const transport = await createNatsTransport({ servers: 'nats://127.0.0.1:4222', store })
 * const bus = await createBus({ store, transport })
 * @throws AgentbusError `OPTIONS_INVALID` naming the field; `BACKEND_UNAVAILABLE` when the server cannot be reached
 */
export async function createNatsTransport(options: NatsTransportOptions): Promise<NatsTransport> {
  const o = resolveNatsOptions(options);
  const mods = await loadNatsModules();
  let nc: NatsConnection;
  try {
    nc = await mods.core.connect({
      servers: [...o.servers],
      name: o.name,
      maxReconnectAttempts: -1,
      // An Error per request for async stack traces cost a sixth of the CPU of a publish.
      noAsyncTraces: true,
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o.pass !== undefined ? { pass: o.pass } : {}),
      ...(o.token !== undefined ? { token: o.token } : {}),
    });
  } catch (error) {
    throw unavailable(`connecting to ${o.servers.join(', ')}`, error);
  }
  try {
    const jsm = await mods.js.jetstreamManager(nc);
    await ensureStream(mods, jsm, {
      name: o.stream,
      subjects: `${o.subjectPrefix}.>`,
      duplicateWindowMs: o.duplicateWindowMs,
      storage: o.storage,
      replicas: o.replicas,
      maxAgeMs: o.maxAgeMs,
    });
    const publisher = new JetStreamPublisher(nc, mods.core.createInbox(), mods.core.headers, PUBLISH_TIMEOUT_MS);
    const transport = new NatsTransportImpl(mods, nc, jsm, publisher, o);
    await transport.start();
    return transport;
  } catch (error) {
    await nc.close().catch(() => {});
    throw error instanceof AgentbusError ? error : unavailable('setting up JetStream', error);
  }
}

type Resolved = ReturnType<typeof resolveNatsOptions>;

/** How long a publish waits for the stream's acknowledgement (nats.js's own default). */
const PUBLISH_TIMEOUT_MS = 5_000;

const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 40);

class NatsTransportImpl implements NatsTransport {
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly subscriptions: TransportSubscriptionAdmin;
  readonly ownLog = true;
  readonly #mods: NatsModules;
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #publisher: JetStreamPublisher;
  readonly #o: Resolved;
  readonly #store: EventStore;
  readonly #ledger: FailureLedger;
  readonly #consumers = new Set<NatsConsumer>();
  /** Every member's puller and the recorder's: they ask afresh after a reconnect. */
  readonly #pullers = new Set<Puller>();
  readonly #acks = new AckBatch();
  readonly #activity: ActivityBatch;
  /** What this process published, for its recorder (unused without one). */
  readonly #local = new LocalCopies();
  #recorder: Recorder | undefined;
  #closed = false;
  /** The server this connection lost, while it is reconnecting (for error messages). */
  #disconnectedFrom: string | undefined;

  constructor(mods: NatsModules, nc: NatsConnection, jsm: JetStreamManager, publisher: JetStreamPublisher, o: Resolved) {
    this.#mods = mods;
    this.#nc = nc;
    this.#jsm = jsm;
    this.#publisher = publisher;
    this.#o = o;
    this.stream = o.stream;
    this.subjectPrefix = o.subjectPrefix;
    this.#store = o.store;
    this.#ledger = new FailureLedger(o.store.state, o.stream);
    this.#activity = new ActivityBatch(o.store.counts, (error) => o.onStatus?.({ type: 'activity_lost', error }));
    this.subscriptions = createNatsSubscriptionAdmin({
      jsm,
      stream: o.stream,
      subjectPrefix: o.subjectPrefix,
      internal: new Set(o.recorder ? [o.recorder.name] : []),
      durableOf: (name) => durableName(name, hash),
      deliveries: o.store.deliveries,
    });
  }

  async start(): Promise<void> {
    void this.#watchConnection();
    const recorder = this.#o.recorder;
    if (!recorder) return;
    await ensureDurable(
      this.#mods,
      this.#jsm,
      {
        stream: this.stream,
        durable: recorder.name,
        filterSubject: `${this.subjectPrefix}.>`,
        description: describeConsumer({ subscription: `(recorder ${recorder.name})`, topic: '>' }),
        ackWaitMs: 60_000,
        maxDeliver: -1,
        maxAckPending: this.#o.maxAckPending,
        start: 'earliest',
      },
      recorder.name,
    );
    const puller = new Puller(this.#nc, this.#mods.core.createInbox(), this.stream, recorder.name, this.#o.longPollMs, () =>
      this.#connected(),
    );
    this.#pullers.add(puller);
    this.#recorder = new Recorder({
      puller,
      store: this.#store,
      batch: recorder.batch,
      acks: this.#acks,
      local: this.#local,
      status: (status) => this.#o.onStatus?.(status),
    });
    this.#recorder.start();
  }

  async publish(items: readonly AppendItem[]): Promise<AppendedEvent[]> {
    this.#assertOpen();
    return Promise.all(items.map((item) => this.#publishOne(item, item.envelope.event.id)));
  }

  async consumer(options: ConsumerOptions): Promise<TransportConsumer> {
    this.#assertOpen();
    if (options.ordered) {
      throw invalidField(
        'OPTIONS_INVALID',
        'ordered',
        'per-partition-key order is not available on the NATS transport (use the store-backed transport, or one worker with concurrency 1)',
      );
    }
    if (options.maxLag !== undefined) {
      throw invalidField(
        'OPTIONS_INVALID',
        'maxLag',
        'publisher backpressure by subscription lag is not available on the NATS transport; bound the stream with JetStream limits instead',
      );
    }
    const durable = durableName(options.name, hash);
    const info = await ensureDurable(
      this.#mods,
      this.#jsm,
      {
        stream: this.stream,
        durable,
        filterSubject: subjectOf(this.subjectPrefix, options.topic),
        description: describeConsumer({
          subscription: options.name,
          topic: options.topic,
          ...(options.filter !== undefined ? { filter: options.filter } : {}),
        }),
        ackWaitMs: options.leaseMs ?? 30_000,
        maxDeliver: this.#o.maxDeliver,
        maxAckPending: this.#o.maxAckPending,
        start: options.start ?? 'latest',
      },
      options.name,
    );
    const puller = new Puller(this.#nc, this.#mods.core.createInbox(), this.stream, durable, this.#o.longPollMs, () =>
      this.#connected(),
    );
    this.#pullers.add(puller);
    const consumer: NatsConsumer = new NatsConsumer(
      options,
      {
        durable,
        ackWaitMs: Math.max(1, Math.round((info.config.ack_wait ?? 30_000 * 1e6) / 1e6)),
        maxDeliver: (info.config.max_deliver ?? -1) > 0 ? (info.config.max_deliver as number) : Number.POSITIVE_INFINITY,
        ledger: this.#ledger,
        store: this.#store,
        puller,
        acks: this.#acks,
        activity: this.#activity,
        publishEffects: (effects) => this.#publishEffects(effects),
      },
      () => {
        this.#consumers.delete(consumer);
        this.#pullers.delete(puller);
      },
    );
    this.#consumers.add(consumer);
    return consumer;
  }

  async redeliver(dead: DeadLetter, replacement?: AppendItem): Promise<void> {
    this.#assertOpen();
    const envelope = dead.event.envelope;
    const item = replacement ?? { envelope, text: JSON.stringify(envelope) };
    // The same event again needs a message id of its own, or the dedup window would drop it.
    const msgId = replacement ? replacement.envelope.event.id : `${envelope.event.id}:replay:${dead.id}`;
    await this.#publishOne(item, msgId, dead.consumer);
  }

  async waitForHistory(timeoutMs = 30_000): Promise<void> {
    const recorder = this.#o.recorder;
    if (!recorder) throw invalidField('OPTIONS_INVALID', 'recorder', 'this transport was created without a recorder');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.#jsm.consumers.info(this.stream, recorder.name);
      if (info.num_pending === 0 && info.num_ack_pending === 0) return;
      if (Date.now() > deadline) {
        throw new AgentbusError('TIMEOUT', `the recorder did not catch up within ${timeoutMs} ms`, {
          pending: info.num_pending,
          inFlight: info.num_ack_pending,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async destroy(): Promise<void> {
    await this.#closeMembers();
    await this.#jsm.streams.delete(this.stream).catch((error: unknown) => {
      throw unavailable(`deleting stream ${this.stream}`, error);
    });
  }

  /**
   * Closes the members and the connection. With the server there, the connection is drained
   * first (the acknowledgements still buffered reach it), waiting at most `CLOSE_DRAIN_MS`;
   * with the server away it closes at once: nothing buffered can reach it, and what it did not
   * get is redelivered after `ackWait` (history re-records idempotently).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#closeMembers();
    this.#closed = true;
    this.#acks.flush();
    if (this.#connected()) await settlesWithin(this.#nc.drain(), CLOSE_DRAIN_MS);
    await this.#nc.close().catch(() => {});
  }

  /** False from a disconnect until the reconnect (as the connection's status reports them). */
  #connected(): boolean {
    return this.#disconnectedFrom === undefined;
  }

  async #closeMembers(): Promise<void> {
    await Promise.all([...this.#consumers].map((c) => c.close()));
    await this.#recorder?.close();
    this.#recorder = undefined;
    this.#pullers.clear();
    this.#acks.flush();
    await this.#activity.flush();
  }

  async #publishEffects(items: readonly AppendItem[]): Promise<AppendedEvent[]> {
    const published = await this.publish(items);
    // Also straight into the store, so a handler's events are in this process's history
    // when its ack resolves (the recorder's copy is then a no-op).
    await this.#store.append(items);
    return published;
  }

  async #publishOne(item: AppendItem, msgId: string, deliverTo?: string): Promise<AppendedEvent> {
    const { envelope, text } = item;
    const target = deliverTo ?? envelope.routing.deliver_to;
    let ack: PubAck;
    try {
      ack = await this.#publisher.publish(
        subjectOf(this.subjectPrefix, envelope.routing.topic),
        text,
        msgId,
        target ? { [DELIVER_TO_HEADER]: target } : undefined,
      );
    } catch (error) {
      const lost = this.#disconnectedFrom;
      throw unavailable(
        `publishing ${envelope.event.id}${lost ? ` (the connection to ${lost} is lost; reconnecting)` : ''}`,
        error,
      );
    }
    if (!ack.duplicate) {
      if (this.#recorder) this.#local.remember(ack.seq, item);
      return { seq: ack.seq, envelope, storedAt: Date.now(), duplicate: false };
    }
    return { ...(await this.#firstCopy(ack.seq, envelope)), duplicate: true };
  }

  /** The first copy of a duplicate inside the dedup window, read back from the stream. */
  async #firstCopy(seq: number, fallback: Envelope): Promise<Omit<AppendedEvent, 'duplicate'>> {
    try {
      const stored = await this.#jsm.streams.getMessage(this.stream, { seq });
      if (!stored) return { seq, envelope: fallback, storedAt: Date.now() };
      return { seq, envelope: stored.json<Envelope>(), storedAt: stored.time.getTime() };
    } catch {
      return { seq, envelope: fallback, storedAt: Date.now() };
    }
  }

  async #watchConnection(): Promise<void> {
    const status = (this.#o.onStatus ?? (() => {})) as (s: NatsTransportStatus) => void;
    for await (const s of this.#nc.status()) {
      if (s.type === 'disconnect') {
        this.#disconnectedFrom = s.server;
        status({ type: 'disconnected', error: new Error(`disconnected from ${s.server}`) });
      } else if (s.type === 'reconnect') {
        this.#disconnectedFrom = undefined;
        // Pull requests waiting at the server are gone with it: ask again now.
        for (const puller of this.#pullers) puller.renew();
        status({ type: 'reconnected' });
      }
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new AgentbusError('CLOSED', 'the NATS transport is closed');
  }
}
