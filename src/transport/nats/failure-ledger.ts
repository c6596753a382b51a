/**
 * Handler failures and clean releases per delivery, kept durably in the store's state area.
 *
 * JetStream counts deliveries: a nak, a lapsed ack_wait and a clean release (nak without
 * delay) all add one. The bus's retry budget must count handler failures only, and a
 * release must not count an attempt, so each is recorded here (before the nak that
 * causes the redelivery) and read back when a message arrives with a delivery count above
 * one. The happy path (first delivery, ack) reads and writes nothing.
 */
import type { FailedAttempt, StateArea } from '../../store/event-store.js';

/** What happened to one message of one consumer besides plain deliveries. */
export interface LedgerEntry {
  /** Handler failures so far (naks and dead-letter decisions). */
  readonly failures: number;
  /** Deliveries given back unstarted (their delivery count is not an attempt). */
  readonly releases: number;
  /** When the handler first failed (ms). */
  readonly firstFailedAt?: number;
  /**
   * The failed attempts so far, oldest first (the last `ATTEMPTS_KEPT`), written by the nak
   * that records the failure; carried into the dead letter. Absent in entries written before
   * they were kept, and in entries of releases alone.
   */
  readonly attempts?: readonly FailedAttempt[];
}

export class FailureLedger {
  readonly #state: StateArea;
  readonly #namespace: string;

  /** `stream` scopes the keys: stream sequences are unique within a stream only. */
  constructor(state: StateArea, stream: string) {
    this.#state = state;
    this.#namespace = `agentbus.nats.${stream}`;
  }

  async get(durable: string, streamSeq: number): Promise<LedgerEntry | undefined> {
    return (await this.#state.get<LedgerEntry>(this.#namespace, key(durable, streamSeq)))?.value;
  }

  async put(durable: string, streamSeq: number, entry: LedgerEntry): Promise<void> {
    await this.#state.put(this.#namespace, key(durable, streamSeq), entry, 'any');
  }

  async delete(durable: string, streamSeq: number): Promise<void> {
    await this.#state.delete(this.#namespace, key(durable, streamSeq), 'any');
  }
}

function key(durable: string, streamSeq: number): string {
  return `${durable}/${streamSeq}`;
}
