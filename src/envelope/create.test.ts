import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../errors.js';
import type { Clock } from '../time.js';
import { createEnvelope, createEnvelopeWithText } from './create.js';
import type { PublishInput } from './envelope.js';
import { createIdGenerator, isGeneratedEventId } from './ids.js';
import { serializeEnvelope } from './serialize.js';
import { parseEnvelope } from './validate.js';

const NOW = Date.UTC(2025, 10, 29, 14, 30, 0, 123);
const clock: Clock = { now: () => NOW };
const newId = createIdGenerator({ clock });
const options = { clock, newId };

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (isAgentbusError(error, 'ENVELOPE_INVALID')) return error.details.field;
    throw error;
  }
  return undefined;
}

describe('createEnvelope', () => {
  it('needs no options: the system clock and ids of the generated format', () => {
    const before = Date.now();
    const envelope = createEnvelope({ topic: 'project.tasks', type: 'TaskCompletedEvent' });
    expect(isGeneratedEventId(envelope.event.id)).toBe(true);
    expect(Date.parse(envelope.event.timestamp)).toBeGreaterThanOrEqual(before - 1);
    expect(createEnvelope({ topic: 'project.tasks', type: 'TaskCompletedEvent' }).event.id).not.toBe(envelope.event.id);
  });

  it('generates the id and timestamp and fills every default', () => {
    const envelope = createEnvelope({ topic: 'project.tasks', type: 'TaskStartedEvent' }, options);
    expect(isGeneratedEventId(envelope.event.id)).toBe(true);
    expect(envelope.event.id).toMatch(/^evt-20251129-143000-123/);
    expect(envelope).toEqual({
      event: {
        id: envelope.event.id,
        type: 'TaskStartedEvent',
        source: '/agentbus',
        timestamp: '2025-11-29T14:30:00.123Z',
        version: '1.0',
        correlation_id: envelope.event.id,
        causation_id: null,
        kind: 'event',
      },
      payload: {},
      routing: { topic: 'project.tasks', priority: 'normal' },
    });
  });

  it('maps every camelCase option onto its wire field', () => {
    const input: PublishInput = {
      topic: 'project.reviews',
      type: 'ReviewRequestedCommand',
      payload: { pr: 42 },
      partitionKey: 'project-xyz',
      priority: 'high',
      correlationId: 'project-xyz-123',
      causationId: 'evt-previous-id',
      source: '/code-author',
      id: 'evt-given-1',
      kind: 'command',
      timestamp: '2025-11-29T15:00:00+01:00',
      version: '2.1',
      expiresAt: '2025-11-30T00:00:00Z',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      schema: 'urn:agentbus:review-request',
      extensions: { tenant: 'acme' },
    };
    expect(createEnvelope(input, options)).toEqual({
      event: {
        id: 'evt-given-1',
        type: 'ReviewRequestedCommand',
        source: '/code-author',
        timestamp: '2025-11-29T15:00:00+01:00',
        version: '2.1',
        correlation_id: 'project-xyz-123',
        causation_id: 'evt-previous-id',
        kind: 'command',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        expires_at: '2025-11-30T00:00:00Z',
        schema: 'urn:agentbus:review-request',
        tenant: 'acme',
      },
      payload: { pr: 42 },
      routing: { topic: 'project.reviews', partition_key: 'project-xyz', priority: 'high' },
    });
  });

  it('does not call the id generator or the clock when id and timestamp are given', () => {
    const refuse = () => {
      throw new Error('must not be called');
    };
    const envelope = createEnvelope(
      { topic: 't', type: 'T', id: 'evt-x', timestamp: '2025-11-29T14:30:00Z' },
      { clock: { now: refuse }, newId: refuse },
    );
    expect(envelope.event.id).toBe('evt-x');
  });

  it('uses the given default source', () => {
    expect(createEnvelope({ topic: 't', type: 'T' }, { ...options, defaultSource: '/frontend' }).event.source).toBe('/frontend');
  });

  it('names wire paths in its errors', () => {
    expect(fieldOf(() => createEnvelope({ topic: 'a.*', type: 'T' }, options))).toBe('routing.topic');
    expect(fieldOf(() => createEnvelope({ topic: 'a', type: '' }, options))).toBe('event.type');
    expect(fieldOf(() => createEnvelope({ topic: 'a', type: 'T', partitionKey: '' }, options))).toBe('routing.partition_key');
    expect(fieldOf(() => createEnvelope({ topic: 'a', type: 'T', expiresAt: 'soon' }, options))).toBe('event.expires_at');
    const payload = { list: [{ when: new Date() }] } as unknown as PublishInput['payload'];
    expect(fieldOf(() => createEnvelope({ topic: 'a', type: 'T', payload }, options))).toBe('payload.list[0].when');
  });

  it('refuses input that is not an object', () => {
    expect(fieldOf(() => createEnvelope(null as unknown as PublishInput, options))).toBe('input');
  });

  it('refuses extensions that reuse a standard field name', () => {
    expect(fieldOf(() => createEnvelope({ topic: 'a', type: 'T', extensions: { causation_id: 'x' } }, options))).toBe(
      'event.causation_id',
    );
  });

  it('refuses an extension named __proto__ instead of changing the prototype', () => {
    const extensions = JSON.parse('{"__proto__":{"polluted":true}}');
    expect(fieldOf(() => createEnvelope({ topic: 'a', type: 'T', extensions }, options))).toBe('event.__proto__');
  });

  it('applies custom limits', () => {
    const run = () =>
      createEnvelope({ topic: 'a', type: 'T', payload: 'x'.repeat(20) }, { ...options, limits: { maxPayloadBytes: 10 } });
    expect(fieldOf(run)).toBe('payload');
  });

  it("checks the ids of a caller's own id generator like given ones", () => {
    expect(fieldOf(() => createEnvelope({ topic: 'a', type: 'T' }, { clock, newId: () => 'no spaces allowed' }))).toBe(
      'event.id',
    );
    const numeric = (() => 42) as unknown as () => string;
    expect(fieldOf(() => createEnvelope({ topic: 'a', type: 'T' }, { clock, newId: numeric }))).toBe('event.id');
    expect(createEnvelope({ topic: 'a', type: 'T' }, { clock, newId: () => 'mine-1' }).event.id).toBe('mine-1');
  });

  it('refuses a newId or clock that is not a function with OPTIONS_INVALID naming it', () => {
    const notFunction = 'evt-1' as unknown as () => string;
    expect(() => createEnvelope({ topic: 'a', type: 'T' }, { clock, newId: notFunction })).toThrow(
      expect.objectContaining({ code: 'OPTIONS_INVALID', details: expect.objectContaining({ field: 'newId' }) }),
    );
    expect(() => createEnvelope({ topic: 'a', type: 'T' }, { clock: {} as unknown as typeof clock })).toThrow(
      expect.objectContaining({ code: 'OPTIONS_INVALID', details: expect.objectContaining({ field: 'clock' }) }),
    );
  });

  it('refuses a clock that returns no time with OPTIONS_INVALID', () => {
    expect(() => createEnvelope({ topic: 'a', type: 'T', id: 'e' }, { clock: { now: () => Number.NaN }, newId })).toThrow(
      expect.objectContaining({ code: 'OPTIONS_INVALID' }),
    );
  });
});

describe('createEnvelopeWithText', () => {
  it('returns exactly the text serializeEnvelope writes', () => {
    const { envelope, text } = createEnvelopeWithText(
      {
        topic: 'project.tasks',
        type: 'TaskCompletedEvent',
        payload: { a: [1, 'é', null], b: { c: true } },
        extensions: { x: 1 },
      },
      options,
    );
    expect(text).toBe(serializeEnvelope(envelope));
  });

  it('produces text that parseEnvelope reads back to the same envelope', () => {
    const { envelope, text } = createEnvelopeWithText({ topic: 't', type: 'GetUserQuery', payload: [1, 2] }, options);
    expect(parseEnvelope(JSON.parse(text))).toEqual(envelope);
  });
});
