import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEnvelopeWithText } from './create.js';
import type { JsonValue } from './envelope.js';
import { deepFreeze, frozenEnvelopeCopy, frozenJsonCopy } from './frozen.js';
import { createIdGenerator } from './ids.js';

const clock = { now: () => Date.UTC(2026, 10, 24, 9, 0, 0) };
const newId = createIdGenerator({ clock });

/** Every object and array inside `value` is frozen. */
function allFrozen(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (!Object.isFrozen(value)) return false;
  return Object.values(value).every(allFrozen);
}

describe('frozenJsonCopy', () => {
  it('equals a JSON round trip, shares no object with its input and is frozen throughout', () => {
    const json = fc.oneof(fc.jsonValue({ maxDepth: 6 }), fc.jsonValue({ maxDepth: 6, stringUnit: 'binary' }));
    fc.assert(
      fc.property(json, (value) => {
        const copy = frozenJsonCopy(value);
        expect(copy).toStrictEqual(JSON.parse(JSON.stringify(value)));
        expect(JSON.stringify(copy)).toBe(JSON.stringify(value));
        expect(allFrozen(copy)).toBe(true);
        if (typeof value === 'object' && value !== null) expect(copy).not.toBe(value);
        expect(allFrozen(value) && typeof value === 'object' && value !== null && Object.keys(value).length > 0).toBe(false);
      }),
    );
  });

  it('gives what JSON.parse gives for -0, undefined fields and a __proto__ key', () => {
    const input = JSON.parse('{"__proto__": {"x": 1}, "zero": 0}') as Record<string, unknown>;
    input.zero = -0;
    input.gone = undefined;
    const copy = frozenJsonCopy(input);
    expect(Object.is(copy.zero, 0)).toBe(true);
    expect('gone' in copy).toBe(false);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'zero']);
    expect(JSON.stringify(copy)).toBe('{"__proto__":{"x":1},"zero":0}');
  });
});

describe('frozenEnvelopeCopy', () => {
  it('is the envelope as its stored text parses, frozen, and independent of the caller’s payload', () => {
    const payload = { task: 'T1', nested: { tags: ['a'] } };
    const { envelope, text } = createEnvelopeWithText(
      { topic: 'project.tasks', type: 'TaskCompletedEvent', payload, extensions: { team: { name: 'core' } } },
      { clock, newId },
    );
    const copy = frozenEnvelopeCopy(envelope);
    payload.nested.tags.push('changed later');
    expect(copy).toStrictEqual(JSON.parse(text));
    expect(allFrozen(copy)).toBe(true);
    expect(Object.isFrozen(payload)).toBe(false);
  });
});

describe('deepFreeze', () => {
  it('freezes in place, skipping what is already frozen', () => {
    const inner = Object.freeze({ a: 1 });
    const value = deepFreeze({ inner, list: [{ b: 2 }] as JsonValue[] });
    expect(allFrozen(value)).toBe(true);
    expect(value.inner).toBe(inner);
  });
});
