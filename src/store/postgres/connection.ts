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

/** Connection settings shared by the pool and the listener. */
export function connectionConfig(pg: PgModule, url: string, applicationName: string): ClientConfig {
  return { connectionString: url, types: typesOf(pg), application_name: applicationName };
}

/** Creates the pool; `max` connections. */
export function createPool(pg: PgModule, url: string, max: number, applicationName: string): Pool {
  const config: PoolConfig = { ...connectionConfig(pg, url, applicationName), max, idleTimeoutMillis: 30_000 };
  return new pg.Pool(config);
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

/** Wraps a driver error that is not a refusal as `BACKEND_UNAVAILABLE`, keeping the cause. */
export function backendError(what: string, error: unknown, url?: string): AgentbusError {
  if (error instanceof AgentbusError) return error;
  const message = (error as Error | undefined)?.message ?? String(error);
  return new AgentbusError(
    'BACKEND_UNAVAILABLE',
    `${what}: ${message}`,
    { ...(url ? { url: redactUrl(url) } : {}), sqlstate: (error as { code?: string } | undefined)?.code },
    { cause: error },
  );
}

/** A quoted SQL identifier for a schema name that validation accepted. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
