import { CloudEvent } from 'cloudevents';
import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../errors.js';
import { fromCloudEvent, fromCloudEventBatch, toCloudEvent, toCloudEventBatch } from './cloudevents.js';
import { createEnvelope } from './create.js';
import type { Envelope, PublishInput } from './envelope.js';
import { createIdGenerator } from './ids.js';

const clock = { now: () => Date.UTC(2025, 10, 29, 14, 30, 0, 250) };
const newId = createIdGenerator({ clock });

function envelope(input: Partial<PublishInput> = {}, routingExtensions: Record<string, string> = {}): Envelope {
  const created = createEnvelope({ topic: 'project.tasks', type: 'TaskCompletedEvent', ...input }, { clock, newId });
  return { ...created, routing: { ...created.routing, ...routingExtensions } };
}

const FULL: Envelope = envelope({
  id: 'evt-20251129-143000-abc123',
  source: '/backend-architect',
  timestamp: '2025-11-29T14:30:00Z',
  correlationId: 'project-xyz-123',
  causationId: 'evt-previous-id',
  partitionKey: 'project-xyz',
  priority: 'high',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  expiresAt: '2025-11-30T00:00:00Z',
  schema: 'https://schemas.example.com/task-completed.json',
  payload: { task_id: 'T1', result: { endpoints: 12 } },
});

function fieldOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (isAgentbusError(error, 'ENVELOPE_INVALID')) return error.details.field;
    throw error;
  }
  return undefined;
}

/** A CloudEvent from another producer: only what CloudEvents requires, plus a topic. */
const FOREIGN = {
  specversion: '1.0',
  id: 'A234-1234-1234',
  source: 'https://github.com/cloudevents/spec/pull',
  type: 'com.github.pull_request.opened',
  time: '2018-04-05T17:31:00Z',
  topic: 'github.prs',
};

describe('toCloudEvent', () => {
  it('maps every envelope field to its attribute or extension', () => {
    expect(toCloudEvent(FULL)).toEqual({
      specversion: '1.0',
      id: 'evt-20251129-143000-abc123',
      source: '/backend-architect',
      type: 'TaskCompletedEvent',
      time: '2025-11-29T14:30:00Z',
      datacontenttype: 'application/json',
      dataschema: 'https://schemas.example.com/task-completed.json',
      correlationid: 'project-xyz-123',
      causationid: 'evt-previous-id',
      topic: 'project.tasks',
      partitionkey: 'project-xyz',
      priority: 'high',
      kind: 'event',
      eventversion: '1.0',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      expiresat: '2025-11-30T00:00:00Z',
      data: { task_id: 'T1', result: { endpoints: 12 } },
    });
  });

  it('omits causationid for a root event and partitionkey when there is none', () => {
    const ce = toCloudEvent(envelope());
    expect(ce).not.toHaveProperty('causationid');
    expect(ce).not.toHaveProperty('partitionkey');
    expect(ce.correlationid).toBe(ce.id);
  });

  it('carries a schema that is not an absolute URI as the schema extension', () => {
    const ce = toCloudEvent(envelope({ schema: 'TaskCompleted/v2' }));
    expect(ce).not.toHaveProperty('dataschema');
    expect(ce.schema).toBe('TaskCompleted/v2');
  });

  it('maps string extensions with CloudEvents names directly and packs the others', () => {
    const ce = toCloudEvent(
      envelope({ extensions: { tenant: 'acme', subject: 'T1', retry_count: 3, flags: ['a'], topic2: '' } }, { region: 'eu' }),
    );
    expect(ce.tenant).toBe('acme');
    expect(ce.subject).toBe('T1');
    expect(JSON.parse(String(ce.agentbusextensions))).toEqual({
      event: { retry_count: 3, flags: ['a'], topic2: '' },
      routing: { region: 'eu' },
    });
  });

  it('packs extensions whose names collide with mapped attributes', () => {
    const ce = toCloudEvent(envelope({ extensions: { time: 'later', data: 'x' } }));
    expect(ce.time).toBe('2025-11-29T14:30:00.250Z');
    expect(ce.data).toEqual({});
    expect(JSON.parse(String(ce.agentbusextensions))).toEqual({ event: { time: 'later', data: 'x' }, routing: {} });
  });
});

