/**
 * `retention.compact()` on PostgreSQL (ADR 0025): VACUUM (not FULL) of the store's tables on a
 * connection of its own, without the statement timeout, saying honestly what it does not do.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { collect, items, within } from '../conformance/fixtures.js';
import { type TestDatabase, testPostgres } from '../support/postgres.js';

const server = await testPostgres();

describe.skipIf(!server.available)(`PostgreSQL compact ${server.skipReason}`, () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await server.createDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('vacuums every table of the schema after a prune, waiting for locks past the statement timeout', async () => {
    const schema = 'compact_1';
    const store = await openPostgresStore({ url: db.url, schema, poolSize: 3, safetyCheckMs: 600_000, statementTimeoutMs: 50 });
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    try {
      for (let at = 0; at < 2000; at += 500) await store.append(items(500, { payload: { text: 'x'.repeat(1000) } }));
      expect((await store.retention.prune({ maxEvents: 200 })).pruned).toBe(1800);
      const tables = await locker.query('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1', [schema]);

      // VACUUM waits for this lock; held for ten times the statement timeout.
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".events IN SHARE UPDATE EXCLUSIVE MODE`);
      const compacting = store.retention.compact();
      await new Promise((resolve) => setTimeout(resolve, 500));
      await locker.query('COMMIT');
      const result = await within(compacting, 60_000, 'compact after the lock is released');

      expect(result.method).toBe('postgres-vacuum');
      expect(result.steps).toBe(tables.rows[0].n);
      expect(result.bytesBefore).toBeGreaterThan(0);
      expect(result.note).toContain('VACUUM FULL');
      expect(await collect(store.read())).toHaveLength(200);
      expect((await store.append(items(1)))[0]?.seq).toBe(2001);
    } finally {
      await locker.end();
      await store.close();
    }
  });
});
