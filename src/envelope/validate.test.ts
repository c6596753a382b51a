import { describe, expect, it } from 'vitest';
import { SEED_EXAMPLE } from './seed-example.js';
import { isAgentbusError } from '../errors.js';
import type { JsonValue } from './envelope.js';
import { envelopeByteLength, serializeEnvelope } from './serialize.js';
import { parseEnvelope, parseEnvelopeWithText } from './validate.js';

/** The seed's "Event Message Format" example, verbatim. */
const SEED_ENVELOPE = SEED_EXAMPLE;

const MINIMAL = {
  event: { id: 'evt-1', type: 'TaskStartedEvent', timestamp: '2025-11-29T14:30:00Z' },
  payload: {},
  routing: { topic: 'project.tasks' },
};

type Patch = { event?: Record<string, unknown>; payload?: unknown; routing?: Record<string, unknown> };

/** MINIMAL with fields of event/routing replaced (undefined deletes) and payload replaced. */
function envelopeWith(patch: Patch): Record<string, unknown> {
  const strip = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return {
    event: strip({ ...MINIMAL.event, ...patch.event }),
    payload: 'payload' in patch ? patch.payload : MINIMAL.payload,
    routing: strip({ ...MINIMAL.routing, ...patch.routing }),
  };
}

/** Asserts that `run` throws ENVELOPE_INVALID for exactly `field`, and returns the reason. */
function refusal(run: () => unknown, field: string): string {
  try {
    run();
  } catch (error) {
    if (!isAgentbusError(error, 'ENVELOPE_INVALID')) throw error;
    expect(error.details.field).toBe(field);
    expect(error.message).toBe(`${field}: ${error.details.reason}`);
    return String(error.details.reason);
  }
  throw new Error(`expected ENVELOPE_INVALID for ${field}, nothing was thrown`);
}

function nested(depth: number): JsonValue {
  let value: JsonValue = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('parseEnvelope: the seed envelope', () => {
  it('parses the seed example unchanged except for the inferred kind', () => {
    const envelope = parseEnvelope(structuredClone(SEED_ENVELOPE));
    expect(envelope).toEqual({ ...SEED_ENVELOPE, event: { ...SEED_ENVELOPE.event, kind: 'event' } });
  });

  it('does not modify its input', () => {
    const input = structuredClone(SEED_ENVELOPE);
    parseEnvelope(input);
    expect(input).toEqual(SEED_ENVELOPE);
  });
});

describe('parseEnvelope: defaults', () => {
  it('fills source, version, correlation, causation, kind and priority', () => {
    expect(parseEnvelope(MINIMAL)).toEqual({
      event: {
        ...MINIMAL.event,
        source: '/agentbus',
        version: '1.0',
        correlation_id: 'evt-1',
        causation_id: null,
        kind: 'event',
      },
      payload: {},
      routing: { topic: 'project.tasks', priority: 'normal' },
    });
  });

  it('treats null optional fields as absent', () => {
    const envelope = parseEnvelope(
      envelopeWith({
        event: { source: null, version: null, correlation_id: null, causation_id: null, kind: null, schema: null },
        routing: { priority: null, partition_key: null },
      }),
    );
    expect(envelope.event).toMatchObject({
      source: '/agentbus',
      version: '1.0',
      correlation_id: 'evt-1',
      kind: 'event',
    });
    expect(envelope.event).not.toHaveProperty('schema');
    expect(envelope.routing).toEqual({ topic: 'project.tasks', priority: 'normal' });
  });

  it('infers the kind from the type suffix but keeps an explicit kind', () => {
    expect(parseEnvelope(envelopeWith({ event: { type: 'DeployCommand' } })).event.kind).toBe('command');
    expect(parseEnvelope(envelopeWith({ event: { type: 'DeployCommand', kind: 'event' } })).event.kind).toBe('event');
  });

  it('keeps traceparent, expires_at and schema', () => {
    const extras = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      expires_at: '2025-11-29T15:30:00+01:00',
      schema: 'https://schemas.example.com/task.json',
    };
    expect(parseEnvelope(envelopeWith({ event: extras })).event).toMatchObject(extras);
  });
});

