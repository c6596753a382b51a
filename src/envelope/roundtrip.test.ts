import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../errors.js';
import { fromBinaryHttp, fromHttp, toBinaryHttp, toStructuredHttp } from './cloudevents-http.js';
import { fromCloudEvent, toCloudEvent } from './cloudevents.js';
import { createEnvelopeWithText } from './create.js';
import { EVENT_KINDS, type JsonValue, PRIORITIES, type PublishInput } from './envelope.js';
import { createIdGenerator } from './ids.js';
import { serializeEnvelope } from './serialize.js';
import { EVENT_FIELDS, parseEnvelope } from './validate.js';

const clock = { now: () => Date.UTC(2025, 10, 29, 14, 30, 0, 250) };
const newId = createIdGenerator({ clock });

/**
 * JSON values whose strings hold any code unit, lone surrogates included; typed as ours
 * (fast-check's type allows undefined object members, which it never generates).
 */
const json = (maxDepth: number) =>
  fc.oneof(fc.jsonValue({ maxDepth }), fc.jsonValue({ maxDepth, stringUnit: 'binary' })) as fc.Arbitrary<JsonValue>;

/** Non-empty text without control characters (whole graphemes, so no lone surrogates). */
const text = (maxLength: number) =>
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength })
    .filter((s) => s.length <= maxLength && [...s].every((c) => c >= ' ' && c !== '\u007f'));
const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,12}$/);
const topic = fc
  .array(fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/), { minLength: 1, maxLength: 5 })
  .map((tokens) => tokens.join('.'));
const timestamp = fc
  .date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());

const publishInput: fc.Arbitrary<PublishInput> = fc.record(
  {
    topic,
    type: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.:-]{0,30}$/),
    payload: json(8),
    partitionKey: text(40),
    priority: fc.constantFrom(...PRIORITIES),
    correlationId: text(40),
    causationId: fc.option(text(40), { nil: null }),
    source: fc.stringMatching(/^\/[A-Za-z0-9._~:/@!$&'()*+,;=-]{0,40}$/),
    id: fc.stringMatching(/^[A-Za-z0-9._:-]{1,60}$/),
    kind: fc.constantFrom(...EVENT_KINDS),
    timestamp,
    version: text(10),
    expiresAt: timestamp,
    schema: fc.oneof(fc.webUrl(), text(40)),
    extensions: fc.dictionary(
      name.filter((n) => !EVENT_FIELDS.has(n)),
      json(3),
      { maxKeys: 4 },
    ),
  },
  { requiredKeys: ['topic', 'type'] },
);

/** Publish input plus routing extensions, which only wire input can carry. */
const wireEnvelope = fc
  .tuple(
    publishInput,
    fc.dictionary(
      name.filter((n) => !['topic', 'partition_key', 'priority'].includes(n)),
      json(2),
      { maxKeys: 3 },
    ),
  )
  .map(([input, routingExtensions]) => {
    const { envelope } = createEnvelopeWithText(input, { clock, newId });
    return parseEnvelope({ ...envelope, routing: { ...envelope.routing, ...routingExtensions } });
  });

/** What JSON makes of a value: the payload as a reader will see it. */
const viaJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('round trips (property)', () => {
  it('createEnvelope -> serialize -> parseEnvelope gives the same envelope and the same text', () => {
    fc.assert(
      fc.property(publishInput, (input) => {
        const { envelope, text: written } = createEnvelopeWithText(input, { clock, newId });
        const parsed = parseEnvelope(JSON.parse(written));
        expect(parsed).toEqual(viaJson(envelope));
        expect(serializeEnvelope(parsed)).toBe(written);
      }),
    );
  });

  it('envelope -> structured CloudEvent JSON -> envelope is the identity', () => {
    fc.assert(
      fc.property(wireEnvelope, (envelope) => {
        expect(fromCloudEvent(viaJson(toCloudEvent(envelope)))).toEqual(viaJson(envelope));
        const message = toStructuredHttp(envelope);
        expect(fromHttp(message.headers, message.body)).toEqual([viaJson(envelope)]);
      }),
    );
  });

  it('envelope -> binary HTTP -> envelope is the identity', () => {
    fc.assert(
      fc.property(wireEnvelope, (envelope) => {
        const { headers, body } = toBinaryHttp(envelope);
        for (const value of Object.values(headers)) expect(value).toMatch(/^[!-~]*$/);
        expect(fromBinaryHttp(headers, body)).toEqual(viaJson(envelope));
      }),
    );
  });

  it('any JSON payload within limits is accepted unchanged', () => {
    fc.assert(
      fc.property(json(20), (payload) => {
        const input = {
          event: { id: 'e', type: 'T', timestamp: '2025-11-29T14:30:00Z' },
          payload,
          routing: { topic: 't' },
        };
        expect(parseEnvelope(input).payload).toBe(payload);
      }),
    );
  });
});

describe('refusals (property)', () => {
  const refusesCleanly = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      expect(isAgentbusError(error, 'ENVELOPE_INVALID')).toBe(true);
    }
  };

  it('parseEnvelope refuses arbitrary values only with ENVELOPE_INVALID', () => {
    fc.assert(fc.property(fc.anything(), (value) => refusesCleanly(() => parseEnvelope(value))));
    fc.assert(
      fc.property(fc.record({ event: fc.anything(), payload: fc.anything(), routing: fc.anything() }), (value) =>
        refusesCleanly(() => parseEnvelope(value)),
      ),
    );
  });

  it('fromCloudEvent and fromBinaryHttp refuse arbitrary input only with ENVELOPE_INVALID', () => {
    fc.assert(fc.property(fc.anything(), (value) => refusesCleanly(() => fromCloudEvent(value))));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.string()), fc.string(), (headers, body) =>
        refusesCleanly(() => fromBinaryHttp({ 'ce-specversion': '1.0', ...headers }, body)),
      ),
    );
  });

  it('generated ids sort in time order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253402300799999 }), fc.integer({ min: 0, max: 253402300799999 }), (a, b) => {
        fc.pre(a !== b);
        const at = (ms: number) => createIdGenerator({ clock: { now: () => ms } })();
        expect(at(a) < at(b)).toBe(a < b);
      }),
    );
  });
});
