/**
 * A database whose schema a newer agentbus wrote (a rollback of a deployment) is refused by
 * both stores with `SCHEMA_TOO_NEW`, naming the database, its newest version and the newest
 * this build knows, and left exactly as it was.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { item, items } from '../conformance/fixtures.js';
import { runCli } from '../e2e/run-cli.js';
import { KNOWN_SQLITE_VERSION, contentsOf, newerDatabase } from '../support/foreign-sqlite.js';
import { testPostgres } from '../support/postgres.js';

const server = await testPostgres();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const newest = (migrations: readonly { version: number }[]) => Math.max(...migrations.map((m) => m.version));
const freshDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-newer-'));
  dirs.push(dir);
  return dir;
};

describe('a SQLite database written by a newer agentbus', () => {
  it('is refused with SCHEMA_TOO_NEW naming the file, both versions and the way out', async () => {
    const path = await newerDatabase(freshDir());
    const error = await openSqliteStore({ path }).catch((e: unknown) => e);
    expect(isAgentbusError(error, 'SCHEMA_TOO_NEW')).toBe(true);
    const known = KNOWN_SQLITE_VERSION;
    expect((error as Error).message).toBe(
      `${path} has schema version ${known + 1}, but this agentbus knows versions up to ${known}: a newer agentbus ` +
        'wrote it. Upgrade agentbus to that version (or newer) to open it; nothing was written.',
    );
    expect(isAgentbusError(error) && error.details).toEqual({
      database: path,
      version: known + 1,
      knownVersion: known,
      unknownVersions: [known + 1],
    });
  });

  it('is left as it was: no migration, no WAL switch, no row', async () => {
    const path = await newerDatabase(freshDir());
    const before = contentsOf(path);
    await expect(openSqliteStore({ path })).rejects.toThrow(/schema version/);
    await expect(openSqliteStore({ path, create: false })).rejects.toThrow(/schema version/);
    expect(contentsOf(path)).toBe(before);
    expect(before).toContain('"journal":"delete"');
  });

  it('a database at exactly the versions this build knows still opens', async () => {
    const path = join(freshDir(), 'agentbus.db');
    await (await openSqliteStore({ path })).close();
    const store = await openSqliteStore({ path });
    await store.append([item({ topic: 'project.tasks' })]);
    expect(await store.head()).toBe(1);
    await store.close();
  });
});

describe.skipIf(!server.available)(`a PostgreSQL schema written by a newer agentbus ${server.skipReason}`, () => {
  it('is refused with SCHEMA_TOO_NEW naming the server and schema, by the CLI in one line, and left as it was', async () => {
    const db = await server.createDatabase();
    const client = new pg.Client({ connectionString: db.url });
    try {
      const store = await openPostgresStore({ url: db.url, schema: 'agentbus' });
      await store.append(items(2, { topic: 'project.tasks' }));
      await store.close();
      await client.connect();
      const known = newest(POSTGRES_MIGRATIONS);
      await client.query('INSERT INTO agentbus.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
        known + 1,
        'a table this build has never heard of',
        Date.UTC(2027, 0, 1),
      ]);
      const snapshot = async () =>
        JSON.stringify([
          (await client.query('SELECT * FROM agentbus.schema_migrations ORDER BY version')).rows,
          (await client.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'agentbus' ORDER BY 1"))
            .rows,
          (await client.query('SELECT * FROM agentbus.log_head')).rows,
        ]);
      const before = await snapshot();

      const error = await openPostgresStore({ url: db.url, schema: 'agentbus' }).catch((e: unknown) => e);
      expect(isAgentbusError(error, 'SCHEMA_TOO_NEW')).toBe(true);
      expect((error as Error).message).toMatch(
        new RegExp(
          `^the PostgreSQL store at postgres://.*/${db.name} \\(schema agentbus\\) has schema version ${known + 1}, ` +
            `but this agentbus knows versions up to ${known}: .*Upgrade agentbus`,
        ),
      );
      // Through the CLI: the same message as one line on stderr, exit 1.
      const cli = await runCli(['events', '--store', db.url]);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toBe(`agentbus: ${(error as Error).message}\n`);
      expect(await snapshot()).toBe(before);
    } finally {
      await client.end().catch(() => {});
      await db.drop();
    }
  });
});
