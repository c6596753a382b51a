/**
 * The PostgreSQL driver (`pg`), loaded on first use so that the SQLite default never loads
 * it, and the small query surface the adapter uses: named (prepared) statements, rows only.
 */
import type { Client, ClientConfig, Pool, PoolClient, PoolConfig } from 'pg';
import { AgentbusError } from '../../errors.js';

/** The `pg` module as loaded by `await import('pg')`. */
export type PgModule = typeof import('pg');

/** A statement: `name` makes it a prepared statement, created once per connection. */
export interface Statement {
  readonly name?: string;
  readonly text: string;
}

/** Runs statements on one connection (inside a transaction) or on the pool. */
export interface Sql {
  rows<R>(statement: Statement, values?: readonly unknown[]): Promise<R[]>;
}

let loaded: Promise<PgModule> | undefined;

/** Loads `pg` once. */
export function loadPg(): Promise<PgModule> {
  loaded ??= import('pg').then(
    (m) => ((m as unknown as { default?: PgModule }).default ?? m) as PgModule,
    (error: unknown) => {
      loaded = undefined;
      throw new AgentbusError(
        'BACKEND_UNAVAILABLE',
        'the PostgreSQL store needs the `pg` package: npm install pg',
        { package: 'pg' },
        { cause: error },
      );
    },
  );
  return loaded;
}

/**
 * Type parsing for this adapter's connections only (never `pg.types.setTypeParser`, which is
 * global): positions and times are bigint columns read as numbers (exact up to 2^53).
 */
function typesOf(pg: PgModule): NonNullable<ClientConfig['types']> {
  const INT8 = 20;
  const INT8_ARRAY = 1016;
  const parseArray = pg.types.getTypeParser(INT8_ARRAY as Parameters<PgModule['types']['getTypeParser']>[0], 'text') as (
    value: string,
  ) => Array<string | null>;
  return {
    getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
      if (oid === INT8) return (value: string) => Number(value);
      if (oid === INT8_ARRAY) return (value: string) => parseArray(value).map((v) => (v === null ? null : Number(v)));
      return pg.types.getTypeParser(oid as Parameters<PgModule['types']['getTypeParser']>[0], format ?? 'text');
    }) as NonNullable<ClientConfig['types']>['getTypeParser'],
  };
}

/**
 * How much longer than `statementTimeoutMs` the client waits for any answer before it gives
 * up on the connection: time for the server's own cancellation to arrive first.
 */
export const NO_ANSWER_GRACE_MS = 2_000;

/**
 * Connection settings shared by the pool and the listener. A connection that is not
 * established within `connectTimeoutMs` fails: a server that accepts TCP but does not answer
 * (hung, or behind a proxy whose backend is gone) would otherwise keep it waiting forever.
 * With `statementTimeoutMs` above 0, the server cancels a statement that runs (or waits for a
 * lock) longer (`statement_timeout`: the transaction fails, the connection stays usable), and
 * the client gives up on one that gets no answer at all {@link NO_ANSWER_GRACE_MS} later
 * (pg's `query_timeout`: the connection is then dropped).
 */
export function connectionConfig(
  pg: PgModule,
  url: string,
  applicationName: string,
  connectTimeoutMs: number,
  statementTimeoutMs = 0,
): ClientConfig {
  return {
    connectionString: url,
    types: typesOf(pg),
    application_name: applicationName,
    connectionTimeoutMillis: connectTimeoutMs,
    ...(statementTimeoutMs > 0
      ? { statement_timeout: statementTimeoutMs, query_timeout: statementTimeoutMs + NO_ANSWER_GRACE_MS }
      : {}),
  };
}

/**
 * Creates the pool; `max` connections. The pool applies the connect timeout also to waiting
 * for a free connection.
 */
export function createPool(
  pg: PgModule,
  url: string,
  max: number,
  applicationName: string,
  connectTimeoutMs: number,
  statementTimeoutMs = 0,
): Pool {
  const config: PoolConfig = {
    ...connectionConfig(pg, url, applicationName, connectTimeoutMs, statementTimeoutMs),
    max,
    idleTimeoutMillis: 30_000,
  };
  return new pg.Pool(config);
}

/**
 * Runs `fn` on a connection of its own (not the pool's), ended afterwards: for work that must
 * not be cut short by the pool's statement timeout (migrations building an index, VACUUM).
 */
