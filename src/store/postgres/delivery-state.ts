/**
 * Delivery state on PostgreSQL, with the SQLite adapter's semantics (ADR 0001): per consumer
 * a claim cursor (`next_seq`), claimed windows of first deliveries (one row for many events)
 * and per-event exceptions (retries, dead letters). Several processes share a consumer: a
 * claim locks the consumer's row (claims of one consumer take turns, a flush each), and
 * takes other members' windows and due retries with `FOR UPDATE SKIP LOCKED`, so it never
 * waits for a member settling them.
 */
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
  DeliveryState,
  ExternalDeadLetter,
  LagLimit,
  LeaseRef,
  ReplayDeadLetterOptions,
  Settlement,
  StartPosition,
  StoredEvent,
} from '../event-store.js';
import { isOwnerGone, newLeaseToken } from '../owner.js';
import { RetryRows, loadWindows, windowKey, writeBackWindows } from './batches.js';
import type { Sql } from './connection.js';
import { PostgresDeadLetters } from './dead-letters.js';
import { PostgresRecovered } from './recovered.js';
import {
  type ConsumerInfoRow,
  type ConsumerRow,
  type DeliveryStatements,
  type RetryRow,
  type WindowRow,
  deliveryStatements,
} from './delivery-statements.js';
import { type EventRow, type PostgresEventLog, toStoredEvent } from './event-log.js';
import type { Flush, GroupCommitter } from './group-commit.js';
import { type PostgresLagAccounting, matcherOf } from './lag-accounting.js';
import { notFound } from '../refusals.js';
import { SettlementBatcher } from './settlements.js';
import type { Tables } from './tables.js';

/** How many log rows one claim reads at most before returning (with `more: true`). */
const SCAN_LIMIT = 20_000;

type ScanRow = EventRow & { topic: string; expires_at: number | null; target: string | null };
type DueRow = RetryRow & { event_stored_at: number | null; body: string | null; expires_at: number | null };

export class PostgresDeliveryState implements DeliveryState {
  readonly #s: DeliveryStatements;
  readonly #dead: PostgresDeadLetters;
  readonly #settler: SettlementBatcher;
  readonly recovered: PostgresRecovered;

