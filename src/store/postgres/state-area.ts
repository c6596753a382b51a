/**
 * The `state` table on PostgreSQL: versioned JSON values with compare-and-set. Every check
 * is part of the write statement itself (a conditional insert, update or delete), so a
 * refused compare-and-set is a row count of zero, never an SQL error that would abort the
 * other writes of its transaction.
 */
import { AgentbusError } from '../../errors.js';
import type { ExpectedVersion, StateArea, StateListOptions, StateRecord } from '../event-store.js';
import { stateKeyProblem, stateListQuery } from '../state-key.js';
import type { Sql, Statement } from './connection.js';
import type { Tables } from './tables.js';

interface StateRow {
  namespace: string;
  key: string;
  value: string;
  version: number;
  updated_at: number;
}

/**
 * Runs a write atomically: in the next group commit, or directly inside a held transaction.
 * A job that returns an `Error` has written nothing; the runner rejects with it.
 */
export type StateWriteRunner = <T>(job: (sql: Sql) => Promise<T | Error>) => Promise<T>;

const LIST_PAGE = 200;

function toRecord<T>(row: StateRow): StateRecord<T> {
  return {
    namespace: row.namespace,
    key: row.key,
    value: JSON.parse(row.value) as T,
    version: Number(row.version),
    updatedAt: Number(row.updated_at),
  };
}

function conflict(namespace: string, key: string, expected: ExpectedVersion, actual: number | undefined): AgentbusError {
  return new AgentbusError(
    'CONCURRENCY_CONFLICT',
    `state ${namespace}/${key}: expected version ${expected}, found ${actual ?? 'absent'}`,
    { namespace, key, expected, actual: actual ?? 'absent' },
  );
}

/** The statements of the state area for one schema. */
export function stateStatements(t: Tables) {
  return {
    get: { name: 'ab_state_get', text: `SELECT * FROM ${t.state} WHERE namespace = $1 AND key = $2` },
    upsert: {
      name: 'ab_state_upsert',
      text: `INSERT INTO ${t.state} AS s (namespace, key, value, version, updated_at) VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, version = s.version + 1, updated_at = excluded.updated_at
             RETURNING version`,
    },
    insert: {
      name: 'ab_state_insert',
      text: `INSERT INTO ${t.state} (namespace, key, value, version, updated_at) VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (namespace, key) DO NOTHING RETURNING version`,
    },
    update: {
      name: 'ab_state_update',
      text: `UPDATE ${t.state} SET value = $3, version = version + 1, updated_at = $4
             WHERE namespace = $1 AND key = $2 AND version = $5 RETURNING version`,
    },
    delete: {
      name: 'ab_state_delete',
      text: `DELETE FROM ${t.state} WHERE namespace = $1 AND key = $2 AND ($3::integer IS NULL OR version = $3) RETURNING version`,
    },
    list: {
      name: 'ab_state_list',
      text: `SELECT * FROM ${t.state} WHERE namespace = $1 AND key >= $2 AND key > $3 ORDER BY key LIMIT ${LIST_PAGE}`,
    },
    // Pages of the index state_by_updated (namespace, updated_at, key): the first, then the
    // ones after the last (updated_at, key) read. The prefix is a filter on that range.
    listOld: {
      name: 'ab_state_list_old',
      text: `SELECT * FROM ${t.state} WHERE namespace = $1 AND updated_at < $2 AND starts_with(key, $3)
             ORDER BY updated_at, key LIMIT ${LIST_PAGE}`,
    },
    listOldAfter: {
      name: 'ab_state_list_old_after',
      text: `SELECT * FROM ${t.state} WHERE namespace = $1 AND updated_at < $2 AND starts_with(key, $3)
               AND (updated_at, key) > ($4, $5)
             ORDER BY updated_at, key LIMIT ${LIST_PAGE}`,
    },
  } satisfies Record<string, Statement>;
}

export class PostgresStateArea implements StateArea {
  readonly #s: ReturnType<typeof stateStatements>;

  constructor(
    t: Tables,
    /** Where reads run (the pool, or a held transaction). */
    private readonly reader: Sql,
    private readonly write: StateWriteRunner,
    private readonly now: () => number,
  ) {
    this.#s = stateStatements(t);
  }

