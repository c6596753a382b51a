import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { isAgentbusError } from '../errors.js';
import { compileFilter, compilePattern, type EventPattern, matchPattern, parseFilter, resolveFilterName } from './index.js';

/** An envelope shaped like the seed's, with the given payload and overrides. */
function envelope(payload: JsonValue, event: Partial<Envelope['event']> = {}): Envelope {
  return {
    event: {
      id: 'evt-20251129-143000-abc123',
      type: 'TaskCompletedEvent',
      source: '/backend-architect',
      timestamp: '2025-11-29T14:30:00Z',
      version: '1.0',
      correlation_id: 'project-xyz-123',
      causation_id: 'evt-previous-id',
      kind: 'event',
      ...event,
    },
    payload,
    routing: { topic: 'project.tasks', partition_key: 'project-xyz', priority: 'normal' },
  };
}

function matches(filter: string, event: unknown): boolean {
  return matchPattern(compileFilter(filter), event);
}

/** The FILTER_SYNTAX error `compileFilter` throws for `expr`. */
function syntaxError(expr: string): { message: string; column: unknown } {
  try {
    compileFilter(expr);
  } catch (e) {
    if (isAgentbusError(e, 'FILTER_SYNTAX')) return { message: e.message, column: e.details.column };
    throw e;
  }
  throw new Error(`expected ${JSON.stringify(expr)} to be refused`);
}

describe('the seed and DESIGN filters', () => {
  it('type=APIDesignCompleted selects by event type', () => {
    expect(compileFilter('type=APIDesignCompleted')).toEqual({ event: { type: ['APIDesignCompleted'] } });
    expect(matches('type=APIDesignCompleted', envelope({}, { type: 'APIDesignCompleted' }))).toBe(true);
    expect(matches('type=APIDesignCompleted', envelope({}))).toBe(false);
  });

  it('target=frontend selects by payload field', () => {
    expect(matches('target=frontend', envelope({ target: 'frontend' }))).toBe(true);
    expect(matches('target=frontend', envelope({ target: 'backend' }))).toBe(false);
    expect(matches('target=frontend', envelope({}))).toBe(false);
  });

  it('severity=high selects by payload field', () => {
    expect(matches('severity=high', envelope({ severity: 'high' }))).toBe(true);
    expect(matches('severity=high', envelope({ severity: 'low' }))).toBe(false);
  });

  it('combines type, a list and a numeric path with and', () => {
    const filter = 'type=APIDesignCompleted and severity in (high,critical) and payload.result.endpoints>10';
    expect(compileFilter(filter)).toEqual({
      event: { type: ['APIDesignCompleted'] },
      payload: { severity: ['high', 'critical'], result: { endpoints: [{ numeric: ['>', 10] }] } },
    });
    const at = (severity: string, endpoints: number, type = 'APIDesignCompleted'): Envelope =>
      envelope({ severity, result: { endpoints, schemas: 5 } }, { type });
    expect(matches(filter, at('critical', 12))).toBe(true);
    expect(matches(filter, at('high', 11))).toBe(true);
    expect(matches(filter, at('high', 10))).toBe(false);
    expect(matches(filter, at('low', 12))).toBe(false);
    expect(matches(filter, at('high', 12, 'TaskCompletedEvent'))).toBe(false);
  });

  it('DESIGN examples: source prefix and reviewer exists', () => {
    expect(matches('source prefix /backend', envelope({}))).toBe(true);
    expect(matches('source prefix /frontend', envelope({}))).toBe(false);
    expect(matches('reviewer exists', envelope({ reviewer: '/code-reviewer' }))).toBe(true);
    expect(matches('reviewer exists', envelope({}))).toBe(false);
  });
});

