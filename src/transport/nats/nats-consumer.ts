/**
 * A member of a durable JetStream pull consumer, as a `TransportConsumer`.
 *
 * Leases are JetStream's ack_wait, measured on this side from the moment a message arrived
 * (the server's clock started slightly earlier, hence a margin). nats-server 2.9 applies an
 * ack by stream sequence whatever delivery it came from and answers an ackAck the same way
 * for a stale ack as for a current one, so it cannot say that a lease moved on: a settlement
 * or `working()` after the local lease end is refused here (`LEASE_LOST`) instead, before
 * anything is published or sent. See docs/adr (NATS leases).
 */
import type { Envelope } from '../../envelope/envelope.js';
import { AgentbusError } from '../../errors.js';
import type { AppendItem, AppendedEvent, EventStore, FailureInfo, StoredEvent } from '../../store/event-store.js';
import { failedAttempt, withAttempt } from '../../store/attempts.js';
import { incrementCounters } from '../../store/counters.js';
import type { AckEffects, ConsumerOptions, Delivery, TransportConsumer } from '../transport.js';
import type { AckBatch } from './ack-batch.js';
import type { ActivityBatch } from './activity-batch.js';
import type { FailureLedger, LedgerEntry } from './failure-ledger.js';
import { type DeliverySettler, NatsDelivery } from './nats-delivery.js';
import { parseAckReply } from './names.js';
import type { Pulled, Puller } from './puller.js';

/** Header addressing a redelivered dead letter to one subscription (the envelope stays as it was). */
export const DELIVER_TO_HEADER = 'Agentbus-Deliver-To';

/** What a consumer member needs from its transport. */
export interface ConsumerContext {
  readonly durable: string;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly ledger: FailureLedger;
  readonly store: EventStore;
  readonly puller: Puller;
  /** Where acks are queued (sent together once per turn of the event loop). */
  readonly acks: AckBatch;
  /** Where acks and naks are counted for the store's recent activity. */
  readonly activity: ActivityBatch;
  /** Publishes a handler's events through JetStream and into the store. */
  readonly publishEffects: (items: readonly AppendItem[]) => Promise<AppendedEvent[]>;
}

const NO_KEYS: ReadonlyMap<string, number> = new Map();

/** An ack with less lease than this left is sent at once rather than batched (ms). */
const URGENT_ACK_MS = 1_000;

/** Local lease end: ack_wait from arrival, less a margin for the server's earlier start. */
function leaseEnd(from: number, ackWaitMs: number): number {
  return from + ackWaitMs - Math.min(1_000, Math.ceil(ackWaitMs / 10));
}

export class NatsConsumer implements TransportConsumer, DeliverySettler {
  readonly name: string;
  readonly heldKeys = NO_KEYS;
  readonly #c: ConsumerContext;
  readonly #matchEvent: ((event: StoredEvent) => boolean) | undefined;
  #closed = false;
  #onClose: (() => void) | undefined;

  constructor(options: ConsumerOptions, context: ConsumerContext, onClose?: () => void) {
    this.name = options.name;
    this.#c = context;
    this.#matchEvent = options.matchEvent;
    this.#onClose = onClose;
  }

  async fetch(max: number, options: { signal?: AbortSignal; retriesOnly?: boolean } = {}): Promise<Delivery[]> {
    const batch = Math.max(1, Math.trunc(max));
    while (!this.#closed && !options.signal?.aborted) {
      const pulled = await this.#c.puller.pull(batch, options.signal);
      if (pulled.length === 0) return [];
      const deliveries = await this.#deliveries(pulled);
      if (deliveries.length > 0) return deliveries;
    }
    return [];
  }

