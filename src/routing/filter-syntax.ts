/**
 * The compact filter syntax of config files and the CLI, compiled to an EventBridge
 * pattern (see `match-pattern.ts`):
 *
 * ```
 * type=APIDesignCompleted and severity in (high,critical) and payload.result.endpoints>10
 * ```
 *
 * Clauses are joined by `and` (binds tighter) or `or`; keywords are case-insensitive.
 *
 * | clause | pattern leaf |
 * | --- | --- |
 * | `name=v` / `name!=v` | `[v]` / `[{ "anything-but": v }]` |
 * | `name in (a,b)` / `name not in (a,b)` | `[a, b]` / `[{ "anything-but": [a, b] }]` |
 * | `name>10` `>=` `<` `<=` | `[{ numeric: [">", 10] }]` |
 * | `name prefix v` / `name suffix v` (each with `not`) | `[{ prefix: v }]` / `[{ suffix: v }]` |
 * | `name ~ a*b` / `name !~ a*b` | `[{ wildcard: "a*b" }]` |
 * | `name exists` / `name not exists` | `[{ exists: true }]` / `[{ exists: false }]` |
 *
 * Values are bare words (up to whitespace, `,` or `)`) or double-quoted strings with `\"`
 * and `\\` escapes. A quoted value is always a string. With `=`, `!=` and `in`, a bare
 * JSON number or `true`/`false`/`null` matches both that JSON value and the same text as a
 * string (`status=10` compiles to `[10, "10"]`). Numeric operators take bare numbers only.
 *
 * Names are dotted paths of `[A-Za-z0-9_-]` segments. A name starting with `event.`,
 * `routing.` or `payload.` is taken literally. A one-segment name that is an envelope
 * header field (`id type source timestamp version correlation_id causation_id kind`) means
 * `event.<name>`; one that is a routing field (`topic partition_key priority`) means
 * `routing.<name>`; any other name is looked up under `payload`. The rule is fixed, so a
 * filter compiles the same way whatever events arrive.
 *
 * Pure: no I/O, no clock.
 */

import { invalidField } from '../errors.js';
import type { AnythingBut, NumericOperator, PatternLeaf, PatternScalar } from './content-filters.js';
import { isPlainObject } from './content-filters.js';
import { compilePattern, type EventPattern } from './match-pattern.js';
import { isTokenChar } from './topic.js';
import { isWildcardProblem, parseWildcard } from './wildcard.js';

/** Header fields a one-segment name resolves to under `event`. */
export const EVENT_HEADER_FIELDS: readonly string[] = [
  'id',
  'type',
  'source',
  'timestamp',
  'version',
  'correlation_id',
  'causation_id',
  'kind',
];

/** Routing fields a one-segment name resolves to under `routing`. */
export const ROUTING_FIELDS: readonly string[] = ['topic', 'partition_key', 'priority'];

const ROOTS = ['event', 'routing', 'payload'];
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * The envelope path a filter name refers to, per the rule in this module's header.
 *
 * @example
 * resolveFilterName('type') // ['event', 'type']
 * resolveFilterName('severity') // ['payload', 'severity']
 * resolveFilterName('routing.topic') // ['routing', 'topic']
 */
export function resolveFilterName(name: string): readonly string[] {
  const segments = name.split('.');
  const [first = ''] = segments;
  if (segments.length > 1 && ROOTS.includes(first)) return segments;
  if (segments.length === 1 && EVENT_HEADER_FIELDS.includes(first)) return ['event', first];
  if (segments.length === 1 && ROUTING_FIELDS.includes(first)) return ['routing', first];
  return ['payload', ...segments];
}

/**
 * Compiles a compact filter into an EventBridge pattern.
 *
 * @throws AgentbusError `FILTER_SYNTAX` with `field: "filter"` and the 1-based `column` of
 *   the offending character, e.g. `filter: expected operator after 'severity' at column 10`
 * @example
 * compileFilter('severity in (high,critical) and endpoints>10')
 * // { payload: { severity: ['high', 'critical'], endpoints: [{ numeric: ['>', 10] }] } }
 */
export function compileFilter(expr: string): EventPattern {
  return new FilterParser(expr).parse();
}

/**
 * Accepts a filter in either form: a compact string is compiled, a pattern object is
 * validated (and its matcher cached). Returns the pattern.
 *
 * @throws AgentbusError `FILTER_SYNTAX` when the filter is invalid or neither form
 * @example
 * const matches = compilePattern(parseFilter(subscription.filter))
 */
export function parseFilter(input: string | EventPattern): EventPattern {
  if (typeof input === 'string') return compileFilter(input);
  if (!isPlainObject(input)) {
    throw invalidField('FILTER_SYNTAX', 'filter', 'must be a filter string or a pattern object');
  }
  compilePattern(input);
  return input;
}