describe('compileFilter', () => {
  it.each<[string, EventPattern]>([
    ['status=10', { payload: { status: [10, '10'] } }],
    ['ok=true', { payload: { ok: [true, 'true'] } }],
    ['gone=null', { payload: { gone: [null, 'null'] } }],
    ['code="10"', { payload: { code: ['10'] } }],
    ['code=007', { payload: { code: ['007'] } }],
    ['name="a \\"quoted\\" \\\\ value"', { payload: { name: ['a "quoted" \\ value'] } }],
    ['state!=running', { payload: { state: [{ 'anything-but': 'running' }] } }],
    ['n!=5', { payload: { n: [{ 'anything-but': [5, '5'] }] } }],
    ['state not in (a, "b c")', { payload: { state: [{ 'anything-but': ['a', 'b c'] }] } }],
    ['n>=1.5', { payload: { n: [{ numeric: ['>=', 1.5] }] } }],
    ['n<-2e3', { payload: { n: [{ numeric: ['<', -2000] }] } }],
    ['n <= 0', { payload: { n: [{ numeric: ['<=', 0] }] } }],
    ['file suffix .md', { payload: { file: [{ suffix: '.md' }] } }],
    ['file not prefix tmp/', { payload: { file: [{ 'anything-but': { prefix: 'tmp/' } }] } }],
    ['file not suffix .md', { payload: { file: [{ 'anything-but': { suffix: '.md' } }] } }],
    ['file ~ docs/*.md', { payload: { file: [{ wildcard: 'docs/*.md' }] } }],
    ['file !~ *.tmp', { payload: { file: [{ 'anything-but': { wildcard: '*.tmp' } }] } }],
    ['reviewer not exists', { payload: { reviewer: [{ exists: false }] } }],
    ['topic=project.tasks', { routing: { topic: ['project.tasks'] } }],
    ['priority IN (high)', { routing: { priority: ['high'] } }],
    ['correlation_id=c-1', { event: { correlation_id: ['c-1'] } }],
    ['event.traceparent exists', { event: { traceparent: [{ exists: true }] } }],
    ['payload.type=x', { payload: { type: ['x'] } }],
    ['result.endpoints>10', { payload: { result: { endpoints: [{ numeric: ['>', 10] }] } } }],
    ['n>1 AND n<5', { payload: { n: [{ numeric: ['>', 1, '<', 5] }] } }],
    ['a=1 or b=2', { $or: [{ payload: { a: [1, '1'] } }, { payload: { b: [2, '2'] } }] }],
    ['s prefix a and s suffix z', { payload: { s: [{ prefix: 'a' }] }, $or: [{ payload: { s: [{ suffix: 'z' }] } }] }],
  ])('%s', (filter, pattern) => {
    expect(compileFilter(filter)).toEqual(pattern);
    expect(() => compilePattern(compileFilter(filter))).not.toThrow();
  });

  it('ANDs two conditions on one field', () => {
    expect(matches('s prefix a and s suffix z', envelope({ s: 'abcz' }))).toBe(true);
    expect(matches('s prefix a and s suffix z', envelope({ s: 'abc' }))).toBe(false);
    expect(matches('n>1 and n>3 and n<5', envelope({ n: 4 }))).toBe(true);
    expect(matches('n>1 and n>3 and n<5', envelope({ n: 2 }))).toBe(false);
  });

  it('binds and tighter than or', () => {
    const filter = 'a=1 and b=2 or c=3';
    expect(matches(filter, envelope({ a: 1, b: 2 }))).toBe(true);
    expect(matches(filter, envelope({ c: 3 }))).toBe(true);
    expect(matches(filter, envelope({ a: 1, c: 4 }))).toBe(false);
  });

  it.each([
    ['severity high', "filter: expected operator after 'severity' at column 10", 10],
    ['', 'filter: is empty; omit the filter to receive every event at column 1', 1],
    ['=x', 'filter: expected a field name at column 1', 1],
    ['a=', "filter: expected a value after '=' at column 3", 3],
    ['a==b', "filter: use '=' for equality, not '==' at column 2", 2],
    ['a=1 b=2', "filter: expected 'and', 'or' or end of filter at column 5", 5],
    ['a=1 and', 'filter: expected a field name at column 8', 8],
    ['a>x', "filter: expected a number after '>' at column 3", 3],
    ['a>"5"', "filter: expected a number after '>' at column 3", 3],
    ['a in high', "filter: expected '(' after 'in' at column 6", 6],
    ['a in (x,)', "filter: expected a value after ',' at column 9", 9],
    ['a in (x y)', "filter: expected ',' or ')' in list at column 9", 9],
    ['a="open', 'filter: unterminated string at column 3', 3],
    ['a="\\n"', 'filter: only \\" and \\\\ may be escaped in a quoted value at column 4', 4],
    ['a not like x', "filter: expected 'in', 'exists', 'prefix' or 'suffix' after 'not' at column 7", 7],
    ['a..b=1', "filter: empty segment in name 'a..b' at column 1", 1],
    ['payload=1', "filter: 'payload' is not a field; name one inside it, e.g. payload.x at column 1", 1],
    ['f ~ a**b', "filter: consecutive wildcards '**' are not allowed at column 7", 7],
    ['a=b"c', "filter: unexpected '\"' in a bare value; quote the whole value at column 4", 4],
  ])('refuses %j with the column of the error', (expr, message, column) => {
    expect(syntaxError(expr)).toEqual({ message, column });
  });
});

