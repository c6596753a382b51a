/**
 * Delivery state on SQLite: per consumer a claim cursor (`next_seq`), claimed windows of
 * first deliveries (one row for many events), and per-event exceptions (retries, dead
 * letters). The happy path writes one row per window, never one per delivery.
 */
import type Database from 'better-sqlite3';
import type { Envelope } from '../../envelope/envelope.js';
import type { AgentbusError } from '../../errors.js';
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
  OpenDeadLetterCounts,
  ExternalDeadLetter,
  ReplayDeadLetterOptions,
  DeliveryState,
  LagLimit,
  LeaseRef,
  ParkedClaim,
  Settlement,
  StartPosition,
  StoredEvent,
} from '../event-store.js';
import { type ActivityTally, SETTLED_AS } from '../activity.js';
import { decodeAttempts, encodeAttempts, failedAttempt, withAttempt } from '../attempts.js';
import { isOwnerGone, newLeaseToken } from '../owner.js';
import type { SqliteEventCounts } from './event-counts.js';
import type { EventLog, EventRow } from './event-log.js';
import { LagAccounting } from './lag-accounting.js';
import { toStoredEvent } from './event-log.js';
import { SqliteDeadLetters } from './dead-letters.js';
import { SqliteRecovered } from './recovered.js';
import { storedEventOf } from './committed-tail.js';
import { leaseLost, notFound, unwrap } from '../refusals.js';
import { type ConsumerRow, type RetryRow, type Statements, type WindowRow, prepare } from './statements.js';
import type { FlushContext, GroupCommitter } from './group-commit.js';

/** Longest a plain acknowledgement waits for a flush to ride along with. */
const ACK_DELAY_MS = 2;

/** How many log rows one claim reads at most before returning (with `more: true`). */
const SCAN_LIMIT = 20_000;

/** A claim waiting for this process's next append. */
interface Parked {
  readonly request: ClaimRequest;
  readonly resolve: (result: ClaimResult) => void;
  readonly reject: (error: unknown) => void;
}

/** A window loaded once per flush and written back before commit. */
interface CachedWindow {
  row: WindowRow;
  pending: Set<number>;
}

export class SqliteDeliveryState implements DeliveryState {
  readonly #s: Statements;
  readonly #dead: SqliteDeadLetters;
  readonly recovered: SqliteRecovered;
  readonly #parked = new Set<Parked>();
  /** A claim inside a savepoint: one that throws is undone without failing the flush it rides on. */
  readonly #guardedClaim: Database.Transaction<(request: ClaimRequest, ctx: FlushContext) => ClaimResult | AgentbusError>;

