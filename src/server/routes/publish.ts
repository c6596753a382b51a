/**
 * Reading a publish request in any of its forms: the seed's envelope or an array of them
 * (`application/json`), or CloudEvents in structured, batch or binary mode. Every event is
 * validated before any is published.
 */
import { createIdGenerator, fromBinaryHttp, fromHttp, parseEnvelopeWithText } from '../../envelope/index.js';
import type { Envelope, HttpHeaders } from '../../envelope/index.js';
import { AgentbusError, invalidField, prefixField } from '../../errors.js';

/** Publish requests read from one body: the envelopes and whether one or many were sent. */
export interface PublishRequest {
  readonly envelopes: Envelope[];
  /** True when the body held a single event (the response is then one envelope, not an array). */
  readonly single: boolean;
}

const clock = { now: () => Date.now() };
const newId = createIdGenerator({ clock });
/** CloudEvents without `time` get the time of their arrival, as seed envelopes without a timestamp do. */
const CE_OPTIONS = { clock };

/**
 * Parses and validates a publish body.
 * @throws AgentbusError `ENVELOPE_INVALID` naming the field (`[2].routing.topic`,
 *   `ce-topic`, `body`); status 415 for a content type that is not JSON or CloudEvents.
 */
export function readPublishRequest(headers: HttpHeaders, body: string): PublishRequest {
  const contentType = (header(headers, 'content-type') ?? 'application/json').toLowerCase();
  if (header(headers, 'ce-specversion') !== undefined)
    return { envelopes: [fromBinaryHttp(headers, body, CE_OPTIONS)], single: true };
  if (contentType.startsWith('application/cloudevents-batch+json'))
    return { envelopes: fromHttp(headers, body, CE_OPTIONS), single: false };
  if (contentType.startsWith('application/cloudevents+json'))
    return { envelopes: fromHttp(headers, body, CE_OPTIONS), single: true };
  if (!/^application\/([a-z.+-]*\+)?json\b/.test(contentType)) {
    throw new AgentbusError(
      'ENVELOPE_INVALID',
      'content-type: send application/json (the envelope or an array of them), application/cloudevents+json, ' +
        'application/cloudevents-batch+json, or a binary-mode CloudEvent with ce-* headers',
      { field: 'content-type', status: 415 },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw invalidField('ENVELOPE_INVALID', 'body', 'not valid JSON', { status: 400 });
  }
  if (Array.isArray(value)) {
    if (value.length === 0) throw invalidField('ENVELOPE_INVALID', 'body', 'an empty array publishes nothing');
    return { envelopes: value.map((item, index) => withPrefix(index, () => seedEnvelope(item))), single: false };
  }
  return { envelopes: [seedEnvelope(value)], single: true };
}

/** Validates one seed envelope, filling the id and timestamp it lacks. */
function seedEnvelope(wire: unknown): Envelope {
  if (typeof wire === 'object' && wire !== null && !Array.isArray(wire)) {
    const event = (wire as { event?: unknown }).event;
    if (typeof event === 'object' && event !== null && !Array.isArray(event)) {
      const header = event as Record<string, unknown>;
      const filled = {
        ...wire,
        event: { ...header, id: header.id ?? newId(), timestamp: header.timestamp ?? new Date().toISOString() },
      };
      return parseEnvelopeWithText(filled).envelope;
    }
  }
  return parseEnvelopeWithText(wire).envelope;
}

function withPrefix<T>(index: number, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw prefixField(error, `[${index}]`);
  }
}

function header(headers: HttpHeaders, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && value !== undefined) return typeof value === 'string' ? value : value[0];
  }
  return undefined;
}
