/**
 * CloudEvents 1.0 <-> envelope, structured JSON form (and its batch form).
 *
 * | envelope | CloudEvent |
 * | --- | --- |
 * | event.id, type, source, timestamp | id, type, source, time |
 * | payload | data (datacontenttype "application/json") |
 * | event.schema | dataschema when an absolute URI, else extension `schema` |
 * | event.correlation_id, causation_id | correlationid, causationid (omitted when null) |
 * | event.kind, version | kind, eventversion |
 * | event.traceparent, expires_at | traceparent, expiresat |
 * | routing.topic, partition_key, priority | topic, partitionkey, priority |
 * | event.subject (extension, string) | subject |
 * | other event extensions with a CloudEvents name (a-z0-9, at most 20) and a string value | the same extension |
 * | every other extension of event or routing | `agentbusextensions`: JSON text `{"event":{..},"routing":{..}}` |
 *
 * So every envelope survives the round trip unchanged, in structured and in binary mode.
 * Foreign CloudEvents' unknown extensions land in `event` under their own names.
 *
 * Pure.
 */
import { AgentbusError, invalidField } from '../errors.js';
import type { Clock } from '../time.js';
import type { Envelope, JsonValue } from './envelope.js';
import { isWellFormed, setOwn } from './json.js';
import { formatTimestamp } from './timestamp.js';
import { EVENT_FIELDS, type EnvelopeLimits, normaliseEnvelope } from './validate.js';

/** The CloudEvents specification version agentbus speaks. */
export const CLOUDEVENTS_SPEC_VERSION = '1.0';
/** The extension attribute carrying envelope extensions that have no CloudEvents form. */
export const PACKED_EXTENSIONS_ATTRIBUTE = 'agentbusextensions';

/** A CloudEvent in the JSON event format: context attributes, extensions and `data`. */
export interface CloudEventObject {
  specversion: string;
  id: string;
  source: string;
  type: string;
  time?: string;
  datacontenttype?: string;
  dataschema?: string;
  subject?: string;
  data?: JsonValue;
  [attribute: string]: JsonValue | undefined;
}

/** How to complete CloudEvents that lack what an envelope requires. */
export interface FromCloudEventOptions {
  /** Topic for CloudEvents without a `topic` extension. Without it they are refused. */
  defaultTopic?: string;
  /** Gives the timestamp of CloudEvents without `time`. Without it they are refused. */
  clock?: Clock;
  /** @default DEFAULT_ENVELOPE_LIMITS */
  limits?: EnvelopeLimits;
}

const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/;
const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;.*)?$/i;

/** Attribute names with a fixed meaning: never used for a pass-through extension. */
const RESERVED_ATTRIBUTES: ReadonlySet<string> = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'datacontenttype',
  'dataschema',
  'subject',
  'data',
  'data_base64',
  'datacontentencoding',
  'schemaurl',
  'correlationid',
  'causationid',
  'topic',
  'partitionkey',
  'priority',
  'kind',
  'eventversion',
  'traceparent',
  'expiresat',
  'schema',
  PACKED_EXTENSIONS_ATTRIBUTE,
]);

/** Envelope path head -> CloudEvents attribute, for error messages about CloudEvent input. */
const ATTRIBUTE_OF: Readonly<Record<string, string>> = {
  'event.id': 'id',
  'event.type': 'type',
  'event.source': 'source',
  'event.timestamp': 'time',
  'event.version': 'eventversion',
  'event.correlation_id': 'correlationid',
  'event.causation_id': 'causationid',
  'event.kind': 'kind',
  'event.traceparent': 'traceparent',
  'event.expires_at': 'expiresat',
  'event.subject': 'subject',
  'routing.topic': 'topic',
  'routing.partition_key': 'partitionkey',
  'routing.priority': 'priority',
};

/**
 * Maps an envelope to a CloudEvent in the structured JSON format.
 *
 * @example JSON.stringify(toCloudEvent(envelope)) // body for application/cloudevents+json
 */
