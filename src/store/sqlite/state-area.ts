/**
 * The `state` table: versioned JSON values with compare-and-set.
 * Writes go through the caller-supplied runner so they join a group commit or a
 * transaction; reads run directly.
 */
import type Database from 'better-sqlite3';
import { AgentbusError } from '../../errors.js';
import type { ExpectedVersion, StateArea, StateListOptions, StateRecord } from '../event-store.js';
import { stateKeyProblem, stateListQuery } from '../state-key.js';

interface StateRow {
  namespace: string;
  key: string;
  value: string;
  version: number;
  updated_at: number;
}

/** Records read per statement when listing. */
const LIST_PAGE = 200;

/**
 * Runs a write job atomically (in a group commit, or directly inside a held transaction).
 * A job that returns an `Error` has written nothing; the runner rejects with it.
 */
export type WriteRunner = <T>(job: () => T | Error) => Promise<Exclude<T, Error>>;

function toRecord<T>(row: StateRow): StateRecord<T> {
  return {
    namespace: row.namespace,
    key: row.key,
    value: JSON.parse(row.value) as T,
    version: row.version,
    updatedAt: row.updated_at,
  };
}

function conflict(namespace: string, key: string, expected: ExpectedVersion, actual: number | undefined): AgentbusError {
  return new AgentbusError(
    'CONCURRENCY_CONFLICT',
    `state ${namespace}/${key}: expected version ${expected}, found ${actual ?? 'absent'}`,
    { namespace, key, expected, actual: actual ?? 'absent' },
  );
}

export class SqliteStateArea implements StateArea {
  readonly #get: Database.Statement;
  readonly #insert: Database.Statement;
  readonly #update: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #list: Database.Statement;
  readonly #listAfter: Database.Statement;
  readonly #listOld: Database.Statement;
  readonly #listOldAfter: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly write: WriteRunner,
    private readonly now: () => number,
  ) {
    this.#get = db.prepare('SELECT * FROM state WHERE namespace = ? AND key = ?');
    this.#insert = db.prepare('INSERT INTO state (namespace, key, value, version, updated_at) VALUES (?, ?, ?, 1, ?)');
    this.#update = db.prepare(
      'UPDATE state SET value = ?, version = version + 1, updated_at = ? WHERE namespace = ? AND key = ?',
    );
    this.#delete = db.prepare('DELETE FROM state WHERE namespace = ? AND key = ?');
    // The first page from the prefix, the next ones after the last key read: one bound each.
    // (Both bounds in one statement made SQLite start every page at the prefix and skip to
    // the last key, so listing a namespace cost pages x rows: 2 minutes for 1,000,000.)
    this.#list = db.prepare(`SELECT * FROM state WHERE namespace = ? AND key >= ? ORDER BY key LIMIT ${LIST_PAGE}`);
    this.#listAfter = db.prepare(`SELECT * FROM state WHERE namespace = ? AND key > ? ORDER BY key LIMIT ${LIST_PAGE}`);
    // Pages of the index state_by_updated (namespace, updated_at, key): the first, then the
    // ones after the last (updated_at, key) read. The prefix is a filter on that range.
    const old = 'SELECT * FROM state WHERE namespace = ? AND updated_at < ?';
    const page = `AND substr(key, 1, ?) = ? ORDER BY updated_at, key LIMIT ${LIST_PAGE}`;
    this.#listOld = db.prepare(`${old} ${page}`);
    this.#listOldAfter = db.prepare(`${old} AND (updated_at, key) > (?, ?) ${page}`);
  }

  async get<T>(namespace: string, key: string): Promise<StateRecord<T> | undefined> {
    const refused = stateKeyProblem({ namespace, key });
    if (refused) throw refused;
    const row = this.#get.get(namespace, key) as StateRow | undefined;
    return row ? toRecord<T>(row) : undefined;
  }

  put<T>(namespace: string, key: string, value: T, expected: ExpectedVersion = 'any'): Promise<number> {
    const refused = stateKeyProblem({ namespace, key });
    if (refused) return Promise.reject(refused);
    const text = JSON.stringify(value);
    if (text === undefined) {
      return Promise.reject(new AgentbusError('OPTIONS_INVALID', `state ${namespace}/${key}: value is not JSON`));
    }
    return this.write(() => this.putNow(namespace, key, text, expected));
  }

  /** The synchronous body of `put`: checks, then writes; a conflict is returned, not thrown. */
  putNow(namespace: string, key: string, text: string, expected: ExpectedVersion): number | AgentbusError {
    const row = this.#get.get(namespace, key) as StateRow | undefined;
    if (expected !== 'any' && (expected === 'absent' ? row !== undefined : row?.version !== expected)) {
      return conflict(namespace, key, expected, row?.version);
    }
    if (row) {
      this.#update.run(text, this.now(), namespace, key);
      return row.version + 1;
    }
    this.#insert.run(namespace, key, text, this.now());
    return 1;
  }

  delete(namespace: string, key: string, expected: ExpectedVersion = 'any'): Promise<boolean> {
    const refused = stateKeyProblem({ namespace, key });
    if (refused) return Promise.reject(refused);
    return this.write(() => this.deleteNow(namespace, key, expected));
  }

  deleteNow(namespace: string, key: string, expected: ExpectedVersion): boolean | AgentbusError {
    const row = this.#get.get(namespace, key) as StateRow | undefined;
    if (expected !== 'any' && (expected === 'absent' ? row !== undefined : row?.version !== expected)) {
      return conflict(namespace, key, expected, row?.version);
    }
    return this.#delete.run(namespace, key).changes === 1;
  }

  async *list<T>(namespace: string, options?: StateListOptions): AsyncGenerator<StateRecord<T>> {
    const query = stateListQuery(namespace, options);
    if (query instanceof Error) throw query;
    const { prefix, before } = query;
    if (before !== undefined) {
      yield* this.#listOlder<T>(namespace, prefix, before);
      return;
    }
    let last: StateRow | undefined;
    for (;;) {
      const rows = (last ? this.#listAfter.all(namespace, last.key) : this.#list.all(namespace, prefix)) as StateRow[];
      for (const row of rows) {
        if (!row.key.startsWith(prefix)) return;
        yield toRecord<T>(row);
      }
      if (rows.length < LIST_PAGE) return;
      last = rows[rows.length - 1];
    }
  }

  /** Records written before `before` under `prefix`, oldest first, a page at a time. */
  async *#listOlder<T>(namespace: string, prefix: string, before: number): AsyncGenerator<StateRecord<T>> {
    // substr counts characters (code points), as the prefix's length here does.
    const length = [...prefix].length;
    let last: StateRow | undefined;
    for (;;) {
      const rows = (
        last
          ? this.#listOldAfter.all(namespace, before, last.updated_at, last.key, length, prefix)
          : this.#listOld.all(namespace, before, length, prefix)
      ) as StateRow[];
      for (const row of rows) yield toRecord<T>(row);
      if (rows.length < LIST_PAGE) return;
      last = rows[rows.length - 1];
    }
  }
}