/** One parsed clause: where it looks and what it accepts. */
interface Clause {
  readonly path: readonly string[];
  readonly leaves: PatternLeaf[];
  /** Set for a single numeric bound, so `x>1 and x<5` can become one range. */
  readonly bound?: { readonly side: 'lower' | 'upper'; readonly op: NumericOperator; readonly value: number };
}

type Value = { readonly text: string; readonly quoted: boolean; readonly start: number };

class FilterParser {
  private pos = 0;

  constructor(private readonly src: string) {}

  parse(): EventPattern {
    this.skipSpace();
    if (this.pos === this.src.length) this.fail('is empty; omit the filter to receive every event');
    const alternatives: EventPattern[] = [];
    let clauses: Clause[] = [this.clause()];
    for (;;) {
      this.skipSpace();
      if (this.pos === this.src.length) break;
      const start = this.pos;
      const word = this.word().toLowerCase();
      if (word !== 'and' && word !== 'or') this.fail("expected 'and', 'or' or end of filter", start);
      this.skipSpace();
      if (word === 'or') {
        alternatives.push(conjunction(clauses));
        clauses = [];
      }
      clauses.push(this.clause());
    }
    alternatives.push(conjunction(clauses));
    const [only] = alternatives;
    return alternatives.length === 1 && only !== undefined ? only : { $or: alternatives };
  }

  private clause(): Clause {
    const start = this.pos;
    while (this.pos < this.src.length && (isTokenChar(this.code()) || this.code() === 0x2e)) this.pos++;
    const name = this.src.slice(start, this.pos);
    if (name === '') this.fail('expected a field name', start);
    if (name.split('.').includes('')) this.fail(`empty segment in name '${name}'`, start);
    if (ROOTS.includes(name)) this.fail(`'${name}' is not a field; name one inside it, e.g. ${name}.x`, start);
    const path = resolveFilterName(name);
    this.skipSpace();
    const opStart = this.pos;
    const symbol = /^(?:!=|>=|<=|!~|[=<>~])/.exec(this.src.slice(this.pos, this.pos + 2))?.[0];
    if (symbol !== undefined) {
      this.pos += symbol.length;
      if (symbol === '=' && this.src[this.pos] === '=') this.fail("use '=' for equality, not '=='", opStart);
      this.skipSpace();
      return this.symbolic(path, symbol);
    }
    let word = this.word().toLowerCase();
    const negated = word === 'not';
    if (negated) {
      this.skipSpace();
      const at = this.pos;
      word = this.word().toLowerCase();
      if (!['in', 'exists', 'prefix', 'suffix'].includes(word)) {
        this.fail("expected 'in', 'exists', 'prefix' or 'suffix' after 'not'", at);
      }
    }
    switch (word) {
      case 'exists':
        return { path, leaves: [{ exists: !negated }] };
      case 'in': {
        const values = this.list().flatMap(exactValues);
        return { path, leaves: negated ? [{ 'anything-but': values }] : values };
      }
      case 'prefix':
      case 'suffix': {
        this.skipSpace();
        const text = this.value(word).text;
        const leaf: PatternLeaf = word === 'prefix' ? { prefix: text } : { suffix: text };
        const but: AnythingBut = word === 'prefix' ? { prefix: text } : { suffix: text };
        return { path, leaves: [negated ? { 'anything-but': but } : leaf] };
      }
      default:
        return this.fail(`expected operator after '${name}'`, opStart);
    }
  }

  private symbolic(path: readonly string[], symbol: string): Clause {
    const value = this.value(symbol);
    if (symbol === '=' || symbol === '!=') {
      const values = exactValues(value);
      const [single] = values;
      if (symbol === '=') return { path, leaves: values };
      const but: AnythingBut = values.length === 1 && single !== undefined ? single : values;
      return { path, leaves: [{ 'anything-but': but }] };
    }
    if (symbol === '~' || symbol === '!~') {
      const parsed = parseWildcard(value.text);
      if (isWildcardProblem(parsed)) this.fail(parsed.reason, value.quoted ? value.start : value.start + parsed.index);
      return {
        path,
        leaves: [symbol === '~' ? { wildcard: value.text } : { 'anything-but': { wildcard: value.text } }],
      };
    }
    const op: NumericOperator = symbol === '>' || symbol === '>=' || symbol === '<' ? symbol : '<=';
    const number = value.quoted || !JSON_NUMBER.test(value.text) ? Number.NaN : Number(value.text);
    if (!Number.isFinite(number)) this.fail(`expected a number after '${symbol}'`, value.start);
    const side = op === '>' || op === '>=' ? 'lower' : 'upper';
    return { path, leaves: [{ numeric: [op, number] }], bound: { side, op, value: number } };
  }