describe('parseEnvelope: extension fields', () => {
  it('preserves unknown fields of event and routing with their JSON values', () => {
    const envelope = parseEnvelope(
      envelopeWith({
        event: { tenant: 'acme', retry_hint: { after: [1, 2] } },
        routing: { region: 'eu-west', weights: [0.5, null, true] },
      }),
    );
    expect(envelope.event.tenant).toBe('acme');
    expect(envelope.event.retry_hint).toEqual({ after: [1, 2] });
    expect(envelope.routing.region).toBe('eu-west');
    expect(envelope.routing.weights).toEqual([0.5, null, true]);
  });

  it('refuses an extension named __proto__ instead of losing it', () => {
    const input = JSON.parse(
      '{"event":{"id":"e","type":"T","timestamp":"2025-11-29T14:30:00Z","__proto__":{"x":1}},' +
        '"payload":{},"routing":{"topic":"t"}}',
    );
    refusal(() => parseEnvelope(input), 'event.__proto__');
  });

  it('refuses extension names that are not identifiers', () => {
    refusal(() => parseEnvelope(envelopeWith({ routing: { 'has space': 1 } })), 'routing["has space"]');
  });

  it('refuses extension values that are not JSON, naming the nested path', () => {
    refusal(() => parseEnvelope(envelopeWith({ event: { custom: { list: [1, Number.NaN] } } })), 'event.custom.list[1]');
  });

  it('refuses extension fields over maxExtensionBytes', () => {
    const run = () => parseEnvelope(envelopeWith({ event: { big: 'x'.repeat(100) } }), { maxExtensionBytes: 50 });
    refusal(run, 'event.big');
  });

  it('refuses unknown top-level keys, naming the key', () => {
    expect(refusal(() => parseEnvelope({ ...MINIMAL, metadata: {} }), 'metadata')).toMatch(/unknown top-level field/);
  });
});

describe('parseEnvelope: structure', () => {
  it.each([
    [null, 'envelope'],
    ['{}', 'envelope'],
    [[], 'envelope'],
    [{ payload: {}, routing: { topic: 't' } }, 'event'],
    [{ event: MINIMAL.event, routing: { topic: 't' } }, 'payload'],
    [{ event: MINIMAL.event, payload: {} }, 'routing'],
    [{ event: 'x', payload: {}, routing: { topic: 't' } }, 'event'],
    [{ event: MINIMAL.event, payload: {}, routing: new Map() }, 'routing'],
  ])('refuses %j naming %s', (input, field) => {
    refusal(() => parseEnvelope(input), field);
  });

  it('accepts any JSON value as the payload, null included', () => {
    for (const payload of [null, 0, 'text', [1, 'a'], true]) {
      expect(parseEnvelope(envelopeWith({ payload })).payload).toEqual(payload);
    }
  });
});

