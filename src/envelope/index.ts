/**
 * The envelope layer: the wire format, ids, validation and the CloudEvents mapping.
 *
 * Pure: no I/O, no clock of its own.
 */
export {
  CLOUDEVENTS_BATCH_JSON,
  CLOUDEVENTS_JSON,
  fromBinaryHttp,
  fromHttp,
  percentEncode,
  toBatchHttp,
  toBinaryHttp,
  toStructuredHttp,
} from './cloudevents-http.js';
export {
  CLOUDEVENTS_SPEC_VERSION,
  fromCloudEvent,
  fromCloudEventBatch,
  PACKED_EXTENSIONS_ATTRIBUTE,
  toCloudEvent,
  toCloudEventBatch,
} from './cloudevents.js';
export { createEnvelope, createEnvelopeWithText } from './create.js';
export { EVENT_KINDS, PRIORITIES } from './envelope.js';
export { createIdGenerator, deriveEventId, formatIdTimestamp, isEventId, isGeneratedEventId } from './ids.js';
export { isWellFormed, utf8ByteLength } from './json.js';
export { DOMAIN_EVENTS, INTEGRATION_EVENTS, RUNTIME_SOURCE, SYSTEM_EVENTS, SYSTEM_TOPICS } from './taxonomy.js';
export { inferKind } from './kind.js';
export { SEED_EXAMPLE } from './seed-example.js';
export { envelopeByteLength, serializeEnvelope } from './serialize.js';
export { formatTimestamp, isTimestamp, parseTimestamp } from './timestamp.js';
export {
  DEFAULT_ENVELOPE_LIMITS,
  DEFAULT_SOURCE,
  DEFAULT_VERSION,
  EVENT_FIELDS,
  hasControlCharacter,
  isEventType,
  parseEnvelope,
  parseEnvelopeWithText,
  resolveLimits,
  textProblem,
} from './validate.js';

export type { HttpHeaders, HttpMessage } from './cloudevents-http.js';
export type { CloudEventObject, FromCloudEventOptions } from './cloudevents.js';
export type { CreateEnvelopeOptions } from './create.js';
export type {
  Envelope,
  EventHeader,
  EventKind,
  JsonObject,
  JsonValue,
  Priority,
  PublishInput,
  Routing,
} from './envelope.js';
export type { IdGenerator, IdGeneratorOptions, RandomFill } from './ids.js';
export type { EnvelopeLimits, EnvelopeWithText } from './validate.js';
