/**
 * Delivery state on SQLite: per consumer a claim cursor (`next_seq`), claimed windows of
 * first deliveries (one row for many events), and per-event exceptions (retries, dead
 * letters). The happy path writes one row per window, never one per delivery.
 */
import type Database from 'better-sqlite3';
import type { Envelope } from '../../envelope/envelope.js';
import { AgentbusError } from '../../errors.js';
import type {
  AppendItem,
  AppendedEvent,
  ClaimRequest,
  ClaimResult,
  ClaimedDelivery,
  ConsumerInfo,
  ConsumerSpec,
  DeadLetter,
  DeadLetterFilter,
  DeliveryState,
  LagLimit,
  LeaseRef,
  Settlement,
  StartPosition,
  StoredEvent,
} from '../event-store.js';
import { isOwnerGone, newLeaseToken } from '../owner.js';
import type { EventLog, EventRow } from './event-log.js';
import { LagAccounting } from './lag-accounting.js';
import { toStoredEvent } from './event-log.js';
import type { FlushContext, GroupCommitter } from './group-commit.js';

/** How many log rows one claim reads at most before returning (with `more: true`). */
const SCAN_LIMIT = 20_000;

interface ConsumerRow {
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

interface WindowRow {
  consumer: string;
  first_seq: number;
  last_seq: number;
  pending: string;
  owner: string;
  lease_until: number;
  token: number;
}

interface RetryRow {
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
}

/** A window loaded once per flush and written back before commit. */
interface CachedWindow {
  row: WindowRow;
  pending: Set<number>;
}

function leaseLost(consumer: string, seq: number): AgentbusError {
  return new AgentbusError(
    'LEASE_LOST',
    `subscription ${consumer}: the lease on position ${seq} was taken over or settled; this settlement is refused`,
    { consumer, seq },
  );
}

function notFound(consumer: string): AgentbusError {
  return new AgentbusError('NOT_FOUND', `subscription ${consumer} does not exist`, { consumer });
}

/** Every statement the delivery state runs, prepared once per connection. */
function prepare(db: Database.Database) {
  const q = (sql: string) => db.prepare(sql);
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
      `INSERT INTO consumer_retries (consumer, seq, attempt, due_at, owner, lease_until, token, reason, error, stack, first_failed_at, last_failed_at, failures)
       VALUES (?, ?, ?, ?, NULL, NULL, 0, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (consumer, seq) DO UPDATE SET attempt = excluded.attempt, due_at = excluded.due_at, owner = NULL,
         failures = excluded.failures,
         lease_until = NULL, reason = excluded.reason, error = excluded.error, stack = excluded.stack,
         first_failed_at = coalesce(consumer_retries.first_failed_at, excluded.first_failed_at),
         last_failed_at = excluded.last_failed_at`,
    ),
    returnRetry: q(
      'UPDATE consumer_retries SET owner = NULL, lease_until = NULL, attempt = attempt - 1, due_at = ? WHERE consumer = ? AND seq = ? AND token = ?',
    ),
    extendRetry: q('UPDATE consumer_retries SET lease_until = ? WHERE consumer = ? AND seq = ? AND token = ? AND owner = ?'),
    deleteRetry: q('DELETE FROM consumer_retries WHERE consumer = ? AND seq = ?'),
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
      `INSERT INTO dead_letters (consumer, seq, reason, error, stack, retries, first_failed_at, last_failed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deadLetters: q(
      `SELECT d.*, e.stored_at, e.body FROM dead_letters d JOIN events e ON e.seq = d.seq
       WHERE (@consumer IS NULL OR d.consumer = @consumer) AND (@status IS NULL OR d.status = @status) AND d.id > @after
       ORDER BY d.id LIMIT @limit`,
    ),
    deadLetter: q('SELECT d.*, e.stored_at, e.body FROM dead_letters d JOIN events e ON e.seq = d.seq WHERE d.id = ?'),
    resolveDead: q(
      'UPDATE dead_letters SET status = ?, note = coalesce(?, note), replayed_as = coalesce(?, replayed_as) WHERE id = ?',
    ),
    purgeDead: q(
      `DELETE FROM dead_letters WHERE (@consumer IS NULL OR consumer = @consumer)
       AND (@status = 'all' OR status = @status OR (@status IS NULL AND status != 'open'))`,
    ),
  };
}

export class SqliteDeliveryState implements DeliveryState {
  readonly #s: ReturnType<typeof prepare>;

  constructor(
    db: Database.Database,
    private readonly log: EventLog,
    private readonly lag: LagAccounting,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
    /** Asks the store to wake consumers after this flush commits (new work may be due). */
    private readonly wake: () => void,
  ) {
    this.#s = prepare(db);
  }

  async ensureConsumer(spec: ConsumerSpec): Promise<ConsumerInfo> {
    const filter = spec.filter === undefined || spec.filter === null ? null : JSON.stringify(spec.filter);
    const maxLag = spec.maxLag ?? null;
    const onFull = maxLag === null ? null : (spec.onFull ?? 'block');
    const ordered = spec.ordered ? 1 : 0;
    await this.committer.enqueue(() => {
      const existing = this.#s.consumer.get(spec.name) as ConsumerRow | undefined;
      if (existing) {
        const changed =
          existing.topic !== spec.topic ||
          existing.filter !== filter ||
          existing.max_lag !== maxLag ||
          existing.on_full !== onFull ||
          existing.ordered !== ordered;
        if (!changed) return;
        this.#s.updateSelection.run(spec.topic, filter, maxLag, onFull, ordered, spec.name);
      } else {
        const next = this.#startSeq(spec.start ?? 'latest');
        this.#s.insertConsumer.run(spec.name, spec.topic, filter, next, this.now(), maxLag, onFull, ordered);
      }
      // Counts are kept only for limited consumers; a limit added, changed or removed recounts.
      if (maxLag !== null || (existing !== undefined && existing.max_lag !== null)) this.#recount(spec.name);
    });
    return (await this.getConsumer(spec.name)) as ConsumerInfo;
  }

  async getConsumer(name: string): Promise<ConsumerInfo | undefined> {
    const row = this.#s.consumer.get(name) as ConsumerRow | undefined;
    return row ? this.#info(row) : undefined;
  }

  async listConsumers(): Promise<ConsumerInfo[]> {
    return (this.#s.consumers.all() as ConsumerRow[]).map((row) => this.#info(row));
  }

  deleteConsumer(name: string): Promise<boolean> {
    return this.committer.enqueue(() => {
      this.#s.deleteWindows.run(name);
      this.#s.deleteRetries.run(name);
      this.lag.definitionsChanged();
      return this.#s.deleteConsumer.run(name).changes === 1;
    });
  }

  resetConsumer(name: string, start: StartPosition): Promise<ConsumerInfo> {
    return this.committer
      .enqueue(() => {
        if (!this.#s.consumer.get(name)) return notFound(name);
        this.#s.deleteWindows.run(name);
        this.#s.deleteRetries.run(name);
        this.#s.setNext.run(this.#startSeq(start), name);
        this.#recount(name);
        this.wake();
        return undefined;
      })
      .then(unwrap)
      .then(async () => (await this.getConsumer(name)) as ConsumerInfo);
  }

  setPaused(name: string, paused: boolean): Promise<void> {
    return this.committer
      .enqueue(() => {
        if (this.#s.setPaused.run(paused ? 1 : 0, name).changes !== 1) return notFound(name);
        if (!paused) this.wake();
        return undefined;
      })
      .then(unwrap);
  }

  claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.committer.enqueue((ctx) => this.#claimNow(request, ctx)).then(unwrap);
  }

  settle(settlements: readonly Settlement[]): Promise<Array<AppendedEvent[] | Error>> {
    return this.committer.enqueue((ctx) => settlements.map((s) => this.#settleNow(s, ctx)));
  }

  extend(
    consumer: string,
    owner: string,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<{ until: number; lost: LeaseRef[] }> {
    return this.committer.enqueue(() => {
      const until = this.now() + leaseMs;
      this.#s.extendActive.run(until, consumer, owner);
      const lost: LeaseRef[] = [];
      for (const lease of leases) {
        const statement = lease.kind === 'window' ? this.#s.extendWindow : this.#s.extendRetry;
        if (statement.run(until, consumer, lease.key, lease.token, owner).changes !== 1) lost.push(lease);
      }
      return { until, lost };
    });
  }

  release(consumer: string, owner: string, leases: readonly { lease: LeaseRef; seq: number }[]): Promise<void> {
    return this.committer.enqueue((ctx) => {
      const now = this.now();
      this.wake();
      for (const { lease, seq } of leases) {
        if (lease.kind === 'retry') {
          this.#s.returnRetry.run(now, consumer, seq, lease.token);
          continue;
        }
        const window = this.#cachedWindow(ctx, consumer, lease.key);
        if (!window || window.row.token !== lease.token || window.row.owner !== owner || !window.pending.delete(seq)) {
          continue;
        }
        // Never started: returned without counting an attempt.
        this.#s.insertRetry.run(consumer, seq, 0, now, null, null, null, null, null, 0);
      }
    });
  }

  leave(consumer: string, owner: string): Promise<void> {
    return this.committer.enqueue(() => {
      if (this.#s.releaseActive.run(consumer, owner).changes === 1) this.wake();
    });
  }

  async listDeadLetters(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const rows = this.#s.deadLetters.all({
      consumer: filter.consumer ?? null,
      status: filter.status ?? null,
      after: filter.afterId ?? 0,
      limit: filter.limit ?? -1,
    }) as DeadLetterRow[];
    return rows.map(toDeadLetter);
  }

  async lagLimits(): Promise<LagLimit[]> {
    return this.lag.limits();
  }

  async getDeadLetter(id: number): Promise<DeadLetter | undefined> {
    const row = this.#s.deadLetter.get(id) as DeadLetterRow | undefined;
    return row ? toDeadLetter(row) : undefined;
  }

  replayDeadLetter(id: number, replacement?: AppendItem): Promise<DeadLetter> {
    return this.committer
      .enqueue((ctx) => {
        const row = this.#s.deadLetter.get(id) as DeadLetterRow | undefined;
        if (!row) return deadLetterNotFound(id);
        if (row.status !== 'open') return notOpen(row);
        if (!this.#s.consumer.get(row.consumer)) return notFound(row.consumer);
        const now = this.now();
        if (replacement) {
          this.log.appendInTransaction([replacement], now, ctx);
        } else {
          this.#s.insertRetry.run(row.consumer, row.seq, 0, now, null, null, null, null, null, 0);
          this.lag.returned(row.consumer, ctx);
        }
        this.#s.resolveDead.run('replayed', null, replacement?.envelope.event.id ?? null, id);
        this.wake();
        return undefined;
      })
      .then(unwrap)
      .then(async () => (await this.getDeadLetter(id)) as DeadLetter);
  }

  archiveDeadLetter(id: number, note: string): Promise<DeadLetter> {
    return this.committer
      .enqueue(() => (this.#s.resolveDead.run('archived', note, null, id).changes === 1 ? undefined : deadLetterNotFound(id)))
      .then(unwrap)
      .then(async () => (await this.getDeadLetter(id)) as DeadLetter);
  }

  purgeDeadLetters(filter: { consumer?: string; status?: DeadLetter['status'] | 'all' } = {}): Promise<number> {
    return this.committer.enqueue(
      () => this.#s.purgeDead.run({ consumer: filter.consumer ?? null, status: filter.status ?? null }).changes,
    );
  }

  /**
   * Recomputes a limited consumer's pending count from its state (after it is created,
   * redefined or reset): open windows, retries, and matching events not yet claimed.
   */
  #recount(name: string): void {
    this.lag.definitionsChanged();
    const row = this.#s.consumer.get(name) as ConsumerRow | undefined;
    if (!row || row.max_lag === null) return;
    let pending = this.#s.retryCount.get(name) as number;
    for (const text of this.#s.windowPendingTotal.all(name) as string[]) pending += (JSON.parse(text) as number[]).length;
    const matches = LagAccounting.matcher(row.topic, row.filter);
    let after = 0;
    for (;;) {
      const rows = this.#s.scanFrom.all(row.next_seq, after) as Array<{ seq: number; body: string; target: string | null }>;
      if (rows.length === 0) break;
      for (const r of rows) {
        const envelope = JSON.parse(r.body) as Envelope;
        if (r.target !== null ? r.target === name : matches(envelope)) pending++;
      }
      if (rows.length < 1000) break;
      after = (rows[rows.length - 1] as { seq: number }).seq;
    }
    this.#s.setPending.run(pending, name);
  }

  #startSeq(start: StartPosition): number {
    if (start === 'earliest') return 1;
    if (start === 'latest') return this.log.head() + 1;
    if ('seq' in start) return Math.max(1, start.seq);
    return this.log.firstSeqAtOrAfter(start.time);
  }

  #info(row: ConsumerRow): ConsumerInfo {
    const now = this.now();
    let inFlight = 0;
    let floor = row.next_seq;
    for (const window of this.#s.windows.all(row.name) as WindowRow[]) {
      inFlight += (JSON.parse(window.pending) as number[]).length;
      floor = Math.min(floor, window.first_seq);
    }
    const retries = this.#s.retryStats.get(now, now, row.name) as {
      leased: number;
      waiting: number;
      min_seq: number | null;
    };
    if (retries.min_seq !== null) floor = Math.min(floor, retries.min_seq);
    return {
      name: row.name,
      topic: row.topic,
      filter: row.filter === null ? null : JSON.parse(row.filter),
      ackFloor: floor - 1,
      nextSeq: row.next_seq,
      inFlight: inFlight + retries.leased,
      scheduled: retries.waiting,
      redelivered: row.redelivered,
      deadLettered: row.dead_lettered,
      expired: row.expired,
      paused: row.paused === 1,
      createdAt: row.created_at,
      ordered: row.ordered === 1,
      ...(row.ordered === 1 && row.active_owner !== null && (row.active_until ?? 0) > now
        ? { activeMember: row.active_owner }
        : {}),
      ...(row.max_lag !== null ? { lag: { maxLag: row.max_lag, onFull: row.on_full ?? 'block', pending: row.pending } } : {}),
    };
  }

  #claimNow(request: ClaimRequest, ctx: FlushContext): ClaimResult | AgentbusError {
    const now = this.now();
    const { consumer: name, owner } = request;
    const consumer = this.#s.consumer.get(name) as ConsumerRow | undefined;
    if (!consumer) return notFound(name);
    if (consumer.paused) return { deliveries: [], more: false };
    let nextWakeAt = Number.POSITIVE_INFINITY;
    if (consumer.ordered) {
      // One active member keeps the order: others stand by until its lease lapses or it dies.
      const active = consumer.active_owner;
      const lapsed = consumer.active_until === null || consumer.active_until <= now;
      if (active !== null && active !== owner && !lapsed && !isOwnerGone(active)) {
        return { deliveries: [], more: false, nextWakeAt: consumer.active_until as number };
      }
      this.#s.activate.run(owner, now + request.leaseMs, name);
    }

    // Windows of members whose lease lapsed or whose process is gone become retries.
    for (const window of this.#s.windowsOfOthers.all(name, owner) as WindowRow[]) {
      if (window.lease_until <= now || isOwnerGone(window.owner)) this.#returnWindow(window, now);
      else nextWakeAt = Math.min(nextWakeAt, window.lease_until);
    }
    // Most claims find no retries at all: one indexed probe skips the retry queries.
    const hasRetries = this.#s.anyRetry.get(name) !== undefined;
    if (hasRetries) {
      for (const { owner: other } of this.#s.retryOwners.all(name, owner) as Array<{ owner: string }>) {
        if (isOwnerGone(other)) this.#s.freeRetriesOf.run(name, other);
      }
    }

    const deliveries: ClaimedDelivery[] = [];
    const leaseUntil = now + request.leaseMs;
    let redelivered = 0;
    const due = hasRetries ? (this.#s.dueRetries.all(name, now, now, request.max) as RetryRow[]) : [];
    for (const retry of due) {
      const row = this.#s.eventAt.get(retry.seq) as EventRow | undefined;
      const event = row ? toStoredEvent(row) : undefined;
      if (!event || isExpired(event, now)) {
        this.#s.deleteRetry.run(name, retry.seq);
        this.lag.settled(name, 1, ctx);
        if (event) this.#s.countExpired.run(1, name);
        continue;
      }
      const token = newLeaseToken();
      this.#s.leaseRetry.run(owner, leaseUntil, token, name, retry.seq);
      if (retry.attempt > 0) redelivered++;
      deliveries.push({
        event,
        attempt: retry.attempt + 1,
        failures: retry.failures,
        lease: { kind: 'retry', key: retry.seq, token },
        leaseUntil,
        ...(retry.first_failed_at !== null ? { firstFailedAt: retry.first_failed_at } : {}),
      });
    }
    if (redelivered > 0) this.#s.countRedelivered.run(redelivered, name);
    if (hasRetries) {
      const nextDue = this.#s.nextDue.get(name, now) as number | null;
      const nextLapse = this.#s.nextLapse.get(name, owner) as number | null;
      if (nextDue !== null) nextWakeAt = Math.min(nextWakeAt, nextDue);
      if (nextLapse !== null) nextWakeAt = Math.min(nextWakeAt, nextLapse);
    }

    const more = request.retriesOnly ? false : this.#claimNew(request, consumer, deliveries, now, leaseUntil, ctx);
    const heldKeys = consumer.ordered
      ? hasRetries
        ? new Map((this.#s.heldKeys.all(name) as Array<{ key: string; seq: number }>).map((r) => [r.key, r.seq]))
        : new Map<string, number>()
      : undefined;
    return {
      deliveries,
      more,
      ...(Number.isFinite(nextWakeAt) ? { nextWakeAt } : {}),
      ...(heldKeys ? { heldKeys } : {}),
    };
  }

  /** Reads new events after the cursor into one window; true when it stopped short of the head. */
  #claimNew(
    request: ClaimRequest,
    consumer: ConsumerRow,
    deliveries: ClaimedDelivery[],
    now: number,
    leaseUntil: number,
    ctx: FlushContext,
  ): boolean {
    const wanted = request.max - deliveries.length;
    if (wanted <= 0) return true;
    const chunk = Math.min(Math.max(wanted, 64), 1000);
    const matched: StoredEvent[] = [];
    let next = consumer.next_seq;
    let scanned = 0;
    let expired = 0;
    let reachedHead = false;
    scan: while (scanned < SCAN_LIMIT) {
      const rows = this.#s.scan.all(next, chunk) as Array<
        EventRow & { topic: string; expires_at: number | null; target: string | null }
      >;
      for (const row of rows) {
        next = row.seq + 1;
        scanned++;
        // An addressed event goes to its subscription only, whatever its selection.
        if (row.target !== null ? row.target !== consumer.name : !request.matchTopic(row.topic)) continue;
        const event = toStoredEvent(row);
        if (row.target === null && request.matchEvent && !request.matchEvent(event)) continue;
        if (row.expires_at !== null && row.expires_at <= now) {
          expired++;
          continue;
        }
        matched.push(event);
        if (matched.length === wanted) break scan;
      }
      if (rows.length < chunk) {
        reachedHead = true;
        break;
      }
    }
    if (next === consumer.next_seq) return false;
    if (matched.length > 0) {
      const token = newLeaseToken();
      const pending = JSON.stringify(matched.map((e) => e.seq));
      this.#s.insertWindow.run(consumer.name, consumer.next_seq, next - 1, pending, request.owner, leaseUntil, token);
      const lease: LeaseRef = { kind: 'window', key: consumer.next_seq, token };
      for (const event of matched) deliveries.push({ event, attempt: 1, failures: 0, lease, leaseUntil });
    }
    this.#s.advance.run(next, expired, consumer.name);
    this.lag.settled(consumer.name, expired, ctx);
    return !reachedHead;
  }

  #returnWindow(window: WindowRow, now: number): void {
    for (const seq of JSON.parse(window.pending) as number[]) {
      this.#s.insertRetry.run(
        window.consumer,
        seq,
        1,
        now,
        'lease_expired',
        `lease of ${window.owner} lapsed before the delivery was settled`,
        null,
        now,
        now,
        // A lapsed lease is not a handler failure: the retry budget stays untouched.
        0,
      );
    }
    this.#s.deleteWindow.run(window.consumer, window.first_seq);
  }

  #cachedWindow(ctx: FlushContext, consumer: string, key: number): CachedWindow | undefined {
    const cacheKey = `w:${consumer}:${key}`;
    if (ctx.scratch.has(cacheKey)) return ctx.scratch.get(cacheKey) as CachedWindow | undefined;
    const row = this.#s.window.get(consumer, key) as WindowRow | undefined;
    const cached = row ? { row, pending: new Set(JSON.parse(row.pending) as number[]) } : undefined;
    ctx.scratch.set(cacheKey, cached);
    if (cached) {
      const size = cached.pending.size;
      ctx.beforeCommit(() => {
        if (cached.pending.size === size) return;
        if (cached.pending.size === 0) this.#s.deleteWindow.run(consumer, key);
        else this.#s.updateWindow.run(JSON.stringify([...cached.pending]), consumer, key);
      });
    }
    return cached;
  }

  #settleNow(settlement: Settlement, ctx: FlushContext): AppendedEvent[] | Error {
    const { consumer, seq, lease, outcome } = settlement;
    const now = this.now();
    let retry: RetryRow | undefined;
    if (lease.kind === 'window') {
      const window = this.#cachedWindow(ctx, consumer, lease.key);
      if (!window || window.row.token !== lease.token || !window.pending.has(seq)) return leaseLost(consumer, seq);
      window.pending.delete(seq);
    } else {
      retry = this.#s.retry.get(consumer, seq) as RetryRow | undefined;
      if (!retry || retry.token !== lease.token || retry.owner === null) return leaseLost(consumer, seq);
    }
    // Publishers blocked on this subscription's lag limit re-check after the commit.
    if (outcome.kind !== 'retry' && this.lag.settled(consumer, 1, ctx)) this.wake();
    if (outcome.kind === 'ack') {
      if (retry) this.#s.deleteRetry.run(consumer, seq);
    } else if (outcome.kind === 'retry') {
      this.wake();
      const { reason, message, stack } = outcome.error;
      this.#s.insertRetry.run(
        consumer,
        seq,
        settlement.attempt,
        now + Math.max(0, outcome.delayMs),
        reason,
        message,
        stack ?? null,
        now,
        now,
        (retry?.failures ?? 0) + 1,
      );
    } else {
      const { reason, message, stack } = outcome.error;
      if (retry) this.#s.deleteRetry.run(consumer, seq);
      this.#s.insertDead.run(
        consumer,
        seq,
        reason,
        message,
        stack ?? null,
        retry?.failures ?? 0,
        retry?.first_failed_at ?? now,
        now,
      );
      this.#s.countDead.run(consumer);
    }
    if (!settlement.publish || settlement.publish.length === 0) return [];
    this.wake();
    return this.log.appendInTransaction(settlement.publish, now, ctx);
  }
}

interface DeadLetterRow extends EventRow {
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
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    consumer: row.consumer,
    event: toStoredEvent(row),
    reason: row.reason,
    error: row.error,
    ...(row.stack ? { stack: row.stack } : {}),
    retries: row.retries,
    firstFailedAt: row.first_failed_at,
    lastFailedAt: row.last_failed_at,
    status: row.status,
    ...(row.note ? { note: row.note } : {}),
    ...(row.replayed_as ? { replayedAs: row.replayed_as } : {}),
  };
}

function deadLetterNotFound(id: number): AgentbusError {
  return new AgentbusError('NOT_FOUND', `dead letter ${id} does not exist`, { id });
}

function notOpen(row: DeadLetterRow): AgentbusError {
  return new AgentbusError('CONCURRENCY_CONFLICT', `dead letter ${row.id} is ${row.status}, not open`, {
    id: row.id,
    status: row.status,
  });
}

function isExpired(event: StoredEvent, now: number): boolean {
  const expiresAt = event.envelope.event.expires_at;
  return expiresAt !== undefined && Date.parse(expiresAt) <= now;
}

function unwrap<T>(value: T | AgentbusError): T {
  if (value instanceof Error) throw value;
  return value;
}