describe('parseEnvelope: event fields', () => {
  it.each<[string, Record<string, unknown>, string | RegExp]>([
    ['event.id', { id: undefined }, 'missing'],
    ['event.id', { id: '' }, /1-200 characters/],
    ['event.id', { id: 'evt 1' }, /1-200 characters/],
    ['event.id', { id: 12 }, /1-200 characters/],
    ['event.type', { type: undefined }, 'missing'],
    ['event.type', { type: '' }, 'must not be empty'],
    ['event.type', { type: '9Lives' }, /a letter/],
    ['event.type', { type: 'Task Completed' }, /a letter/],
    ['event.type', { type: `T${'x'.repeat(200)}` }, /up to 199/],
    ['event.type', { type: 7 }, /a letter/],
    ['event.source', { source: '/has space' }, /URI-reference/],
    ['event.source', { source: '' }, /URI-reference/],
    ['event.source', { source: `/${'a'.repeat(255)}` }, /URI-reference/],
    ['event.timestamp', { timestamp: undefined }, 'missing'],
    ['event.timestamp', { timestamp: '2025-11-29T14:30:00' }, /RFC 3339/],
    ['event.timestamp', { timestamp: '2025-02-30T14:30:00Z' }, /RFC 3339/],
    ['event.timestamp', { timestamp: 1764426600000 }, /RFC 3339/],
    ['event.expires_at', { expires_at: 'tomorrow' }, /RFC 3339/],
    ['event.version', { version: 1 }, 'must be a string'],
    ['event.version', { version: '' }, /1-64 characters/],
    ['event.correlation_id', { correlation_id: 5 }, 'must be a string'],
    ['event.correlation_id', { correlation_id: 'x'.repeat(256) }, /1-255 characters/],
    ['event.correlation_id', { correlation_id: 'a\nb' }, /control characters/],
    ['event.causation_id', { causation_id: '' }, /1-255 characters/],
    ['event.causation_id', { causation_id: '\ud800x' }, /lone surrogates/],
    ['event.kind', { kind: 'Event' }, /one of command, event, query, notification/],
    ['event.traceparent', { traceparent: 'abc' }, /W3C trace context/],
    ['event.traceparent', { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' }, /W3C/],
    ['event.traceparent', { traceparent: 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, /W3C/],
    ['event.schema', { schema: {} }, 'must be a string'],
  ])('refuses %s given %j', (field, patch, reason) => {
    const got = refusal(() => parseEnvelope(envelopeWith({ event: patch })), field);
    if (typeof reason === 'string') expect(got).toBe(reason);
    else expect(got).toMatch(reason);
  });

  it('accepts a causation id that is not an event id of ours', () => {
    expect(parseEnvelope(envelopeWith({ event: { causation_id: 'ext/system#42' } })).event.causation_id).toBe('ext/system#42');
  });

  it('accepts future traceparent versions with extra fields', () => {
    const traceparent = '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra';
    expect(parseEnvelope(envelopeWith({ event: { traceparent } })).event.traceparent).toBe(traceparent);
  });
});

describe('parseEnvelope: routing fields', () => {
  it.each<[Record<string, unknown>, string | RegExp]>([
    [{ topic: undefined }, 'missing'],
    [{ topic: '' }, 'must not be empty'],
    [{ topic: 42 }, 'must be a string, got number'],
    [{ topic: 'project.*' }, /wildcards/],
    [{ topic: 'project.>' }, /wildcards/],
    [{ topic: 'project..tasks' }, 'empty token at position 2'],
    [{ topic: '.project' }, 'empty token at position 1'],
    [{ topic: 'project.' }, 'empty token at position 2'],
    [{ topic: 'project/tasks' }, /bad character '\/' at column 8/],
    [{ topic: 'projet.tâches' }, /bad character U\+00E2 at column 9/],
    [{ topic: `a${'.b'.repeat(128)}` }, /the limit is 255/],
  ])('refuses routing.topic given %j', (patch, reason) => {
    const got = refusal(() => parseEnvelope(envelopeWith({ routing: patch })), 'routing.topic');
    if (typeof reason === 'string') expect(got).toBe(reason);
    else expect(got).toMatch(reason);
  });

  it('accepts a topic of exactly 255 characters', () => {
    const topic = `a${'.b'.repeat(127)}`;
    expect(topic).toHaveLength(255);
    expect(parseEnvelope(envelopeWith({ routing: { topic } })).routing.topic).toBe(topic);
  });

  it('refuses a priority outside high, normal, low', () => {
    refusal(() => parseEnvelope(envelopeWith({ routing: { priority: 'urgent' } })), 'routing.priority');
  });

  it('refuses a partition key that is not a string or too long', () => {
    refusal(() => parseEnvelope(envelopeWith({ routing: { partition_key: 7 } })), 'routing.partition_key');
    refusal(() => parseEnvelope(envelopeWith({ routing: { partition_key: 'k'.repeat(256) } })), 'routing.partition_key');
  });
});

/** `[1, <hole>, 3]`. */
function holey(): unknown[] {
  const items: unknown[] = [1];
  items[2] = 3;
  return items;
}

describe('parseEnvelope: payload', () => {
  class Point {
    x = 1;
  }
  it.each<[string, unknown, string, RegExp]>([
    ['undefined in an object', { a: { b: undefined } }, 'payload.a.b', /undefined is not JSON/],
    ['undefined in an array', { items: [1, undefined] }, 'payload.items[1]', /undefined is not JSON/],
    ['an array hole', { items: holey() }, 'payload.items[1]', /undefined/],
    ['a function', { f: () => 1 }, 'payload.f', /function/],
    ['NaN', { n: Number.NaN }, 'payload.n', /finite/],
    ['Infinity', [Number.POSITIVE_INFINITY], 'payload[0]', /finite/],
    ['a bigint', { big: 10n }, 'payload.big', /bigint/],
    ['a symbol', { s: Symbol('x') }, 'payload.s', /symbol/],
    ['a Date', { at: new Date(0) }, 'payload.at', /Date.*RFC 3339/],
    ['a Map', { m: new Map() }, 'payload.m', /Map/],
    ['a class instance', { p: new Point() }, 'payload.p', /Point/],
    ['a key that is not an identifier', { 'odd key': { x: undefined } }, 'payload["odd key"].x', /undefined/],
    ['undefined as the whole payload inside an array', [[[undefined]]], 'payload[0][0][0]', /undefined/],
  ])('refuses %s, naming the path', (_name, payload, field, reason) => {
    expect(refusal(() => parseEnvelope(envelopeWith({ payload })), field)).toMatch(reason);
  });

  it('refuses a payload that is itself not JSON', () => {
    refusal(() => parseEnvelope(envelopeWith({ payload: new Date() })), 'payload');
    refusal(() => parseEnvelope(envelopeWith({ payload: Number.NaN })), 'payload');
  });

  it('refuses a cycle, naming where it closes', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.child = { back: a };
    expect(refusal(() => parseEnvelope(envelopeWith({ payload: a })), 'payload.child.back')).toBe('circular reference');
  });

  it('accepts a shared (non-circular) sub-object', () => {
    const shared = { x: 1 };
    expect(parseEnvelope(envelopeWith({ payload: { a: shared, b: shared } })).payload).toEqual({
      a: { x: 1 },
      b: { x: 1 },
    });
  });

  it('accepts nesting 64 deep and refuses 65', () => {
    expect(parseEnvelope(envelopeWith({ payload: nested(64) })).payload).toEqual(nested(64));
    const field = `payload${'[0]'.repeat(64)}`;
    expect(refusal(() => parseEnvelope(envelopeWith({ payload: nested(65) })), field)).toMatch(/deeper than 64/);
  });

  it('refuses a payload nested 200000 deep without overflowing the stack', () => {
    expect(refusal(() => parseEnvelope(envelopeWith({ payload: nested(200_000) })), `payload${'[0]'.repeat(64)}`)).toMatch(
      /deeper/,
    );
  });

  it('honours a custom maxDepth', () => {
    refusal(() => parseEnvelope(envelopeWith({ payload: { a: { b: {} } } }), { maxDepth: 2 }), 'payload.a.b');
  });

  it('accepts a payload of exactly the size limit and refuses one byte more', () => {
    const limit = 1_048_576;
    const exact = 'x'.repeat(limit - 2); // two quote characters
    expect(parseEnvelope(envelopeWith({ payload: exact })).payload).toBe(exact);
    expect(refusal(() => parseEnvelope(envelopeWith({ payload: `${exact}x` })), 'payload')).toMatch(
      /1048577 bytes of JSON, over the limit of 1048576 bytes/,
    );
  });

  it('counts the size in UTF-8 bytes, not characters', () => {
    const payload = { s: 'é'.repeat(10) }; // {"s":""} is 8 bytes, each é is 2
    expect(parseEnvelope(envelopeWith({ payload }), { maxPayloadBytes: 28 }).payload).toEqual(payload);
    refusal(() => parseEnvelope(envelopeWith({ payload }), { maxPayloadBytes: 27 }), 'payload');
    const emoji = { s: '😀'.repeat(5) }; // 4 bytes each
    expect(parseEnvelope(envelopeWith({ payload: emoji }), { maxPayloadBytes: 28 }).payload).toEqual(emoji);
    refusal(() => parseEnvelope(envelopeWith({ payload: emoji }), { maxPayloadBytes: 27 }), 'payload');
  });

  it('refuses a small object graph whose JSON would be huge after a bounded walk', () => {
    // 2^60 paths through 60 shared arrays; every element read is counted.
    let reads = 0;
    let node: JsonValue = 'x'.repeat(100);
    for (let i = 0; i < 60; i++) {
      node = new Proxy([node, node], {
        get(target, key, receiver) {
          reads++;
          return Reflect.get(target, key, receiver);
        },
      });
    }
    refusal(() => parseEnvelope(envelopeWith({ payload: node })), 'payload');
    // About one read per 100 bytes of the 1 MiB limit, times a small factor: not 2^60.
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(200_000);
  });

  it('refuses limits that are not positive integers with OPTIONS_INVALID', () => {
    expect(() => parseEnvelope(MINIMAL, { maxPayloadBytes: 0 })).toThrow(
      expect.objectContaining({
        code: 'OPTIONS_INVALID',
        details: expect.objectContaining({ field: 'limits.maxPayloadBytes' }),
      }),
    );
  });

  it('walks nesting up to the highest maxDepth (1000) and refuses a higher one', () => {
    let deep: JsonValue = 'leaf';
    for (let i = 0; i < 1000; i++) deep = { d: deep };
    expect(parseEnvelope(envelopeWith({ payload: deep }), { maxDepth: 1000 }).payload).toBe(deep);
    refusal(
      () => parseEnvelope(envelopeWith({ payload: { over: deep } }), { maxDepth: 1000 }),
      `payload.over${'.d'.repeat(999)}`,
    );
    expect(() => parseEnvelope(MINIMAL, { maxDepth: 1001 })).toThrow(
      expect.objectContaining({ code: 'OPTIONS_INVALID', details: expect.objectContaining({ field: 'limits.maxDepth' }) }),
    );
  });
});

describe('serialization', () => {
  it('returns the text of the normalised envelope with parseEnvelopeWithText', () => {
    const { envelope, text } = parseEnvelopeWithText(structuredClone(SEED_ENVELOPE));
    expect(text).toBe(serializeEnvelope(envelope));
    expect(JSON.parse(text)).toEqual(envelope);
  });

  it('writes event, payload, routing in that order whatever the object order', () => {
    const envelope = parseEnvelope(MINIMAL);
    const text = serializeEnvelope({ routing: envelope.routing, payload: envelope.payload, event: envelope.event });
    expect(Object.keys(JSON.parse(text))).toEqual(['event', 'payload', 'routing']);
  });

  it('measures the envelope in UTF-8 bytes', () => {
    const envelope = parseEnvelope(envelopeWith({ payload: { s: 'é😀' } }));
    const text = serializeEnvelope(envelope);
    expect(envelopeByteLength(envelope)).toBe(new TextEncoder().encode(text).length);
    expect(envelopeByteLength(envelope)).toBe(text.length + 1 + 2);
  });
});