describe('resolveFilterName', () => {
  it.each([
    ['type', ['event', 'type']],
    ['kind', ['event', 'kind']],
    ['topic', ['routing', 'topic']],
    ['partition_key', ['routing', 'partition_key']],
    ['severity', ['payload', 'severity']],
    ['traceparent', ['payload', 'traceparent']],
    ['type.name', ['payload', 'type', 'name']],
    ['event.type', ['event', 'type']],
    ['routing.x', ['routing', 'x']],
  ])('%s -> %j', (name, path) => {
    expect(resolveFilterName(name)).toEqual(path);
  });
});

describe('parseFilter', () => {
  it('compiles strings and validates pattern objects', () => {
    expect(parseFilter('severity=high')).toEqual({ payload: { severity: ['high'] } });
    const pattern: EventPattern = { payload: { severity: ['high'] } };
    expect(parseFilter(pattern)).toBe(pattern);
    expect(() => parseFilter({ payload: { severity: [] } })).toThrow('filter.payload.severity: must not be an empty array');
  });
});

/** One generated clause: its text, a value satisfying it, and one violating it. */
interface ClauseCase {
  readonly text: (name: string) => string;
  readonly good: JsonValue | undefined;
  readonly bad: JsonValue | undefined;
}

const word = fc.stringMatching(/^[a-z][a-z0-9_-]{0,6}$/);
const clauseCase: fc.Arbitrary<ClauseCase> = fc.oneof(
  word.map((w) => ({ text: (n: string) => `${n}=${w}`, good: w, bad: `${w}x` })),
  fc
    .integer({ min: -1000, max: 1000 })
    .chain((k) => fc.constantFrom(k, String(k)).map((good) => ({ text: (n: string) => `${n}=${k}`, good, bad: k + 1 }))),
  word.map((w) => ({ text: (n: string) => `${n}!=${w}`, good: `${w}x`, bad: w })),
  fc
    .uniqueArray(word, { minLength: 1, maxLength: 4 })
    .chain((ws) =>
      fc.constantFrom(...ws).map((good) => ({ text: (n: string) => `${n} in (${ws.join(', ')})`, good, bad: `${ws.join('')}x` })),
    ),
  fc.uniqueArray(word, { minLength: 1, maxLength: 4 }).map((ws) => ({
    text: (n: string) => `${n} not in (${ws.join(',')})`,
    good: `${ws.join('')}x`,
    bad: ws[0] ?? '',
  })),
  fc.tuple(fc.constantFrom('>', '>=', '<', '<='), fc.double({ min: -1e6, max: 1e6, noNaN: true })).map(([op, k]) => {
    const above = op.startsWith('>');
    const edge = op.endsWith('=') ? k : k + (above ? 1 : -1);
    return { text: (n: string) => `${n} ${op} ${k}`, good: edge, bad: k + (above ? -1 : 1) };
  }),
  word.map((w) => ({ text: (n: string) => `${n} prefix ${w}`, good: `${w}tail`, bad: `!${w}` })),
  word.map((w) => ({ text: (n: string) => `${n} suffix "${w}"`, good: `head${w}`, bad: `${w}!` })),
  fc.tuple(word, word).map(([a, b]) => ({ text: (n: string) => `${n} ~ ${a}*${b}`, good: `${a}--${b}`, bad: `${a}--${b}!` })),
  fc.constant({ text: (n: string) => `${n} exists`, good: 'here', bad: undefined }),
  fc.constant({ text: (n: string) => `${n} not exists`, good: undefined, bad: 'here' }),
);

