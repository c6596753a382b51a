import { CloudEvent, HTTP } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../errors.js';
import { fromBinaryHttp, fromHttp, percentEncode, toBatchHttp, toBinaryHttp, toStructuredHttp } from './cloudevents-http.js';
import { createEnvelope } from './create.js';
import type { Envelope, PublishInput } from './envelope.js';
import { createIdGenerator } from './ids.js';

const clock = { now: () => Date.UTC(2025, 10, 29, 14, 30, 0, 250) };
const newId = createIdGenerator({ clock });

function envelope(input: Partial<PublishInput> = {}): Envelope {
  return createEnvelope({ topic: 'project.tasks', type: 'TaskCompletedEvent', ...input }, { clock, newId });
}

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (isAgentbusError(error, 'ENVELOPE_INVALID')) return error.details.field;
    throw error;
  }
  return undefined;
}

const BINARY_HEADERS = {
  'ce-specversion': '1.0',
  'ce-id': 'evt-1',
  'ce-source': '/tester',
  'ce-type': 'TaskStartedEvent',
  'ce-time': '2025-11-29T14:30:00Z',
  'ce-topic': 'project.tasks',
  'content-type': 'application/json',
};

describe('toBinaryHttp', () => {
  it('puts attributes in ce- headers and the payload in the body', () => {
    const original = envelope({ id: 'evt-9', partitionKey: 'p1', causationId: 'evt-8', payload: { a: 1 } });
    expect(toBinaryHttp(original)).toEqual({
      headers: {
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-id': 'evt-9',
        'ce-source': '/agentbus',
        'ce-type': 'TaskCompletedEvent',
        'ce-time': '2025-11-29T14:30:00.250Z',
        'ce-correlationid': 'evt-9',
        'ce-causationid': 'evt-8',
        'ce-topic': 'project.tasks',
        'ce-partitionkey': 'p1',
        'ce-priority': 'normal',
        'ce-kind': 'event',
        'ce-eventversion': '1.0',
      },
      body: '{"a":1}',
    });
  });

  it('percent-encodes space, quote, percent and non-ASCII characters and reads them back', () => {
    const original = envelope({
      correlationId: 'Euro € 😀 "50%"',
      extensions: { note: 'tab\there', greeting: 'grüß dich' },
    });
    const { headers, body } = toBinaryHttp(original);
    expect(headers['ce-correlationid']).toBe('Euro%20%E2%82%AC%20%F0%9F%98%80%20%2250%25%22');
    expect(headers['ce-note']).toBe('tab%09here');
    for (const value of Object.values(headers)) expect(value).toMatch(/^[!-~]*$/);
    expect(fromBinaryHttp(headers, body)).toEqual(original);
  });
});

describe('percentEncode', () => {
  it('leaves printable ASCII other than " and % as it is', () => {
    const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))
      .filter((c) => c !== '"' && c !== '%')
      .join('');
    expect(percentEncode(printable)).toBe(printable);
  });
});

describe('fromBinaryHttp', () => {
  it('reads headers in any case and single-element arrays', () => {
    const headers = {
      'CE-ID': ['evt-1'],
      'Ce-Specversion': '1.0',
      'ce-source': '/tester',
      'ce-type': 'T',
      'ce-time': '2025-11-29T14:30:00Z',
      'ce-topic': 't',
      'Content-Type': 'application/json; charset=utf-8',
    };
    expect(fromBinaryHttp(headers, '[1]').event.id).toBe('evt-1');
  });

  it('ignores headers that are not CloudEvents attributes', () => {
    expect(fromBinaryHttp({ ...BINARY_HEADERS, authorization: 'Bearer x', 'x-request-id': '1' }, '{}').event).not.toHaveProperty(
      'authorization',
    );
  });

  it('gives an empty body the payload {}', () => {
    expect(fromBinaryHttp(BINARY_HEADERS, '').payload).toEqual({});
  });

  it.each<[string, Record<string, string | string[] | undefined>, string]>([
    ['ce-topic', { 'ce-topic': 'a.*' }, '{}'],
    ['ce-topic', { 'ce-topic': undefined }, '{}'],
    ['ce-time', { 'ce-time': 'now' }, '{}'],
    ['ce-specversion', { 'ce-specversion': undefined }, '{}'],
    ['ce-id', { 'ce-id': ['a', 'b'] }, '{}'],
    ['ce-subject', { 'ce-subject': '%E2%82' }, '{}'],
    ['ce-foo_bar', { 'ce-foo_bar': 'x' }, '{}'],
    ['content-type', { 'content-type': 'text/plain' }, '{}'],
    ['body', {}, '{"a":'],
    [`body.a${'[0]'.repeat(63)}`, {}, `{"a":${'['.repeat(64)}${']'.repeat(64)}}`],
  ])('refuses naming %s', (field, patch, body) => {
    // Payload paths become body paths; attribute paths become header names.
    const headers = Object.fromEntries(Object.entries({ ...BINARY_HEADERS, ...patch }).filter(([, v]) => v !== undefined));
    expect(fieldOf(() => fromBinaryHttp(headers, body))).toBe(field);
  });

  it('refuses the same attribute given in two header spellings', () => {
    expect(fieldOf(() => fromBinaryHttp({ ...BINARY_HEADERS, 'CE-ID': 'evt-2' }, '{}'))).toBe('ce-id');
  });
});

