/**
 * The one error type agentbus throws. Every failure carries a stable `code` that
 * callers branch on, a message a person can act on, and the details behind it.
 *
 * Pure: no I/O, no clock.
 */

/** The closed set of error codes. Guards and HTTP mapping key on these, never on messages. */
export type AgentbusErrorCode =
  | 'ENVELOPE_INVALID'
  | 'TOPIC_INVALID'
  | 'FILTER_SYNTAX'
  | 'OPTIONS_INVALID'
  | 'BACKPRESSURE'
  | 'CONCURRENCY_CONFLICT'
  | 'LEASE_LOST'
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'TIMEOUT'
  /** A command or query nobody handles: no handler took it before its timeout. */
  | 'NO_HANDLER'
  | 'CLOSED'
  | 'BACKEND_UNAVAILABLE'
  | 'STORE_CORRUPT'
  /** A database whose schema a newer agentbus wrote: refused unopened; upgrade agentbus. */
  | 'SCHEMA_TOO_NEW'
  | 'HANDLER_FAILED';

/** What a user needs to act on an error: which field, why, and anything else relevant. */
export interface AgentbusErrorDetails {
  /** Dotted path of the offending field, e.g. `routing.topic` or `payload.result`. */
  readonly field?: string;
  /** Why the value was refused, in a few words. */
  readonly reason?: string;
  /** 1-based column in a filter expression where parsing failed. */
  readonly column?: number;
  readonly [key: string]: unknown;
}

/**
 * Base class of every error agentbus raises on purpose.
 *
 * @example
 * try { await bus.publish(input) } catch (e) {
 *   if (isAgentbusError(e, 'ENVELOPE_INVALID')) console.error(e.details.field, e.details.reason)
 * }
 */
export class AgentbusError extends Error {
  override readonly name: string = 'AgentbusError';
  readonly code: AgentbusErrorCode;
  readonly details: AgentbusErrorDetails;

  constructor(code: AgentbusErrorCode, message: string, details: AgentbusErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  /** A plain object safe to print or send (no stack, no cause chain). */
  toJSON(): { code: AgentbusErrorCode; message: string; details: AgentbusErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `value` is an AgentbusError, optionally with the given code. */
export function isAgentbusError(value: unknown, code?: AgentbusErrorCode): value is AgentbusError {
  return value instanceof AgentbusError && (code === undefined || value.code === code);
}

/** A field refused by validation: `field` is the dotted path, `reason` says why. */
export function invalidField(
  code: AgentbusErrorCode,
  field: string,
  reason: string,
  extra: AgentbusErrorDetails = {},
): AgentbusError {
  return new AgentbusError(code, `${field}: ${reason}`, { ...extra, field, reason });
}

/**
 * Refuses an options object (`what`, for the message) that is not a plain object, or has a
 * key outside `known`: a typo would otherwise be ignored and lose a setting silently.
 * @throws AgentbusError `code` naming `prefix + key`.
 */
export function refuseUnknownKeys(
  value: unknown,
  known: ReadonlySet<string>,
  prefix: string,
  code: AgentbusErrorCode = 'OPTIONS_INVALID',
): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidField(code, prefix === '' ? 'options' : prefix.replace(/\.$/, ''), 'must be an object');
  }
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw invalidField(code, `${prefix}${key}`, `unknown option; options are ${[...known].join(', ')}`);
  }
}

/**
 * `error` with `prefix` put before its field (`[2]` and `routing.topic` give
 * `[2].routing.topic`); anything without a field is returned as it is.
 */
export function prefixField(error: unknown, prefix: string): unknown {
  if (!(error instanceof AgentbusError) || typeof error.details.field !== 'string') return error;
  const field = `${prefix}.${error.details.field}`;
  return new AgentbusError(error.code, `${field}: ${error.details.reason ?? error.message}`, { ...error.details, field });
}

/**
 * Thrown by a publisher when a subscription is too far behind and its policy is `reject`,
 * or when a `block` policy waited longer than its timeout.
 */
export class BackpressureError extends AgentbusError {
  override readonly name = 'BackpressureError';
  constructor(message: string, details: AgentbusErrorDetails) {
    super('BACKPRESSURE', message, details);
  }
}

/**
 * Thrown by a handler to say: this event will never succeed, do not retry it.
 * The delivery goes straight to the dead-letter queue.
 */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError';
  readonly code: string;
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(message, options);
    this.code = options?.code ?? 'invalid_payload';
  }
}

/** Thrown by a handler to ask for a retry after a specific delay, in milliseconds. */
export class RetryAfterError extends Error {
  override readonly name = 'RetryAfterError';
  readonly delayMs: number;
  constructor(delayMs: number, message = `retry after ${delayMs} ms`, options?: { cause?: unknown }) {
    super(message, options);
    this.delayMs = delayMs;
  }
}
