/**
 * Building envelopes from the library's camelCase publish input: the publish hot path.
 *
 * Pure: the clock and the id generator are injected.
 */
import { invalidField } from '../errors.js';
import type { Clock } from '../time.js';
import type { Envelope, JsonValue, PublishInput } from './envelope.js';
import { setOwn } from './json.js';
import { createIdGenerator, isOwnIdGenerator } from './ids.js';
import { formatTimestamp } from './timestamp.js';
import { DEFAULT_SOURCE, EVENT_FIELDS, type EnvelopeLimits, type EnvelopeWithText, normaliseEnvelope } from './validate.js';

/** What {@link createEnvelope} needs besides the input. */
export interface CreateEnvelopeOptions {
  /** Gives `event.timestamp` when the input has none. @default the system clock */
  clock?: Clock;
  /** Gives `event.id` when the input has none, e.g. from `createIdGenerator`. @default ids on `clock` */
  newId?: () => string;
  /** `event.source` when the input has none. @default "/agentbus" */
  defaultSource?: string;
  /** @default DEFAULT_ENVELOPE_LIMITS */
  limits?: EnvelopeLimits;
}

/**
 * Builds and validates an envelope from publish input: generates the id and timestamp when
 * absent, maps camelCase to the wire's snake_case and fills the defaults. The payload
 * defaults to `{}` and is not copied.
 *
 * @throws AgentbusError `ENVELOPE_INVALID` naming the wire path (`event.type`, `routing.topic`,
 *   `payload.items[3]`, ...) of the first offending field.
 * @example
 * const envelope = createEnvelope({ topic: 'project.tasks', type: 'TaskCompletedEvent', payload: { task_id: 'T1' } })
 * // In tests, with a clock of your own:
 * const newId = createIdGenerator({ clock })
 * createEnvelope({ topic: 'project.tasks', type: 'TaskCompletedEvent' }, { clock, newId })
 */
export function createEnvelope<P extends JsonValue = JsonValue>(
  input: PublishInput<P>,
  options: CreateEnvelopeOptions = {},
): Envelope<P> {
  // The payload was validated as P's JSON; the envelope carries it unchanged.
  return build(input, options).envelope as Envelope<P>;
}

/**
 * Like {@link createEnvelope}, and also returns the envelope's JSON text (as
 * `serializeEnvelope` writes it), the one `JSON.stringify` that the size check needs: a
 * store can write the text without serializing again.
 */
export function createEnvelopeWithText<P extends JsonValue = JsonValue>(
  input: PublishInput<P>,
  options: CreateEnvelopeOptions = {},
): EnvelopeWithText<P> {
  return build(input, options) as EnvelopeWithText<P>;
}

function build(input: PublishInput, options: CreateEnvelopeOptions): EnvelopeWithText {
  if (typeof input !== 'object' || input === null) {
    throw invalidField('ENVELOPE_INVALID', 'input', 'publish input must be an object');
  }
  for (const key in input) {
    if (!PUBLISH_OPTIONS.has(key)) throw unknownOption(key);
  }
  const clock = options.clock ?? SYSTEM_CLOCK;
  if (typeof clock?.now !== 'function') throw invalidField('OPTIONS_INVALID', 'clock', 'must have a now() function');
  if (options.newId !== undefined && typeof options.newId !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'newId', 'must be a function returning an event id');
  }
  const newId = input.id === undefined ? (options.newId ?? defaultNewId(clock)) : undefined;
  const generatedId = newId?.();
  const generatedTimestamp = input.timestamp === undefined ? formatTimestamp(clock.now()) : undefined;
  const event: Record<string, unknown> = {
    id: input.id ?? generatedId,
    type: input.type,
    source: input.source,
    timestamp: input.timestamp ?? generatedTimestamp,
    version: input.version,
    correlation_id: input.correlationId,
    causation_id: input.causationId,
    kind: input.kind,
    traceparent: input.traceparent,
    expires_at: input.expiresAt,
    schema: input.schema,
  };
  const plain = input.extensions === undefined || input.extensions === null;
  if (!plain) addExtensions(event, input.extensions);
  const routing = {
    topic: input.topic,
    partition_key: input.partitionKey,
    priority: input.priority,
    deliver_to: input.deliverTo,
  };
  const payload = input.payload === undefined ? {} : input.payload;
  // Years 0000-9999 format as 24 characters; others (6-digit years) are checked, and refused.
  const timestamp = generatedTimestamp?.length === 24 ? generatedTimestamp : undefined;
  // A caller's own `newId` may return anything: its ids are checked like given ones.
  const known = { id: isOwnIdGenerator(newId) ? generatedId : undefined, timestamp, plain };
  return normaliseEnvelope(event, payload, routing, options.limits, options.defaultSource ?? DEFAULT_SOURCE, known);
}

function addExtensions(event: Record<string, unknown>, extensions: unknown): void {
  if (typeof extensions !== 'object' || extensions === null || Array.isArray(extensions)) {
    throw invalidField('ENVELOPE_INVALID', 'event', 'extensions must be a plain object');
  }
  for (const [key, value] of Object.entries(extensions)) {
    if (EVENT_FIELDS.has(key)) {
      throw invalidField('ENVELOPE_INVALID', `event.${key}`, 'reserved name: set it with its publish option');
    }
    // Not an assignment: a key named "__proto__" must become a field (and then be refused).
    setOwn(event, key, value);
  }
}

const SYSTEM_CLOCK: Clock = { now: () => Date.now() };
let systemIds: (() => string) | undefined;

/** Ids on `clock`: one generator for the system clock, shared; a new one for another clock. */
function defaultNewId(clock: Clock): () => string {
  if (clock !== SYSTEM_CLOCK) return createIdGenerator({ clock });
  systemIds ??= createIdGenerator({ clock: SYSTEM_CLOCK });
  return systemIds;
}

/** The fields of `PublishInput`: anything else is a typo that would lose data. */
const PUBLISH_OPTIONS: ReadonlySet<string> = new Set([
  'topic',
  'type',
  'payload',
  'partitionKey',
  'priority',
  'deliverTo',
  'correlationId',
  'causationId',
  'source',
  'id',
  'kind',
  'timestamp',
  'version',
  'expiresAt',
  'traceparent',
  'schema',
  'extensions',
]);

function unknownOption(key: string): Error {
  const hint = key === 'delay' || key === 'deliverAt' ? ': only bus.publish schedules (one event at a time)' : '';
  return invalidField('ENVELOPE_INVALID', key, `unknown publish option${hint}; options are ${[...PUBLISH_OPTIONS].join(', ')}`);
}
