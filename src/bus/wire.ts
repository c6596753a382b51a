/**
 * Records as the HTTP API and the CLI print them: snake_case JSON like the envelope on the
 * wire, times as RFC 3339. One mapper per record type, in this one place.
 */
import type { DeadLetterGroup } from './dead-letters.js';
import type { ConsumerInfo, DeadLetter, FailedAttempt, StoredEvent } from '../store/event-store.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** A stored event: `{ seq, stored_at, envelope }` (as `agentbus events --json`). */
export interface StoredEventJson {
  readonly seq: number;
  /** RFC 3339 UTC time the store committed the event. */
  readonly stored_at: string;
  readonly envelope: StoredEvent['envelope'];
}

/** Maps a stored event to its JSON form. */
export function storedEventJson(event: StoredEvent): StoredEventJson {
  return { seq: event.seq, stored_at: iso(event.storedAt), envelope: event.envelope };
}

/** A durable subscription with its position and counters. */
export function subscriptionJson(c: ConsumerInfo) {
  return {
    name: c.name,
    topic: c.topic,
    filter: c.filter ?? null,
    paused: c.paused,
    ordered: c.ordered,
    ack_floor: c.ackFloor,
    next_seq: c.nextSeq,
    in_flight: c.inFlight,
    scheduled: c.scheduled,
    redelivered: c.redelivered,
    dead_lettered: c.deadLettered,
    expired: c.expired,
    created_at: iso(c.createdAt),
    ...(c.activeMember !== undefined ? { active_member: c.activeMember } : {}),
    ...(c.lag ? { lag: { max_lag: c.lag.maxLag, on_full: c.lag.onFull, pending: c.lag.pending } } : {}),
  };
}

/** A dead letter, with its event. */
export function deadLetterJson(d: DeadLetter) {
  return {
    id: d.id,
    subscription: d.consumer,
    status: d.status,
    reason: d.reason,
    error: d.error,
    retries: d.retries,
    first_failed_at: iso(d.firstFailedAt),
    last_failed_at: iso(d.lastFailedAt),
    ...(d.note !== undefined ? { note: d.note } : {}),
    ...(d.replayedAs !== undefined ? { replayed_as: d.replayedAs } : {}),
    event: storedEventJson(d.event),
  };
}

/** A failed attempt: `{ attempt, at, reason, error, delay_ms? }` (`delay_ms` when it was retried). */
export function failedAttemptJson(a: FailedAttempt) {
  return {
    attempt: a.attempt,
    at: iso(a.at),
    reason: a.reason,
    error: a.error,
    ...(a.delayMs !== undefined ? { delay_ms: a.delayMs } : {}),
  };
}

/**
 * One dead letter in full (`GET /v1/dlq/{id}`): {@link deadLetterJson} with its failed
 * attempts, oldest first (the last 20; empty for dead letters older than attempts kept).
 * Lists leave them out, to stay small.
 */
export function deadLetterDetailJson(d: DeadLetter) {
  return { ...deadLetterJson(d), attempts: d.attempts.map(failedAttemptJson) };
}

/** Open dead letters sharing a cause. */
export function deadLetterGroupJson(g: DeadLetterGroup) {
  return {
    fingerprint: g.fingerprint,
    subscription: g.subscription,
    reason: g.reason,
    message: g.message,
    count: g.count,
    ids: g.ids,
    first_failed_at: iso(g.firstFailedAt),
    last_failed_at: iso(g.lastFailedAt),
  };
}
