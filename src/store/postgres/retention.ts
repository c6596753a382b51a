/**
 * Retention on PostgreSQL (ADR 0018): the log's prefix deleted in batches, each a transaction
 * of its own on a pool connection, apart from the group commit (appends insert at the head and
 * never wait for it). One process prunes a schema at a time: each batch takes a transaction
 * advisory lock, and a process that does not get it stops (`busy`). Each batch reads what
 * holds retention back in one statement (one snapshot), then deletes below it.
 *
 * Progress lives in the one-row `retention` table: `pruned_through` (every position at or
 * below it is pruned, except events kept for streams and dead letters), `pruned_events`,
 * `pruned_at`.
 */
import { performance } from 'node:perf_hooks';
import type { Pool } from 'pg';
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
import { type Sql, type Statement, backendError, holdConnection, reportingSql, sqlOf } from './connection.js';
import { type OwnConnection, compactPostgres } from './compaction.js';
import type { Tables } from './tables.js';

type Batch = PruneBatch;
/** The log head and the time when a prune started: it takes what was due then, not what becomes due while it runs. */
type AsOf = { readonly head: number; readonly now: number };

interface ProgressRow {
  pruned_through: number;
  pruned_events: number;
  pruned_at: number | null;
}

export class PostgresRetention implements Retention {
  readonly #s: Record<
    'holds' | 'progress' | 'head' | 'rows' | 'delete' | 'count' | 'firstStoredAt' | 'record' | 'lock',
    Statement
  >;

