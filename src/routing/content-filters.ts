/**
 * The leaves of an event pattern: the array of values and operators given for one field,
 * compiled once into a test on whatever the event holds at that field.
 *
 * Semantics follow Amazon EventBridge: the array is an OR; exact values match by JSON
 * type and value (numbers numerically, so `300` matches `3.0e2`); when the event holds an
 * array, the field matches if any element matches; string operators never match
 * non-strings and `numeric` only matches JSON numbers.
 *
 * Pure: no I/O, no clock.
 */

import { type AgentbusError, invalidField } from '../errors.js';
import { compileCidr } from './cidr.js';
import { compileWildcard, isWildcardProblem, parseWildcard } from './wildcard.js';

/** A JSON scalar as it may appear in an event or as an exact value in a pattern. */
export type PatternScalar = string | number | boolean | null;

/** `{"equals-ignore-case": "x"}`: the string equals `x` in any letter case. */
export interface IgnoreCaseFilter {
  readonly 'equals-ignore-case': string;
}

/** The operators `anything-but` accepts: values, or a negated string operator. */
export type AnythingBut =
  | PatternScalar
  | readonly PatternScalar[]
  | { readonly prefix: string | readonly string[] }
  | { readonly suffix: string | readonly string[] }
  | { readonly 'equals-ignore-case': string | readonly string[] }
  | { readonly wildcard: string | readonly string[] };

/** Comparison operators of a `numeric` filter. */
export type NumericOperator = '<' | '<=' | '>' | '>=' | '=';

/** One operator object inside a field's array, e.g. `{ prefix: "us-" }`. */
export type ContentFilter =
  | { readonly prefix: string | IgnoreCaseFilter }
  | { readonly suffix: string | IgnoreCaseFilter }
  | IgnoreCaseFilter
  | { readonly wildcard: string }
  | { readonly 'anything-but': AnythingBut }
  | { readonly numeric: readonly (NumericOperator | number)[] }
  | { readonly exists: boolean }
  | { readonly cidr: string };

/** One element of a field's array: an exact value or an operator object. */
export type PatternLeaf = PatternScalar | ContentFilter;

/** Decides whether the value at one field (possibly absent, possibly an array) matches. */
export type FieldTest = (node: unknown) => boolean;

type ValueTest = (value: PatternScalar) => boolean;

const OPERATORS = 'prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists, cidr';

/** A FILTER_SYNTAX error for the pattern element at `path`. */
export function syntaxError(path: string, reason: string): AgentbusError {
  return invalidField('FILTER_SYNTAX', path, reason);
}

/** Names a JSON value's type for error messages. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** True for values that are JSON objects (not arrays, not null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !isArray(value);
}

/** `Array.isArray` without widening to `any[]`. */
export function isArray(value: unknown): value is readonly unknown[] {
  return Array.isArray(value);
}

function isScalar(value: unknown): value is PatternScalar {
  const t = typeof value;
  return value === null || t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(value));
}

/**
 * Compiles a field's array of values and operators.
 *
 * @throws AgentbusError `FILTER_SYNTAX` naming `path` when the array is empty, an element is
 *   not a scalar or a known operator object, or an operator's argument is invalid
 */
export function compileLeaves(leaves: readonly unknown[], path: string): FieldTest {
  if (leaves.length === 0) throw syntaxError(path, 'must not be an empty array; it would match nothing');
  const exact = new Set<PatternScalar>();
  const tests: ValueTest[] = [];
  let matchesAbsent = false;
  leaves.forEach((leaf, i) => {
    const at = `${path}[${i}]`;
    if (isScalar(leaf)) {
      exact.add(leaf);
    } else if (!isPlainObject(leaf)) {
      throw syntaxError(at, `expected a string, number, boolean, null or operator object, got ${describeType(leaf)}`);
    } else if (Object.keys(leaf).length === 1 && leaf.exists === false) {
      matchesAbsent = true;
    } else {
      tests.push(compileOperator(leaf, at));
    }
  });
  if (exact.size > 0) tests.unshift((v) => exact.has(v));
  const test = anyOf(tests);
  return (node) => {
    const found = scan(node, test);
    return found === FOUND || (found === NO_VALUES && matchesAbsent);
  };
}