  async working(deliveries: readonly Delivery[]): Promise<void> {
    const now = Date.now();
    for (const d of deliveries) {
      if (!(d instanceof NatsDelivery) || d.settled || d.leaseLost) continue;
      // Past the lease end the server may have redelivered already: a +WPI now would extend
      // the other member's lease, so the lease is given up instead.
      if (now >= d.leaseUntil) {
        d.leaseLost = true;
        continue;
      }
      d.msg.respond('+WPI');
      d.leaseUntil = leaseEnd(now, this.#c.ackWaitMs);
    }
  }

  async release(deliveries: readonly Delivery[]): Promise<void> {
    await Promise.all(
      deliveries.map(async (d) => {
        if (!(d instanceof NatsDelivery) || d.settled) return;
        d.settled = true;
        // A lapsed lease is the server's to redeliver; a nak now could hit another member's delivery.
        if (Date.now() >= d.leaseUntil) return;
        await this.#giveBack(d.msg, d.event.seq, d.ledger);
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Messages received (or on their way) but never handed out go back at once, without
    // counting an attempt.
    await this.#c.puller.close(async ({ msg }) => {
      const info = msg.reply ? parseAckReply(msg.reply) : undefined;
      if (!info) return;
      const ledger = info.deliveryCount > 1 ? await this.#c.ledger.get(this.#c.durable, info.streamSeq) : undefined;
      await this.#giveBack(msg, info.streamSeq, ledger);
    });
    this.#onClose?.();
  }

  async ack(d: NatsDelivery, effects: AckEffects | undefined): Promise<AppendedEvent[]> {
    this.#claim(d);
    // Not one transaction here: counters first (a crash before the ack re-counts on redelivery,
    // an over-count), then the events (republished with the same ids), then the ack.
    if (effects?.counters?.length) await incrementCounters(this.#c.store.state, effects.counters);
    const publish = effects?.publish;
    const published = publish && publish.length > 0 ? await this.#c.publishEffects(publish) : [];
    this.#c.acks.ack(d.msg, d.leaseUntil - Date.now() < URGENT_ACK_MS);
    this.#c.activity.consumed(d.event.envelope.routing.topic, this.name);
    if (d.ledger) await this.#settleLedger(d);
    return published;
  }

  /**
   * An acked redelivery's ledger entry goes; when the handler had failed, its history goes to
   * the store's recovered deliveries first (ADR 0023), from the entry read at arrival: no
   * extra read. Neither is atomic with the ack (as for the counts): an entry whose record
   * failed stays behind, as a failed delete always left it.
   */
  async #settleLedger(d: NatsDelivery): Promise<void> {
    try {
      if (d.failures > 0) {
        const attempts = d.ledger?.attempts ?? [];
        await this.#c.store.deliveries.recovered.record({
          consumer: this.name,
          event: { envelope: d.event.envelope, text: d.text },
          retries: d.failures,
          firstFailedAt: d.firstFailedAt ?? attempts[0]?.at ?? Date.now(),
          attempts,
          handledAttempt: d.attempt,
          handledAt: Date.now(),
        });
      }
      await this.#c.ledger.delete(this.#c.durable, d.event.seq);
    } catch {
      // The handler's work is done and its ack is on its way: a store that cannot take the
      // history now must not fail a settlement that has already happened.
    }
  }

