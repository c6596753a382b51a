/**
 * Retention on SQLite (ADR 0018): the log's prefix deleted in batches, each a transaction of
 * its own queued behind the writes already waiting (never inside a publisher's flush), so the
 * write lock is held for one batch at a time. Several processes may prune one file: each batch
 * recomputes what holds retention back under the write lock, and deleting is idempotent.
 *
 * Progress lives in `store_meta`: `pruned_through` (every position at or below it is pruned,
 * except events kept for streams and dead letters), `pruned_events`, `pruned_at`.
 */
import { performance } from 'node:perf_hooks';
import type Database from 'better-sqlite3';
import {
  type CheckedPruneOptions,
  type CompactOptions,
  type CompactResult,
  type HoldRow,
  type PolicyCut,
  OUTBOX_NAMESPACE,
  PROJECTION_CHECKPOINT_PREFIX,
  PROJECTION_NAMESPACE,
  type PruneOptions,
  type PruneResult,
  type Retention,
  type RetentionInfo,
  batchEnd,
  checkPruneOptions,
  mayGo,
  policyCut,
  holdsOf,
  pruneInBatches,
  type PruneBatch,
  lowestHold,
} from '../retention.js';
import { type CompactionParts, compactSqlite } from './compaction.js';
import type { GroupCommitter } from './group-commit.js';

type Batch = PruneBatch;
/** The log head and the time when a prune started: it takes what was due then, not what becomes due while it runs. */
type AsOf = { readonly head: number; readonly now: number };

export class SqliteRetention implements Retention {
  readonly #holds: Database.Statement;
  readonly #meta: Database.Statement;
  readonly #setMeta: Database.Statement;
  readonly #addMeta: Database.Statement;
  readonly #head: Database.Statement;
  readonly #rows: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #deleteRecovered: Database.Statement;
  readonly #count: Database.Statement;
  readonly #firstStoredAt: Database.Statement;

  readonly #compaction: CompactionParts;