describe('fromHttp', () => {
  it('reads binary, structured and batched messages', () => {
    const a = envelope({ payload: { n: 1 } });
    const b = envelope({ payload: [2], partitionKey: 'k' });
    expect(fromHttp(toBinaryHttp(a).headers, toBinaryHttp(a).body)).toEqual([a]);
    expect(fromHttp(toStructuredHttp(a).headers, toStructuredHttp(a).body)).toEqual([a]);
    expect(fromHttp(toBatchHttp([a, b]).headers, toBatchHttp([a, b]).body)).toEqual([a, b]);
  });

  it('refuses a structured body that is not JSON, naming the body', () => {
    expect(fieldOf(() => fromHttp({ 'content-type': 'application/cloudevents+json' }, '{'))).toBe('body');
  });
});

describe('CloudEvents SDK HTTP binding as a second opinion', () => {
  it('we read the SDK binary-mode output', () => {
    const sdkEvent = new CloudEvent({
      id: 'evt-sdk-1',
      source: '/sdk-agent',
      type: 'DecisionMadeEvent',
      time: '2025-11-29T14:30:00.000Z',
      datacontenttype: 'application/json',
      topic: 'project.decisions',
      partitionkey: 'project-xyz',
      correlationid: 'project-xyz-123',
      data: { decision: 'ship', votes: [3, 1] },
    });
    const message = HTTP.binary(sdkEvent);
    expect(typeof message.body).toBe('string');
    const ours = fromBinaryHttp(message.headers, String(message.body));
    expect(ours).toEqual({
      event: {
        id: 'evt-sdk-1',
        type: 'DecisionMadeEvent',
        source: '/sdk-agent',
        timestamp: '2025-11-29T14:30:00.000Z',
        version: '1.0',
        correlation_id: 'project-xyz-123',
        causation_id: null,
        kind: 'event',
      },
      payload: { decision: 'ship', votes: [3, 1] },
      routing: { topic: 'project.decisions', partition_key: 'project-xyz', priority: 'normal' },
    });
  });

  it('we read the SDK structured-mode output', () => {
    const sdkEvent = new CloudEvent({
      id: 'evt-sdk-2',
      source: '/sdk',
      type: 'GetUserQuery',
      topic: 'users',
      data: [1],
    });
    const message = HTTP.structured(sdkEvent);
    const [ours] = fromHttp(message.headers, String(message.body));
    expect(ours?.event.kind).toBe('query');
    expect(ours?.event.id).toBe('evt-sdk-2');
    expect(ours?.payload).toEqual([1]);
  });

  it('the SDK reads our binary-mode output', () => {
    const original = envelope({
      causationId: 'evt-0',
      partitionKey: 'k1',
      payload: { a: [1, { b: null }] },
      extensions: { tenant: 'acme' },
    });
    const theirs = HTTP.toEvent(toBinaryHttp(original));
    if (Array.isArray(theirs)) throw new Error('expected one event');
    const event = theirs as CloudEvent<unknown>;
    expect(event.id).toBe(original.event.id);
    expect(event.source).toBe(original.event.source);
    expect(event.type).toBe(original.event.type);
    expect(event.time).toBe(original.event.timestamp);
    expect(event.data).toEqual(original.payload);
    expect(event.topic).toBe('project.tasks');
    expect(event.causationid).toBe('evt-0');
    expect(event.partitionkey).toBe('k1');
    expect(event.tenant).toBe('acme');
  });

  it('the SDK reads our structured and batched output', () => {
    const a = envelope({ payload: { n: 1 } });
    const b = envelope({ payload: { n: 2 } });
    const single = HTTP.toEvent(toStructuredHttp(a)) as CloudEvent<unknown>;
    expect(single.id).toBe(a.event.id);
    expect(single.data).toEqual({ n: 1 });
    const batch = HTTP.toEvent(toBatchHttp([a, b]));
    expect(Array.isArray(batch) ? batch.map((e) => e.id) : []).toEqual([a.event.id, b.event.id]);
  });
});
