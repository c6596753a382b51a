/**
 * Errors as HTTP responses: RFC 9457 problem details (`application/problem+json`) carrying
 * the AgentbusError `code` and, when there is one, the `field`. The status mapping lives
 * here and nowhere else.
 */
import { type AgentbusErrorCode, isAgentbusError } from '../errors.js';

/** Content type of every error response. */
export const PROBLEM_JSON = 'application/problem+json';

/** A problem details body. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** The AgentbusError code. */
  readonly code: AgentbusErrorCode;
  /** Dotted path of the refused field, when there is one. */
  readonly field?: string;
  readonly [extension: string]: unknown;
}

const STATUS: Record<AgentbusErrorCode, number> = {
  ENVELOPE_INVALID: 422,
  TOPIC_INVALID: 422,
  FILTER_SYNTAX: 400,
  OPTIONS_INVALID: 400,
  BACKPRESSURE: 429,
  CONCURRENCY_CONFLICT: 409,
  LEASE_LOST: 409,
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  TIMEOUT: 503,
  NO_HANDLER: 503,
  CLOSED: 503,
  BACKEND_UNAVAILABLE: 503,
  STORE_CORRUPT: 500,
  SCHEMA_TOO_NEW: 500,
  HANDLER_FAILED: 500,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Detail fields copied from an AgentbusError into the problem (never stacks or causes). */
const EXTENSIONS = [
  'reason',
  'column',
  'subscription',
  'pending',
  'maxLag',
  'id',
  'stream',
  'expected',
  'actual',
  'limit',
  'scope',
  'retry_after',
];

/** The HTTP status of an AgentbusError code. */
export function statusOfCode(code: AgentbusErrorCode): number {
  return STATUS[code];
}

/** Builds a problem body. */
export function problem(status: number, code: AgentbusErrorCode, detail: string, extra: Record<string, unknown> = {}): Problem {
  return {
    type: `urn:agentbus:error:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code,
    ...extra,
  };
}

/**
 * The problem for any thrown value. AgentbusErrors keep their message, code and field;
 * anything else becomes a 500 whose detail says nothing of the internals.
 */
export function problemOf(error: unknown): Problem {
  if (isAgentbusError(error)) {
    const status = typeof error.details.status === 'number' ? error.details.status : statusOfCode(error.code);
    const extra: Record<string, unknown> = {};
    if (typeof error.details.field === 'string') extra.field = error.details.field;
    for (const key of EXTENSIONS) if (error.details[key] !== undefined) extra[key] = error.details[key];
    return problem(status, error.code, error.message, extra);
  }
  return problem(500, 'BACKEND_UNAVAILABLE', 'internal error: see the server log');
}

/** A `Response` carrying `body` as `application/problem+json`. */
export function problemResponse(body: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: body.status,
    headers: { 'content-type': PROBLEM_JSON, ...headers },
  });
}
