/**
 * Errors that cross the bus: a handler's failure becomes data in a reply, and the data
 * becomes an error again for the sender, with the same code.
 */
import { AgentbusError, type AgentbusErrorCode, NonRetryableError } from '../errors.js';
import type { JsonObject } from '../envelope/envelope.js';

/** A handler's failure as it travels in a reply. */
export interface RemoteErrorData extends JsonObject {
  /** `agentbus` for an AgentbusError, `non_retryable` for a NonRetryableError, else `error`. */
  kind: 'agentbus' | 'non_retryable' | 'error';
  code: string;
  message: string;
  name: string;
  details: JsonObject;
}

const AGENTBUS_CODES: ReadonlySet<string> = new Set<AgentbusErrorCode>([
  'ENVELOPE_INVALID',
  'TOPIC_INVALID',
  'FILTER_SYNTAX',
  'OPTIONS_INVALID',
  'BACKPRESSURE',
  'CONCURRENCY_CONFLICT',
  'LEASE_LOST',
  'NOT_FOUND',
  'UNAUTHORIZED',
  'TIMEOUT',
  'NO_HANDLER',
  'CLOSED',
  'BACKEND_UNAVAILABLE',
  'STORE_CORRUPT',
  'SCHEMA_TOO_NEW',
  'HANDLER_FAILED',
]);

function jsonDetails(details: unknown): JsonObject {
  try {
    const text = JSON.stringify(details ?? {});
    const parsed: unknown = text === undefined ? {} : JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as JsonObject) : {};
  } catch {
    return {};
  }
}

/** What a handler threw, as reply data. */
export function toRemoteError(error: unknown): RemoteErrorData {
  if (error instanceof AgentbusError) {
    return { kind: 'agentbus', code: error.code, message: error.message, name: error.name, details: jsonDetails(error.details) };
  }
  if (error instanceof NonRetryableError) {
    return { kind: 'non_retryable', code: error.code, message: error.message, name: error.name, details: {} };
  }
  const e = error instanceof Error ? error : new Error(String(error));
  return { kind: 'error', code: 'HANDLER_FAILED', message: e.message, name: e.name, details: {} };
}

/**
 * The error `send`/`ask` throws for a failure reply: an AgentbusError with the handler's
 * code, a NonRetryableError with its code, or `HANDLER_FAILED` for anything else.
 */
export function fromRemoteError(data: RemoteErrorData, what: { kind: 'command' | 'query'; type: string }): Error {
  const where = `${what.kind} ${what.type}`;
  if (data.kind === 'non_retryable') return new NonRetryableError(`${where}: ${data.message}`, { code: data.code });
  const code: AgentbusErrorCode =
    data.kind === 'agentbus' && AGENTBUS_CODES.has(data.code) ? (data.code as AgentbusErrorCode) : 'HANDLER_FAILED';
  const details = { ...data.details, [what.kind === 'command' ? 'commandType' : 'queryType']: what.type };
  if (data.kind === 'error') Object.assign(details, { errorName: data.name });
  return new AgentbusError(code, `${where}: ${data.message}`, details);
}
