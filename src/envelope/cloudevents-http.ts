/**
 * The CloudEvents HTTP protocol binding: binary, structured and batched content modes.
 *
 * Binary mode puts every attribute but `data` in a `ce-<name>` header, percent-encoding
 * space, `"`, `%` and everything outside printable ASCII as UTF-8 (HTTP binding 3.1.3.2);
 * `datacontenttype` travels as `content-type`, `data` as the body.
 *
 * Pure: messages in, messages out; no sockets.
 */
import { invalidField } from '../errors.js';
import type { Envelope } from './envelope.js';
import {
  type FromCloudEventOptions,
  fromCloudEvent,
  fromCloudEventBatch,
  renameField,
  toCloudEvent,
  toCloudEventBatch,
} from './cloudevents.js';

/** An HTTP message as agentbus produces it: lower-case header names, a text body. */
export interface HttpMessage {
  headers: Record<string, string>;
  body: string;
}

/** Incoming HTTP headers in any case, one value or several (as Node's `IncomingHttpHeaders`). */
export type HttpHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Content type of a structured-mode CloudEvent. */
export const CLOUDEVENTS_JSON = 'application/cloudevents+json; charset=utf-8';
/** Content type of a batch of structured-mode CloudEvents. */
export const CLOUDEVENTS_BATCH_JSON = 'application/cloudevents-batch+json; charset=utf-8';

const ATTRIBUTE_NAME = /^[a-z0-9]{1,20}$/;
const NEEDS_ENCODING = /[^!#$&-~]+/g;

/** Binary content mode: attributes in `ce-` headers, the payload's JSON as the body. */
export function toBinaryHttp(envelope: Envelope): HttpMessage {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(toCloudEvent(envelope))) {
    if (name === 'data' || name === 'datacontenttype' || value === undefined) continue;
    headers[`ce-${name}`] = percentEncode(typeof value === 'string' ? value : JSON.stringify(value));
  }
  return { headers, body: JSON.stringify(envelope.payload) };
}

/** Structured content mode: the whole CloudEvent as `application/cloudevents+json`. */
export function toStructuredHttp(envelope: Envelope): HttpMessage {
  return { headers: { 'content-type': CLOUDEVENTS_JSON }, body: JSON.stringify(toCloudEvent(envelope)) };
}

/** Batched content mode: an array of structured CloudEvents as `application/cloudevents-batch+json`. */
export function toBatchHttp(envelopes: readonly Envelope[]): HttpMessage {
  return { headers: { 'content-type': CLOUDEVENTS_BATCH_JSON }, body: JSON.stringify(toCloudEventBatch(envelopes)) };
}

/**
 * Reads a binary-mode CloudEvent: `ce-` headers (any case, percent-decoded) and a JSON body
 * (an empty body is the payload `{}`).
 *
 * @throws AgentbusError `ENVELOPE_INVALID` naming the header (`ce-topic`, `content-type`)
 *   or the body path (`body.items[2]`).
 */
export function fromBinaryHttp(headers: HttpHeaders, body: string, options: FromCloudEventOptions = {}): Envelope {
  const ce: Record<string, unknown> = Object.create(null);
  let contentType: string | undefined;
  for (const [rawName, rawValue] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (rawValue === undefined || (name !== 'content-type' && !name.startsWith('ce-'))) continue;
    const value = single(rawValue, name);
    if (name === 'content-type') {
      contentType = value;
      continue;
    }
    const attribute = name.slice(3);
    if (!ATTRIBUTE_NAME.test(attribute)) {
      throw invalidField('ENVELOPE_INVALID', name, 'not a CloudEvents attribute name (a-z 0-9, at most 20)');
    }
    if (Object.hasOwn(ce, attribute)) throw invalidField('ENVELOPE_INVALID', name, 'given twice');
    ce[attribute] = percentDecode(value, name);
  }
  if (contentType !== undefined) ce.datacontenttype = contentType;
  if (body.trim() !== '') ce.data = parseBody(body);
  try {
    return fromCloudEvent(ce, options);
  } catch (error) {
    throw renameField(error, headerOf);
  }
}

/**
 * Reads any CloudEvents HTTP message, choosing the mode from `content-type`:
 * `application/cloudevents-batch+json` (batch), `application/cloudevents+json`
 * (structured), anything else binary. Always returns an array.
 *
 * @example
 * const envelopes = fromHttp(request.headers, await readBody(request))
 */
export function fromHttp(headers: HttpHeaders, body: string, options: FromCloudEventOptions = {}): Envelope[] {
  const contentType = headerValue(headers, 'content-type')?.toLowerCase() ?? '';
  if (contentType.startsWith('application/cloudevents-batch+json')) {
    return fromCloudEventBatch(parseBody(body), options);
  }
  if (contentType.startsWith('application/cloudevents')) {
    return [fromCloudEvent(parseBody(body), options)];
  }
  return [fromBinaryHttp(headers, body, options)];
}

/** Percent-encodes a header value as the CloudEvents HTTP binding requires. */
export function percentEncode(value: string): string {
  return value.replace(NEEDS_ENCODING, (run) => encodeURIComponent(run));
}

function percentDecode(value: string, header: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    throw invalidField('ENVELOPE_INVALID', header, 'malformed percent-encoding');
  }
}

function parseBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw invalidField('ENVELOPE_INVALID', 'body', 'not valid JSON');
  }
}

function single(value: string | readonly string[], header: string): string {
  if (typeof value === 'string') return value;
  if (value.length !== 1) throw invalidField('ENVELOPE_INVALID', header, 'given more than once');
  return value[0] ?? '';
}

function headerValue(headers: HttpHeaders, wanted: string): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && name.toLowerCase() === wanted) return single(value, wanted);
  }
  return undefined;
}

/** CloudEvents attribute path -> where it travels in binary mode. */
function headerOf(field: string): string {
  if (field === 'data' || field.startsWith('data.') || field.startsWith('data[')) return `body${field.slice(4)}`;
  if (field === 'datacontenttype') return 'content-type';
  const head = /^[a-z0-9]+/.exec(field)?.[0];
  return head === undefined ? field : `ce-${field}`;
}