export function toCloudEvent(envelope: Envelope): CloudEventObject {
  const { event, payload, routing } = envelope;
  const ce: CloudEventObject = {
    specversion: CLOUDEVENTS_SPEC_VERSION,
    id: event.id,
    source: event.source,
    type: event.type,
    time: event.timestamp,
    datacontenttype: 'application/json',
  };
  if (event.schema !== undefined && ABSOLUTE_URI.test(event.schema)) ce.dataschema = event.schema;
  ce.correlationid = event.correlation_id;
  if (event.causation_id !== null) ce.causationid = event.causation_id;
  ce.topic = routing.topic;
  if (routing.partition_key !== undefined) ce.partitionkey = routing.partition_key;
  ce.priority = routing.priority;
  ce.kind = event.kind;
  ce.eventversion = event.version;
  if (event.traceparent !== undefined) ce.traceparent = event.traceparent;
  if (event.expires_at !== undefined) ce.expiresat = event.expires_at;
  if (event.schema !== undefined && ce.dataschema === undefined) ce.schema = event.schema;

  const packedEvent: Record<string, JsonValue> = {};
  const packedRouting: Record<string, JsonValue> = {};
  let packed = false;
  for (const key of Object.keys(event)) {
    const value = event[key];
    if (EVENT_FIELDS.has(key) || value === undefined) continue;
    if (typeof value === 'string' && value !== '' && isWellFormed(value)) {
      if (key === 'subject' || (ATTRIBUTE_NAME.test(key) && !RESERVED_ATTRIBUTES.has(key))) {
        setOwn(ce, key, value);
        continue;
      }
    }
    setOwn(packedEvent, key, value);
    packed = true;
  }
  for (const key of Object.keys(routing)) {
    const value = routing[key];
    if (key === 'topic' || key === 'partition_key' || key === 'priority' || value === undefined) continue;
    setOwn(packedRouting, key, value);
    packed = true;
  }
  if (packed) ce[PACKED_EXTENSIONS_ATTRIBUTE] = JSON.stringify({ event: packedEvent, routing: packedRouting });
  ce.data = payload;
  return ce;
}

/**
 * Maps a CloudEvent (a parsed structured-mode JSON object) to a validated envelope. A
 * CloudEvent without `data` gets the payload `{}`; `data_base64` and non-JSON
 * `datacontenttype`s are refused: agentbus payloads are JSON.
 *
 * @throws AgentbusError `ENVELOPE_INVALID` naming the CloudEvents attribute (`time`,
 *   `topic`, `data.items[2]`, ...).
 */
export function fromCloudEvent(input: unknown, options: FromCloudEventOptions = {}): Envelope {
  const ce = asObject(input, 'cloudevent');
  if (ce.specversion !== CLOUDEVENTS_SPEC_VERSION) {
    throw bad('specversion', ce.specversion === undefined ? 'missing' : `must be "${CLOUDEVENTS_SPEC_VERSION}"`);
  }
  for (const attribute of ['id', 'source', 'type']) {
    if (ce[attribute] === undefined || ce[attribute] === null) throw bad(attribute, 'missing');
  }
  const contentType = ce.datacontenttype;
  if (contentType !== undefined && contentType !== null) {
    if (typeof contentType !== 'string' || !JSON_MEDIA_TYPE.test(contentType)) {
      throw bad('datacontenttype', 'must be application/json (or */*+json): agentbus payloads are JSON');
    }
  }
  if (ce.data_base64 !== undefined && ce.data_base64 !== null) {
    throw bad('data_base64', 'binary data is not supported: agentbus payloads are JSON (send them in data)');
  }
  const event: Record<string, unknown> = Object.create(null);
  const routing: Record<string, unknown> = Object.create(null);
  const packedKeys = new Set<string>();
  let schemaAttribute = 'schema';
  for (const key of Object.keys(ce)) {
    const value = ce[key];
    const target = TO_ENVELOPE[key];
    if (target !== undefined) {
      if (target !== '') setOwn(target.startsWith('routing.') ? routing : event, target.slice(target.indexOf('.') + 1), value);
    } else if (key === 'dataschema' || key === 'schema') {
      if (event.schema !== undefined) throw bad(key, 'dataschema and schema must not both be given');
      schemaAttribute = key;
      event.schema = value;
    } else if (key !== PACKED_EXTENSIONS_ATTRIBUTE) {
      if (EVENT_FIELDS.has(key)) throw bad(key, 'reserved: the name of an agentbus envelope field');
      setOwn(event, key, value);
    }
  }
  unpack(ce[PACKED_EXTENSIONS_ATTRIBUTE], event, routing, packedKeys);
  if (event.timestamp === undefined || event.timestamp === null) {
    if (options.clock === undefined) throw bad('time', 'missing (agentbus events need a time)');
    event.timestamp = formatTimestamp(options.clock.now());
  }
  if (routing.topic === undefined || routing.topic === null) {
    if (options.defaultTopic === undefined) throw bad('topic', 'missing: give a topic extension');
    routing.topic = options.defaultTopic;
  }
  const payload = ce.data === undefined ? {} : ce.data;
  try {
    return normaliseEnvelope(event, payload, routing, options.limits, '').envelope;
  } catch (error) {
    throw renameField(error, (field) => attributeOf(field, schemaAttribute, packedKeys));
  }
}

