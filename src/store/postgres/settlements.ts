/**
 * Settling deliveries in batches: every `settle` call made while no flush runs joins one
 * job, which locks the windows and retries it touches in one statement each, decides every
 * settlement in memory (as the SQLite adapter does, one by one and in order), and writes the
 * changes back in a handful of batched statements. Events the handlers publish join the
 * flush's one insert, so they commit with the acknowledgements or not at all.
 */
import { SETTLED_AS } from '../activity.js';
import { decodeAttempts, encodeAttempts, failedAttempt, withAttempt } from '../attempts.js';
import type { AppendedEvent, Settlement } from '../event-store.js';
import { DeadRows, KeyRows, RetryRows, loadWindows, windowKey, writeBackWindows } from './batches.js';
import type { DeliveryStatements, RetryRow } from './delivery-statements.js';
import { type AppendRequest, Deferred, type Flush, type GroupCommitter } from './group-commit.js';
import type { PostgresLagAccounting } from './lag-accounting.js';
import { leaseLost } from '../refusals.js';

type Outcome = AppendedEvent[] | Error;

interface Batch {
  readonly settlements: Settlement[];
  readonly done: Promise<Outcome[]>;
}

export class SettlementBatcher {
  #open: Batch | undefined;

  constructor(
    private readonly s: DeliveryStatements,
    private readonly lag: PostgresLagAccounting,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
  ) {}

  /** Settles `settlements`, together with every other settlement of this flush. */
  settle(settlements: readonly Settlement[]): Promise<Outcome[]> {
    if (settlements.length === 0) return Promise.resolve([]);
    let batch = this.#open;
    if (!batch) {
      const list: Settlement[] = [];
      // Settlements made from now on go to the next flush: once the job starts, or once the
      // flush failed without running it (no connection, BEGIN refused). A batch left open
      // then would hand its failure to every later settlement, for good.
      const close = () => {
        if (this.#open?.settlements === list) this.#open = undefined;
      };
      const done = this.committer.enqueue((flush) => {
        close();
        return this.#run(flush, list);
      });
      done.then(close, close);
      batch = { settlements: list, done };
      this.#open = batch;
    }
    const from = batch.settlements.length;
    batch.settlements.push(...settlements);
    return batch.done.then((results) => results.slice(from, from + settlements.length));
  }

  async #run(flush: Flush, settlements: readonly Settlement[]): Promise<Deferred<Outcome[]>> {
    const { sql } = flush;
    const now = this.now();
    await this.lag.refresh(sql, flush.consumersVersion);
    const windowKeys = new Map<string, { consumer: string; key: number }>();
    const retryKeys = new KeyRows();
    for (const { consumer, seq, lease } of settlements) {
      if (lease.kind === 'window') windowKeys.set(windowKey(consumer, lease.key), { consumer, key: lease.key });
      else retryKeys.add(consumer, seq);
    }
    const windows = await loadWindows(sql, this.s, windowKeys);
    const retries = new Map<string, RetryRow | undefined>();
    if (retryKeys.seqs.length > 0) {
      for (const row of await sql.rows<RetryRow>(this.s.lockRetries, [retryKeys.consumers, retryKeys.seqs])) {
        retries.set(windowKey(row.consumer, Number(row.seq)), row);
      }
    }

    const results: Array<Error | AppendRequest | undefined> = [];
    const removed = new KeyRows();
    /** Per removed retry: whether it was acknowledged (then its history is kept, ADR 0023). */
    const handled: boolean[] = [];
    const scheduled = new RetryRows();
    const dead = new DeadRows();
    const counters = new Map<string, { namespace: string; key: string; by: number }>();
    for (const settlement of settlements) {
      const { consumer, seq, lease, outcome } = settlement;
      let retry: RetryRow | undefined;
      if (lease.kind === 'window') {
        const window = windows.get(windowKey(consumer, lease.key));
        if (!window || Number(window.row.token) !== lease.token || !window.pending.has(seq)) {
          results.push(leaseLost(consumer, seq));
          continue;
        }
        window.pending.delete(seq);
        window.changed = true;
      } else {
        const key = windowKey(consumer, seq);
        retry = retries.get(key);
        if (!retry || Number(retry.token) !== lease.token || retry.owner === null) {
          results.push(leaseLost(consumer, seq));
          continue;
        }
        // Settled: a second settlement of the same lease is refused.
        retries.set(key, undefined);
      }
      flush.activity.add(SETTLED_AS[outcome.kind], settlement.topic);
      // Publishers blocked on this subscription's lag limit re-check after the commit.
      if (outcome.kind !== 'retry' && this.lag.settled(consumer, 1, flush)) flush.wake = true;
      if (outcome.kind === 'ack') {
        flush.activity.handled(consumer);
        if (retry) {
          removed.add(consumer, seq);
          handled.push(true);
        }
        for (const { namespace, key, by } of settlement.counters ?? []) {
          // One row per counter: an upsert may not touch the same row twice.
          const id = `${namespace}\u0000${key}`;
          const counter = counters.get(id);
          if (counter) counter.by += by;
          else counters.set(id, { namespace, key, by });
        }
      } else if (outcome.kind === 'retry') {
        flush.wake = true;
        const { reason, message, stack } = outcome.error;
        scheduled.add({
          consumer,
          seq,
          attempt: settlement.attempt,
          dueAt: now + Math.max(0, outcome.delayMs),
          reason,
          error: message,
          stack: stack ?? null,
          firstFailedAt: now,
          lastFailedAt: now,
          failures: (retry?.failures ?? 0) + 1,
          // The history rides in the row the failure writes anyway.
          attempts: encodeAttempts(
            withAttempt(decodeAttempts(retry?.attempts), failedAttempt(settlement.attempt, now, outcome.error, outcome.delayMs)),
          ),
        });
      } else {
        const { reason, message, stack } = outcome.error;
        if (retry) {
          removed.add(consumer, seq);
          handled.push(false);
        }
        dead.add({
          consumer,
          seq,
          reason,
          error: message,
          stack: stack ?? null,
          retries: retry?.failures ?? 0,
          firstFailedAt: retry?.first_failed_at == null ? now : Number(retry.first_failed_at),
          lastFailedAt: now,
          attempts: encodeAttempts(
            withAttempt(decodeAttempts(retry?.attempts), failedAttempt(settlement.attempt, now, outcome.error)),
          ),
        });
      }
      results.push(settlement.publish && settlement.publish.length > 0 ? flush.append({ items: settlement.publish }) : undefined);
    }

    await writeBackWindows(sql, this.s, windows.values());
    if (removed.seqs.length > 0) await sql.rows(this.s.deleteRetries, [removed.consumers, removed.seqs, handled, now]);
    await scheduled.write(sql, this.s);
    await dead.write(sql, this.s);
    if (counters.size > 0) {
      const rows = [...counters.values()];
      await sql.rows(this.s.incrementState, [rows.map((c) => c.namespace), rows.map((c) => c.key), rows.map((c) => c.by), now]);
    }
    return new Deferred(() => results.map((r) => (r === undefined ? [] : r instanceof Error ? r : (r.result ?? []))));
  }
}
