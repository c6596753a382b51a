/**
 * Failed attempts as every adapter keeps them (see `FailedAttempt`): one list per scheduled
 * retry, carried into the dead letter, written in the statement that writes the failure
 * anyway. The list is bounded (the last {@link ATTEMPTS_KEPT}, messages cut), so a poison event
 * cannot grow a row without limit. Stored as JSON text with the wire's snake_case keys; a row
 * written before the column existed (NULL) or unreadable text reads as no history.
 */
import { invalidField } from '../errors.js';
import { ATTEMPTS_KEPT, ATTEMPT_ERROR_MAX, type FailedAttempt, type FailureInfo } from './event-store.js';

/** Longest reason kept (a custom code; the built-in ones are short). */
const REASON_MAX = 200;

/** An attempt as stored: snake_case, like the wire and the SQL columns. */
interface StoredAttempt {
  attempt: number;
  at: number;
  reason: string;
  error: string;
  delay_ms?: number;
}

/** `text` cut to `max` characters with an ellipsis, never splitting a surrogate pair. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** The attempt that failed with `error` at `at`; `delayMs` when it is retried. */
export function failedAttempt(attempt: number, at: number, error: FailureInfo, delayMs?: number): FailedAttempt {
  return {
    attempt,
    at,
    reason: cut(error.reason, REASON_MAX),
    error: cut(error.message, ATTEMPT_ERROR_MAX),
    ...(delayMs !== undefined ? { delayMs: Math.max(0, Math.round(delayMs)) } : {}),
  };
}

/** `previous` with `next` added, cut to the last {@link ATTEMPTS_KEPT}. */
export function withAttempt(previous: readonly FailedAttempt[], next: FailedAttempt): FailedAttempt[] {
  const all = [...previous, next];
  return all.length > ATTEMPTS_KEPT ? all.slice(all.length - ATTEMPTS_KEPT) : all;
}

/** The JSON text of a list, for its column. */
export function encodeAttempts(attempts: readonly FailedAttempt[]): string {
  return JSON.stringify(
    attempts.map((a): StoredAttempt => {
      const stored: StoredAttempt = { attempt: a.attempt, at: a.at, reason: a.reason, error: a.error };
      if (a.delayMs !== undefined) stored.delay_ms = a.delayMs;
      return stored;
    }),
  );
}

/** The list a column holds: none for NULL (a row older than the column) or text that is not a list. */
export function decodeAttempts(text: string | null | undefined): FailedAttempt[] {
  if (text === null || text === undefined || text === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  const out: FailedAttempt[] = [];
  for (const entry of parsed as Array<Partial<StoredAttempt> | null>) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { attempt, at, reason, error, delay_ms } = entry;
    if (typeof attempt !== 'number' || typeof at !== 'number' || typeof reason !== 'string' || typeof error !== 'string') {
      continue;
    }
    out.push({ attempt, at, reason, error, ...(typeof delay_ms === 'number' ? { delayMs: delay_ms } : {}) });
  }
  return out;
}

/**
 * Checks the attempts a transport hands to `recordDeadLetter` and bounds them like the
 * store's own: the last {@link ATTEMPTS_KEPT}, reasons and messages cut.
 * @throws `OPTIONS_INVALID` naming the first bad entry (`attempts[1].at`)
 */
export function checkAttempts(value: unknown, field = 'attempts'): FailedAttempt[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidField('OPTIONS_INVALID', field, 'must be an array of failed attempts');
  const out = value.map((entry: unknown, i): FailedAttempt => {
    const at = `${field}[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw invalidField('OPTIONS_INVALID', at, 'must be an object');
    }
    const a = entry as Record<string, unknown>;
    if (!Number.isSafeInteger(a.attempt) || (a.attempt as number) < 1) {
      throw invalidField('OPTIONS_INVALID', `${at}.attempt`, 'must be a whole number of at least 1');
    }
    if (typeof a.at !== 'number' || !Number.isFinite(a.at)) {
      throw invalidField('OPTIONS_INVALID', `${at}.at`, 'must be a finite number of ms since the epoch');
    }
    if (typeof a.reason !== 'string' || a.reason === '') {
      throw invalidField('OPTIONS_INVALID', `${at}.reason`, 'must be a non-empty string');
    }
    if (typeof a.error !== 'string') throw invalidField('OPTIONS_INVALID', `${at}.error`, 'must be a string');
    if (a.delayMs !== undefined && (typeof a.delayMs !== 'number' || !Number.isFinite(a.delayMs) || a.delayMs < 0)) {
      throw invalidField('OPTIONS_INVALID', `${at}.delayMs`, 'must be a finite number of ms, at least 0, when given');
    }
    return failedAttempt(a.attempt as number, a.at, { reason: a.reason, message: a.error }, a.delayMs as number | undefined);
  });
  return out.length > ATTEMPTS_KEPT ? out.slice(out.length - ATTEMPTS_KEPT) : out;
}