const NO_VALUES = 0;
const NO_MATCH = 1;
const FOUND = 2;

/** Tests every scalar at `node` (arrays flattened; objects are not leaf values). */
function scan(node: unknown, test: ValueTest): number {
  if (isArray(node)) {
    let result = NO_VALUES;
    for (const element of node) {
      const r = scan(element, test);
      if (r === FOUND) return FOUND;
      if (r > result) result = r;
    }
    return result;
  }
  if (!isScalar(node)) return NO_VALUES;
  return test(node) ? FOUND : NO_MATCH;
}

function anyOf(tests: readonly ValueTest[]): ValueTest {
  const [only] = tests;
  if (tests.length === 0) return () => false;
  if (tests.length === 1 && only !== undefined) return only;
  return (v) => tests.some((t) => t(v));
}

function compileOperator(filter: Record<string, unknown>, path: string): ValueTest {
  const keys = Object.keys(filter);
  const [name] = keys;
  if (name === undefined || keys.length !== 1) {
    const got = keys.length === 0 ? 'none' : keys.map((k) => `'${k}'`).join(', ');
    throw syntaxError(path, `an operator object takes exactly one operator (${OPERATORS}), got ${got}`);
  }
  const arg = filter[name];
  const at = `${path}.${name}`;
  switch (name) {
    case 'prefix':
    case 'suffix': {
      const ends = name === 'prefix' ? startsWith : endsWith;
      if (typeof arg === 'string') return (v) => typeof v === 'string' && ends(v, arg);
      const folded = ignoreCaseArg(arg, at).toLowerCase();
      return (v) => typeof v === 'string' && ends(v.toLowerCase(), folded);
    }
    case 'equals-ignore-case': {
      const folded = stringArg(arg, at).toLowerCase();
      return (v) => typeof v === 'string' && v.toLowerCase() === folded;
    }
    case 'wildcard': {
      const matches = wildcardArg(arg, at);
      return (v) => typeof v === 'string' && matches(v);
    }
    case 'anything-but': {
      const excluded = compileAnythingBut(arg, at);
      return (v) => !excluded(v);
    }
    case 'numeric':
      return compileNumeric(arg, at);
    case 'exists':
      if (arg !== true) throw syntaxError(at, `must be true or false, got ${describeType(arg)}`);
      return () => true;
    case 'cidr': {
      const inBlock = compileCidr(stringArg(arg, at));
      if (inBlock === undefined) throw syntaxError(at, 'must be an IPv4 or IPv6 address with an optional /prefix-length');
      return (v) => typeof v === 'string' && inBlock(v);
    }
    default:
      throw syntaxError(path, `unknown operator '${name}'; expected one of ${OPERATORS}`);
  }
}

const startsWith = (s: string, part: string): boolean => s.startsWith(part);
const endsWith = (s: string, part: string): boolean => s.endsWith(part);

function stringArg(arg: unknown, path: string): string {
  if (typeof arg !== 'string') throw syntaxError(path, `must be a string, got ${describeType(arg)}`);
  return arg;
}

function ignoreCaseArg(arg: unknown, path: string): string {
  if (isPlainObject(arg) && Object.keys(arg).length === 1 && 'equals-ignore-case' in arg) {
    return stringArg(arg['equals-ignore-case'], `${path}.equals-ignore-case`);
  }
  throw syntaxError(path, `must be a string or {"equals-ignore-case": string}, got ${describeType(arg)}`);
}

function wildcardArg(arg: unknown, path: string): (text: string) => boolean {
  const parsed = parseWildcard(stringArg(arg, path));
  if (isWildcardProblem(parsed)) throw syntaxError(path, `${parsed.reason} (at character ${parsed.index + 1})`);
  return compileWildcard(parsed);
}