  constructor(
    private readonly pool: Pool,
    t: Tables,
    private readonly now: () => number,
    /** A connection of its own and the schema's name, for {@link compact}. */
    private readonly own: OwnConnection,
    private readonly schemaName: string,
  ) {
    const kept = `NOT EXISTS (SELECT 1 FROM ${t.streamEvents} s WHERE s.seq = e.seq)
      AND NOT EXISTS (SELECT 1 FROM ${t.deadLetters} d WHERE d.seq = e.seq)`;
    this.#s = {
      holds: {
        text: `SELECT 'subscription' AS kind, c.name AS name, c.paused AS paused,
                      least(c.next_seq, (SELECT min(first_seq) FROM ${t.windows} w WHERE w.consumer = c.name),
                            (SELECT min(seq) FROM ${t.retries} r WHERE r.consumer = c.name)) AS seq
               FROM ${t.consumers} c
               UNION ALL
               SELECT 'projection', substr(key, ${PROJECTION_CHECKPOINT_PREFIX.length + 1}), NULL,
                      (value::jsonb ->> 'position')::bigint + 1
               FROM ${t.state} WHERE namespace = '${PROJECTION_NAMESPACE}' AND key LIKE '${PROJECTION_CHECKPOINT_PREFIX}%'
               UNION ALL
               SELECT 'outbox', 'outbox', NULL, min(e.seq) FROM ${t.state} s JOIN ${t.events} e ON e.id = s.key
               WHERE s.namespace = '${OUTBOX_NAMESPACE}'`,
      },
      progress: { text: `SELECT pruned_through, pruned_events, pruned_at FROM ${t.retention} WHERE id = 1` },
      head: { text: `SELECT last_seq FROM ${t.logHead} WHERE id = 1` },
      rows: { text: `SELECT seq, stored_at FROM ${t.events} WHERE seq > $1 AND seq < $2 ORDER BY seq LIMIT $3` },
      // Recovered deliveries go with their events; those of events kept (dead letters, streams) stay (ADR 0023).
      delete: {
        text: `WITH gone AS (DELETE FROM ${t.events} e WHERE e.seq > $1 AND e.seq <= $2 AND ${kept} RETURNING e.seq),
               recovered AS (DELETE FROM ${t.recovered} r WHERE r.seq > $1 AND r.seq <= $2 AND r.seq IN (SELECT seq FROM gone))
               SELECT count(*)::bigint AS n FROM gone`,
      },
      count: { text: `SELECT count(*)::bigint AS n FROM ${t.events} e WHERE e.seq > $1 AND e.seq <= $2 AND ${kept}` },
      firstStoredAt: { text: `SELECT seq, stored_at FROM ${t.events} WHERE seq >= $1 ORDER BY seq LIMIT 1` },
      record: {
        text: `UPDATE ${t.retention} SET pruned_through = greatest(pruned_through, $1), pruned_events = pruned_events + $2,
                 pruned_at = CASE WHEN $2 > 0 THEN $3::bigint ELSE pruned_at END WHERE id = 1`,
      },
      lock: { text: 'SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked' },
    };
    this.#lockKey = `agentbus.prune:${t.schema}`;
  }

  readonly #lockKey: string;

  async info(): Promise<RetentionInfo> {
    const sql = reportingSql(sqlOf(this.pool), 'PostgreSQL read failed');
    const [progress] = await sql.rows<ProgressRow>(this.#s.progress);
    const holds = holdsOf(await sql.rows<HoldRow>(this.#s.holds));
    return {
      firstRetained: Number(progress?.pruned_through ?? 0) + 1,
      head: await this.#head(sql),
      pruned: Number(progress?.pruned_events ?? 0),
      ...(progress?.pruned_at != null ? { lastPrunedAt: Number(progress.pruned_at) } : {}),
      holds,
    };
  }

  /** VACUUM of the store's tables on a connection of its own (ADR 0025). */
  compact(options?: CompactOptions): Promise<CompactResult> {
    return compactPostgres(this.own, this.schemaName, options).catch((error: unknown) => {
      throw backendError('PostgreSQL compact failed', error);
    });
  }

  async prune(options: PruneOptions): Promise<PruneResult> {
    const o = checkPruneOptions(options);
    const sql = reportingSql(sqlOf(this.pool), 'PostgreSQL prune failed');
    const start = Number((await sql.rows<ProgressRow>(this.#s.progress))[0]?.pruned_through ?? 0);
    const asOf: AsOf = { head: await this.#head(sql), now: this.now() };
    const run = await pruneInBatches(o, start, async (from) => {
      const started = performance.now();
      const batch = o.dryRun ? await this.#batch(sql, o, asOf, from, true) : await this.#transaction(o, asOf, from);
      batch.elapsedMs = performance.now() - started;
      return batch;
    });
    const { last } = run;
    const [progress] = await sql.rows<ProgressRow>(this.#s.progress);
    return {
      pruned: run.pruned,
      firstRetained: o.dryRun ? run.from + 1 : Number(progress?.pruned_through ?? 0) + 1,
      head: last?.head ?? (await this.#head(sql)),
      ...(last?.heldBy ? { heldBy: last.heldBy } : {}),
      batches: run.batches,
      longestBatchMs: run.longestBatchMs,
      ...(last?.busy ? { busy: true } : {}),
      dryRun: o.dryRun,
    };
  }

  /** One batch in a transaction of its own, under the schema's prune lock. */
  async #transaction(o: CheckedPruneOptions, asOf: AsOf, from: number): Promise<Batch> {
    const held = await holdConnection(this.pool).catch((error: unknown) => {
      throw backendError('PostgreSQL prune failed', error);
    });
    const sql = reportingSql(sqlOf(held.client), 'PostgreSQL prune failed', held.explain);
    try {
      await sql.rows({ text: 'BEGIN' });
      const [lock] = await sql.rows<{ locked: boolean }>(this.#s.lock, [this.#lockKey]);
      if (!lock?.locked) {
        await sql.rows({ text: 'ROLLBACK' });
        return { pruned: 0, end: undefined, head: 0, heldBy: undefined, target: 0, busy: true, elapsedMs: 0 };
      }
      const [progress] = await sql.rows<ProgressRow>(this.#s.progress);
      const batch = await this.#batch(sql, o, asOf, Math.max(from, Number(progress?.pruned_through ?? 0)), false);
      await sql.rows({ text: 'COMMIT' });
      return batch;
    } catch (error) {
      await sql.rows({ text: 'ROLLBACK' }).catch(() => {});
      throw error;
    } finally {
      held.release();
    }
  }

  /** What may go now from `from` on, and (unless `dryRun`) deleting it. */
  async #batch(sql: Sql, o: CheckedPruneOptions, asOf: AsOf, from: number, dryRun: boolean): Promise<Batch> {
    const head = Math.min(await this.#head(sql), asOf.head);
    const hold = lowestHold(holdsOf(await sql.rows<HoldRow>(this.#s.holds)));
    // Never the newest event; nothing at or above what something still needs.
    const target = Math.min(head, hold?.seq ?? Number.POSITIVE_INFINITY);
    const cut = policyCut(o, asOf.head, asOf.now);
    const rows =
      target > from + 1 ? await sql.rows<{ seq: number; stored_at: number }>(this.#s.rows, [from, target, o.batchSize]) : [];
    const end = batchEnd(rows, cut);
    if (end === undefined) {
      // Done: held back when the policy would have let the held event go.
      const held = hold !== undefined && hold.seq < head && (await this.#mayGoAt(sql, hold.seq, cut));
      return { pruned: 0, end, head, heldBy: held ? hold : undefined, target, busy: false, elapsedMs: 0 };
    }
    if (dryRun) {
      const [row] = await sql.rows<{ n: number }>(this.#s.count, [from, end]);
      return { pruned: Number(row?.n ?? 0), end, head, heldBy: undefined, target, busy: false, elapsedMs: 0 };
    }
    const [deleted] = await sql.rows<{ n: number }>(this.#s.delete, [from, end]);
    const pruned = Number(deleted?.n ?? 0);
    await sql.rows(this.#s.record, [end, pruned, this.now()]);
    return { pruned, end, head, heldBy: undefined, target, busy: false, elapsedMs: 0 };
  }

  /** Whether the policy lets the first event at or after `seq` go. */
  async #mayGoAt(sql: Sql, seq: number, cut: PolicyCut): Promise<boolean> {
    const [row] = await sql.rows<{ seq: number; stored_at: number }>(this.#s.firstStoredAt, [seq]);
    return row !== undefined && mayGo(cut, Number(row.seq), Number(row.stored_at));
  }

  async #head(sql: Sql): Promise<number> {
    const [row] = await sql.rows<{ last_seq: number }>(this.#s.head);
    return Number(row?.last_seq ?? 0);
  }
}
