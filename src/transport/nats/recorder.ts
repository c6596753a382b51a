/**
 * The recorder: a durable consumer of every subject of the stream that appends each event
 * into the EventStore (idempotent by id), so history, correlation and causation queries work
 * on NATS as on the embedded default. Each pull is one `store.append` (one group commit),
 * acknowledged after it commits: a crash in between re-records, which the id makes a no-op.
 * Acknowledgements are explicit, one per message: `AckPolicy.All` (one per batch) would let
 * one process's ack cover another's uncommitted messages on a shared recorder (ADR 13).
 *
 * History is eventually consistent with delivery: a subscriber may handle an event before
 * the recorder has stored it. Processes sharing a store (PostgreSQL) share the recorder's
 * durable name and split the work; give each store its own name (`recorder.name`).
 *
 * Envelopes are not validated again: agentbus validates before it publishes, and a message
 * this process published is recorded from its own copy. A message that another client put
 * on the stream's subjects is recorded when it has what history indexes ({@link recordable}),
 * and terminated and reported (`recorder_dropped`) otherwise: the store would refuse it, and
 * with it every batch it is in, so one such message used to stall history for good.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Envelope } from '../../envelope/envelope.js';
import type { AppendItem, EventStore } from '../../store/event-store.js';
import type { AckBatch } from './ack-batch.js';
import type { LocalCopies } from './local-copies.js';
import { parseAckReply } from './names.js';
import type { Pulled, Puller } from './puller.js';

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
      const taken: Pulled[] = [];
      try {
        const pulled = await this.#puller.pull(this.#batch, signal);
        const items: AppendItem[] = [];
        for (const p of pulled) {
          const seq = p.msg.reply ? parseAckReply(p.msg.reply)?.streamSeq : undefined;
          const item = (seq !== undefined ? this.#local.take(seq) : undefined) ?? toItem(p.msg.string());
          if (item) {
            items.push(item);
            taken.push(p);
          } else {
            p.msg.respond('+TERM');
            this.#status({
              type: 'recorder_dropped',
              error: new Error(`not an agentbus envelope (or without what history indexes) on ${p.msg.subject}`),
            });
          }
        }
        if (items.length > 0) await this.#store.append(items);
        for (const { msg } of taken) this.#acks.ack(msg);
        failures = 0;
      } catch (error) {
        // The store or the server is unavailable: give the batch back and try again later.
        for (const { msg } of taken) msg.respond('-NAK {"delay":1000000000}');
        failures++;
        this.#status({ type: 'recorder_failed', error: error instanceof Error ? error : new Error(String(error)) });
        // An abort ends the wait early; it is not an error.
        await delay(Math.min(100 * 2 ** failures, 5_000), undefined, { signal }).catch(() => undefined);
      }
    }
  }
}

/** The envelope of a message when it has what history indexes ({@link recordable}). */
function toItem(text: string): AppendItem | undefined {
  let envelope: unknown;
  try {
    envelope = JSON.parse(text);
  } catch {
    return undefined;
  }
  return recordable(envelope) ? { envelope, text } : undefined;
}

type Fields = Record<string, unknown>;

const nonEmpty = (value: unknown): boolean => typeof value === 'string' && value !== '';
const optionalText = (value: unknown): boolean => value === undefined || value === null || typeof value === 'string';
const time = (value: unknown): boolean => typeof value === 'string' && Number.isFinite(Date.parse(value));
const PRIORITIES: ReadonlySet<unknown> = new Set([undefined, 'high', 'normal', 'low']);

/**
 * True when `value` has every field the store indexes, of the type it needs (what an append
 * would otherwise refuse): non-empty `event.id`, `type`, `source` and `correlation_id`, a
 * parseable `event.timestamp`, a `routing.topic`, a payload, and optional ids that are text.
 * Every envelope agentbus publishes passes; nothing else is checked (not the payload, not the
 * rules of `parseEnvelope`). A few `typeof`s and one `Date.parse`.
 */
export function recordable(value: unknown): value is Envelope {
  const envelope = value as { event?: Fields; routing?: Fields; payload?: unknown } | null;
  const event = envelope?.event;
  const routing = envelope?.routing;
  if (typeof event !== 'object' || event === null || typeof routing !== 'object' || routing === null) return false;
  return (
    nonEmpty(event.id) &&
    nonEmpty(event.type) &&
    nonEmpty(event.source) &&
    nonEmpty(event.correlation_id) &&
    time(event.timestamp) &&
    optionalText(event.causation_id) &&
    (event.expires_at === undefined || event.expires_at === null || time(event.expires_at)) &&
    nonEmpty(routing.topic) &&
    optionalText(routing.partition_key) &&
    optionalText(routing.deliver_to) &&
    PRIORITIES.has(routing.priority) &&
    envelope?.payload !== undefined
  );
}
