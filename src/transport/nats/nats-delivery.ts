/**
 * One JetStream delivery as the dispatcher sees it. Settling goes through the consumer that
 * fetched it; a delivery settles once.
 */
import type { Msg } from '@nats-io/transport-node';
import { deriveEventId } from '../../envelope/ids.js';
import type { AppendItem, AppendedEvent, FailureInfo, StoredEvent } from '../../store/event-store.js';
import type { AckEffects, Delivery } from '../transport.js';
import type { LedgerEntry } from './failure-ledger.js';
import { copyOfAckReply } from './names.js';

/** What a NATS delivery asks of the consumer that fetched it. */
export interface DeliverySettler {
  ack(delivery: NatsDelivery, effects: AckEffects | undefined): Promise<AppendedEvent[]>;
  nak(delivery: NatsDelivery, delayMs: number, error: FailureInfo): Promise<void>;
  term(delivery: NatsDelivery, error: FailureInfo, publish: readonly AppendItem[] | undefined): Promise<AppendedEvent[]>;
}

/** The parts a consumer builds a delivery from. */
export interface DeliveryParts {
  readonly msg: Msg;
  readonly event: StoredEvent;
  readonly deliveryCount: number;
  readonly ledger: LedgerEntry | undefined;
  readonly leaseUntil: number;
}

export class NatsDelivery implements Delivery {
  readonly event: StoredEvent;
  readonly attempt: number;
  readonly failures: number;
  readonly firstFailedAt?: number;
  leaseUntil: number;
  leaseLost = false;
  /** Set once settled or released: later settlements are refused. */
  settled = false;
  readonly msg: Msg;
  /**
   * The envelope's JSON text as received (stored as is in a dead letter): decoded again from
   * the message when asked, so a held delivery does not keep a second copy of its body alive.
   */
  get text(): string {
    return this.msg.string();
  }
  readonly deliveryCount: number;
  readonly ledger: LedgerEntry | undefined;
  readonly #settler: DeliverySettler;

  constructor(settler: DeliverySettler, parts: DeliveryParts) {
    this.#settler = settler;
    this.msg = parts.msg;
    this.event = parts.event;
    this.deliveryCount = parts.deliveryCount;
    this.ledger = parts.ledger;
    this.leaseUntil = parts.leaseUntil;
    this.attempt = Math.max(1, parts.deliveryCount - (parts.ledger?.releases ?? 0));
    this.failures = parts.ledger?.failures ?? 0;
    if (parts.ledger?.firstFailedAt !== undefined) this.firstFailedAt = parts.ledger.firstFailedAt;
  }

  /**
   * Effects are published before the ack here, so their ids are derived from this copy of the
   * message (stream, consumer, sequence, stored time) and `label`: a redelivery republishes
   * the same ids, which the stream's dedup window and the store keep once.
   */
  effectId(label: string): string {
    const copy =
      (this.msg.reply ? copyOfAckReply(this.msg.reply) : undefined) ?? `${this.event.envelope.event.id}.${this.event.seq}`;
    return deriveEventId(this.event.storedAt, `${copy}.${label}`);
  }

  ack(effects?: AckEffects): Promise<AppendedEvent[]> {
    return this.#settler.ack(this, effects);
  }

  nak(delayMs: number, error: FailureInfo): Promise<void> {
    return this.#settler.nak(this, delayMs, error);
  }

  term(error: FailureInfo, effects?: { publish?: readonly AppendItem[] }): Promise<AppendedEvent[]> {
    return this.#settler.term(this, error, effects?.publish);
  }
}
