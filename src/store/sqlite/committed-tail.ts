/**
 * The in-memory tail of the log: events this process appended, kept after their commit so
 * that claims by consumers in the same process take them from memory instead of reading
 * the rows back (see docs/adr/0010-in-memory-tail-and-read-only-envelopes.md).
 *
 * Only committed events enter (after COMMIT); an entry for position `seq` is always the
 * stored event at `seq`, so a claim that finds a position here may use it, and reads the
 * table for anything else (other processes' events, evicted entries). The tail holds one
 * contiguous run of positions: an append that does not continue it starts a new run.
 *
 * An entry keeps the stored text, never the publisher's objects (the envelope refers to the
 * caller's payload, which the caller may still change). When the appender passed a frozen
 * copy taken at publish (`AppendItem.frozen`), every local subscriber shares that; otherwise
 * the text is parsed once, at the first local claim, and the deep-frozen result is shared.
 */
import type { Envelope } from '../../envelope/envelope.js';
import type { StoredEvent } from '../event-store.js';
import { deepFreeze } from '../../envelope/frozen.js';

/** Most event text (UTF-16 code units) kept; the oldest entries go first. */
export const TAIL_MAX_TEXT = 8 * 1024 * 1024;
/** Most entries kept. */
export const TAIL_MAX_EVENTS = 8_192;
/** A consumer that has not claimed for this long no longer holds entries in the tail. */
const CONSUMER_IDLE_MS = 30_000;

/**
 * An appended event as the tail keeps it: what a claim decides on, and the event itself,
 * as the appender's frozen copy or else as the stored text until a claim parses it (at
 * least one of `text` and `parsed` is set).
 */
export interface TailEntry {
  readonly seq: number;
  readonly storedAt: number;
  readonly topic: string;
  /** The subscription it is addressed to (`routing.deliver_to`), if any. */
  readonly target: string | undefined;
  /** `event.expires_at` in milliseconds, or null. */
  readonly expiresAt: number | null;
  /** Length of the stored text (what the tail's size limit counts). */
  readonly size: number;
  text: string | undefined;
  parsed: StoredEvent | undefined;
}

/** The entry's event, parsed on first use and deep-frozen: shared by every local subscriber. */
export function storedEventOf(entry: TailEntry): StoredEvent {
  if (entry.parsed === undefined) {
    entry.parsed = deepFreeze({
      seq: entry.seq,
      storedAt: entry.storedAt,
      envelope: JSON.parse(entry.text as string) as Envelope,
    });
    // The text is no longer needed: keep one copy of the event, not two.
    entry.text = undefined;
  }
  return entry.parsed;
}

interface Position {
  next: number;
  at: number;
}

export class CommittedTail {
  /** Entries `#entries[#offset..]` hold positions `#first`, `#first + 1`, ... */
  #entries: TailEntry[] = [];
  #offset = 0;
  #first = 0;
  #text = 0;
  #enabled = false;
  /** The cursor of the most advanced recent local consumer. */
  #lead = 0;
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
    return this.#entries.length - this.#offset;
  }

  /** Adds entries committed just now, in position order. Call after COMMIT only. */
  committed(entries: readonly TailEntry[]): void {
    if (!this.#enabled) return;
    for (const entry of entries) {
      // Every local consumer is so far behind that this entry would go before it is reached:
      // keep nothing (the consumers read the table), and start afresh once they catch up.
      if (entry.seq - this.#lead >= this.maxEvents) {
        this.#clear();
        continue;
      }
      if (this.size > 0 && entry.seq !== this.#first + this.size) this.#clear();
      if (this.size === 0) this.#first = entry.seq;
      this.#entries.push(entry);
      this.#text += entry.size;
    }
    while (this.size > 0 && (this.#text > this.maxText || this.size > this.maxEvents)) this.#shift();
    this.#compact();
  }

  /** The held entry at `seq`, if any. */
  at(seq: number): TailEntry | undefined {
    const index = seq - this.#first;
    if (index < 0 || index >= this.size) return undefined;
    return this.#entries[this.#offset + index];
  }

  /** Up to `max` held entries from `seq` on (empty when `seq` is not held). */
  from(seq: number, max: number): TailEntry[] {
    const index = seq - this.#first;
    if (index < 0 || index >= this.size) return [];
    const start = this.#offset + index;
    return this.#entries.slice(start, Math.min(this.#entries.length, start + max));
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
    let lead = 0;
    for (const [name, p] of this.#positions) {
      if (now - p.at > CONSUMER_IDLE_MS) {
        this.#positions.delete(name);
        continue;
      }
      if (p.next < low) low = p.next;
      if (p.next > lead) lead = p.next;
    }
    this.#lead = lead;
    while (this.size > 0 && this.#first < low) this.#shift();
    this.#compact();
  }

  #shift(): void {
    this.#text -= (this.#entries[this.#offset] as TailEntry).size;
    this.#entries[this.#offset] = undefined as unknown as TailEntry;
    this.#offset++;
    this.#first++;
  }

  /** Drops the consumed front of the array once it is most of it. */
  #compact(): void {
    if (this.size === 0) {
      this.#clear();
      return;
    }
    if (this.#offset < 1024 || this.#offset < this.size) return;
    this.#entries = this.#entries.slice(this.#offset);
    this.#offset = 0;
  }

  #clear(): void {
    this.#entries = [];
    this.#offset = 0;
    this.#text = 0;
  }
}
