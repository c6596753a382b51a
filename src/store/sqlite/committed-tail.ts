/**
 * The in-memory tail of the log: events this process appended, kept after their commit so
 * that claims by consumers in the same process take them from memory instead of reading the
 * rows back and parsing their text again (see docs/adr/0009-in-memory-tail.md).
 *
 * Only committed events enter (after COMMIT); an entry for position `seq` is always the
 * stored event at `seq`, so a claim that finds a position here may use it, and reads the
 * table for anything else (other processes' events, evicted or unclaimed gaps). The tail
 * holds one contiguous run of positions: an append that does not continue it starts a new
 * run. A claim deep-freezes the envelopes it hands out: every local subscriber gets the same
 * object, so none may change what another one sees.
 */
import type { StoredEvent } from '../event-store.js';

/** Most event text (UTF-16 code units) kept; the oldest entries go first. */
export const TAIL_MAX_TEXT = 8 * 1024 * 1024;
/** Most entries kept. */
export const TAIL_MAX_EVENTS = 8_192;
/** A consumer that has not claimed for this long no longer holds entries in the tail. */
const CONSUMER_IDLE_MS = 30_000;

interface Position {
  next: number;
  at: number;
}

export class CommittedTail {
  /** Entries `#events[#offset..]` hold positions `#first`, `#first + 1`, ... */
  #events: StoredEvent[] = [];
  #sizes: number[] = [];
  #offset = 0;
  #first = 0;
  #text = 0;
  #enabled = false;
  /** Per local consumer, the claim cursor after its last claim: entries below all are done. */
  readonly #positions = new Map<string, Position>();

  constructor(
    private readonly maxText = TAIL_MAX_TEXT,
    private readonly maxEvents = TAIL_MAX_EVENTS,
  ) {}

  /** True once a consumer of this process claimed: a process that only publishes keeps nothing. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Number of entries held. */
  get size(): number {
    return this.#events.length - this.#offset;
  }

  /**
   * Adds events committed just now, in position order, with the length of their text.
   * Call after COMMIT only.
   */
  committed(events: readonly StoredEvent[], textLengths: readonly number[]): void {
    if (!this.#enabled) return;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as StoredEvent;
      if (this.size > 0 && event.seq !== this.#first + this.size) this.#clear();
      if (this.size === 0) this.#first = event.seq;
      this.#events.push(event);
      const size = textLengths[i] ?? 0;
      this.#sizes.push(size);
      this.#text += size;
    }
    this.#evict();
  }

  /** The held event at `seq`, if any. */
  at(seq: number): StoredEvent | undefined {
    const index = seq - this.#first;
    if (index < 0 || index >= this.size) return undefined;
    return this.#events[this.#offset + index];
  }

  /** Up to `max` held events from `seq` on (empty when `seq` is not held). */
  from(seq: number, max: number): StoredEvent[] {
    const index = seq - this.#first;
    if (index < 0 || index >= this.size) return [];
    const start = this.#offset + index;
    return this.#events.slice(start, Math.min(this.#events.length, start + max));
  }

  /** Records a local consumer's claim cursor; entries every recent local consumer passed go. */
  claimed(consumer: string, next: number, now: number): void {
    this.#enabled = true;
    const position = this.#positions.get(consumer);
    if (position) {
      position.next = next;
      position.at = now;
    } else {
      this.#positions.set(consumer, { next, at: now });
    }
    let low = Number.POSITIVE_INFINITY;
    for (const [name, p] of this.#positions) {
      if (now - p.at > CONSUMER_IDLE_MS) this.#positions.delete(name);
      else if (p.next < low) low = p.next;
    }
    while (this.size > 0 && this.#first < low) this.#shift();
    this.#compact();
  }

  #evict(): void {
    while (this.size > 0 && (this.#text > this.maxText || this.size > this.maxEvents)) this.#shift();
    this.#compact();
  }

  #shift(): void {
    this.#text -= this.#sizes[this.#offset] ?? 0;
    this.#events[this.#offset] = undefined as unknown as StoredEvent;
    this.#offset++;
    this.#first++;
  }

  /** Drops the consumed front of the arrays once it is most of them. */
  #compact(): void {
    if (this.#offset === 0) return;
    if (this.size === 0) {
      this.#events = [];
      this.#sizes = [];
      this.#offset = 0;
      return;
    }
    if (this.#offset < 1024 || this.#offset < this.size) return;
    this.#events = this.#events.slice(this.#offset);
    this.#sizes = this.#sizes.slice(this.#offset);
    this.#offset = 0;
  }

  #clear(): void {
    this.#events = [];
    this.#sizes = [];
    this.#offset = 0;
    this.#text = 0;
  }
}
