/**
 * Validation and normalisation of wire envelopes (JSON from HTTP, stdin, files, brokers).
 *
 * The rules, each refused with `ENVELOPE_INVALID` naming the field's path:
 * - top level: exactly `event`, `payload`, `routing`; any other key is refused (the seed's
 *   structure is exact; extensions belong in `event`).
 * - `event.id`: 1-200 chars of `A-Z a-z 0-9 . _ : -` (see `isEventId`).
 * - `event.type`: a letter, then up to 199 of `A-Z a-z 0-9 _ . : -`.
 * - `event.source`: 1-255 URI-reference characters (so it is a valid CloudEvents source).
 * - `event.timestamp`, `event.expires_at`: RFC 3339 with a zone, naming a real instant.
 * - `event.version`, `correlation_id`, `causation_id`, `schema`, `routing.partition_key`:
 *   non-empty text without control characters or lone surrogates, bounded in length.
 * - `event.kind`: one of the four kinds; `routing.priority`: high | normal | low.
 * - `event.traceparent`: W3C trace context (`00-<32 hex>-<16 hex>-<2 hex>`).
 * - `routing.topic`: dot-separated tokens of `A-Z a-z 0-9 _ -`, at most 255 chars, no
 *   wildcards.
 * - `payload`: JSON only, nested at most `maxDepth`, at most `maxPayloadBytes` of UTF-8 JSON.
 * - other (extension) fields of `event` and `routing` are kept as given: names are a letter
 *   then up to 63 of `A-Z a-z 0-9 _ -`, values are JSON, all together at most
 *   `maxExtensionBytes`.
 * Optional fields given as `null` count as absent (except `causation_id`, where null is the
 * root value). Defaults: source "/agentbus", version "1.0", correlation_id = id,
 * causation_id null, kind inferred from the type, priority "normal".
 *
 * Pure.
 */
import { AgentbusError, invalidField } from '../errors.js';
import { validateTopic } from '../routing/topic.js';
import {
  EVENT_KINDS,
  type Envelope,
  type EventHeader,
  type EventKind,
  type JsonValue,
  PRIORITIES,
  type Priority,
  type Routing,
} from './envelope.js';
import { isEventId } from './ids.js';
import { assertJsonValue, formatKey, isWellFormed, setOwn, utf8ByteLength } from './json.js';
import { inferKind } from './kind.js';
import { parseTimestamp } from './timestamp.js';

/** The `event.source` of envelopes that do not name one. */
export const DEFAULT_SOURCE = '/agentbus';
/** The `event.version` of envelopes that do not name one. */
export const DEFAULT_VERSION = '1.0';

/** Size limits applied by validation. */
export interface EnvelopeLimits {
  /** Largest payload, in bytes of its UTF-8 JSON text. @default 1048576 (1 MiB) */
  maxPayloadBytes?: number;
  /** Deepest nesting of arrays and objects in the payload and extension values. @default 64 */
  maxDepth?: number;
  /** Largest total of all extension fields (names and JSON values, UTF-8). @default 65536 */
  maxExtensionBytes?: number;
}

/** Highest `maxDepth` accepted. */
const MAX_DEPTH_LIMIT = 1000;

/** The limits used when none are given. */
export const DEFAULT_ENVELOPE_LIMITS: Readonly<Required<EnvelopeLimits>> = Object.freeze({
  maxPayloadBytes: 1_048_576,
  maxDepth: 64,
  maxExtensionBytes: 65_536,
});

/** An envelope together with its JSON text, exactly as {@link serializeEnvelope} writes it. */
export interface EnvelopeWithText<P extends JsonValue = JsonValue> {
  readonly envelope: Envelope<P>;
  readonly text: string;
}

/** The names `event` and `routing` reserve for themselves; every other name is an extension. */
export const EVENT_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'type',
  'source',
  'timestamp',
  'version',
  'correlation_id',
  'causation_id',
  'kind',
  'traceparent',
  'expires_at',
  'schema',
]);
const ROUTING_FIELDS: ReadonlySet<string> = new Set(['topic', 'partition_key', 'priority', 'deliver_to']);
const SUBSCRIPTION_NAME = /^[A-Za-z0-9_.:/-]{1,200}$/;

const TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,199}$/;
const SOURCE = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]{1,255}$/;

/** The rule of `event.source`, for options that set it. */
export const SOURCE_RULE = '1-255 URI-reference characters (no spaces), e.g. /backend-architect';

