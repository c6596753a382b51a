/**
 * The recorder: a durable consumer of every subject of the stream that appends each event
 * into the EventStore (idempotent by id), so history, correlation and causation queries work
 * on NATS as on the embedded default. Each pull is one `store.append` (one group commit),
 * acknowledged after it commits: a crash in between re-records, which the id makes a no-op.
 *
 * History is eventually consistent with delivery: a subscriber may handle an event before
 * the recorder has stored it. Processes sharing a store (PostgreSQL) share the recorder's
 * durable name and split the work; give each store its own name (`recorder.name`).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Envelope } from '../../envelope/envelope.js';
import type { AppendItem, EventStore } from '../../store/event-store.js';
import type { AckBatch } from './ack-batch.js';
import type { LocalCopies } from './local-copies.js';
import { parseAckReply } from './names.js';
import type { Puller } from './puller.js';

/** A non-fatal condition of the recorder. */
export interface RecorderStatus {
  readonly type: 'recorder_failed' | 'recorder_dropped';
  readonly error: Error;
}

/** What a recorder works with. */
export interface RecorderParts {
  readonly puller: Puller;
  readonly store: EventStore;
  /** Most events appended in one store transaction. */
  readonly batch: number;
  readonly acks: AckBatch;
  /** Events this process published, recorded without parsing them again. */
  readonly local: LocalCopies;
  readonly status: (status: RecorderStatus) => void;
}

export class Recorder {
  readonly #puller: Puller;
  readonly #store: EventStore;
  readonly #batch: number;
  readonly #acks: AckBatch;
  readonly #local: LocalCopies;
  readonly #status: (status: RecorderStatus) => void;
  readonly #stop = new AbortController();
  #loop: Promise<void> = Promise.resolve();

  constructor(parts: RecorderParts) {
    this.#puller = parts.puller;
    this.#store = parts.store;
    this.#batch = parts.batch;
    this.#acks = parts.acks;
    this.#local = parts.local;
    this.#status = parts.status;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async close(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    await this.#puller.close(({ msg }) => {
      msg.respond('-NAK');
    });
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      let pulled: Awaited<ReturnType<Puller['pull']>> = [];
      try {
        pulled = await this.#puller.pull(this.#batch, signal);
        const items: AppendItem[] = [];
        const taken: typeof pulled = [];
        for (const p of pulled) {
          const seq = p.msg.reply ? parseAckReply(p.msg.reply)?.streamSeq : undefined;
          const item = (seq !== undefined ? this.#local.take(seq) : undefined) ?? toItem(p.msg.string());
          if (item) {
            items.push(item);
            taken.push(p);
          } else {
            p.msg.respond('+TERM');
            this.#status({ type: 'recorder_dropped', error: new Error(`not an agentbus envelope on ${p.msg.subject}`) });
          }
        }
        if (items.length > 0) await this.#store.append(items);
        for (const { msg } of taken) this.#acks.ack(msg);
        failures = 0;
      } catch (error) {
        // The store or the server is unavailable: give the batch back and try again later.
        for (const { msg } of pulled) msg.respond('-NAK {"delay":1000000000}');
        failures++;
        this.#status({ type: 'recorder_failed', error: error instanceof Error ? error : new Error(String(error)) });
        // An abort ends the wait early; it is not an error.
        await delay(Math.min(100 * 2 ** failures, 5_000), undefined, { signal }).catch(() => undefined);
      }
    }
  }
}

/** The envelope of a message if it looks like one (the store needs an id, a type and a topic). */
function toItem(text: string): AppendItem | undefined {
  try {
    const envelope = JSON.parse(text) as Envelope;
    const ok =
      typeof envelope?.event?.id === 'string' &&
      typeof envelope.event.type === 'string' &&
      typeof envelope.routing?.topic === 'string';
    return ok ? { envelope, text } : undefined;
  } catch {
    return undefined;
  }
}