  constructor(
    t: Tables,
    /** Where reads outside a flush run (the pool). */
    private readonly reader: Sql,
    private readonly log: PostgresEventLog,
    private readonly lag: PostgresLagAccounting,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
  ) {
    this.#s = deliveryStatements(t);
    this.#dead = new PostgresDeadLetters(this.#s, reader, lag, committer, now);
    this.#settler = new SettlementBatcher(this.#s, lag, committer, now);
    this.recovered = new PostgresRecovered(this.#s, reader, committer);
  }

  async ensureConsumer(spec: ConsumerSpec): Promise<ConsumerInfo> {
    const filter = spec.filter === undefined || spec.filter === null ? null : JSON.stringify(spec.filter);
    const maxLag = spec.maxLag ?? null;
    const onFull = maxLag === null ? null : (spec.onFull ?? 'block');
    const ordered = spec.ordered === true;
    await this.committer.enqueue(async (flush) => {
      const [existing] = await flush.sql.rows<ConsumerRow>(this.#s.consumer, [spec.name]);
      if (existing) {
        const changed =
          existing.topic !== spec.topic ||
          existing.filter !== filter ||
          (existing.max_lag === null ? null : Number(existing.max_lag)) !== maxLag ||
          existing.on_full !== onFull ||
          existing.ordered !== ordered;
        if (!changed) return undefined;
        await flush.sql.rows(this.#s.updateSelection, [spec.name, spec.topic, filter, maxLag, onFull, ordered]);
      } else {
        const next = await this.#startSeq(flush.sql, spec.start ?? 'latest');
        await flush.sql.rows(this.#s.insertConsumer, [spec.name, spec.topic, filter, next, this.now(), maxLag, onFull, ordered]);
      }
      // Counts are kept only for limited consumers; a limit added, changed or removed recounts.
      if (maxLag !== null || (existing !== undefined && existing.max_lag !== null)) {
        flush.underHeadLock.push((sql) => this.#recount(sql, spec.name));
      }
      return undefined;
    });
    return (await this.getConsumer(spec.name)) as ConsumerInfo;
  }

  async getConsumer(name: string): Promise<ConsumerInfo | undefined> {
    const [row] = await this.reader.rows<ConsumerInfoRow>(this.#s.info, [name, this.now()]);
    return row ? this.#info(row) : undefined;
  }

  async listConsumers(): Promise<ConsumerInfo[]> {
    const rows = await this.reader.rows<ConsumerInfoRow>(this.#s.info, [null, this.now()]);
    return rows.map((row) => this.#info(row));
  }

  deleteConsumer(name: string): Promise<boolean> {
    return this.committer.enqueue(async (flush) => {
      await flush.sql.rows(this.#s.deleteWindowsOf, [name]);
      await flush.sql.rows(this.#s.deleteRetriesOf, [name]);
      const deleted = await flush.sql.rows(this.#s.deleteConsumer, [name]);
      flush.underHeadLock.push(async (sql) => {
        await sql.rows(this.#s.deleteLag, [name]);
        await this.lag.definitionsChanged(sql);
      });
      return deleted.length === 1;
    });
  }

  async resetConsumer(name: string, start: StartPosition): Promise<ConsumerInfo> {
    await this.committer.enqueue(async (flush) => {
      const [row] = await flush.sql.rows<ConsumerRow>(this.#s.lockConsumer, [name]);
      if (!row) return notFound(name);
      await flush.sql.rows(this.#s.deleteWindowsOf, [name]);
      await flush.sql.rows(this.#s.deleteRetriesOf, [name]);
      await flush.sql.rows(this.#s.setNext, [name, await this.#startSeq(flush.sql, start)]);
      flush.underHeadLock.push((sql) => this.#recount(sql, name));
      flush.wake = true;
      return undefined;
    });
    return (await this.getConsumer(name)) as ConsumerInfo;
  }

  setPaused(name: string, paused: boolean): Promise<void> {
    return this.committer.enqueue(async (flush) => {
      const rows = await flush.sql.rows(this.#s.setPaused, [name, paused]);
      if (rows.length !== 1) return notFound(name);
      if (!paused) flush.wake = true;
      return undefined;
    });
  }

  claim(request: ClaimRequest): Promise<ClaimResult> {
    return this.committer.enqueue((flush) => this.#claimNow(request, flush));
  }

  settle(settlements: readonly Settlement[]): Promise<Array<AppendedEvent[] | Error>> {
    return this.#settler.settle(settlements);
  }

  extend(
    consumer: string,
    owner: string,
    leases: readonly LeaseRef[],
    leaseMs: number,
  ): Promise<{ until: number; lost: LeaseRef[] }> {
    return this.committer.enqueue(async (flush) => {
      const until = this.now() + leaseMs;
      await flush.sql.rows(this.#s.extendActive, [until, consumer, owner]);
      const held = new Set<string>();
      for (const kind of ['window', 'retry'] as const) {
        const mine = leases.filter((l) => l.kind === kind);
        if (mine.length === 0) continue;
        const statement = kind === 'window' ? this.#s.extendWindows : this.#s.extendRetries;
        const rows = await flush.sql.rows<{ key: number; token: number }>(statement, [
          until,
          consumer,
          owner,
          mine.map((l) => l.key),
          mine.map((l) => l.token),
        ]);
        for (const row of rows) held.add(`${kind}:${Number(row.key)}:${Number(row.token)}`);
      }
      return { until, lost: leases.filter((l) => !held.has(`${l.kind}:${l.key}:${l.token}`)) };
    });
  }

  release(consumer: string, owner: string, leases: readonly { lease: LeaseRef; seq: number }[]): Promise<void> {
    if (leases.length === 0) return Promise.resolve();
    return this.committer.enqueue(async (flush) => {
      const now = this.now();
      flush.wake = true;
      const retries = leases.filter((l) => l.lease.kind === 'retry');
      if (retries.length > 0) {
        await flush.sql.rows(this.#s.returnRetries, [
          now,
          consumer,
          retries.map((l) => l.seq),
          retries.map((l) => l.lease.token),
        ]);
      }
      const keys = new Map<string, { consumer: string; key: number }>();
      for (const { lease } of leases) {
        if (lease.kind === 'window') keys.set(windowKey(consumer, lease.key), { consumer, key: lease.key });
      }
      const windows = await loadWindows(flush.sql, this.#s, keys);
      const returned = new RetryRows();
      for (const { lease, seq } of leases) {
        if (lease.kind !== 'window') continue;
        const window = windows.get(windowKey(consumer, lease.key));
        if (!window || Number(window.row.token) !== lease.token || window.row.owner !== owner || !window.pending.delete(seq)) {
          continue;
        }
        window.changed = true;
        // Never started: returned without counting an attempt.
        returned.add({ consumer, seq, attempt: 0, dueAt: now, failures: 0 });
      }
      await writeBackWindows(flush.sql, this.#s, windows.values());
      await returned.write(flush.sql, this.#s);
      return undefined;
    });
  }

  leave(consumer: string, owner: string): Promise<void> {
    return this.committer.enqueue(async (flush) => {
      if ((await flush.sql.rows(this.#s.releaseActive, [consumer, owner])).length === 1) flush.wake = true;
      return undefined;
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

  lagLimits(): Promise<LagLimit[]> {
    return this.lag.limits(this.reader);
  }

  /**
   * Recomputes a limited consumer's pending count from its state (after it is created,
   * redefined or reset): open windows, retries, and matching events not yet claimed. Runs
   * under the log-head lock, so no append races the count.
   */
  async #recount(sql: Sql, name: string): Promise<void> {
    await this.lag.definitionsChanged(sql);
    const [row] = await sql.rows<ConsumerRow>(this.#s.consumer, [name]);
    if (!row || row.max_lag === null) {
      await sql.rows(this.#s.deleteLag, [name]);
      return;
    }
    const [retries] = await sql.rows<{ n: number }>(this.#s.retryCount, [name]);
    const [windows] = await sql.rows<{ n: number }>(this.#s.windowPendingTotal, [name]);
    let pending = Number(retries?.n ?? 0) + Number(windows?.n ?? 0);
    const matches = matcherOf(row.topic, row.filter);
    let from = Number(row.next_seq);
    for (;;) {
      const rows = await sql.rows<ScanRow>(this.#s.scan, [from, 1000]);
      for (const r of rows) {
        const envelope = JSON.parse(r.body) as Envelope;
        if (r.target !== null ? r.target === name : matches(envelope)) pending++;
      }
      if (rows.length < 1000) break;
      from = Number((rows[rows.length - 1] as ScanRow).seq) + 1;
    }
    await sql.rows(this.#s.upsertLag, [name, pending]);
  }

  /**
   * Where a consumer starts: `earliest` and positions or times before the log start begin at
   * the log start (events kept below it for streams and dead letters are not delivered again).
   */
  async #startSeq(sql: Sql, start: StartPosition): Promise<number> {
    if (start === 'latest') return (await this.log.head(sql)) + 1;
    const logStart = await this.log.start(sql);
    if (start === 'earliest') return logStart;
    if ('seq' in start) return Math.max(logStart, start.seq);
    return Math.max(logStart, await this.log.firstSeqAtOrAfter(sql, start.time));
  }

  #info(row: ConsumerInfoRow): ConsumerInfo {
    const now = this.now();
    const next = Number(row.next_seq);
    let floor = next;
    if (row.window_floor !== null) floor = Math.min(floor, Number(row.window_floor));
    if (row.retry_floor !== null) floor = Math.min(floor, Number(row.retry_floor));
    const activeUntil = row.active_until === null ? 0 : Number(row.active_until);
    return {
      name: row.name,
      topic: row.topic,
      filter: row.filter === null ? null : JSON.parse(row.filter),
      ackFloor: floor - 1,
      nextSeq: next,
      inFlight: Number(row.window_pending) + Number(row.leased),
      scheduled: Number(row.waiting),
      redelivered: Number(row.redelivered),
      deadLettered: Number(row.dead_lettered),
      expired: Number(row.expired),
      paused: row.paused,
      createdAt: Number(row.created_at),
      ordered: row.ordered,
      ...(row.ordered && row.active_owner !== null && activeUntil > now ? { activeMember: row.active_owner } : {}),
      ...(row.max_lag !== null
        ? { lag: { maxLag: Number(row.max_lag), onFull: row.on_full ?? 'block', pending: Number(row.lag_pending ?? 0) } }
        : {}),
    };
  }

  async #claimNow(request: ClaimRequest, flush: Flush): Promise<ClaimResult | AgentbusError> {
    const { sql } = flush;
    const now = this.now();
    const { consumer: name, owner } = request;
    // The consumer's row is the claim cursor: claims of one consumer take turns.
    const [consumer] = await sql.rows<ConsumerRow & { has_retries: boolean }>(this.#s.lockConsumer, [name]);
    if (!consumer) return notFound(name);
    if (consumer.paused) return { deliveries: [], more: false };
    await this.lag.refresh(sql, flush.consumersVersion);
    let nextWakeAt = Number.POSITIVE_INFINITY;
    let activeUntil: number | null = null;
    if (consumer.ordered) {
      // One active member keeps the order: others stand by until its lease lapses or it dies.
      const active = consumer.active_owner;
      const until = consumer.active_until === null ? null : Number(consumer.active_until);
      const lapsed = until === null || until <= now;
      if (active !== null && active !== owner && !lapsed && !isOwnerGone(active)) {
        return { deliveries: [], more: false, nextWakeAt: until as number };
      }
      activeUntil = now + request.leaseMs;
    }

    // Windows of members whose lease lapsed or whose process is gone become retries.
    let hasRetries = consumer.has_retries;
    const lapsed = new RetryRows();
    const lapsedKeys: number[] = [];
    for (const window of await sql.rows<WindowRow>(this.#s.windowsOfOthers, [name, owner])) {
      if (Number(window.lease_until) <= now || isOwnerGone(window.owner)) {
        lapsedKeys.push(Number(window.first_seq));
        for (const seq of window.pending) {
          lapsed.add({
            consumer: name,
            seq: Number(seq),
            attempt: 1,
            dueAt: now,
            reason: 'lease_expired',
            error: `lease of ${window.owner} lapsed before the delivery was settled`,
            firstFailedAt: now,
            lastFailedAt: now,
            // A lapsed lease is not a handler failure: the retry budget stays untouched.
            failures: 0,
          });
        }
      } else {
        nextWakeAt = Math.min(nextWakeAt, Number(window.lease_until));
      }
    }
    if (lapsedKeys.length > 0) {
      await lapsed.write(sql, this.#s);
      await sql.rows(this.#s.deleteWindows, [lapsedKeys.map(() => name), lapsedKeys]);
      hasRetries ||= lapsed.size > 0;
    }

    const deliveries: ClaimedDelivery[] = [];
    const leaseUntil = now + request.leaseMs;
    let redelivered = 0;
    let expired = 0;
    if (hasRetries) {
      const others = await sql.rows<{ owner: string }>(this.#s.retryOwners, [name, owner]);
      const gone = others.map((o) => o.owner).filter((o) => isOwnerGone(o));
      if (gone.length > 0) await sql.rows(this.#s.freeRetriesOf, [name, gone]);
      const due = await sql.rows<DueRow>(this.#s.dueRetries, [name, now, request.max]);
      const token = newLeaseToken();
      const leased: number[] = [];
      const dropped: number[] = [];
      for (const retry of due) {
        const seq = Number(retry.seq);
        const isExpired = retry.expires_at !== null && Number(retry.expires_at) <= now;
        if (retry.body === null || isExpired) {
          dropped.push(seq);
          if (isExpired) expired++;
          continue;
        }
        const event = toStoredEvent({ seq, stored_at: Number(retry.event_stored_at), body: retry.body });
        leased.push(seq);
        if (retry.attempt > 0) redelivered++;
        deliveries.push({
          event,
          attempt: retry.attempt + 1,
          failures: retry.failures,
          lease: { kind: 'retry', key: seq, token },
          leaseUntil,
          ...(retry.first_failed_at !== null ? { firstFailedAt: Number(retry.first_failed_at) } : {}),
        });
      }
      if (dropped.length > 0) {
        await sql.rows(this.#s.deleteRetriesAt, [name, dropped]);
        this.lag.settled(name, dropped.length, flush);
      }
      if (leased.length > 0) await sql.rows(this.#s.leaseRetries, [name, owner, leaseUntil, token, leased]);
      const [times] = await sql.rows<{ next_due: number | null; next_lapse: number | null }>(this.#s.wakeTimes, [
        name,
        now,
        owner,
      ]);
      if (times?.next_due != null) nextWakeAt = Math.min(nextWakeAt, Number(times.next_due));
      if (times?.next_lapse != null) nextWakeAt = Math.min(nextWakeAt, Number(times.next_lapse));
    }

    const scan = request.retriesOnly
      ? { next: Number(consumer.next_seq), more: false, expired: 0 }
      : await this.#claimNew(sql, request, consumer, deliveries, now, leaseUntil);
    expired += scan.expired;
    if (scan.expired > 0) this.lag.settled(name, scan.expired, flush);
    if (scan.next !== Number(consumer.next_seq) || expired > 0 || redelivered > 0 || activeUntil !== null) {
      await sql.rows(this.#s.finishClaim, [
        name,
        scan.next,
        expired,
        redelivered,
        activeUntil === null ? null : owner,
        activeUntil,
      ]);
    }
    const heldKeys = consumer.ordered
      ? hasRetries
        ? new Map((await sql.rows<{ key: string; seq: number }>(this.#s.heldKeys, [name])).map((r) => [r.key, Number(r.seq)]))
        : new Map<string, number>()
      : undefined;
    return {
      deliveries,
      more: scan.more,
      ...(Number.isFinite(nextWakeAt) ? { nextWakeAt } : {}),
      ...(heldKeys ? { heldKeys } : {}),
    };
  }

  /** Reads new events after the cursor into one window; `more` when it stopped short of the head. */
  async #claimNew(
    sql: Sql,
    request: ClaimRequest,
    consumer: ConsumerRow,
    deliveries: ClaimedDelivery[],
    now: number,
    leaseUntil: number,
  ): Promise<{ next: number; more: boolean; expired: number }> {
    const first = Number(consumer.next_seq);
    const wanted = request.max - deliveries.length;
    if (wanted <= 0) return { next: first, more: true, expired: 0 };
    const chunk = Math.min(Math.max(wanted, 64), 1000);
    const matched: StoredEvent[] = [];
    let next = first;
    let scanned = 0;
    let expired = 0;
    let reachedHead = false;
    scan: while (scanned < SCAN_LIMIT) {
      const rows = await sql.rows<ScanRow>(this.#s.scan, [next, chunk]);
      for (const row of rows) {
        next = Number(row.seq) + 1;
        scanned++;
        // An addressed event goes to its subscription only, whatever its selection.
        if (row.target !== null ? row.target !== consumer.name : !request.matchTopic(row.topic)) continue;
        const event = toStoredEvent(row);
        if (row.target === null && request.matchEvent && !request.matchEvent(event)) continue;
        if (row.expires_at !== null && Number(row.expires_at) <= now) {
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
    if (next === first) return { next, more: false, expired };
    if (matched.length > 0) {
      const token = newLeaseToken();
      const pending = matched.map((e) => e.seq);
      await sql.rows(this.#s.insertWindow, [consumer.name, first, next - 1, pending, request.owner, leaseUntil, token]);
      const lease: LeaseRef = { kind: 'window', key: first, token };
      for (const event of matched) deliveries.push({ event, attempt: 1, failures: 0, lease, leaseUntil });
    }
    return { next, more: !reachedHead, expired };
  }
}
