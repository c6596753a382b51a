/**
 * Read-only envelopes: one envelope object may be handed to every subscriber of the process
 * (the SQLite store's in-memory tail), so none may change what another one sees.
 *
 * Pure.
 */
import type { Envelope } from './envelope.js';
import { setOwn } from './json.js';

/**
 * Freezes `value` and every object and array inside it; already frozen parts are skipped
 * (their contents were frozen with them). Returns `value`.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const item of value) deepFreeze(item);
  } else {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

/**
 * A deep-frozen copy of a validated envelope, equal to `JSON.parse` of its stored text:
 * taken when the envelope is built, before its caller can change the payload it passed, so
 * a store may hand it to local subscribers instead of parsing the text again (about a
 * quarter of the cost, and no second object graph to collect).
 */
export function frozenEnvelopeCopy(envelope: Envelope): Envelope {
  return Object.freeze({
    event: frozenJsonCopy(envelope.event),
    payload: frozenJsonCopy(envelope.payload),
    routing: frozenJsonCopy(envelope.routing),
  }) as Envelope;
}

/**
 * Deep-frozen copy of a JSON value (validated: plain objects, arrays, finite numbers,
 * strings, booleans, null). Gives what a JSON round trip gives: -0 becomes 0, an undefined
 * field is left out and a `__proto__` key stays an own field. Nesting is bounded by the validated depth.
 */
export function frozenJsonCopy<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return (value === 0 ? 0 : value) as T;
  if (Array.isArray(value)) {
    const copy = new Array(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = frozenJsonCopy(value[i]);
    return Object.freeze(copy) as T;
  }
  const copy: Record<string, unknown> = {};
  for (const key in value) {
    const item = frozenJsonCopy((value as Record<string, unknown>)[key]);
    if (item === undefined) continue; // JSON text has no undefined fields
    if (key === '__proto__') setOwn(copy, key, item);
    else copy[key] = item;
  }
  return Object.freeze(copy) as T;
}