  async nak(d: NatsDelivery, delayMs: number, error: FailureInfo): Promise<void> {
    this.#claim(d);
    const now = Date.now();
    if (d.deliveryCount >= this.#c.maxDeliver) {
      // The server would not deliver it again: it becomes a dead letter now rather than vanish.
      await this.#deadLetter(d, { ...error, message: `${error.message} (max_deliver ${this.#c.maxDeliver} reached)` }, now);
      return;
    }
    const delay = Math.max(0, Math.round(delayMs));
    await this.#c.ledger.put(this.#c.durable, d.event.seq, {
      failures: d.failures + 1,
      releases: d.ledger?.releases ?? 0,
      firstFailedAt: d.firstFailedAt ?? now,
      // The history rides in the entry this failure writes anyway.
      attempts: withAttempt(d.ledger?.attempts ?? [], failedAttempt(d.attempt, now, error, delay)),
    });
    d.msg.respond(delay > 0 ? `-NAK ${JSON.stringify({ delay: delay * 1e6 })}` : '-NAK');
    this.#c.activity.count('retried', d.event.envelope.routing.topic);
  }

  async term(d: NatsDelivery, error: FailureInfo, publish: readonly AppendItem[] | undefined): Promise<AppendedEvent[]> {
    this.#claim(d);
    const published = publish && publish.length > 0 ? await this.#c.publishEffects(publish) : [];
    await this.#deadLetter(d, error, Date.now());
    return published;
  }

  /** Marks `d` settled, or refuses: settled already, or its lease has lapsed. */
  #claim(d: NatsDelivery): void {
    if (d.settled || d.leaseLost || Date.now() >= d.leaseUntil) {
      const why = d.settled ? 'was already settled' : 'lapsed (another member may hold it now)';
      d.settled = true;
      throw new AgentbusError(
        'LEASE_LOST',
        `subscription ${this.name}: the lease on stream sequence ${d.event.seq} ${why}; this settlement is refused`,
        { consumer: this.name, seq: d.event.seq },
      );
    }
    d.settled = true;
  }

  async #deadLetter(d: NatsDelivery, error: FailureInfo, now: number): Promise<void> {
    await this.#c.store.deliveries.recordDeadLetter({
      consumer: this.name,
      event: { envelope: d.event.envelope, text: d.text },
      reason: error.reason,
      error: error.message,
      ...(error.stack ? { stack: error.stack } : {}),
      retries: d.failures,
      firstFailedAt: d.firstFailedAt ?? now,
      lastFailedAt: now,
      attempts: withAttempt(d.ledger?.attempts ?? [], failedAttempt(d.attempt, now, error)),
    });
    d.msg.respond('+TERM');
    if (d.ledger) await this.#c.ledger.delete(this.#c.durable, d.event.seq).catch(() => {});
  }

  async #giveBack(msg: Pulled['msg'], streamSeq: number, ledger: LedgerEntry | undefined): Promise<void> {
    await this.#c.ledger.put(this.#c.durable, streamSeq, {
      failures: ledger?.failures ?? 0,
      releases: (ledger?.releases ?? 0) + 1,
      ...(ledger?.firstFailedAt !== undefined ? { firstFailedAt: ledger.firstFailedAt } : {}),
      ...(ledger?.attempts !== undefined ? { attempts: ledger.attempts } : {}),
    });
    msg.respond('-NAK');
  }

  /** Deliveries of what was pulled; events this subscription does not take are acked and dropped. */
  async #deliveries(pulled: readonly Pulled[]): Promise<NatsDelivery[]> {
    const out: NatsDelivery[] = [];
    // Redeliveries read their ledger entry; first deliveries (the happy path) read nothing.
    const redelivered: Array<Promise<void>> = [];
    const now = Date.now();
    for (const { msg, receivedAt } of pulled) {
      const info = msg.reply ? parseAckReply(msg.reply) : undefined;
      if (!info) continue;
      const leaseUntil = leaseEnd(receivedAt, this.#c.ackWaitMs);
      if (leaseUntil <= now) continue; // lapsed while buffered: the server redelivers it
      const text = msg.string();
      let envelope: Envelope;
      try {
        envelope = JSON.parse(text) as Envelope;
      } catch {
        msg.respond('+TERM'); // not an envelope: nothing could ever handle it
        continue;
      }
      const event: StoredEvent = { seq: info.streamSeq, envelope, storedAt: info.storedAt };
      if (!this.#takes(msg, event)) {
        this.#c.acks.ack(msg);
        continue;
      }
      const { deliveryCount, streamSeq } = info;
      if (deliveryCount === 1) {
        out.push(new NatsDelivery(this, { msg, event, deliveryCount, ledger: undefined, leaseUntil }));
        continue;
      }
      const at = out.length;
      out.push(undefined as unknown as NatsDelivery); // keeps stream order; filled below
      redelivered.push(
        this.#c.ledger.get(this.#c.durable, streamSeq).then((ledger) => {
          out[at] = new NatsDelivery(this, { msg, event, deliveryCount, ledger, leaseUntil });
        }),
      );
    }
    if (redelivered.length > 0) await Promise.all(redelivered);
    return out;
  }

  /** Addressed to another subscription, expired, or not matching the content filter: not ours. */
  #takes(msg: Pulled['msg'], event: StoredEvent): boolean {
    const { routing, event: header } = event.envelope;
    const target = msg.headers?.get(DELIVER_TO_HEADER) || routing?.deliver_to;
    if (target && target !== this.name) return false;
    if (header?.expires_at !== undefined && Date.parse(header.expires_at) <= Date.now()) return false;
    return this.#matchEvent ? this.#matchEvent(event) : true;
  }
}