export async function withOwnConnection<T>(pg: PgModule, config: ClientConfig, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  // A backend that ends while connected raises `error` on the client: the statement fails instead.
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** A pooled connection held across several statements (a transaction). */
export interface HeldConnection {
  readonly client: PoolClient;
  /** Gives it back to the pool, or ends it when it broke (`broken`, or an error it raised while held). */
  release(broken?: Error): void;
  /**
   * What to report for a statement that failed here: the connection's own failure (the
   * server's reason, such as "terminating connection due to administrator command") when the
   * statement only learnt that the client had become unusable; otherwise `error`.
   */
  explain(error: unknown): unknown;
}

/**
 * Takes a connection from the pool for several statements. While a connection is held the
 * pool does not listen for its errors, and a backend that ends between two statements (a
 * server restart, a failover, `pg_terminate_backend`) raises `error` on the client: with no
 * listener, an uncaught exception that ends the process. Here it is kept instead, the
 * statement in progress (if any) fails as usual, and the connection is ended on release.
 */
export async function holdConnection(pool: Pool): Promise<HeldConnection> {
  const client = await pool.connect();
  let failure: Error | undefined;
  const onError = (error: Error) => {
    failure ??= error;
  };
  client.on('error', onError);
  let released = false;
  return {
    client,
    release(broken) {
      if (released) return;
      released = true;
      client.removeListener('error', onError);
      client.release(broken ?? failure);
    },
    explain(error) {
      const sqlstate = (error as { code?: unknown } | undefined)?.code;
      return failure !== undefined && sqlstate === undefined && !(error instanceof AgentbusError) ? failure : error;
    },
  };
}

/** A client or pool as an {@link Sql}. */
export function sqlOf(target: Pool | PoolClient | Client): Sql {
  return {
    async rows<R>(statement: Statement, values: readonly unknown[] = []): Promise<R[]> {
      const result = await target.query({
        ...(statement.name ? { name: statement.name } : {}),
        text: statement.text,
        values: values as unknown[],
      });
      return result.rows as R[];
    },
  };
}

/**
 * `sql` whose failures reject with `BACKEND_UNAVAILABLE` (`<what>: <the driver's message>`,
 * the driver's error as the cause), so that callers outside this adapter never see a driver
 * error. `explain` picks the error to report (see {@link HeldConnection.explain}).
 */
export function reportingSql(sql: Sql, what: string, explain: (error: unknown) => unknown = (e) => e): Sql {
  return {
    rows: <R>(statement: Statement, values?: readonly unknown[]) =>
      sql.rows<R>(statement, values).catch((error: unknown): never => {
        throw backendError(what, explain(error));
      }),
  };
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable url)';
  }
}

/** SQLSTATEs after which a whole flush may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);

/** True for a serialization failure or a deadlock (PostgreSQL aborted the transaction). */
export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has((error as { code?: string } | undefined)?.code ?? '');
}

/** SQLSTATE of a statement the server cancelled (`statement_timeout`, or `pg_cancel_backend`). */
const QUERY_CANCELED = '57014';

/** pg's own error when no answer came within `query_timeout`. */
const NO_ANSWER = 'Query read timeout';

/**
 * True when the client gave up waiting for an answer (pg's `query_timeout`): the connection
 * still waits for that answer, so it must be dropped, not used for a ROLLBACK.
 */
export function isNoAnswer(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === undefined && error.message === NO_ANSWER;
}

/**
 * Wraps a driver error that is not a refusal as `BACKEND_UNAVAILABLE`, keeping the cause. A
 * statement cut short by `statementTimeoutMs` (by the server, or by the client when no answer
 * came) says so and carries `timeout: 'statementTimeoutMs'` in its details.
 */
export function backendError(what: string, error: unknown, url?: string): AgentbusError {
  if (error instanceof AgentbusError) return error;
  const sqlstate = (error as { code?: string } | undefined)?.code;
  let message = (error as Error | undefined)?.message ?? String(error);
  let timeout = false;
  if (sqlstate === QUERY_CANCELED) {
    message += ' (a statement ran or waited for a lock longer than statementTimeoutMs allows, or was cancelled)';
    timeout = true;
  } else if (isNoAnswer(error)) {
    message = `no answer from PostgreSQL within statementTimeoutMs (plus ${NO_ANSWER_GRACE_MS} ms); the connection was dropped`;
    timeout = true;
  }
  return new AgentbusError(
    'BACKEND_UNAVAILABLE',
    `${what}: ${message}`,
    { ...(url ? { url: redactUrl(url) } : {}), sqlstate, ...(timeout ? { timeout: 'statementTimeoutMs' } : {}) },
    { cause: error },
  );
}

/** A quoted SQL identifier for a schema name that validation accepted. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
