/**
 * `retention.compact()` on PostgreSQL (ADR 0025): VACUUM (not FULL) of every table of the
 * store's schema, on a connection of its own without the statement timeout. It makes the
 * space of pruned rows reusable and gives back only empty pages at the end of a table; it
 * never takes locks that stop appends or reads. Shrinking the files further takes VACUUM FULL
 * or pg_repack, which the operator runs at a quiet time: the result's note says so.
 */
import { performance } from 'node:perf_hooks';
import { type CompactOptions, type CompactResult, checkCompactOptions } from '../retention.js';
import type { Sql } from './connection.js';

/** Runs `fn` on a connection of its own (autocommit, no statement timeout). */
export type OwnConnection = <T>(fn: (sql: Sql) => Promise<T>) => Promise<T>;

/** VACUUMs the tables of `schema` (an unquoted name) and reports their size before and after. */
export async function compactPostgres(own: OwnConnection, schema: string, options?: CompactOptions): Promise<CompactResult> {
  const o = checkCompactOptions(options);
  return own(async (sql) => {
    const tables = await sql.rows<{ name: string }>(
      { text: "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = $1 ORDER BY tablename" },
      [schema],
    );
    const size = async () =>
      Number(
        (
          await sql.rows<{ bytes: number }>(
            {
              text: `SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0)::bigint AS bytes
                     FROM pg_tables WHERE schemaname = $1`,
            },
            [schema],
          )
        )[0]?.bytes ?? 0,
      );
    const bytesBefore = await size();
    let steps = 0;
    let longestStepMs = 0;
    for (const { name } of tables) {
      if (o.signal?.aborted) break;
      const started = performance.now();
      await sql.rows({ text: `VACUUM (ANALYZE) ${name}` });
      longestStepMs = Math.max(longestStepMs, performance.now() - started);
      steps++;
    }
    const bytesAfter = await size();
    return {
      method: 'postgres-vacuum',
      bytesBefore,
      bytesAfter,
      steps,
      longestStepMs,
      note: `VACUUM made the space of pruned rows reusable by new events; PostgreSQL gives disk back only from the end of a table. To shrink the files, run VACUUM FULL on ${schema}.events (it locks the table for its duration: appends and reads wait) or pg_repack, at a quiet time.`,
    };
  });
}