/** True when `value` can be an `event.source`. */
export function isEventSource(value: unknown): value is string {
  return typeof value === 'string' && SOURCE.test(value);
}
const EXTENSION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}(-[!-~]*)?$/;

/**
 * Validates a whole wire envelope and returns it normalised: defaults filled, known fields
 * first, extension fields kept. The input is not modified; the payload is not copied.
 *
 * @throws AgentbusError `ENVELOPE_INVALID` with `details.field` naming the offending path.
 * @example
 * const envelope = parseEnvelope(JSON.parse(body))
 */
export function parseEnvelope(input: unknown, limits?: EnvelopeLimits): Envelope {
  const record = checkTopLevel(input);
  return normaliseEnvelope(record.event, record.payload, record.routing, limits, DEFAULT_SOURCE).envelope;
}

/** Like {@link parseEnvelope}, and also returns the normalised envelope's JSON text. */
export function parseEnvelopeWithText(input: unknown, limits?: EnvelopeLimits): EnvelopeWithText {
  const record = checkTopLevel(input);
  return normaliseEnvelope(record.event, record.payload, record.routing, limits, DEFAULT_SOURCE);
}

function checkTopLevel(input: unknown): Record<string, unknown> {
  const record = asRecord(input, 'envelope');
  for (const key of Object.keys(record)) {
    if (key !== 'event' && key !== 'payload' && key !== 'routing') {
      throw invalidField(
        'ENVELOPE_INVALID',
        key,
        'unknown top-level field: an envelope has only event, payload and routing (put extensions in event)',
      );
    }
  }
  if (record.payload === undefined) throw missing('payload');
  return record;
}

/**
 * Parts of an envelope its builder made itself (`createEnvelope`), valid by construction.
 * @internal
 */
export interface KnownParts {
  /** An id the builder generated. */
  readonly id?: string | undefined;
  /** A timestamp the builder formatted from its clock. */
  readonly timestamp?: string | undefined;
  /** The event and routing blocks hold known fields only: no extensions to look for. */
  readonly plain?: boolean;
}

const NOTHING_KNOWN: KnownParts = {};

/** Characters of `{"event":`, `,"payload":`, `,"routing":` and `}` around the three blocks. */
const ENVELOPE_FRAME = 32;

/**
 * Validates the three blocks and builds the normalised envelope with its JSON text (as
 * `serializeEnvelope` writes it): one `JSON.stringify` of the whole envelope, which is also
 * what the payload's size is measured on. Shared by {@link parseEnvelope}, `createEnvelope`
 * and `fromCloudEvent`; `defaultSource` fills a missing source.
 * @internal
 */
export function normaliseEnvelope(
  rawEvent: unknown,
  payload: unknown,
  rawRouting: unknown,
  limits: EnvelopeLimits | undefined,
  defaultSource: string,
  /** What the caller built itself: valid by construction, not checked again. */
  known: KnownParts = NOTHING_KNOWN,
): EnvelopeWithText {
  const resolved = resolveLimits(limits);
  const extensions = { bytes: 0 };
  const event = normaliseEvent(asRecord(rawEvent, 'event'), defaultSource, resolved, extensions, known);
  const routing = normaliseRouting(asRecord(rawRouting, 'routing'), resolved, extensions, known);
  assertJsonValue(payload, 'payload', resolved.maxDepth, resolved.maxPayloadBytes);
  const envelope: Envelope = { event, payload: payload as JsonValue, routing };
  const text = JSON.stringify(envelope);
  // The payload is the text less its frame and the two small blocks (each at least "{}"):
  // measured exactly only when that bound could pass the limit.
  const max = resolved.maxPayloadBytes;
  if ((text.length - ENVELOPE_FRAME - 4) * 3 > max) {
    const eventLength = JSON.stringify(event).length;
    const routingLength = JSON.stringify(routing).length;
    const payloadText = text.slice(9 + eventLength + 11, text.length - 11 - routingLength - 1);
    if (payloadText.length > max || utf8ByteLength(payloadText) > max) {
      const size = utf8ByteLength(payloadText);
      throw invalidField('ENVELOPE_INVALID', 'payload', `${size} bytes of JSON, over the limit of ${max} bytes`, {
        size,
        limit: max,
      });
    }
  }
  return { envelope, text };
}

