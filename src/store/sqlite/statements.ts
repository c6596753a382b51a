/**
 * The delivery state's tables as rows, and every statement on them, prepared once per
 * connection.
 */
import type Database from 'better-sqlite3';
import type { DeadLetter } from '../event-store.js';
import type { RecoveredRow } from '../recovered.js';
import type { EventRow } from './event-log.js';

export interface ConsumerRow {
  name: string;
  topic: string;
  filter: string | null;
  next_seq: number;
  paused: number;
  redelivered: number;
  dead_lettered: number;
  expired: number;
  created_at: number;
  max_lag: number | null;
  on_full: 'block' | 'reject' | null;
  pending: number;
  ordered: number;
  active_owner: string | null;
  active_until: number | null;
}

export interface WindowRow {
  consumer: string;
  first_seq: number;
  last_seq: number;
  pending: string;
  owner: string;
  lease_until: number;
  token: number;
}

export interface RetryRow {
  consumer: string;
  seq: number;
  attempt: number;
  due_at: number;
  owner: string | null;
  lease_until: number | null;
  token: number;
  reason: string | null;
  error: string | null;
  stack: string | null;
  first_failed_at: number | null;
  last_failed_at: number | null;
  failures: number;
  /** Failed attempts as JSON (`store/attempts.ts`); NULL before schema 12 or when none failed. */
  attempts: string | null;
}

/** A dead letter joined with its event. */
export interface DeadLetterRow extends EventRow {
  id: number;
  consumer: string;
  reason: string;
  error: string;
  stack: string | null;
  retries: number;
  first_failed_at: number;
  last_failed_at: number;
  status: DeadLetter['status'];
  note: string | null;
  replayed_as: string | null;
  attempts: string | null;
}

/** A recovered delivery joined with its event. */
export interface RecoveredRowWithEvent extends EventRow, RecoveredRow {}