  constructor(
    db: Database.Database,
    private readonly log: EventLog,
    private readonly lag: LagAccounting,
    private readonly counts: SqliteEventCounts,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
    /** Asks the store to wake consumers after this flush commits (new work may be due). */
    private readonly wake: () => void,
  ) {
    this.#s = prepare(db);
    this.#guardedClaim = db.transaction((request: ClaimRequest, ctx: FlushContext) => this.#claimNow(request, ctx));
    log.onFlushAppend = (ctx) => this.#rideAlong(ctx);
    this.#dead = new SqliteDeadLetters(this.#s, log, lag, counts, committer, now, wake);
    this.recovered = new SqliteRecovered(this.#s, log, committer, now);
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
    // After the flush's other jobs: a claim queued before this tick's appends still takes
    // them (and sees the acknowledgements committed with it), instead of finding nothing
    // and waiting for the next flush while the publisher moves ahead.
    return this.committer
      .enqueue((ctx) => {
        const claimed: { result?: ClaimResult | AgentbusError } = {};
        ctx.afterJobs(() => {
          claimed.result = this.#claimNow(request, ctx);
        });
        return claimed;
      })
      .then((claimed) => unwrap(claimed.result as ClaimResult | AgentbusError));
  }

  claimOnAppend(request: ClaimRequest): ParkedClaim {
    let parked: Parked | undefined;
    const result = new Promise<ClaimResult>((resolve, reject) => {
      parked = { request, resolve, reject };
    });
    // Taken (and its error seen) by the consumer after it wakes; never an unhandled rejection.
    result.catch(() => {});
    const entry = parked as Parked;
    this.#parked.add(entry);
    return { result, cancel: () => this.#parked.delete(entry) };
  }

  /**
   * Parked claims run in the flush that appends, after its jobs: the consumer's window and
   * cursor commit with the events, and the deliveries go out right after that commit. A
   * claim that finds nothing to act on stays parked.
   */
  #rideAlong(ctx: FlushContext): void {
    if (this.#parked.size === 0) return;
    ctx.afterJobs(() => {
      for (const parked of this.#parked) {
        let result: ClaimResult | AgentbusError;
        try {
          result = this.#guardedClaim(parked.request, ctx);
        } catch (error) {
          // Undone by its savepoint; the consumer sees the error when it wakes.
          this.#parked.delete(parked);
          parked.reject(error);
          continue;
        }
        const worth =
          result instanceof Error ||
          result.deliveries.length > 0 ||
          result.more ||
          result.nextWakeAt !== undefined ||
          (result.heldKeys !== undefined && result.heldKeys.size > 0);
        if (!worth) continue;
        // Still parked until the commit: a flush that rolls back leaves it waiting.
        ctx.afterCommit(() => {
          if (!this.#parked.delete(parked)) return;
          if (result instanceof Error) parked.reject(result);
          else parked.resolve(result);
        });
      }
    });
  }

  settle(settlements: readonly Settlement[]): Promise<Array<AppendedEvent[] | Error>> {
    const run = (ctx: FlushContext) => {
      const activity = this.counts.activity(ctx);
      return settlements.map((s) => this.#settleNow(s, ctx, activity));
    };
    // A plain acknowledgement rides along with the next flush (the next append, usually):
    // it resolves only once committed, so nothing acknowledged is ever lost.
    const plain = settlements.every((s) => s.outcome.kind === 'ack' && !s.publish?.length);
    return plain ? this.committer.enqueueLazy(run, ACK_DELAY_MS) : this.committer.enqueue(run);
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
        this.#s.insertRetry.run(consumer, seq, 0, now, null, null, null, null, null, 0, null);
      }
    });
  }

  leave(consumer: string, owner: string): Promise<void> {
    return this.committer.enqueue(() => {
      if (this.#s.releaseActive.run(consumer, owner).changes === 1) this.wake();
    });
  }

  listDeadLetters(filter?: DeadLetterFilter): Promise<DeadLetter[]> {
    return this.#dead.list(filter);
  }

  countOpenDeadLetters(): Promise<OpenDeadLetterCounts> {
    return this.#dead.countOpen();
  }

  getDeadLetter(id: number): Promise<DeadLetter | undefined> {
    return this.#dead.get(id);
  }

  replayDeadLetter(id: number, replacement?: AppendItem, options?: ReplayDeadLetterOptions): Promise<DeadLetter> {
    return this.#dead.replay(id, replacement, options);
  }

  recordDeadLetter(record: ExternalDeadLetter): Promise<DeadLetter> {
    return this.#dead.record(record);
  }

  archiveDeadLetter(id: number, note: string): Promise<DeadLetter> {
    return this.#dead.archive(id, note);
  }

  purgeDeadLetters(filter?: { consumer?: string; status?: DeadLetter['status'] | 'all' }): Promise<number> {
    return this.#dead.purge(filter);
  }

  async lagLimits(): Promise<LagLimit[]> {
    return this.lag.limits();
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
    return this.log.startSeq(start);
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
      // Events this process appended and committed come from memory, without a read-back.
      let held = this.log.tail.from(next, chunk);
      if (held.length === 0) held = this.log.uncommitted(ctx, next, chunk);
      if (held.length > 0) {
        for (const entry of held) {
          next = entry.seq + 1;
          scanned++;
          const { target } = entry;
          if (target !== undefined ? target !== consumer.name : !request.matchTopic(entry.topic)) continue;
          // Parsed once for all local subscribers, and frozen.
          const event = storedEventOf(entry);
          if (target === undefined && request.matchEvent && !request.matchEvent(event)) continue;
          if (entry.expiresAt !== null && entry.expiresAt <= now) {
            expired++;
            continue;
          }
          matched.push(event);
          if (matched.length === wanted) break scan;
        }
        continue;
      }
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
        // Parsed for this subscriber alone: no need to freeze it.
        matched.push(event);
        if (matched.length === wanted) break scan;
      }
      if (rows.length < chunk) {
        reachedHead = true;
        break;
      }
    }
    this.log.tail.claimed(consumer.name, next, now);
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
        // A lapsed lease is not a handler failure: the retry budget stays untouched, and it is
        // not a failed attempt either.
        0,
        null,
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

  #settleNow(settlement: Settlement, ctx: FlushContext, activity: ActivityTally): AppendedEvent[] | Error {
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
    activity.add(SETTLED_AS[outcome.kind], settlement.topic);
    // Publishers blocked on this subscription's lag limit re-check after the commit.
    if (outcome.kind !== 'retry' && this.lag.settled(consumer, 1, ctx)) this.wake();
    if (outcome.kind === 'ack') {
      activity.handled(consumer);
      if (retry) {
        this.#s.deleteRetry.run(consumer, seq);
        // Handled after failing: the history leaves with the row that held it (ADR 0023). A
        // first delivery, or a redelivery after a lapsed lease alone, writes nothing more.
        if (retry.failures > 0) {
          this.#s.insertRecovered.run(
            seq,
            consumer,
            retry.failures,
            retry.first_failed_at ?? now,
            retry.attempts,
            settlement.attempt,
            now,
          );
        }
      }
      for (const { namespace, key, by } of settlement.counters ?? []) this.#s.incrementState.run(namespace, key, by, now);
    } else if (outcome.kind === 'retry') {
      this.wake();
      const { reason, message, stack } = outcome.error;
      // The history rides in the row the failure writes anyway (a failure is never the happy path).
      const attempts = withAttempt(
        decodeAttempts(retry?.attempts),
        failedAttempt(settlement.attempt, now, outcome.error, outcome.delayMs),
      );
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
        encodeAttempts(attempts),
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
        encodeAttempts(withAttempt(decodeAttempts(retry?.attempts), failedAttempt(settlement.attempt, now, outcome.error))),
      );
      this.#s.countDead.run(consumer);
    }
    if (!settlement.publish || settlement.publish.length === 0) return [];
    this.wake();
    return this.log.appendInTransaction(settlement.publish, now, ctx);
  }
}

function isExpired(event: StoredEvent, now: number): boolean {
  const expiresAt = event.envelope.event.expires_at;
  return expiresAt !== undefined && Date.parse(expiresAt) <= now;
}