function normaliseEvent(
  e: Record<string, unknown>,
  defaultSource: string,
  limits: Required<EnvelopeLimits>,
  extensions: { bytes: number },
  known: KnownParts,
): EventHeader {
  const rawId = required(e.id, 'event.id');
  if (rawId !== known.id && !isEventId(rawId)) throw bad('event.id', 'must be 1-200 characters of A-Z a-z 0-9 . _ : -');
  const id = rawId as string;
  const type = required(e.type, 'event.type');
  if (type === '') throw bad('event.type', 'must not be empty');
  if (!isEventType(type)) {
    throw bad('event.type', 'must be a letter followed by up to 199 of A-Z a-z 0-9 _ . : -');
  }
  const source = absent(e.source) ? defaultSource : e.source;
  if (typeof source !== 'string' || !SOURCE.test(source)) {
    throw bad('event.source', 'must be 1-255 URI-reference characters, e.g. /backend-architect');
  }
  const timestamp =
    e.timestamp !== undefined && e.timestamp === known.timestamp
      ? known.timestamp
      : checkTimestamp(required(e.timestamp, 'event.timestamp'), 'event.timestamp');
  const version = absent(e.version) ? DEFAULT_VERSION : checkText(e.version, 'event.version', 64);
  const correlationId = absent(e.correlation_id) ? id : checkText(e.correlation_id, 'event.correlation_id', 255);
  const causationId =
    e.causation_id === undefined || e.causation_id === null ? null : checkText(e.causation_id, 'event.causation_id', 255);
  const kind = absent(e.kind) ? inferKind(type) : checkKind(e.kind);
  const event: EventHeader = {
    id,
    type,
    source,
    timestamp,
    version,
    correlation_id: correlationId,
    causation_id: causationId,
    kind,
  };
  if (!absent(e.traceparent)) event.traceparent = checkTraceparent(e.traceparent);
  if (!absent(e.expires_at)) event.expires_at = checkTimestamp(e.expires_at, 'event.expires_at');
  if (!absent(e.schema)) event.schema = checkText(e.schema, 'event.schema', 2048);
  if (!known.plain) copyExtensions(e, event, EVENT_FIELDS, 'event', limits, extensions);
  return event;
}

function normaliseRouting(
  r: Record<string, unknown>,
  limits: Required<EnvelopeLimits>,
  extensions: { bytes: number },
  known: KnownParts,
): Routing {
  const topic = checkTopic(r.topic);
  const priority = absent(r.priority) ? 'normal' : checkPriority(r.priority);
  const routing: Routing = absent(r.partition_key)
    ? { topic, priority }
    : { topic, partition_key: checkText(r.partition_key, 'routing.partition_key', 255), priority };
  if (!absent(r.deliver_to)) {
    if (typeof r.deliver_to !== 'string' || !SUBSCRIPTION_NAME.test(r.deliver_to)) {
      throw bad('routing.deliver_to', 'must be a subscription name: 1 to 200 characters of letters, digits, _ . : / -');
    }
    routing.deliver_to = r.deliver_to;
  }
  if (!known.plain) copyExtensions(r, routing, ROUTING_FIELDS, 'routing', limits, extensions);
  return routing;
}

/** Copies unknown fields as they are, after checking their names and that they are JSON. */
function copyExtensions(
  from: Record<string, unknown>,
  to: Record<string, JsonValue | undefined>,
  known: ReadonlySet<string>,
  block: string,
  limits: Required<EnvelopeLimits>,
  extensions: { bytes: number },
): void {
  for (const key of Object.keys(from)) {
    if (known.has(key)) continue;
    const value = from[key];
    if (value === undefined) continue;
    const path = `${block}${formatKey(key)}`;
    if (!EXTENSION_NAME.test(key)) {
      throw bad(path, 'extension names are a letter followed by up to 63 of A-Z a-z 0-9 _ -');
    }
    assertJsonValue(value, path, limits.maxDepth, limits.maxExtensionBytes);
    extensions.bytes += key.length + utf8ByteLength(JSON.stringify(value));
    if (extensions.bytes > limits.maxExtensionBytes) {
      throw bad(path, `extension fields total more than ${limits.maxExtensionBytes} bytes`);
    }
    setOwn(to, key, value);
  }
}

