/**
 * Event ids: `evt-YYYYMMDD-HHMMSS-<mmm><16 Crockford base32 chars>`, UTC.
 *
 * The three-digit millisecond keeps ids time-sortable below the second; the 16 base32
 * characters carry 80 random bits, so two ids never collide in practice. Ids sort by time
 * only to the millisecond: within one millisecond their order is random (the store's `seq`
 * is the authoritative order).
 *
 * Pure: the clock and the random source are injected.
 */
import { createHash } from 'node:crypto';
import { invalidField } from '../errors.js';
import type { Clock } from '../time.js';

/** Fills `target` with cryptographically strong random bytes, like `crypto.getRandomValues`. */
export type RandomFill = (target: Uint8Array) => void;

/** Options of {@link createIdGenerator}. */
export interface IdGeneratorOptions {
  /** Source of the time written into the id. */
  clock: Clock;
  /**
   * Source of the 80 random bits of each id.
   * @default `globalThis.crypto.getRandomValues`
   */
  random?: RandomFill;
}

/** A function that returns a new, unique event id on every call. */
export type IdGenerator = () => string;

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';
const RANDOM_BYTES = 10;
/** Random bytes are drawn in batches: one `getRandomValues` call serves this many ids. */
const POOL_IDS = 32;
const ANY_ID = /^[A-Za-z0-9._:-]{1,200}$/;
const GENERATED_ID = /^evt-\d{8}-\d{6}-\d{3}[0-9a-hjkmnp-tv-z]{16}$/;

const defaultRandom: RandomFill = (target) => {
  globalThis.crypto.getRandomValues(target);
};

/**
 * Formats a time as the `YYYYMMDD-HHMMSS` part of an event id, in UTC.
 *
 * @throws AgentbusError `OPTIONS_INVALID` when the time is not finite or outside years 0000-9999.
 * @example formatIdTimestamp(Date.UTC(2025, 10, 29, 14, 30, 0)) // "20251129-143000"
 */
export function formatIdTimestamp(epochMs: number): string {
  const date = new Date(Math.floor(epochMs));
  const year = date.getUTCFullYear();
  if (!Number.isFinite(year) || year < 0 || year > 9999) {
    throw invalidField('OPTIONS_INVALID', 'clock', `time ${epochMs} is outside years 0000-9999`);
  }
  return (
    String(year).padStart(4, '0') +
    pad2(date.getUTCMonth() + 1) +
    pad2(date.getUTCDate()) +
    '-' +
    pad2(date.getUTCHours()) +
    pad2(date.getUTCMinutes()) +
    pad2(date.getUTCSeconds())
  );
}

/**
 * Creates an event id generator.
 *
 * @example
 * const newId = createIdGenerator({ clock: { now: () => Date.now() } })
 * newId() // "evt-20251129-143000-123k3m9x0c2v7q8r1hd4"
 */
export function createIdGenerator(options: IdGeneratorOptions): IdGenerator {
  const { clock } = options;
  const random = options.random ?? defaultRandom;
  const pool = new Uint8Array(RANDOM_BYTES * POOL_IDS);
  let poolOffset = pool.length;
  let cachedSecond = Number.NaN;
  let cachedPrefix = '';

  const generate: IdGenerator = () => {
    const now = Math.floor(clock.now());
    const second = Math.floor(now / 1000);
    if (second !== cachedSecond) {
      cachedPrefix = `evt-${formatIdTimestamp(now)}-`;
      cachedSecond = second;
    }
    if (poolOffset === pool.length) {
      random(pool);
      poolOffset = 0;
    }
    const text = encodeCrockford(pool, poolOffset);
    poolOffset += RANDOM_BYTES;
    const millis = now - second * 1000;
    return cachedPrefix + String(millis).padStart(3, '0') + text;
  };
  ownGenerators.add(generate);
  return generate;
}

/** The generators {@link createIdGenerator} made: their ids are valid by construction. */
const ownGenerators = new WeakSet<IdGenerator>();

/**
 * True when `newId` was made by {@link createIdGenerator}, so its ids need no check; any
 * other function's ids are validated like given ones.
 */
export function isOwnIdGenerator(newId: unknown): boolean {
  return typeof newId === 'function' && ownGenerators.has(newId as IdGenerator);
}

/**
 * An event id for `key`: the generated format, with the time `epochMs` and 80 bits of the
 * SHA-256 of `key` in place of the random ones. The same key and time give the same id, so a
 * step that may run twice (a handler redelivered after publishing) names its events the same
 * way both times and the copies are deduplicated; different keys collide no more often than
 * random ids do.
 *
 * @example deriveEventId(Date.UTC(2025, 10, 29, 14, 30), 'S.c.17.1795485488117446834.0')
 */
export function deriveEventId(epochMs: number, key: string): string {
  const now = Math.floor(epochMs);
  const digest = createHash('sha256').update(key).digest();
  const millis = now - Math.floor(now / 1000) * 1000;
  return `evt-${formatIdTimestamp(now)}-${String(millis).padStart(3, '0')}${encodeCrockford(digest, 0)}`;
}

/**
 * True when `value` can be an event id: 1 to 200 characters of `A-Z a-z 0-9 . _ : -`.
 * Given ids need not follow the generated `evt-...` format.
 */
export function isEventId(value: unknown): value is string {
  return typeof value === 'string' && ANY_ID.test(value);
}

/** True when `value` has exactly the format {@link createIdGenerator} produces. */
export function isGeneratedEventId(value: unknown): value is string {
  return typeof value === 'string' && GENERATED_ID.test(value);
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Encodes 10 bytes (80 bits) from `bytes[offset]` as 16 lowercase Crockford base32 chars. */
function encodeCrockford(bytes: Uint8Array, offset: number): string {
  // One string built at once (the id is on the publish hot path).
  const b0 = bytes[offset] ?? 0;
  const b1 = bytes[offset + 1] ?? 0;
  const b2 = bytes[offset + 2] ?? 0;
  const b3 = bytes[offset + 3] ?? 0;
  const b4 = bytes[offset + 4] ?? 0;
  const b5 = bytes[offset + 5] ?? 0;
  const b6 = bytes[offset + 6] ?? 0;
  const b7 = bytes[offset + 7] ?? 0;
  const b8 = bytes[offset + 8] ?? 0;
  const b9 = bytes[offset + 9] ?? 0;
  return String.fromCharCode(
    code(b0 >> 3),
    code(((b0 & 7) << 2) | (b1 >> 6)),
    code((b1 >> 1) & 31),
    code(((b1 & 1) << 4) | (b2 >> 4)),
    code(((b2 & 15) << 1) | (b3 >> 7)),
    code((b3 >> 2) & 31),
    code(((b3 & 3) << 3) | (b4 >> 5)),
    code(b4 & 31),
    code(b5 >> 3),
    code(((b5 & 7) << 2) | (b6 >> 6)),
    code((b6 >> 1) & 31),
    code(((b6 & 1) << 4) | (b7 >> 4)),
    code(((b7 & 15) << 1) | (b8 >> 7)),
    code((b8 >> 2) & 31),
    code(((b8 & 3) << 3) | (b9 >> 5)),
    code(b9 & 31),
  );
}

const CROCKFORD_CODES = Array.from(CROCKFORD, (c) => c.charCodeAt(0));

function code(index: number): number {
  return CROCKFORD_CODES[index] ?? 0;
}
