/**
 * The delivery state's rows and every statement on them, for one schema. Batched statements
 * take column arrays (`unnest`), so a flush settles or extends many deliveries in one round
 * trip.
 */
import type { DeadLetter } from '../event-store.js';
import type { Statement } from './connection.js';
import type { EventRow } from './event-log.js';
import type { Tables } from './tables.js';

export interface ConsumerRow {
  name: string;
  topic: string;
  filter: string | null;
  next_seq: number;
  paused: boolean;
  redelivered: number;
  dead_lettered: number;
  expired: number;
  created_at: number;
  max_lag: number | null;
  on_full: 'block' | 'reject' | null;
  ordered: boolean;
  active_owner: string | null;
  active_until: number | null;
}

/** A consumer with what its info needs from windows, retries and lag. */
export interface ConsumerInfoRow extends ConsumerRow {
  lag_pending: number | null;
  window_pending: number;
  window_floor: number | null;
  leased: number;
  waiting: number;
  retry_floor: number | null;
}

export interface WindowRow {
  consumer: string;
  first_seq: number;
  last_seq: number;
  pending: number[];
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
  /** Failed attempts as JSON (`store/attempts.ts`); NULL before schema 6 or when none failed. */
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

/** Every statement of the delivery state. */
export function deliveryStatements(t: Tables) {
  const retryColumns =
    'consumer, seq, attempt, due_at, owner, lease_until, token, reason, error, stack, first_failed_at, last_failed_at, failures, attempts';
  const upsertRetry = `ON CONFLICT (consumer, seq) DO UPDATE SET attempt = excluded.attempt, due_at = excluded.due_at,
      owner = NULL, lease_until = NULL, failures = excluded.failures, reason = excluded.reason, error = excluded.error,
      stack = excluded.stack, first_failed_at = coalesce(r.first_failed_at, excluded.first_failed_at),
      last_failed_at = excluded.last_failed_at, attempts = coalesce(excluded.attempts, r.attempts)`;
  const s = {
    consumer: { text: `SELECT * FROM ${t.consumers} WHERE name = $1` },
    lockConsumer: {
      text: `SELECT c.*, EXISTS (SELECT 1 FROM ${t.retries} r WHERE r.consumer = c.name) AS has_retries
             FROM ${t.consumers} c WHERE c.name = $1 FOR NO KEY UPDATE OF c`,
    },
    info: {
      text: `SELECT c.*, l.pending AS lag_pending, w.window_pending, w.window_floor, r.leased, r.waiting, r.retry_floor
             FROM ${t.consumers} c
             LEFT JOIN ${t.consumerLag} l ON l.consumer = c.name
             CROSS JOIN LATERAL (SELECT coalesce(sum(cardinality(pending)), 0) AS window_pending, min(first_seq) AS window_floor
                                 FROM ${t.windows} WHERE consumer = c.name) w
             CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE owner IS NOT NULL AND lease_until > $2) AS leased,
                                        count(*) FILTER (WHERE owner IS NULL OR lease_until <= $2) AS waiting,
                                        min(seq) AS retry_floor
                                 FROM ${t.retries} WHERE consumer = c.name) r
             WHERE $1::text IS NULL OR c.name = $1 ORDER BY c.name`,
    },
    insertConsumer: {
      text: `INSERT INTO ${t.consumers} (name, topic, filter, next_seq, created_at, max_lag, on_full, ordered)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING`,
    },
    updateSelection: {
      text: `UPDATE ${t.consumers} SET topic = $2, filter = $3, max_lag = $4, on_full = $5, ordered = $6 WHERE name = $1`,
    },
    deleteConsumer: { text: `DELETE FROM ${t.consumers} WHERE name = $1 RETURNING name` },
    setPaused: { text: `UPDATE ${t.consumers} SET paused = $2 WHERE name = $1 RETURNING name` },
    setNext: { text: `UPDATE ${t.consumers} SET next_seq = $2 WHERE name = $1` },
    finishClaim: {
      text: `UPDATE ${t.consumers} SET next_seq = $2, expired = expired + $3, redelivered = redelivered + $4,
               active_owner = coalesce($5, active_owner), active_until = coalesce($6, active_until)
             WHERE name = $1`,
    },
    extendActive: { text: `UPDATE ${t.consumers} SET active_until = $1 WHERE name = $2 AND active_owner = $3` },
    releaseActive: {
      text: `UPDATE ${t.consumers} SET active_owner = NULL, active_until = NULL WHERE name = $1 AND active_owner = $2 RETURNING name`,
    },
    countDead: {
      text: `UPDATE ${t.consumers} c SET dead_lettered = c.dead_lettered + u.n
             FROM unnest($1::text[], $2::bigint[]) AS u(name, n) WHERE c.name = u.name`,
    },
    countExpired: { text: `UPDATE ${t.consumers} SET expired = expired + $2 WHERE name = $1` },

    windowsOfOthers: {
      text: `SELECT * FROM ${t.windows} WHERE consumer = $1 AND owner <> $2 FOR UPDATE SKIP LOCKED`,
    },
    insertWindow: {
      text: `INSERT INTO ${t.windows} (consumer, first_seq, last_seq, pending, owner, lease_until, token)
             VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    },
    lockWindows: {
      text: `SELECT * FROM ${t.windows} WHERE (consumer, first_seq) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))
             ORDER BY consumer, first_seq FOR UPDATE`,
    },
    updateWindows: {
      text: `UPDATE ${t.windows} w SET pending = u.pending::bigint[]
             FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(consumer, first_seq, pending)
             WHERE w.consumer = u.consumer AND w.first_seq = u.first_seq`,
    },
    deleteWindows: {
      text: `DELETE FROM ${t.windows} WHERE (consumer, first_seq) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))`,
    },
    deleteWindowsOf: { text: `DELETE FROM ${t.windows} WHERE consumer = $1` },
    extendWindows: {
      text: `UPDATE ${t.windows} SET lease_until = $1 WHERE consumer = $2 AND owner = $3
               AND (first_seq, token) IN (SELECT * FROM unnest($4::bigint[], $5::bigint[]))
             RETURNING first_seq AS key, token`,
    },
    windowPendingTotal: {
      text: `SELECT coalesce(sum(cardinality(pending)), 0) AS n FROM ${t.windows} WHERE consumer = $1`,
    },

    retryOwners: {
      text: `SELECT DISTINCT owner FROM ${t.retries} WHERE consumer = $1 AND owner IS NOT NULL AND owner <> $2`,
    },
    freeRetriesOf: {
      text: `UPDATE ${t.retries} SET owner = NULL, lease_until = NULL WHERE consumer = $1 AND owner = ANY($2::text[])`,
    },
    dueRetries: {
      text: `SELECT r.*, e.stored_at AS event_stored_at, e.body, e.expires_at FROM ${t.retries} r
             LEFT JOIN ${t.events} e ON e.seq = r.seq
             WHERE r.consumer = $1 AND r.due_at <= $2 AND (r.owner IS NULL OR r.lease_until <= $2)
             ORDER BY e.priority, r.due_at, r.seq LIMIT $3 FOR UPDATE OF r SKIP LOCKED`,
    },
    leaseRetries: {
      text: `UPDATE ${t.retries} SET owner = $2, lease_until = $3, token = $4, attempt = attempt + 1
             WHERE consumer = $1 AND seq = ANY($5::bigint[])`,
    },
    deleteRetriesAt: { text: `DELETE FROM ${t.retries} WHERE consumer = $1 AND seq = ANY($2::bigint[])` },
    wakeTimes: {
      text: `SELECT min(due_at) FILTER (WHERE owner IS NULL AND due_at > $2) AS next_due,
                    min(lease_until) FILTER (WHERE owner IS NOT NULL AND owner <> $3) AS next_lapse
             FROM ${t.retries} WHERE consumer = $1`,
    },
    heldKeys: {
      text: `SELECT e.partition_key AS key, min(r.seq) AS seq FROM ${t.retries} r JOIN ${t.events} e ON e.seq = r.seq
             WHERE r.consumer = $1 AND r.owner IS NULL AND e.partition_key IS NOT NULL GROUP BY e.partition_key`,
    },
    lockRetries: {
      text: `SELECT * FROM ${t.retries} WHERE (consumer, seq) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))
             ORDER BY consumer, seq FOR UPDATE`,
    },
    // Settled retries go; those handled after failing leave their history in the same
    // statement (ADR 0023): `handled` marks acks, `$4` is the time.
    deleteRetries: {
      text: `WITH gone AS (
               DELETE FROM ${t.retries} r USING unnest($1::text[], $2::bigint[], $3::boolean[]) AS u(consumer, seq, handled)
               WHERE r.consumer = u.consumer AND r.seq = u.seq
               RETURNING r.consumer, r.seq, r.attempt, r.failures, r.first_failed_at, r.attempts, u.handled)
             INSERT INTO ${t.recovered} (seq, consumer, retries, first_failed_at, attempts, handled_attempt, handled_at)
             SELECT seq, consumer, failures, coalesce(first_failed_at, $4), attempts, attempt, $4 FROM gone
             WHERE handled AND failures > 0
             ON CONFLICT (seq, consumer) DO UPDATE SET retries = excluded.retries, first_failed_at = excluded.first_failed_at,
               attempts = excluded.attempts, handled_attempt = excluded.handled_attempt, handled_at = excluded.handled_at`,
    },
    deleteRetriesOf: { text: `DELETE FROM ${t.retries} WHERE consumer = $1` },
    // Counters in the state area (value is JSON text: an integer's digits), one row per key.
    incrementState: {
      text: `INSERT INTO ${t.state} AS st (namespace, key, value, version, updated_at)
             SELECT n, k, b::text, 1, $4 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS c(n, k, b)
             ON CONFLICT (namespace, key) DO UPDATE SET value = (st.value::bigint + excluded.value::bigint)::text,
               version = st.version + 1, updated_at = excluded.updated_at`,
    },
    upsertRetries: {
      text: `INSERT INTO ${t.retries} AS r (${retryColumns})
             SELECT u.consumer, u.seq, u.attempt, u.due_at, NULL, NULL, 0, u.reason, u.error, u.stack, u.first_failed_at, u.last_failed_at, u.failures, u.attempts
             FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::integer[], $11::text[])
               AS u(consumer, seq, attempt, due_at, reason, error, stack, first_failed_at, last_failed_at, failures, attempts)
             ${upsertRetry}`,
    },
    extendRetries: {
      text: `UPDATE ${t.retries} SET lease_until = $1 WHERE consumer = $2 AND owner = $3
               AND (seq, token) IN (SELECT * FROM unnest($4::bigint[], $5::bigint[]))
             RETURNING seq AS key, token`,
    },
    returnRetries: {
      text: `UPDATE ${t.retries} SET owner = NULL, lease_until = NULL, attempt = attempt - 1, due_at = $1
             WHERE consumer = $2 AND (seq, token) IN (SELECT * FROM unnest($3::bigint[], $4::bigint[]))`,
    },
    retryCount: { text: `SELECT count(*) AS n FROM ${t.retries} WHERE consumer = $1` },

    scan: {
      text: `SELECT seq, stored_at, topic, expires_at, target, body FROM ${t.events} WHERE seq >= $1 ORDER BY seq LIMIT $2`,
    },
    upsertLag: {
      text: `INSERT INTO ${t.consumerLag} (consumer, pending) VALUES ($1, $2)
             ON CONFLICT (consumer) DO UPDATE SET pending = excluded.pending`,
    },
    deleteLag: { text: `DELETE FROM ${t.consumerLag} WHERE consumer = $1` },

    insertDead: {
      text: `INSERT INTO ${t.deadLetters} (consumer, seq, reason, error, stack, retries, first_failed_at, last_failed_at, attempts)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::bigint[], $8::bigint[], $9::text[])`,
    },
    deadLetters: {
      text: `SELECT d.*, e.stored_at, e.body FROM ${t.deadLetters} d JOIN ${t.events} e ON e.seq = d.seq
             WHERE ($1::text IS NULL OR d.consumer = $1) AND ($2::text IS NULL OR d.status = $2) AND d.id > $3
             ORDER BY d.id LIMIT $4`,
    },
    // A correlation's dead letters: its events (events_by_correlation), then theirs by position
    // (dead_letters_by_seq), never a walk of the queue by id. A plain join let the planner walk
    // dead_letters_pkey for `d.id > $4 ORDER BY d.id` before ANALYZE had seen the tables (40 ms
    // for 20,000 dead letters in a generic plan); the lateral subquery, kept apart by OFFSET 0,
    // is looked up once per event of the correlation whatever the statistics say.
    deadLettersOf: {
      text: `SELECT d.*, e.stored_at, e.body FROM ${t.events} e
             CROSS JOIN LATERAL (
               SELECT * FROM ${t.deadLetters} d
               WHERE d.seq = e.seq AND ($2::text IS NULL OR d.consumer = $2) AND ($3::text IS NULL OR d.status = $3)
                 AND d.id > $4
               OFFSET 0) d
             WHERE e.correlation_id = $1
             ORDER BY d.id LIMIT $5`,
    },
    openDeadByConsumer: {
      text: `SELECT consumer, count(*)::integer AS count FROM ${t.deadLetters} WHERE status = 'open'
             GROUP BY consumer ORDER BY consumer`,
    },
    openDeadByTopic: {
      text: `SELECT e.topic AS topic, count(DISTINCT d.seq)::integer AS events FROM ${t.deadLetters} d
             JOIN ${t.events} e ON e.seq = d.seq WHERE d.status = 'open' GROUP BY e.topic ORDER BY e.topic`,
    },
    deadLetter: {
      text: `SELECT d.*, e.stored_at, e.body FROM ${t.deadLetters} d JOIN ${t.events} e ON e.seq = d.seq WHERE d.id = $1`,
    },
    openDeadOf: {
      text: `SELECT id FROM ${t.deadLetters} WHERE consumer = $1 AND seq = $2 AND status = 'open' ORDER BY id LIMIT 1`,
    },
    insertOneDead: {
      text: `INSERT INTO ${t.deadLetters} (consumer, seq, reason, error, stack, retries, first_failed_at, last_failed_at, attempts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
    },
    eventSeq: { text: `SELECT seq FROM ${t.events} WHERE id = $1` },
    upsertRecovered: {
      text: `INSERT INTO ${t.recovered} (seq, consumer, retries, first_failed_at, attempts, handled_attempt, handled_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (seq, consumer) DO UPDATE SET retries = excluded.retries, first_failed_at = excluded.first_failed_at,
               attempts = excluded.attempts, handled_attempt = excluded.handled_attempt, handled_at = excluded.handled_at`,
    },
    recoveredOf: {
      text: `SELECT r.*, e.stored_at, e.body FROM ${t.events} e JOIN ${t.recovered} r ON r.seq = e.seq
             WHERE e.correlation_id = $1 AND ($2::text IS NULL OR r.consumer = $2)
             ORDER BY r.seq, r.consumer LIMIT $3`,
    },
    lockDeadLetter: {
      text: `SELECT d.*, e.stored_at, e.body FROM ${t.deadLetters} d JOIN ${t.events} e ON e.seq = d.seq
             WHERE d.id = $1 FOR UPDATE OF d`,
    },
    resolveDead: {
      text: `UPDATE ${t.deadLetters} SET status = $1, note = coalesce($2, note), replayed_as = coalesce($3, replayed_as)
             WHERE id = $4 RETURNING id`,
    },
    // Events of purged dead letters below the log start were kept for them alone: a purge
    // releases them (ADR 0018). A CTE's deletions are not visible to its siblings, hence `id NOT IN gone`.
    purgeDead: {
      text: `WITH gone AS (
               DELETE FROM ${t.deadLetters} WHERE ($1::text IS NULL OR consumer = $1)
                 AND ($2::text = 'all' OR status = $2 OR ($2::text IS NULL AND status <> 'open'))
               RETURNING id, seq),
             released AS (
               DELETE FROM ${t.events} e WHERE e.seq IN (SELECT seq FROM gone)
                 AND e.seq <= (SELECT pruned_through FROM ${t.retention} WHERE id = 1)
                 AND NOT EXISTS (SELECT 1 FROM ${t.deadLetters} d WHERE d.seq = e.seq AND d.id NOT IN (SELECT id FROM gone))
                 AND NOT EXISTS (SELECT 1 FROM ${t.streamEvents} s WHERE s.seq = e.seq)
               RETURNING e.seq),
             -- Recovered deliveries of another subscription go with the event (ADR 0023).
             forgotten AS (DELETE FROM ${t.recovered} r WHERE r.seq IN (SELECT seq FROM released)),
             counted AS (
               UPDATE ${t.retention} SET pruned_events = pruned_events + (SELECT count(*) FROM released)
               WHERE id = 1 AND EXISTS (SELECT 1 FROM released) RETURNING 1)
             SELECT (SELECT count(*) FROM gone) AS n, (SELECT count(*) FROM counted) AS counted`,
    },
  };
  // Every statement is prepared once per connection under its own name.
  return Object.fromEntries(Object.entries(s).map(([key, value]) => [key, { name: `ab_d_${key}`, text: value.text }])) as {
    readonly [K in keyof typeof s]: Statement;
  };
}

/** The delivery state's statements. */
export type DeliveryStatements = ReturnType<typeof deliveryStatements>;
