/**
 * What this process's members settled, counted into the store's recent activity
 * (`EventCounts.record`): acks as consumed, naks as retried. Dead letters are counted by the
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
  #writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly counts: EventCounts,
    private readonly onLost: (error: Error) => void,
  ) {}

  /** Counts one settlement of an event on `topic`; written within this turn of the event loop. */
  count(kind: ActivityKind, topic: string): void {
    this.#tally.add(kind, topic);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#send);
    }
  }

  /** Writes what is counted now, and resolves once every write so far is done. */
  async flush(): Promise<void> {
    this.#send();
    await this.#writing;
  }

  readonly #send = (): void => {
    this.#scheduled = false;
    if (this.#tally.empty) return;
    const rows = this.#tally.rows();
    this.#tally = new ActivityTally();
    this.#writing = this.#writing.then(() =>
      this.counts.record(rows).catch((error: unknown) => {
        this.onLost(error instanceof Error ? error : new Error(String(error)));
      }),
    );
  };
}
