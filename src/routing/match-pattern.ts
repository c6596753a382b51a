/**
 * Content-based filters with Amazon EventBridge event-pattern semantics, applied to the
 * whole envelope (`{ event, payload, routing }`).
 *
 * - A pattern is an object whose shape follows the event: every field named must match
 *   (AND); a field's array of values and operators matches if any of them does (OR).
 * - Where the event holds an array, the pattern matches if any element does. A nested
 *   pattern is tested against each element of an array as a whole, so two fields are never
 *   satisfied by different elements of one array (EventBridge's array consistency).
 * - `$or: [pattern, ...]` at any level matches if any alternative matches at that level.
 * - Leaves must be arrays, as EventBridge requires: `{ severity: "high" }` is refused
 *   with a hint to write `["high"]`. Empty arrays and empty objects are refused.
 * - `exists` looks at leaf values only: an object at the field counts as absent, and so
 *   does an empty array. Under an array of objects, `exists: false` holds when some
 *   element lacks the field (the any-element rule above).
 *
 * Where agentbus accepts more than EventBridge: a `$or` with a single alternative (the
 * compact syntax uses it to AND two conditions on one field); `anything-but` lists mixing
 * strings, numbers, booleans and null; lists under `anything-but` `prefix` and `suffix`.
 * Keys are taken literally: `"a.b"` names one field, never the path `a` then `b`. Numbers
 * compare as JavaScript doubles (EventBridge's old ±5e9 limit does not apply).
 *
 * Pure: no I/O, no clock.
 */

import {
  compileLeaves,
  describeType,
  type FieldTest,
  isArray,
  isPlainObject,
  type PatternLeaf,
  syntaxError,
} from './content-filters.js';

/**
 * An EventBridge event pattern. Keys name event fields; values are arrays of exact values
 * and operators, nested patterns, or (under `$or`) arrays of alternative patterns.
 *
 * @example
 * const pattern: EventPattern = {
 *   event: { type: ['APIDesignCompleted'] },
 *   payload: { severity: ['high', 'critical'], result: { endpoints: [{ numeric: ['>', 10] }] } },
 * }
 */
export interface EventPattern {
  /** Alternatives: the pattern matches if any of them matches at this level. */
  readonly $or?: readonly EventPattern[];
  readonly [field: string]: readonly PatternLeaf[] | EventPattern | readonly EventPattern[] | undefined;
}

/** A compiled pattern: true when the event (the whole envelope) matches. */
export type EventMatcher = (event: unknown) => boolean;

/** The field named in errors for the root of a pattern. */
const ROOT = 'filter';

/**
 * Validates `pattern` once and compiles it into a matcher over whole envelopes.
 *
 * @throws AgentbusError `FILTER_SYNTAX` whose `field` is the path inside the pattern,
 *   e.g. `filter.payload.severity[0].numeric`
 * @example
 * const matches = compilePattern({ payload: { severity: ['high'] } })
 * matches({ event: {...}, payload: { severity: 'high' }, routing: {...} }) // true
 */
export function compilePattern(pattern: EventPattern): EventMatcher {
  const cached = cache.get(pattern);
  if (cached !== undefined) return cached;
  const matcher = compileObject(pattern, ROOT);
  cache.set(pattern, matcher);
  return matcher;
}

/**
 * True when `event` (a whole envelope) matches `pattern`. The compiled form is cached by
 * the pattern object's identity, so patterns must not be mutated after first use.
 *
 * @throws AgentbusError `FILTER_SYNTAX` when the pattern is invalid
 * @example
 * matchPattern({ event: { type: ['TaskCompletedEvent'] } }, envelope)
 */
export function matchPattern(pattern: EventPattern, event: unknown): boolean {
  return compilePattern(pattern)(event);
}

/** Compiled patterns by identity; entries go away with their pattern objects. */
const cache = new WeakMap<object, EventMatcher>();

function compileObject(pattern: unknown, path: string): FieldTest {
  if (!isPlainObject(pattern)) throw syntaxError(path, `must be a pattern object, got ${describeType(pattern)}`);
  const keys = Object.keys(pattern);
  if (keys.length === 0) throw syntaxError(path, 'must not be an empty object; name at least one field');
  const fields: [string, FieldTest][] = [];
  let alternatives: FieldTest[] = [];
  for (const key of keys) {
    const value = pattern[key];
    const at = `${path}.${key}`;
    if (key === '$or') alternatives = compileAlternatives(value, at);
    else if (isArray(value)) fields.push([key, compileLeaves(value, at)]);
    else if (isPlainObject(value)) fields.push([key, compileObject(value, at)]);
    else {
      const hint = JSON.stringify(value) ?? 'value';
      throw syntaxError(
        at,
        `expected an array of values or a nested pattern object, got ${describeType(value)}; write [${hint}] to match it exactly`,
      );
    }
  }
  const test: FieldTest = (node) => {
    if (isArray(node)) return node.length === 0 ? test(undefined) : node.some(test);
    const obj = isPlainObject(node) ? node : undefined;
    for (const [key, field] of fields) {
      if (!field(obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined)) return false;
    }
    return alternatives.length === 0 || alternatives.some((alternative) => alternative(node));
  };
  return test;
}

function compileAlternatives(value: unknown, path: string): FieldTest[] {
  if (!isArray(value) || value.length === 0) {
    throw syntaxError(
      path,
      `must be a non-empty array of pattern objects, got ${isArray(value) ? 'an empty array' : describeType(value)}`,
    );
  }
  return value.map((alternative, i) => compileObject(alternative, `${path}[${i}]`));
}
