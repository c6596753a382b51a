import { describe, expect, it } from 'vitest';
import type { Clock } from '../time.js';
import { createIdGenerator, deriveEventId, formatIdTimestamp, isEventId, isGeneratedEventId } from './ids.js';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function fixedClock(ms: number): Clock & { set(ms: number): void } {
  let now = ms;
  return { now: () => now, set: (next) => (now = next) };
}

/** A random source that writes 0, 1, 2, ... across calls, whatever the buffer size. */
function countingRandom() {
  let next = 0;
  return (target: Uint8Array) => {
    for (let i = 0; i < target.length; i++) target[i] = next++ & 0xff;
  };
}

function decodeCrockford(text: string): bigint {
  let value = 0n;
  for (const c of text) value = (value << 5n) | BigInt(CROCKFORD.indexOf(c));
  return value;
}

describe('createIdGenerator', () => {
  it('formats the UTC time, the millisecond and 16 base32 characters', () => {
    const clock = fixedClock(Date.UTC(2025, 10, 29, 14, 30, 0, 123));
    const id = createIdGenerator({ clock })();
    expect(id).toMatch(/^evt-20251129-143000-123[0-9a-hjkmnp-tv-z]{16}$/);
    expect(isGeneratedEventId(id)).toBe(true);
  });

  it('puts 80 random bits, in order, into the 16 characters', () => {
    const clock = fixedClock(Date.UTC(2025, 0, 1));
    const newId = createIdGenerator({ clock, random: countingRandom() });
    const first = newId().slice(-16);
    const second = newId().slice(-16);
    const bytesToBigint = (from: number) =>
      Array.from({ length: 10 }, (_, i) => BigInt(from + i)).reduce((acc, b) => (acc << 8n) | b, 0n);
    expect(decodeCrockford(first)).toBe(bytesToBigint(0));
    expect(decodeCrockford(second)).toBe(bytesToBigint(10));
  });

  it('encodes all-ones random bytes as sixteen z characters', () => {
    const newId = createIdGenerator({ clock: fixedClock(0), random: (t) => t.fill(0xff) });
    expect(newId().slice(-16)).toBe('z'.repeat(16));
  });

  it('never repeats an id among 100000 drawn in the same millisecond', () => {
    const newId = createIdGenerator({ clock: fixedClock(Date.UTC(2025, 10, 29)) });
    const ids = new Set(Array.from({ length: 100_000 }, () => newId()));
    expect(ids.size).toBe(100_000);
  });

  it('sorts ids by time across milliseconds and seconds', () => {
    const clock = fixedClock(Date.UTC(2025, 10, 29, 23, 59, 59, 998));
    const newId = createIdGenerator({ clock, random: (t) => t.fill(0xff) });
    const lowRandom = createIdGenerator({ clock, random: (t) => t.fill(0) });
    const ids: string[] = [];
    for (const ms of [998, 999, 1000, 1001, 60_000, 86_400_000]) {
      clock.set(Date.UTC(2025, 10, 29, 23, 59, 59, 0) + ms);
      // A later id sorts after an earlier one even when its random part is smaller.
      ids.push(ids.length % 2 === 0 ? newId() : lowRandom());
    }
    expect([...ids].sort()).toEqual(ids);
  });

  it('refreshes the cached second when the clock moves', () => {
    const clock = fixedClock(Date.UTC(2025, 10, 29, 14, 30, 0, 999));
    const newId = createIdGenerator({ clock });
    expect(newId()).toMatch(/^evt-20251129-143000-999/);
    clock.set(Date.UTC(2025, 10, 29, 14, 30, 1, 0));
    expect(newId()).toMatch(/^evt-20251129-143001-000/);
  });

  it('uses crypto.getRandomValues by default', () => {
    const newId = createIdGenerator({ clock: fixedClock(0) });
    expect(newId().slice(-16)).not.toBe(newId().slice(-16));
  });
});

describe('formatIdTimestamp', () => {
  it('pads every field with zeros', () => {
    expect(formatIdTimestamp(Date.UTC(2001, 1, 3, 4, 5, 6))).toBe('20010203-040506');
  });

  it('formats times before the epoch', () => {
    expect(formatIdTimestamp(-1)).toBe('19691231-235959');
  });

  it('refuses times outside years 0000-9999 with OPTIONS_INVALID', () => {
    expect(() => formatIdTimestamp(Date.UTC(10_000, 0, 1))).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
    expect(() => formatIdTimestamp(Number.NaN)).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
  });
});

describe('isEventId', () => {
  it('accepts the seed ids and other user-chosen ids', () => {
    for (const id of ['evt-20251129-143000-abc123', 'evt-previous-id', 'A234-1234-1234', 'urn:uuid:6e8b.x_1', 'a']) {
      expect(isEventId(id)).toBe(true);
    }
  });

  it('refuses empty, too long, non-string ids and ids with other characters', () => {
    for (const id of ['', 'x'.repeat(201), 'evt 1', 'evt/1', 'évt', 42, null]) {
      expect(isEventId(id)).toBe(false);
    }
    expect(isEventId('x'.repeat(200))).toBe(true);
  });

  it('tells generated ids from user-chosen ones', () => {
    expect(isGeneratedEventId('evt-20251129-143000-abc123')).toBe(false);
  });
});

describe('deriveEventId', () => {
  const at = Date.UTC(2025, 10, 29, 14, 30, 0, 7);

  it('gives the same id for the same key and time, in the generated format', () => {
    const id = deriveEventId(at, 'S.c.17.1795485488117446834.0');
    expect(id).toBe(deriveEventId(at, 'S.c.17.1795485488117446834.0'));
    expect(id.startsWith('evt-20251129-143000-007')).toBe(true);
    expect(isGeneratedEventId(id)).toBe(true);
  });

  it('gives different ids for different keys', () => {
    const ids = new Set(Array.from({ length: 1_000 }, (_, n) => deriveEventId(at, `S.c.17.1795485488117446834.${n}`)));
    expect(ids.size).toBe(1_000);
    expect(deriveEventId(at, 'S.c.17.1.0')).not.toBe(deriveEventId(at, 'S.d.17.1.0'));
  });
});