/** Every statement the delivery state runs, prepared once per connection. */
function build(db: Database.Database) {
  const q = (sql: string): Database.Statement => db.prepare(sql);
  return {
    consumer: q('SELECT * FROM consumers WHERE name = ?'),
    consumers: q('SELECT * FROM consumers ORDER BY name'),
    insertConsumer: q(
      'INSERT INTO consumers (name, topic, filter, next_seq, created_at, max_lag, on_full, ordered) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING',
    ),
    updateSelection: q('UPDATE consumers SET topic = ?, filter = ?, max_lag = ?, on_full = ?, ordered = ? WHERE name = ?'),
    activate: q('UPDATE consumers SET active_owner = ?, active_until = ? WHERE name = ?'),
    extendActive: q('UPDATE consumers SET active_until = ? WHERE name = ? AND active_owner = ?'),
    releaseActive: q('UPDATE consumers SET active_owner = NULL, active_until = NULL WHERE name = ? AND active_owner = ?'),
    heldKeys: q(
      `SELECT e.partition_key AS key, min(r.seq) AS seq FROM consumer_retries r JOIN events e ON e.seq = r.seq
       WHERE r.consumer = ? AND r.owner IS NULL AND e.partition_key IS NOT NULL GROUP BY e.partition_key`,
    ),
    setPending: q('UPDATE consumers SET pending = ? WHERE name = ?'),
    windowPendingTotal: q('SELECT pending FROM consumer_windows WHERE consumer = ?').pluck(),
    retryCount: q('SELECT count(*) FROM consumer_retries WHERE consumer = ?').pluck(),
    scanFrom: q('SELECT seq, body, target FROM events WHERE seq >= ? AND seq > ? ORDER BY seq LIMIT 1000'),
    advance: q('UPDATE consumers SET next_seq = ?, expired = expired + ? WHERE name = ?'),
    countExpired: q('UPDATE consumers SET expired = expired + ? WHERE name = ?'),
    countRedelivered: q('UPDATE consumers SET redelivered = redelivered + ? WHERE name = ?'),
    countDead: q('UPDATE consumers SET dead_lettered = dead_lettered + 1 WHERE name = ?'),
    setPaused: q('UPDATE consumers SET paused = ? WHERE name = ?'),
    setNext: q('UPDATE consumers SET next_seq = ? WHERE name = ?'),
    deleteConsumer: q('DELETE FROM consumers WHERE name = ?'),
    windows: q('SELECT * FROM consumer_windows WHERE consumer = ?'),
    windowsOfOthers: q('SELECT * FROM consumer_windows WHERE consumer = ? AND owner != ?'),
    window: q('SELECT * FROM consumer_windows WHERE consumer = ? AND first_seq = ?'),
    insertWindow: q(
      'INSERT INTO consumer_windows (consumer, first_seq, last_seq, pending, owner, lease_until, token) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    updateWindow: q('UPDATE consumer_windows SET pending = ? WHERE consumer = ? AND first_seq = ?'),
    deleteWindow: q('DELETE FROM consumer_windows WHERE consumer = ? AND first_seq = ?'),
    deleteWindows: q('DELETE FROM consumer_windows WHERE consumer = ?'),
    extendWindow: q(
      'UPDATE consumer_windows SET lease_until = ? WHERE consumer = ? AND first_seq = ? AND token = ? AND owner = ?',
    ),
    retry: q('SELECT * FROM consumer_retries WHERE consumer = ? AND seq = ?'),
    anyRetry: q('SELECT 1 FROM consumer_retries WHERE consumer = ? LIMIT 1'),
    retryOwners: q('SELECT DISTINCT owner FROM consumer_retries WHERE consumer = ? AND owner IS NOT NULL AND owner != ?'),
    freeRetriesOf: q('UPDATE consumer_retries SET owner = NULL, lease_until = NULL WHERE consumer = ? AND owner = ?'),
    dueRetries: q(
      `SELECT r.* FROM consumer_retries r JOIN events e ON e.seq = r.seq
       WHERE r.consumer = ? AND r.due_at <= ? AND (r.owner IS NULL OR r.lease_until <= ?)
       ORDER BY e.priority, r.due_at, r.seq LIMIT ?`,
    ),
    nextDue: q('SELECT min(due_at) FROM consumer_retries WHERE consumer = ? AND owner IS NULL AND due_at > ?').pluck(),
    nextLapse: q('SELECT min(lease_until) FROM consumer_retries WHERE consumer = ? AND owner IS NOT NULL AND owner != ?').pluck(),
    leaseRetry: q(
      'UPDATE consumer_retries SET owner = ?, lease_until = ?, token = ?, attempt = attempt + 1 WHERE consumer = ? AND seq = ?',
    ),
    insertRetry: q(
      `INSERT INTO consumer_retries (consumer, seq, attempt, due_at, owner, lease_until, token, reason, error, stack, first_failed_at, last_failed_at, failures, attempts)
       VALUES (?, ?, ?, ?, NULL, NULL, 0, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (consumer, seq) DO UPDATE SET attempt = excluded.attempt, due_at = excluded.due_at, owner = NULL,
         failures = excluded.failures,
         lease_until = NULL, reason = excluded.reason, error = excluded.error, stack = excluded.stack,
         first_failed_at = coalesce(consumer_retries.first_failed_at, excluded.first_failed_at),
         last_failed_at = excluded.last_failed_at,
         attempts = coalesce(excluded.attempts, consumer_retries.attempts)`,
    ),
    returnRetry: q(
      'UPDATE consumer_retries SET owner = NULL, lease_until = NULL, attempt = attempt - 1, due_at = ? WHERE consumer = ? AND seq = ? AND token = ?',
    ),
    extendRetry: q('UPDATE consumer_retries SET lease_until = ? WHERE consumer = ? AND seq = ? AND token = ? AND owner = ?'),
    deleteRetry: q('DELETE FROM consumer_retries WHERE consumer = ? AND seq = ?'),
    // A counter in the state area (its value is JSON text: an integer's digits).
    incrementState: q(
      `INSERT INTO state (namespace, key, value, version, updated_at) VALUES (?, ?, CAST(? AS TEXT), 1, ?)
       ON CONFLICT (namespace, key) DO UPDATE SET value = CAST(CAST(state.value AS INTEGER) + CAST(excluded.value AS INTEGER) AS TEXT),
         version = state.version + 1, updated_at = excluded.updated_at`,
    ),
    deleteRetries: q('DELETE FROM consumer_retries WHERE consumer = ?'),
    retryStats: q(
      `SELECT count(*) FILTER (WHERE owner IS NOT NULL AND lease_until > ?) AS leased,
              count(*) FILTER (WHERE owner IS NULL OR lease_until <= ?) AS waiting,
              min(seq) AS min_seq
       FROM consumer_retries WHERE consumer = ?`,
    ),
    scan: q('SELECT seq, stored_at, topic, expires_at, target, body FROM events WHERE seq >= ? ORDER BY seq LIMIT ?'),
    eventAt: q('SELECT seq, stored_at, body FROM events WHERE seq = ?'),
    insertDead: q(
      `INSERT INTO dead_letters (consumer, seq, reason, error, stack, retries, first_failed_at, last_failed_at, attempts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deadLetters: q(
      `SELECT d.*, e.stored_at, e.body FROM dead_letters d JOIN events e ON e.seq = d.seq
       WHERE (@consumer IS NULL OR d.consumer = @consumer) AND (@status IS NULL OR d.status = @status) AND d.id > @after
       ORDER BY d.id LIMIT @limit`,
    ),
    // A correlation's dead letters: its events (events_by_correlation), then theirs by position
    // (dead_letters_by_seq). CROSS JOIN keeps that order: never a walk of the queue by id.
    deadLettersOf: q(
      `SELECT d.*, e.stored_at, e.body FROM events e CROSS JOIN dead_letters d ON d.seq = e.seq
       WHERE e.correlation_id = @correlation AND (@consumer IS NULL OR d.consumer = @consumer)
         AND (@status IS NULL OR d.status = @status) AND d.id > @after
       ORDER BY d.id LIMIT @limit`,
    ),
    deadLetter: q('SELECT d.*, e.stored_at, e.body FROM dead_letters d JOIN events e ON e.seq = d.seq WHERE d.id = ?'),
    openDeadByConsumer: q(
      "SELECT consumer, count(*) AS count FROM dead_letters WHERE status = 'open' GROUP BY consumer ORDER BY consumer",
    ),
    openDeadByTopic: q(
      `SELECT e.topic AS topic, count(DISTINCT d.seq) AS events FROM dead_letters d JOIN events e ON e.seq = d.seq
       WHERE d.status = 'open' GROUP BY e.topic ORDER BY e.topic`,
    ),
    openDeadOf: q("SELECT id FROM dead_letters WHERE consumer = ? AND seq = ? AND status = 'open' ORDER BY id LIMIT 1").pluck(),
    resolveDead: q(
      'UPDATE dead_letters SET status = ?, note = coalesce(?, note), replayed_as = coalesce(?, replayed_as) WHERE id = ?',
    ),
    purgeDead: q(
      `DELETE FROM dead_letters WHERE (@consumer IS NULL OR consumer = @consumer)
       AND (@status = 'all' OR status = @status OR (@status IS NULL AND status != 'open')) RETURNING seq`,
    ),
    // An event below the log start kept for dead letters alone goes with the last of them (ADR 0018).
    releaseEvent: q(
      `DELETE FROM events WHERE seq = ? AND seq <= (SELECT value FROM store_meta WHERE key = 'pruned_through')
       AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.seq = events.seq)
       AND NOT EXISTS (SELECT 1 FROM stream_events s WHERE s.seq = events.seq)`,
    ),
    // A delivery handled after failing: its history, moved from the retry row the ack deletes (ADR 0023).
    insertRecovered: q(
      `INSERT INTO consumer_recovered (seq, consumer, retries, first_failed_at, attempts, handled_attempt, handled_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (seq, consumer) DO UPDATE SET retries = excluded.retries, first_failed_at = excluded.first_failed_at,
         attempts = excluded.attempts, handled_attempt = excluded.handled_attempt, handled_at = excluded.handled_at`,
    ),
    recoveredOf: q(
      `SELECT r.*, e.stored_at, e.body FROM events e JOIN consumer_recovered r ON r.seq = e.seq
       WHERE e.correlation_id = @correlation AND (@consumer IS NULL OR r.consumer = @consumer)
       ORDER BY r.seq, r.consumer LIMIT @limit`,
    ),
    // Records of an event released by a purge go with it.
    deleteRecoveredAt: q('DELETE FROM consumer_recovered WHERE seq = ?'),
    countPruned: q(
      "INSERT INTO store_meta (key, value) VALUES ('pruned_events', ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
    ),
  };
}

/** The prepared statements of one connection. @internal */
export type Statements = { readonly [K in keyof ReturnType<typeof build>]: Database.Statement };

/** Prepares every statement of the delivery state on `db`. @internal */
export function prepare(db: Database.Database): Statements {
  return build(db);
}
