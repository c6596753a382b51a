/**
 * The envelope: exactly the seed's JSON (`event`, `payload`, `routing`), snake_case on the wire.
 * What is stored and sent is this shape; TypeScript code reads it as is.
 */

/** Any JSON value. Payloads are JSON and nothing else. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object: string keys, JSON values. */
export type JsonObject = { [key: string]: JsonValue };

/** The seed's four message kinds. */
export type EventKind = 'command' | 'event' | 'query' | 'notification';
/** The four kinds, in the seed's order. */
export const EVENT_KINDS: readonly EventKind[] = ['command', 'event', 'query', 'notification'];

/** Delivery priority among ready deliveries. */
export type Priority = 'high' | 'normal' | 'low';
/** The three priorities, highest first. */
export const PRIORITIES: readonly Priority[] = ['high', 'normal', 'low'];

/** The `event` block: identity, provenance and correlation. Unknown fields are preserved. */
export interface EventHeader {
  /** `evt-YYYYMMDD-HHMMSS-<random>`, UTC, time-sortable; given ids are kept. */
  id: string;
  /** PascalCase name of what happened or is asked, e.g. `TaskCompletedEvent`. */
  type: string;
  /** The publishing agent, e.g. `/backend-architect`. */
  source: string;
  /** RFC 3339 time the event was created. */
  timestamp: string;
  /** Version of the event's schema. @default "1.0" */
  version: string;
  /** Shared by all events of one piece of work. @default the event's own id */
  correlation_id: string;
  /** The id of the event that caused this one; null for a root event. */
  causation_id: string | null;
  /** Message kind; inferred from the type's suffix when absent. */
  kind: EventKind;
  /** W3C trace context. */
  traceparent?: string;
  /** RFC 3339 time after which the event is not delivered. */
  expires_at?: string;
  /** URI or name of the payload's schema. */
  schema?: string;
  [extension: string]: JsonValue | undefined;
}

/** The `routing` block. Unknown fields are preserved. */
export interface Routing {
  /** Dot-separated topic, e.g. `project.tasks`. */
  topic: string;
  /** Events with the same key are delivered in order to ordered subscriptions. */
  partition_key?: string;
  /** @default "normal" */
  priority: Priority;
  /**
   * Addresses the event to one subscription: only the subscription of this name receives it,
   * whatever its topic pattern and filter. Used by "fix and replay" and by routes to an agent.
   */
  deliver_to?: string;
  [extension: string]: JsonValue | undefined;
}

/**
 * A complete, validated envelope as stored and delivered.
 *
 * @typeParam P - What the payload holds, as the code reading it promises (`Envelope<TaskCompleted>`).
 *   It is never checked at run time: on the wire a payload is JSON, nothing more. A handler that
 *   cannot trust its publishers narrows with a filter (`type=TaskCompletedEvent`) or checks the
 *   payload itself (a schema). @default JsonValue
 */
export interface Envelope<P = JsonValue> {
  event: EventHeader;
  payload: P;
  routing: Routing;
}

/** What a publisher supplies; everything but `topic` and `type` has a default. */
export interface PublishInput<P extends JsonValue = JsonValue> {
  topic: string;
  type: string;
  /** @default {} */
  payload?: P;
  partitionKey?: string;
  /** @default "normal" */
  priority?: Priority;
  /** Deliver only to the subscription of this name. */
  deliverTo?: string;
  /** @default the new event's own id */
  correlationId?: string;
  /** @default null */
  causationId?: string | null;
  /** @default the bus's default source, "/agentbus" */
  source?: string;
  /** Keep this id instead of generating one; publishing the same id twice is a no-op. */
  id?: string;
  /** @default inferred from the type's suffix */
  kind?: EventKind;
  /** RFC 3339; @default now */
  timestamp?: string;
  /** @default "1.0" */
  version?: string;
  /** RFC 3339 time after which the event is not delivered. */
  expiresAt?: string;
  /** W3C trace context of the work that publishes this event. */
  traceparent?: string;
  /** URI or name of the payload's schema. */
  schema?: string;
  /**
   * Extra fields of the `event` block, kept as given (names: a letter, then up to 63 of
   * `A-Z a-z 0-9 _ -`; values: JSON). Names of the standard fields are refused.
   */
  extensions?: JsonObject;
}
