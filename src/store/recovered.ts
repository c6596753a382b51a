/**
 * Recovered deliveries as every adapter keeps them (ADR 0023): the failed attempts of an event
 * a subscription then handled, one row per (event position, subscription), written by the
 * acknowledgement that deletes the event's scheduled retry, or recorded by a transport that
 * delivers outside the store. Shared here: the row's shape, its reading, and the checks of a
 * transport's record.
 */
import { invalidField } from '../errors.js';
import { checkAttempts, decodeAttempts, encodeAttempts } from './attempts.js';
import type { ExternalRecovery, RecoveredDelivery, RecoveredFilter, StoredEvent } from './event-store.js';

/** A recovered delivery's row as both SQL adapters select it (PostgreSQL's bigints may be strings). */
export interface RecoveredRow {
  consumer: string;
  retries: number | string;
  first_failed_at: number | string;
  attempts: string | null;
  handled_attempt: number | string;
  handled_at: number | string;
}

/** The record of `row`, about `event`. */
export function toRecovered(row: RecoveredRow, event: StoredEvent): RecoveredDelivery {
  return {
    consumer: row.consumer,
    event,
    retries: Number(row.retries),
    firstFailedAt: Number(row.first_failed_at),
    attempts: decodeAttempts(row.attempts),
    handledAttempt: Number(row.handled_attempt),
    handledAt: Number(row.handled_at),
  };
}

/** A transport's recovery, checked, with its attempts bounded and encoded for the column. */
export interface CheckedRecovery {
  readonly consumer: string;
  readonly retries: number;
  readonly firstFailedAt: number;
  readonly attempts: string;
  readonly handledAttempt: number;
  readonly handledAt: number;
}

const whole = (value: unknown, min: number): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
const time = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * Checks what a transport hands to `RecoveredDeliveries.record`.
 * @throws `OPTIONS_INVALID` naming the field
 */
export function checkRecovery(record: ExternalRecovery): CheckedRecovery {
  if (typeof record !== 'object' || record === null) throw invalidField('OPTIONS_INVALID', 'record', 'must be an object');
  const { consumer, retries, firstFailedAt, handledAttempt, handledAt } = record;
  if (typeof consumer !== 'string' || consumer === '') {
    throw invalidField('OPTIONS_INVALID', 'consumer', 'must be a non-empty string');
  }
  if (!whole(retries, 1)) throw invalidField('OPTIONS_INVALID', 'retries', 'must be a whole number of at least 1');
  if (!whole(handledAttempt, 1)) {
    throw invalidField('OPTIONS_INVALID', 'handledAttempt', 'must be a whole number of at least 1');
  }
  if (!time(firstFailedAt)) throw invalidField('OPTIONS_INVALID', 'firstFailedAt', 'must be a finite number of ms');
  if (!time(handledAt)) throw invalidField('OPTIONS_INVALID', 'handledAt', 'must be a finite number of ms');
  return {
    consumer,
    retries,
    firstFailedAt: Math.round(firstFailedAt),
    attempts: encodeAttempts(checkAttempts(record.attempts)),
    handledAttempt,
    handledAt: Math.round(handledAt),
  };
}

/**
 * Checks a list filter.
 * @throws `OPTIONS_INVALID` naming the field
 */
export function checkRecoveredFilter(filter: RecoveredFilter): RecoveredFilter {
  if (typeof filter !== 'object' || filter === null) throw invalidField('OPTIONS_INVALID', 'filter', 'must be an object');
  if (typeof filter.correlationId !== 'string' || filter.correlationId === '') {
    throw invalidField('OPTIONS_INVALID', 'correlationId', 'must be a non-empty string');
  }
  if (filter.consumer !== undefined && typeof filter.consumer !== 'string') {
    throw invalidField('OPTIONS_INVALID', 'consumer', 'must be a string when given');
  }
  if (filter.limit !== undefined && !whole(filter.limit, 1)) {
    throw invalidField('OPTIONS_INVALID', 'limit', 'must be a whole number of at least 1 when given');
  }
  return filter;
}