  async get<T>(namespace: string, key: string): Promise<StateRecord<T> | undefined> {
    const refused = stateKeyProblem({ namespace, key });
    if (refused) throw refused;
    const [row] = await this.reader.rows<StateRow>(this.#s.get, [namespace, key]);
    return row ? toRecord<T>(row) : undefined;
  }

  put<T>(namespace: string, key: string, value: T, expected: ExpectedVersion = 'any'): Promise<number> {
    const refused = stateKeyProblem({ namespace, key });
    if (refused) return Promise.reject(refused);
    const text = JSON.stringify(value);
    if (text === undefined) {
      return Promise.reject(
        new AgentbusError('OPTIONS_INVALID', `state ${namespace}/${key}: value is not JSON`, {
          field: 'value',
          reason: 'is not JSON',
        }),
      );
    }
    return this.write((sql) => this.#put(sql, namespace, key, text, expected));
  }

  delete(namespace: string, key: string, expected: ExpectedVersion = 'any'): Promise<boolean> {
    const refused = stateKeyProblem({ namespace, key });
    if (refused) return Promise.reject(refused);
    return this.write((sql) => this.#delete(sql, namespace, key, expected));
  }

  async *list<T>(namespace: string, options?: StateListOptions): AsyncGenerator<StateRecord<T>> {
    const query = stateListQuery(namespace, options);
    if (query instanceof Error) throw query;
    const { prefix, before } = query;
    if (before !== undefined) {
      yield* this.#listOlder<T>(namespace, prefix, before);
      return;
    }
    let after = '';
    for (;;) {
      const rows = await this.reader.rows<StateRow>(this.#s.list, [namespace, prefix, after]);
      for (const row of rows) {
        if (!row.key.startsWith(prefix)) return;
        yield toRecord<T>(row);
      }
      if (rows.length < LIST_PAGE) return;
      after = (rows[rows.length - 1] as StateRow).key;
    }
  }

  /** Records written before `before` under `prefix`, oldest first, a page at a time. */
  async *#listOlder<T>(namespace: string, prefix: string, before: number): AsyncGenerator<StateRecord<T>> {
    let last: StateRow | undefined;
    for (;;) {
      const rows = last
        ? await this.reader.rows<StateRow>(this.#s.listOldAfter, [namespace, before, prefix, last.updated_at, last.key])
        : await this.reader.rows<StateRow>(this.#s.listOld, [namespace, before, prefix]);
      for (const row of rows) yield toRecord<T>(row);
      if (rows.length < LIST_PAGE) return;
      last = rows[rows.length - 1];
    }
  }

  async #put(sql: Sql, namespace: string, key: string, text: string, expected: ExpectedVersion): Promise<number | Error> {
    const now = this.now();
    if (expected === 'any') {
      const [row] = await sql.rows<{ version: number }>(this.#s.upsert, [namespace, key, text, now]);
      return Number(row?.version);
    }
    const [row] =
      expected === 'absent'
        ? await sql.rows<{ version: number }>(this.#s.insert, [namespace, key, text, now])
        : await sql.rows<{ version: number }>(this.#s.update, [namespace, key, text, now, expected]);
    if (row) return Number(row.version);
    return conflict(namespace, key, expected, await this.#version(sql, namespace, key));
  }

  async #delete(sql: Sql, namespace: string, key: string, expected: ExpectedVersion): Promise<boolean | Error> {
    if (expected === 'absent') {
      const actual = await this.#version(sql, namespace, key);
      return actual === undefined ? false : conflict(namespace, key, expected, actual);
    }
    const version = expected === 'any' ? null : expected;
    const [row] = await sql.rows<{ version: number }>(this.#s.delete, [namespace, key, version]);
    if (row) return true;
    if (version === null) return false;
    return conflict(namespace, key, expected, await this.#version(sql, namespace, key));
  }

  async #version(sql: Sql, namespace: string, key: string): Promise<number | undefined> {
    const [row] = await sql.rows<StateRow>(this.#s.get, [namespace, key]);
    return row ? Number(row.version) : undefined;
  }
}
