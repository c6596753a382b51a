/**
 * Projection definitions: a named, persistent read model folded from events on some topics.
 */
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { AgentbusError, invalidField } from '../errors.js';
import { validateTopicPattern } from '../routing/index.js';
import { positiveInteger } from './names.js';

/** Where an event sits in the log, given to `apply`. */
export interface ProjectionEventInfo {
  readonly seq: number;
}

/**
 * What `defineProjection` takes.
 * @typeParam S - The read model.
 * @typeParam P - What the folded payloads hold (a union when they differ): a promise the
 *   projection makes, not checked at run time; `topics` choose what it folds. @default JsonValue
 */
export interface ProjectionOptions<S, P = JsonValue> {
  /** Durable name: the read model and its checkpoint are kept under it. */
  name: string;
  /** Topic patterns (NATS wildcards) whose events the projection folds. */
  topics: readonly string[] | string;
  /** The read model before any event: a JSON value (copied) or a function returning one. */
  init: S | (() => S);
  /** Pure: the read model after `event`. The result must be JSON (it is stored). */
  apply: (state: S, event: Envelope<P>, info: ProjectionEventInfo) => S;
  /** Events folded per transaction. @default 500 */
  batchSize?: number;
}

/** A validated projection, ready for `bus.projections.start` or `rebuild`. */
export interface Projection<S = unknown> {
  readonly kind: 'agentbus.projection';
  readonly name: string;
  readonly topics: readonly string[];
  readonly init: () => S;
  readonly apply: (state: S, event: Envelope, info: ProjectionEventInfo) => S;
  readonly batchSize: number;
}

const NAME = /^[A-Za-z0-9_.:-]{1,120}$/;

/**
 * Defines a projection.
 * @typeParam S - The read model (inferred from `init` when not given).
 * @typeParam P - What the folded payloads hold, so `apply` reads them without a cast.
 *   @default JsonValue
 * @throws AgentbusError `OPTIONS_INVALID` naming the field.
 * @example
 * type UserCreated = { id: string; name: string }
 * const users = defineProjection<Record<string, UserCreated>, UserCreated>({
 *   name: 'users', topics: ['streams.user'], init: {},
 *   apply: (users, e) => e.event.type === 'UserCreatedEvent' ? { ...users, [e.payload.id]: e.payload } : users,
 * })
 */
export function defineProjection<S, P = JsonValue>(options: ProjectionOptions<S, P>): Projection<S> {
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  const name = validateProjectionName(options.name);
  const list = typeof options.topics === 'string' ? [options.topics] : options.topics;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalidField('OPTIONS_INVALID', 'topics', 'must be one or more topic patterns');
  }
  const topics = list.map((topic, i) => {
    try {
      return validateTopicPattern(topic, `topics[${i}]`);
    } catch (error) {
      if (error instanceof AgentbusError) throw new AgentbusError('OPTIONS_INVALID', error.message, error.details);
      throw error;
    }
  });
  if (typeof options.apply !== 'function') throw invalidField('OPTIONS_INVALID', 'apply', 'must be a function');
  if (options.init === undefined) throw invalidField('OPTIONS_INVALID', 'init', 'must be a value or a function');
  const init = options.init;
  return Object.freeze({
    kind: 'agentbus.projection' as const,
    name,
    topics: Object.freeze([...new Set(topics)]),
    init: typeof init === 'function' ? (init as () => S) : () => structuredClone(init),
    // The payload type is the projection's promise: the runner passes events as stored.
    apply: options.apply as Projection<S>['apply'],
    batchSize: positiveInteger(options.batchSize, 'batchSize', 500),
  });
}

/** Validates a projection name. */
export function validateProjectionName(value: unknown, field = 'name'): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw invalidField('OPTIONS_INVALID', field, 'must be 1 to 120 characters of A-Z a-z 0-9 _ . : -');
  }
  return value;
}

/** True for a value made by {@link defineProjection}. */
export function isProjection(value: unknown): value is Projection {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'agentbus.projection';
}
