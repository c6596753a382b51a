/**
 * The `state` table: versioned JSON values with compare-and-set.
 * Writes go through the caller-supplied runner so they join a group commit or a
 * transaction; reads run directly.
 */
import type Database from 'better-sqlite3';
import { AgentbusError } from '../../errors.js';
import type { ExpectedVersion, StateArea, StateRecord } from '../event-store.js';
import { stateKeyProblem } from '../state-key.js';

interface StateRow {
  namespace: string;
  key: string;
  value: string;
  version: number;
  updated_at: number;
}

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
    this.#list = db.prepare('SELECT * FROM state WHERE namespace = ? AND key >= ? AND key > ? ORDER BY key LIMIT 200');
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

  async *list<T>(namespace: string, options: { prefix?: string } = {}): AsyncGenerator<StateRecord<T>> {
    const refused = stateKeyProblem({ namespace, prefix: options.prefix });
    if (refused) throw refused;
    const prefix = options.prefix ?? '';
    let after = '';
    for (;;) {
      const rows = this.#list.all(namespace, prefix, after) as StateRow[];
      for (const row of rows) {
        if (!row.key.startsWith(prefix)) return;
        yield toRecord<T>(row);
      }
      if (rows.length < 200) return;
      after = (rows[rows.length - 1] as StateRow).key;
    }
  }
}
