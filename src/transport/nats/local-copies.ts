/**
 * The events this process published, kept until the recorder records them (bounded).
 *
 * The recorder receives every event again from JetStream; for one this process published
 * it finds the envelope and its JSON text here, by stream sequence, instead of decoding and
 * parsing the body a second time. What it records is the same: the text is the published
 * body, and event and routing are copied when remembered, so a caller changing the envelope
 * it got back changes nothing recorded. An event not found is parsed as before.
 *
 * Full, it takes nothing more (rather than dropping the oldest, which a lagging recorder
 * needs next); entries far behind what the recorder reached (recorded by another process
 * sharing the recorder, or redelivered) are forgotten as it moves on.
 */
import type { AppendItem } from '../../store/event-store.js';

/** Entries kept at most. @default 4096 */
export const DEFAULT_LOCAL_COPIES = 4096;

export class LocalCopies {
  readonly #items = new Map<number, AppendItem>();
  readonly #max: number;

  constructor(max = DEFAULT_LOCAL_COPIES) {
    this.#max = max;
  }

  /** How many are kept. */
  get size(): number {
    return this.#items.size;
  }

  /** Remembers what was published as stream sequence `seq`. */
  remember(seq: number, { envelope, text }: AppendItem): void {
    if (this.#items.size >= this.#max) return; // the recorder lags: it parses the rest
    const copy = { event: { ...envelope.event }, routing: { ...envelope.routing }, payload: envelope.payload };
    this.#items.set(seq, { envelope: copy, text });
  }

  /** The item published as `seq`, forgotten as it is returned; a miss forgets those far behind. */
  take(seq: number): AppendItem | undefined {
    const item = this.#items.get(seq);
    if (item) {
      this.#items.delete(seq);
      return item;
    }
    // A miss: the recorder may have moved past entries it will never see (recorded elsewhere).
    for (const oldest of this.#items.keys()) {
      if (oldest >= seq - this.#max) break;
      this.#items.delete(oldest);
    }
    return undefined;
  }
}