/** Maps envelopes to a JSON batch (`application/cloudevents-batch+json`). */
export function toCloudEventBatch(envelopes: readonly Envelope[]): CloudEventObject[] {
  return envelopes.map(toCloudEvent);
}

/**
 * Maps a parsed JSON batch of CloudEvents to envelopes. Errors name the position:
 * `[2].topic`.
 */
export function fromCloudEventBatch(input: unknown, options: FromCloudEventOptions = {}): Envelope[] {
  if (!Array.isArray(input)) throw bad('batch', 'must be a JSON array of CloudEvents');
  return input.map((item: unknown, index) => {
    try {
      return fromCloudEvent(item, options);
    } catch (error) {
      throw renameField(error, (field) => `[${index}].${field}`);
    }
  });
}

/**
 * Returns `error` with its `details.field` rewritten, or `error` itself when it is not an
 * `AgentbusError` with a field.
 * @internal
 */
export function renameField(error: unknown, rename: (field: string) => string): unknown {
  if (!(error instanceof AgentbusError) || typeof error.details.field !== 'string') return error;
  const field = rename(error.details.field);
  const reason = error.details.reason ?? error.message;
  return new AgentbusError(error.code, `${field}: ${reason}`, { ...error.details, field }, { cause: error });
}

/** CloudEvents attribute -> `event.<field>` / `routing.<field>`; '' = consumed elsewhere. */
const TO_ENVELOPE: Readonly<Record<string, string>> = Object.assign(Object.create(null), {
  specversion: '',
  datacontenttype: '',
  data: '',
  data_base64: '',
  id: 'event.id',
  type: 'event.type',
  source: 'event.source',
  time: 'event.timestamp',
  subject: 'event.subject',
  correlationid: 'event.correlation_id',
  causationid: 'event.causation_id',
  kind: 'event.kind',
  eventversion: 'event.version',
  traceparent: 'event.traceparent',
  expiresat: 'event.expires_at',
  topic: 'routing.topic',
  partitionkey: 'routing.partition_key',
  priority: 'routing.priority',
});

function unpack(value: unknown, event: Record<string, unknown>, routing: Record<string, unknown>, packedKeys: Set<string>): void {
  if (value === undefined || value === null) return;
  let parsed: unknown;
  try {
    parsed = typeof value === 'string' ? JSON.parse(value) : undefined;
  } catch {
    parsed = undefined;
  }
  const packed = asObject(parsed, PACKED_EXTENSIONS_ATTRIBUTE);
  for (const [block, target] of [
    ['event', event],
    ['routing', routing],
  ] as const) {
    const fields = packed[block];
    if (fields === undefined) continue;
    for (const [key, field] of Object.entries(asObject(fields, PACKED_EXTENSIONS_ATTRIBUTE))) {
      if (Object.hasOwn(target, key) || (block === 'event' && EVENT_FIELDS.has(key))) {
        throw bad(PACKED_EXTENSIONS_ATTRIBUTE, `${block}.${key} is given twice`);
      }
      setOwn(target, key, field);
      packedKeys.add(`${block}.${key}`);
    }
  }
}

/** The CloudEvents attribute behind an envelope error path. */
function attributeOf(field: string, schemaAttribute: string, packedKeys: ReadonlySet<string>): string {
  if (field === 'payload' || field.startsWith('payload.') || field.startsWith('payload[')) {
    return `data${field.slice('payload'.length)}`;
  }
  const head = /^(?:event|routing)\.[A-Za-z0-9_-]+/.exec(field)?.[0];
  if (head === undefined) return field;
  if (packedKeys.has(head)) return PACKED_EXTENSIONS_ATTRIBUTE;
  const rest = field.slice(head.length);
  if (head === 'event.schema') return schemaAttribute + rest;
  const mapped = ATTRIBUTE_OF[head];
  if (mapped !== undefined) return mapped + rest;
  return head.startsWith('event.') ? field.slice('event.'.length) : PACKED_EXTENSIONS_ATTRIBUTE;
}

function asObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad(field, value === undefined ? 'missing' : 'must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function bad(field: string, reason: string): AgentbusError {
  return invalidField('ENVELOPE_INVALID', field, reason);
}