describe('fromCloudEvent', () => {
  it('round-trips envelopes, extensions included', () => {
    const cases = [
      FULL,
      envelope(),
      envelope({ schema: 'TaskCompleted/v2', payload: null }),
      envelope({ extensions: { tenant: 'acme', subject: 'T1', n: 1, nested: { a: [true] }, time: 'x' } }, { region: 'eu' }),
    ];
    for (const original of cases) {
      expect(fromCloudEvent(JSON.parse(JSON.stringify(toCloudEvent(original))))).toEqual(original);
    }
  });

  it('reads a foreign CloudEvent with defaults and keeps its extensions in event', () => {
    const envelope = fromCloudEvent({
      ...FOREIGN,
      subject: '123',
      comexampleextension1: 'value',
      count: 5,
      data: { pr: 1 },
    });
    expect(envelope).toEqual({
      event: {
        id: 'A234-1234-1234',
        type: 'com.github.pull_request.opened',
        source: 'https://github.com/cloudevents/spec/pull',
        timestamp: '2018-04-05T17:31:00Z',
        version: '1.0',
        correlation_id: 'A234-1234-1234',
        causation_id: null,
        kind: 'event',
        subject: '123',
        comexampleextension1: 'value',
        count: 5,
      },
      payload: { pr: 1 },
      routing: { topic: 'github.prs', priority: 'normal' },
    });
  });

  it('gives a CloudEvent without data the payload {}', () => {
    expect(fromCloudEvent(FOREIGN).payload).toEqual({});
  });

  it('accepts JSON media types with parameters or a +json suffix', () => {
    for (const datacontenttype of ['application/json; charset=utf-8', 'application/vnd.acme+json', 'APPLICATION/JSON']) {
      expect(fromCloudEvent({ ...FOREIGN, datacontenttype, data: [1] }).payload).toEqual([1]);
    }
  });

  it('uses defaultTopic and clock only when the CloudEvent lacks topic or time', () => {
    const { topic: _topic, time: _time, ...bare } = FOREIGN;
    const envelope = fromCloudEvent(bare, { defaultTopic: 'inbox', clock });
    expect(envelope.routing.topic).toBe('inbox');
    expect(envelope.event.timestamp).toBe('2025-11-29T14:30:00.250Z');
    expect(fromCloudEvent(FOREIGN, { defaultTopic: 'inbox' }).routing.topic).toBe('github.prs');
  });

  it.each<[string, Record<string, unknown>]>([
    ['cloudevent', { payload: 'not an object' }],
    ['specversion', { specversion: '0.3' }],
    ['specversion', { specversion: undefined }],
    ['id', { id: undefined }],
    ['id', { id: 'has space' }],
    ['source', { source: undefined }],
    ['type', { type: undefined }],
    ['time', { time: undefined }],
    ['time', { time: 'yesterday' }],
    ['topic', { topic: undefined }],
    ['topic', { topic: 'github.*' }],
    ['datacontenttype', { datacontenttype: 'text/xml' }],
    ['data_base64', { data_base64: 'Zm9vYg==' }],
    ['correlationid', { correlationid: '' }],
    ['causationid', { causationid: 7 }],
    ['kind', { kind: 'shout' }],
    ['eventversion', { eventversion: 2 }],
    ['priority', { priority: 'urgent' }],
    ['partitionkey', { partitionkey: '' }],
    ['expiresat', { expiresat: 'never' }],
    ['traceparent', { traceparent: 'nope' }],
    ['dataschema', { dataschema: '' }],
    ['schema', { dataschema: 'urn:a', schema: 'b' }],
    ['version', { version: '2' }],
    ['agentbusextensions', { agentbusextensions: '{not json' }],
    ['agentbusextensions', { agentbusextensions: '{"event":{"kind":"event"}}' }],
    ['agentbusextensions', { agentbusextensions: '{"event":{"tenant":"y"}}', tenant: 'x' }],
    ['agentbusextensions', { agentbusextensions: '["event"]' }],
    ['data.list[1]', { data: { list: [1, Number.NaN] } }],
  ])('refuses naming the attribute %s', (field, patch) => {
    const input = patch.payload === 'not an object' ? 'not an object' : { ...FOREIGN, ...patch };
    const cleaned =
      typeof input === 'string' ? input : Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    expect(fieldOf(() => fromCloudEvent(cleaned))).toBe(field);
  });

  it('names the packed extensions attribute for a bad packed value', () => {
    const deep = JSON.stringify({ event: { x: JSON.parse(`${'['.repeat(70)}${']'.repeat(70)}`) } });
    expect(fieldOf(() => fromCloudEvent({ ...FOREIGN, agentbusextensions: deep }))).toBe('agentbusextensions');
  });
});

describe('CloudEvents batches', () => {
  it('round-trips a batch', () => {
    const batch = [FULL, envelope()];
    expect(fromCloudEventBatch(JSON.parse(JSON.stringify(toCloudEventBatch(batch))))).toEqual(batch);
  });

  it('names the position of a bad event in the batch', () => {
    expect(fieldOf(() => fromCloudEventBatch([FOREIGN, { ...FOREIGN, topic: 'a..b' }]))).toBe('[1].topic');
  });

  it('refuses a batch that is not an array', () => {
    expect(fieldOf(() => fromCloudEventBatch(FOREIGN))).toBe('batch');
  });
});

describe('CloudEvents SDK as a second opinion', () => {
  it('accepts our structured output with the same attributes', () => {
    const ours = toCloudEvent(FULL);
    const theirs = new CloudEvent<unknown>(ours);
    expect(theirs.id).toBe(ours.id);
    expect(theirs.source).toBe(ours.source);
    expect(theirs.type).toBe(ours.type);
    expect(theirs.specversion).toBe('1.0');
    expect(theirs.datacontenttype).toBe('application/json');
    expect(theirs.dataschema).toBe(ours.dataschema);
    expect(new Date(String(theirs.time)).toISOString()).toBe(new Date(String(ours.time)).toISOString());
    expect(theirs.data).toEqual(ours.data);
    for (const name of [
      'correlationid',
      'causationid',
      'topic',
      'partitionkey',
      'priority',
      'kind',
      'eventversion',
      'traceparent',
      'expiresat',
    ]) {
      expect(theirs[name]).toBe(ours[name]);
    }
  });

  it('accepts our packed extensions', () => {
    const ours = toCloudEvent(envelope({ extensions: { retry_count: 3, tenant: 'acme' } }, { region: 'eu' }));
    expect(() => new CloudEvent<unknown>(ours)).not.toThrow();
  });

  it('produces JSON we read back to the envelope', () => {
    const original = envelope({ causationId: 'evt-1', extensions: { tenant: 'acme' } });
    const sdkJson = JSON.parse(new CloudEvent<unknown>(toCloudEvent(original)).toString());
    expect(fromCloudEvent(sdkJson)).toEqual(original);
  });
});
