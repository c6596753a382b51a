/**
 * PostgreSQL for tests: a uniquely named database per run, created through the `test`
 * database and dropped afterwards (`WITH (FORCE)`), and fresh schemas inside it for cases
 * that each need an empty store.
 *
 * The server comes from `AGENTBUS_TEST_PG` (a URL without a database, e.g.
 * `postgres://postgres@127.0.0.1:5432`), default the local trust-auth server. Without a
 * server a suite is skipped with the reason, except under `CI=true`, where it fails.
 *
 * @example
 * const pg = await testPostgres()
 * describe.skipIf(!pg.available)(`... ${pg.skipReason}`, () => { ... })
 * const db = await pg.createDatabase() // { url, name, drop }
 * await terminateBackends(db.name) // an outage of every connection to it
 * await refuseConnections(db.name, true) // ... and of new ones, until refuseConnections(db.name, false)
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server's base URL (no database). */
export const POSTGRES_TEST_BASE = process.env.AGENTBUS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';

/** A database of one test run. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Drops the database (connections still open are terminated). */
  drop(): Promise<void>;
}

/** The server, if reachable. */
export interface TestPostgres {
  readonly available: boolean;
  /** Why tests are skipped; empty when available. */
  readonly skipReason: string;
  createDatabase(prefix?: string): Promise<TestDatabase>;
  /** The URL of `database` on the test server. */
  urlOf(database: string): string;
}

/** `base` with `database` as its path. */
function urlOf(database: string): string {
  const url = new URL(POSTGRES_TEST_BASE);
  url.pathname = `/${database}`;
  return url.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: urlOf('test'), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a database named `<prefix>_<random>`; drop it with `drop()`. */
export async function createTestDatabase(prefix = 'agentbus_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    name,
    url: urlOf(name),
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}

/** Drops `schema` (and everything in it) from the database at `url`. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Terminates every backend connected to `database` (`pg_terminate_backend`), as a server
 * restart or a failover does to its clients. Returns how many were terminated.
 */
export async function terminateBackends(database: string): Promise<number> {
  const rows = await admin((c) =>
    c.query<{ terminated: boolean }>(
      'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database],
    ),
  );
  return rows.rows.filter((r) => r.terminated).length;
}

/**
 * Makes `database` refuse new connections (`ALLOW_CONNECTIONS false`, which binds superusers
 * too) or accept them again: with {@link terminateBackends}, the server down for its clients.
 */
export async function refuseConnections(database: string, refuse: boolean): Promise<void> {
  await admin((c) => c.query(`ALTER DATABASE "${database}" WITH ALLOW_CONNECTIONS ${refuse ? 'false' : 'true'}`));
}

let probe: Promise<TestPostgres> | undefined;

/**
 * Probes the server once per test file. Under `CI=true` an unreachable server throws (the
 * suite fails); otherwise the result says why tests are skipped.
 */
export function testPostgres(): Promise<TestPostgres> {
  probe ??= admin((c) => c.query('SELECT 1')).then(
    () => ({ available: true, skipReason: '', createDatabase: createTestDatabase, urlOf }),
    (error: unknown) => {
      const reason = `PostgreSQL at ${POSTGRES_TEST_BASE} is not reachable (${(error as Error).message}); set AGENTBUS_TEST_PG`;
      if (process.env.CI === 'true') throw new Error(`CI=true: ${reason}`);
      return {
        available: false,
        skipReason: `skipped: ${reason}`,
        createDatabase: () => Promise.reject(new Error(reason)),
        urlOf,
      };
    },
  );
  return probe;
}