  constructor(
    db: Database.Database,
    private readonly committer: GroupCommitter,
    private readonly now: () => number,
    file: Pick<CompactionParts, 'path' | 'suspendCheckpoints'> = { path: undefined, suspendCheckpoints: async () => {} },
  ) {
    this.#compaction = { db, committer, ...file };
    this.#holds = db.prepare(
      `SELECT 'subscription' AS kind, c.name AS name, c.paused AS paused,
              min(c.next_seq, coalesce((SELECT min(first_seq) FROM consumer_windows w WHERE w.consumer = c.name), c.next_seq),
                  coalesce((SELECT min(seq) FROM consumer_retries r WHERE r.consumer = c.name), c.next_seq)) AS seq
       FROM consumers c
       UNION ALL
       SELECT 'projection', substr(key, ${PROJECTION_CHECKPOINT_PREFIX.length + 1}), NULL,
              CAST(json_extract(value, '$.position') AS INTEGER) + 1
       FROM state WHERE namespace = '${PROJECTION_NAMESPACE}' AND key >= '${PROJECTION_CHECKPOINT_PREFIX}'
         AND key < '${PROJECTION_CHECKPOINT_PREFIX.slice(0, -1)}0'
       UNION ALL
       SELECT 'outbox', 'outbox', NULL, min(e.seq) FROM state s JOIN events e ON e.id = s.key
       WHERE s.namespace = '${OUTBOX_NAMESPACE}'`,
    );
    this.#meta = db.prepare("SELECT key, value FROM store_meta WHERE key IN ('pruned_through', 'pruned_events', 'pruned_at')");
    this.#setMeta = db.prepare(
      'INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)',
    );
    this.#addMeta = db.prepare(
      'INSERT INTO store_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value',
    );
    this.#head = db.prepare('SELECT seq FROM events ORDER BY seq DESC LIMIT 1').pluck();
    this.#rows = db.prepare('SELECT seq, stored_at FROM events WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?');
    // Events of streams and of dead letters stay; everything else in the range goes.
    const kept = `NOT EXISTS (SELECT 1 FROM stream_events s WHERE s.seq = events.seq)
      AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.seq = events.seq)`;
    this.#delete = db.prepare(`DELETE FROM events WHERE seq > ? AND seq <= ? AND ${kept}`);
    // Recovered deliveries go with their events; those of events kept (dead letters, streams) stay (ADR 0023).
    this.#deleteRecovered = db.prepare(
      `DELETE FROM consumer_recovered WHERE seq > ? AND seq <= ?
       AND NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = consumer_recovered.seq)`,
    );
    this.#firstStoredAt = db.prepare('SELECT seq, stored_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1');
    this.#count = db.prepare(`SELECT count(*) FROM events WHERE seq > ? AND seq <= ? AND ${kept}`).pluck();
  }

  /** The log start: consumers starting at `earliest` (or below it) start here. */
  logStart(): number {
    return this.#progress().prunedThrough + 1;
  }

  async info(): Promise<RetentionInfo> {
    const { prunedThrough, prunedEvents, prunedAt } = this.#progress();
    return {
      firstRetained: prunedThrough + 1,
      head: (this.#head.get() as number | undefined) ?? 0,
      pruned: prunedEvents,
      ...(prunedAt > 0 ? { lastPrunedAt: prunedAt } : {}),
      holds: holdsOf(this.#holds.all() as HoldRow[]),
    };
  }

  /**
   * Gives the pages of pruned events back to the file system: in small steps on files with
   * incremental vacuum (all this version creates), by one VACUUM on older files (ADR 0025).
   */
  compact(options?: CompactOptions): Promise<CompactResult> {
    return compactSqlite(this.#compaction, options);
  }

  async prune(options: PruneOptions): Promise<PruneResult> {
    const o = checkPruneOptions(options);
    const asOf: AsOf = { head: (this.#head.get() as number | undefined) ?? 0, now: this.now() };
    const run = await pruneInBatches(o, this.#progress().prunedThrough, (from) =>
      o.dryRun ? Promise.resolve(this.#batch(o, asOf, from, true)) : this.#runBatch(o, asOf, from),
    );
    const { last } = run;
    return {
      pruned: run.pruned,
      firstRetained: o.dryRun ? run.from + 1 : this.logStart(),
      head: last?.head ?? (this.#head.get() as number | undefined) ?? 0,
      ...(last?.heldBy ? { heldBy: last.heldBy } : {}),
      batches: run.batches,
      longestBatchMs: run.longestBatchMs,
      dryRun: o.dryRun,
    };
  }

  /** One batch in a transaction of its own, timed from its first statement to its commit. */
  #runBatch(o: CheckedPruneOptions, asOf: AsOf, from: number): Promise<Batch> {
    return this.committer.solo((ctx) => {
      const started = performance.now();
      const batch = this.#batch(o, asOf, from, false);
      ctx.afterCommit(() => {
        batch.elapsedMs = performance.now() - started;
      });
      return batch;
    });
  }

  /**
   * Inside the write lock (or, in a dry run, a read): what may go now from `after` on, and
   * (unless `dryRun`) deleting it. Holds are read again each batch: a subscription created or
   * moved meanwhile (by any process) is seen before anything below it is deleted.
   */
  #batch(o: CheckedPruneOptions, asOf: AsOf, after: number, dryRun: boolean): Batch {
    const head = Math.min((this.#head.get() as number | undefined) ?? 0, asOf.head);
    // A batch of another process may have moved the log start on since the last one.
    const from = dryRun ? after : Math.max(after, this.#progress().prunedThrough);
    const hold = lowestHold(holdsOf(this.#holds.all() as HoldRow[]));
    // Never the newest event; nothing at or above what something still needs.
    const target = Math.min(head, hold?.seq ?? Number.POSITIVE_INFINITY);
    const cut = policyCut(o, asOf.head, asOf.now);
    const rows =
      target > from + 1 ? (this.#rows.all(from, target, o.batchSize) as Array<{ seq: number; stored_at: number }>) : [];
    const end = batchEnd(rows, cut);
    if (end === undefined) {
      // Done: held back when the policy would have let the held event go.
      const held = hold !== undefined && hold.seq < head && this.#mayGoAt(hold.seq, cut);
      return { pruned: 0, end, head, heldBy: held ? hold : undefined, target, elapsedMs: 0 };
    }
    if (dryRun) return { pruned: this.#count.get(from, end) as number, end, head, heldBy: undefined, target, elapsedMs: 0 };
    const pruned = this.#delete.run(from, end).changes;
    this.#deleteRecovered.run(from, end);
    this.#setMeta.run('pruned_through', end);
    if (pruned > 0) {
      this.#addMeta.run('pruned_events', pruned);
      this.#setMeta.run('pruned_at', this.now());
    }
    return { pruned, end, head, heldBy: undefined, target, elapsedMs: 0 };
  }

  /** Whether the policy lets the first event at or after `seq` go. */
  #mayGoAt(seq: number, cut: PolicyCut): boolean {
    const row = this.#firstStoredAt.get(seq) as { seq: number; stored_at: number } | undefined;
    return row !== undefined && mayGo(cut, row.seq, row.stored_at);
  }

  #progress(): { prunedThrough: number; prunedEvents: number; prunedAt: number } {
    const meta = new Map((this.#meta.all() as Array<{ key: string; value: number }>).map((r) => [r.key, Number(r.value)]));
    return {
      prunedThrough: meta.get('pruned_through') ?? 0,
      prunedEvents: meta.get('pruned_events') ?? 0,
      prunedAt: meta.get('pruned_at') ?? 0,
    };
  }
}
