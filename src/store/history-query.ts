/**
 * Validating a history query once, before any store sees it: every adapter's `read` and the
 * HTTP route share this, so a value refused on one backend is refused on all (a NUL byte in
 * a correlation id never reaches PostgreSQL, a string limit never reaches SQLite).
 *
 * Pure.
 */
import { isEventId, isEventType, textProblem } from '../envelope/index.js';
import { invalidField } from '../errors.js';
import { validateTopicPattern } from '../routing/index.js';
import type { HistoryQuery } from './event-store.js';

/** The name a caller knows a query field by (`correlationId`, or `query.correlation_id` over HTTP). */
export type HistoryFieldName = (key: keyof HistoryQuery) => string;

const KEYS: ReadonlySet<string> = new Set<keyof HistoryQuery>([
  'fromSeq',
  'toSeq',
  'topic',
  'type',
  'correlationId',
  'causationId',
  'since',
  'until',
  'limit',
  'direction',
]);

/**
 * Checks a history query and returns it without its `undefined` fields.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field (`TOPIC_INVALID` for `topic`);
 *   `query` when it is not an object.
 * @example validateHistoryQuery({ correlationId: 'project-xyz-123', limit: 50 })
 */
export function validateHistoryQuery(query: unknown, nameOf: HistoryFieldName = (key) => key): HistoryQuery {
  if (query === undefined) return {};
  if (typeof query !== 'object' || query === null || Array.isArray(query)) {
    throw invalidField('OPTIONS_INVALID', 'query', 'must be an object of history filters');
  }
  const q = query as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(q)) {
    if (q[key] === undefined) continue;
    if (!KEYS.has(key)) throw invalidField('OPTIONS_INVALID', key, 'unknown history query field');
    out[key] = check(key as keyof HistoryQuery, q[key], nameOf(key as keyof HistoryQuery));
  }
  return out as HistoryQuery;
}

function check(key: keyof HistoryQuery, value: unknown, field: string): unknown {
  switch (key) {
    case 'fromSeq':
    case 'toSeq':
      return whole(value, field, 0);
    case 'limit':
      return whole(value, field, 1);
    case 'since':
    case 'until':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw invalidField('OPTIONS_INVALID', field, 'must be a time in ms since the epoch (a finite number)');
      }
      return value;
    case 'direction':
      if (value !== 'forward' && value !== 'backward')
        throw invalidField('OPTIONS_INVALID', field, 'must be forward or backward');
      return value;
    case 'topic':
      return validateTopicPattern(value, field);
    case 'type':
      if (!isEventType(value)) {
        throw invalidField('OPTIONS_INVALID', field, 'must be an event type: a letter, then up to 199 of A-Z a-z 0-9 _ . : -');
      }
      return value;
    case 'correlationId':
    case 'causationId': {
      const problem = textProblem(value, 255);
      if (problem !== undefined) throw invalidField('OPTIONS_INVALID', field, problem);
      return value;
    }
  }
}

function whole(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidField('OPTIONS_INVALID', field, `must be a whole number of at least ${min}`);
  }
  return value;
}

/**
 * Checks a correlation id given as a filter (of history, of dead letters): 1-255 characters
 * without control characters or lone surrogates, as an envelope's `correlation_id` is.
 * @throws AgentbusError `OPTIONS_INVALID` naming `field`
 */
export function validateCorrelationId(value: unknown, field = 'correlationId'): string {
  const problem = textProblem(value, 255);
  if (problem !== undefined) throw invalidField('OPTIONS_INVALID', field, problem);
  return value as string;
}

/**
 * Checks the id of a single-event lookup (`store.get`).
 * @throws AgentbusError `OPTIONS_INVALID` naming `field` when it cannot be an event id.
 */
export function validateEventIdQuery(id: unknown, field = 'id'): string {
  if (!isEventId(id)) throw invalidField('OPTIONS_INVALID', field, 'must be 1-200 characters of A-Z a-z 0-9 . _ : -');
  return id;
}