  private list(): Value[] {
    this.skipSpace();
    if (this.src[this.pos] !== '(') this.fail("expected '(' after 'in'");
    this.pos++;
    const values: Value[] = [];
    for (;;) {
      this.skipSpace();
      values.push(this.value(values.length === 0 ? '(' : ','));
      this.skipSpace();
      const ch = this.src[this.pos];
      this.pos++;
      if (ch === ')') return values;
      if (ch !== ',') this.fail("expected ',' or ')' in list", this.pos - 1);
    }
  }

  private value(after: string): Value {
    const start = this.pos;
    if (this.src[this.pos] === '"') return this.quoted();
    while (this.pos < this.src.length && !/[\s,)]/.test(this.src.charAt(this.pos))) {
      const ch = this.src.charAt(this.pos);
      if (ch === '"' || ch === '(') this.fail(`unexpected '${ch}' in a bare value; quote the whole value`);
      this.pos++;
    }
    if (this.pos === start) this.fail(`expected a value after '${after}'`);
    return { text: this.src.slice(start, this.pos), quoted: false, start };
  }

  private quoted(): Value {
    const start = this.pos;
    let text = '';
    this.pos++;
    for (;;) {
      if (this.pos >= this.src.length) this.fail('unterminated string', start);
      const ch = this.src.charAt(this.pos);
      if (ch === '"') break;
      if (ch === '\\') {
        const next = this.src.charAt(this.pos + 1);
        if (next !== '"' && next !== '\\') this.fail('only \\" and \\\\ may be escaped in a quoted value');
        text += next;
        this.pos += 2;
      } else {
        text += ch;
        this.pos++;
      }
    }
    this.pos++;
    return { text, quoted: true, start };
  }

  private word(): string {
    const start = this.pos;
    while (this.pos < this.src.length && /[A-Za-z]/.test(this.src.charAt(this.pos))) this.pos++;
    const next = this.src.charAt(this.pos);
    // a keyword ends at whitespace, end of input, or (for `in`) an opening parenthesis
    if (next !== '' && next !== '(' && !/\s/.test(next)) this.pos = start;
    return this.src.slice(start, this.pos);
  }

  private skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src.charAt(this.pos))) this.pos++;
  }

  private code(): number {
    return this.src.charCodeAt(this.pos);
  }

  private fail(reason: string, at = this.pos): never {
    const column = at + 1;
    throw invalidField('FILTER_SYNTAX', 'filter', `${reason} at column ${column}`, { column });
  }
}

/** The exact values a bare or quoted value stands for (see the module header). */
function exactValues(value: Value): PatternScalar[] {
  if (value.quoted) return [value.text];
  if (value.text === 'true' || value.text === 'false') return [value.text === 'true', value.text];
  if (value.text === 'null') return [null, value.text];
  const number = JSON_NUMBER.test(value.text) ? Number(value.text) : Number.NaN;
  return Number.isFinite(number) ? [number, value.text] : [value.text];
}

/**
 * ANDs clauses into one pattern. Clauses on distinct paths share an object; two bounds on
 * one number merge into a range; any other clash goes into a nested single-alternative
 * `$or`, the only way an event pattern can say "and" twice about one field.
 */
function conjunction(clauses: readonly Clause[]): EventPattern {
  const layers: Clause[][] = [];
  for (const clause of clauses) {
    if (!layers.some((layer) => place(layer, clause))) layers.push([clause]);
  }
  let pattern: PatternDraft | undefined;
  for (let i = layers.length - 1; i >= 0; i--) {
    const built = build(layers[i] ?? []);
    if (pattern !== undefined) built.$or = [pattern];
    pattern = built;
  }
  return pattern ?? {};
}

/** Adds `clause` to `layer` unless it clashes with a clause there; says whether it did. */
function place(layer: Clause[], clause: Clause): boolean {
  for (let i = 0; i < layer.length; i++) {
    const other = layer[i];
    if (other === undefined || !overlaps(other.path, clause.path)) continue;
    const a = other.bound;
    const b = clause.bound;
    if (a === undefined || b === undefined || a.side === b.side || other.path.length !== clause.path.length) return false;
    const [lower, upper] = a.side === 'lower' ? [a, b] : [b, a];
    layer[i] = { path: clause.path, leaves: [{ numeric: [lower.op, lower.value, upper.op, upper.value] }] };
    return true;
  }
  layer.push(clause);
  return true;
}

/** True when one path is a prefix of the other, so both cannot live in one object. */
function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A pattern under construction. */
interface PatternDraft {
  [field: string]: PatternLeaf[] | PatternDraft | PatternDraft[];
}

function build(layer: readonly Clause[]): PatternDraft {
  const root: PatternDraft = {};
  for (const { path, leaves } of layer) {
    let node = root;
    path.forEach((segment, i) => {
      if (i === path.length - 1) {
        node[segment] = leaves;
        return;
      }
      const child = node[segment];
      const next: PatternDraft = child !== undefined && !Array.isArray(child) ? child : {};
      node[segment] = next;
      node = next;
    });
  }
  return root;
}
