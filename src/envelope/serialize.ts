/**
 * The envelope's JSON text: keys in the order event, payload, routing.
 *
 * Pure.
 */
import type { Envelope } from './envelope.js';
import { utf8ByteLength } from './json.js';

/**
 * Writes an envelope as JSON text with the top-level keys in the order event, payload,
 * routing, whatever order the object has. The envelope is assumed valid.
 *
 * @example serializeEnvelope(envelope) // '{"event":{...},"payload":{...},"routing":{...}}'
 */
export function serializeEnvelope(envelope: Envelope): string {
  return JSON.stringify({ event: envelope.event, payload: envelope.payload, routing: envelope.routing });
}

/** Size in bytes of the envelope's UTF-8 JSON text, as {@link serializeEnvelope} writes it. */
export function envelopeByteLength(envelope: Envelope): number {
  return utf8ByteLength(serializeEnvelope(envelope));
}