/** Compiles what `anything-but` excludes; the result says whether a value is excluded. */
function compileAnythingBut(arg: unknown, path: string): ValueTest {
  if (isScalar(arg)) return (v) => v === arg;
  if (isArray(arg)) {
    if (arg.length === 0) throw syntaxError(path, 'must not be an empty array');
    const excluded = new Set<PatternScalar>();
    arg.forEach((value, i) => {
      if (!isScalar(value)) throw syntaxError(`${path}[${i}]`, `must be a scalar, got ${describeType(value)}`);
      excluded.add(value);
    });
    return (v) => excluded.has(v);
  }
  if (!isPlainObject(arg))
    throw syntaxError(path, `must be a value, an array of values or an operator, got ${describeType(arg)}`);
  const keys = Object.keys(arg);
  const [name] = keys;
  const allowed = ['prefix', 'suffix', 'equals-ignore-case', 'wildcard'];
  if (name === undefined || keys.length !== 1 || !allowed.includes(name)) {
    throw syntaxError(path, `takes exactly one of ${allowed.join(', ')}, got ${keys.map((k) => `'${k}'`).join(', ') || 'none'}`);
  }
  const at = `${path}.${name}`;
  const raw = arg[name];
  const values = isArray(raw) ? raw : [raw];
  if (values.length === 0) throw syntaxError(at, 'must not be an empty array');
  const tests = values.map((value, i): ((s: string) => boolean) => {
    const where = isArray(raw) ? `${at}[${i}]` : at;
    if (name === 'wildcard') return wildcardArg(value, where);
    const text = stringArg(value, where);
    if (name === 'prefix') return (s) => s.startsWith(text);
    if (name === 'suffix') return (s) => s.endsWith(text);
    const folded = text.toLowerCase();
    return (s) => s.toLowerCase() === folded;
  });
  return (v) => typeof v === 'string' && tests.some((t) => t(v));
}

/** Compiles `[">", 0, "<=", 5]`: at most one lower and one upper bound, or one `=`. */
function compileNumeric(arg: unknown, path: string): ValueTest {
  if (!isArray(arg) || (arg.length !== 2 && arg.length !== 4)) {
    throw syntaxError(path, 'must be an array of one or two [operator, number] pairs, e.g. [">", 0, "<=", 5]');
  }
  let lower: { value: number; inclusive: boolean } | undefined;
  let upper: { value: number; inclusive: boolean } | undefined;
  let equal: number | undefined;
  for (let i = 0; i < arg.length; i += 2) {
    const op: unknown = arg[i];
    const value: unknown = arg[i + 1];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw syntaxError(`${path}[${i + 1}]`, `must be a finite number, got ${describeType(value)}`);
    }
    if (op === '=' && arg.length === 2) equal = value;
    else if ((op === '>' || op === '>=') && lower === undefined) lower = { value, inclusive: op === '>=' };
    else if ((op === '<' || op === '<=') && upper === undefined) upper = { value, inclusive: op === '<=' };
    else if (op === '<' || op === '<=' || op === '>' || op === '>=' || op === '=') {
      throw syntaxError(path, "takes '=' alone, or at most one lower bound (> or >=) and one upper bound (< or <=)");
    } else {
      throw syntaxError(
        `${path}[${i}]`,
        `unknown numeric operator ${JSON.stringify(op) ?? String(op)}; expected <, <=, >, >= or =`,
      );
    }
  }
  if (equal !== undefined) {
    const target = equal;
    return (v) => v === target;
  }
  if (lower !== undefined && upper !== undefined) {
    const empty = lower.value > upper.value || (lower.value === upper.value && !(lower.inclusive && upper.inclusive));
    if (empty) throw syntaxError(path, 'is an empty range: the lower bound is not below the upper bound');
  }
  const lo = lower;
  const hi = upper;
  return (v) =>
    typeof v === 'number' &&
    (lo === undefined || (lo.inclusive ? v >= lo.value : v > lo.value)) &&
    (hi === undefined || (hi.inclusive ? v <= hi.value : v < hi.value));
}