/** Writes `value` at `path` in a copy-free way (deleting when undefined). */
function setPath(root: Record<string, unknown>, path: readonly string[], value: JsonValue | undefined): void {
  let node = root;
  path.forEach((segment, i) => {
    if (i === path.length - 1) {
      if (value === undefined) delete node[segment];
      else node[segment] = value;
      return;
    }
    const child = node[segment];
    const next: Record<string, unknown> =
      typeof child === 'object' && child !== null && !Array.isArray(child) ? { ...child } : {};
    node[segment] = next;
    node = next;
  });
}

describe('filter properties', () => {
  const names = fc.uniqueArray(
    fc.constantFrom(
      'severity',
      'target',
      'payload.result.endpoints',
      'result.schemas',
      'meta',
      'event.schema',
      'routing.lane',
      'status',
      'source_ref',
    ),
    { minLength: 1, maxLength: 5 },
  );
  const conjunction = names.chain((ns) =>
    fc.tuple(fc.constant(ns), fc.array(clauseCase, { minLength: ns.length, maxLength: ns.length })),
  );

  it('accepts events built to satisfy a filter, and refuses ones violating any clause', () => {
    fc.assert(
      fc.property(conjunction, fc.nat(), ([ns, cases], pick) => {
        const filter = ns.map((n, i) => cases[i]?.text(n) ?? '').join(' and ');
        const build = (violate: number): Record<string, unknown> => {
          const event: Record<string, unknown> = { ...envelope({}) };
          ns.forEach((n, i) => {
            const c = cases[i];
            if (c !== undefined) setPath(event, resolveFilterName(n), i === violate ? c.bad : c.good);
          });
          return event;
        };
        const pattern = compileFilter(filter);
        expect(matchPattern(pattern, build(-1))).toBe(true);
        expect(matchPattern(pattern, build(pick % ns.length))).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws anything but FILTER_SYNTAX, and what parses compiles', () => {
    const piece = fc.constantFrom(
      'a',
      'b.c',
      'type',
      '=',
      '!=',
      '>',
      '>=',
      '<',
      '~',
      '!~',
      ' ',
      '  ',
      '(',
      ')',
      ',',
      '"',
      '\\',
      '*',
      '**',
      'in',
      'not',
      'and',
      'OR',
      'exists',
      'prefix',
      'suffix',
      '1',
      '-2.5e3',
      'true',
      'null',
      '.',
      'é',
      '\t',
    );
    const text = fc.oneof(
      fc.string(),
      fc.array(piece, { maxLength: 12 }).map((ps) => ps.join('')),
    );
    fc.assert(
      fc.property(text, (expr) => {
        let pattern: EventPattern;
        try {
          pattern = parseFilter(expr);
        } catch (e) {
          expect(isAgentbusError(e, 'FILTER_SYNTAX')).toBe(true);
          const column = isAgentbusError(e) ? e.details.column : undefined;
          expect(typeof column === 'number' && column >= 1 && column <= expr.length + 1).toBe(true);
          return;
        }
        expect(() => compilePattern(pattern)).not.toThrow();
      }),
      { numRuns: 5000 },
    );
  });
});
