/**
 * What this process's members settled, counted into the store's recent activity
 * (`EventCounts.record`): acks as consumed (and into their subscription's handled count),
 * naks as retried. Dead letters are counted by the
 * store itself (`recordDeadLetter`), published events by the recorder's appends.
 *
 * A settlement costs a Map lookup; the counts of one turn of the event loop go to the store
 * in one `record` call (which rides along with the store's next commit). There is no
 * transaction spanning the store and the ack on NATS: a count is made when the ack is sent,
 * so an ack lost on the way (the server redelivers) counts twice, and counts not yet written
 * when the process dies are lost. A `record` that fails is reported (`activity_lost`).
 */
import { ActivityTally } from '../../store/activity.js';
import type { ActivityKind, EventCounts } from '../../store/event-store.js';

export class ActivityBatch {
  #tally = new ActivityTally();
  #scheduled = false;
  /** The one write in flight; counts made meanwhile wait in the tally and go in the next. */
  #writing: Promise<void> | undefined;

  constructor(
    private readonly counts: EventCounts,
    private readonly onLost: (error: Error) => void,
  ) {}

  /** Counts one settlement of an event on `topic`; written within this turn of the event loop. */
  count(kind: ActivityKind, topic: string): void {
    this.#tally.add(kind, topic);
    this.#schedule();
  }

  /** Counts one acknowledgement by a handler of `subscription` of an event on `topic`. */
  consumed(topic: string, subscription: string): void {
    this.#tally.add('consumed', topic);
    this.#tally.handled(subscription);
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#scheduled && !this.#writing) {
      this.#scheduled = true;
      setImmediate(this.#send);
    }
  }

  /** Writes what is counted now, and resolves once it is written (or reported lost). */
  async flush(): Promise<void> {
    // A write in flight, then the one of what was counted meanwhile, then any later counts.
    for (let i = 0; i < 3 && (this.#writing || !this.#tally.empty); i++) {
      this.#send();
      await this.#writing;
    }
  }

  /**
   * Starts a write of the tally unless one is in flight. One write at a time, not one queued
   * per turn: when writes took longer than a turn (a busy store) the queue grew without bound
   * (soak, NATS workers: thousands of pending writes after minutes).
   */
  readonly #send = (): void => {
    this.#scheduled = false;
    if (this.#writing || this.#tally.empty) return;
    const rows = this.#tally.rows();
    const handled = this.#tally.handledRows();
    this.#tally = new ActivityTally();
    this.#writing = this.counts
      .record(rows, handled)
      .catch((error: unknown) => {
        this.onLost(error instanceof Error ? error : new Error(String(error)));
      })
      .finally(() => {
        this.#writing = undefined;
        this.#send();
      });
  };
}