/** Topic rules live in routing; an envelope reports a bad topic as `ENVELOPE_INVALID`. */
function checkTopic(value: unknown): string {
  const topic = required(value, 'routing.topic');
  if (typeof topic === 'string' && (topic.includes('*') || topic.includes('>'))) {
    throw bad('routing.topic', 'wildcards (* and >) are for subscriptions, not for publishing');
  }
  try {
    return validateTopic(topic, 'routing.topic');
  } catch (error) {
    if (!(error instanceof AgentbusError)) throw error;
    throw invalidField('ENVELOPE_INVALID', 'routing.topic', String(error.details.reason), error.details);
  }
}

function checkTimestamp(value: unknown, path: string): string {
  if (typeof value !== 'string' || parseTimestamp(value) === undefined) {
    throw bad(path, 'must be an RFC 3339 date-time with a zone, e.g. 2025-11-29T14:30:00Z');
  }
  return value;
}

function checkKind(value: unknown): EventKind {
  const kind = EVENT_KINDS.find((k) => k === value);
  if (kind === undefined) throw bad('event.kind', 'must be one of command, event, query, notification');
  return kind;
}

function checkPriority(value: unknown): Priority {
  const priority = PRIORITIES.find((p) => p === value);
  if (priority === undefined) throw bad('routing.priority', 'must be one of high, normal, low');
  return priority;
}

function checkTraceparent(value: unknown): string {
  const m = typeof value === 'string' && value.length <= 512 ? TRACEPARENT.exec(value) : null;
  const valid =
    m !== null && m[1] !== 'ff' && !(m[1] === '00' && m[5] !== undefined) && !/^0+$/.test(m[2] ?? '') && !/^0+$/.test(m[3] ?? '');
  if (!valid) throw bad('event.traceparent', 'must be W3C trace context, e.g. 00-<32 hex>-<16 hex>-01');
  return value as string;
}

/** Non-empty text of at most `max` UTF-16 units, without control characters or lone surrogates. */
function checkText(value: unknown, path: string, max: number): string {
  const problem = textProblem(value, max);
  if (problem !== undefined) throw bad(path, problem);
  return value as string;
}

/**
 * Why `value` is not header text (`correlation_id`, `causation_id`, ...): non-empty, at most
 * `max` UTF-16 units, no control characters (NUL included), no lone surrogates. Undefined
 * when it is.
 */
export function textProblem(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0 || value.length > max) return `must be 1-${max} characters`;
  if (hasControlCharacter(value)) return 'must not contain control characters';
  if (!isWellFormed(value)) return 'must not contain lone surrogates';
  return undefined;
}

/** True when `value` holds a C0 control character (U+0000-U+001F) or DEL. */
export function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** True when `value` can be an `event.type`: a letter, then up to 199 of `A-Z a-z 0-9 _ . : -`. */
export function isEventType(value: unknown): value is string {
  return typeof value === 'string' && TYPE.test(value);
}

/**
 * Checks envelope limits (each a positive whole number) and fills the defaults.
 * @throws AgentbusError `OPTIONS_INVALID` naming `limits.<name>`.
 */
export function resolveLimits(limits: EnvelopeLimits | undefined): Required<EnvelopeLimits> {
  if (limits === undefined) return DEFAULT_ENVELOPE_LIMITS;
  const resolved = {
    maxPayloadBytes: limits.maxPayloadBytes ?? DEFAULT_ENVELOPE_LIMITS.maxPayloadBytes,
    maxDepth: limits.maxDepth ?? DEFAULT_ENVELOPE_LIMITS.maxDepth,
    maxExtensionBytes: limits.maxExtensionBytes ?? DEFAULT_ENVELOPE_LIMITS.maxExtensionBytes,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw invalidField('OPTIONS_INVALID', `limits.${name}`, 'must be a positive integer');
    }
  }
  // Validation and copies walk nested values recursively: keep well inside the stack.
  if (resolved.maxDepth > MAX_DEPTH_LIMIT) {
    throw invalidField('OPTIONS_INVALID', 'limits.maxDepth', `must be at most ${MAX_DEPTH_LIMIT}`);
  }
  return resolved;
}

function asRecord(value: unknown, path: string): Record<string, unknown> {
  if (value === undefined) throw missing(path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(path, 'must be an object');
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw bad(path, 'must be a plain object');
  return value as Record<string, unknown>;
}

function absent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

function required(value: unknown, path: string): unknown {
  if (absent(value)) throw missing(path);
  return value;
}

function missing(path: string) {
  return invalidField('ENVELOPE_INVALID', path, 'missing');
}

function bad(path: string, reason: string) {
  return invalidField('ENVELOPE_INVALID', path, reason);
}
