/**
 * SQLite databases agentbus must refuse and leave as they were: another application's, and
 * one a newer agentbus wrote.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { items } from '../conformance/fixtures.js';

/** Creates `other.db` in `dir` with one table of its own (`customers`); returns its path. */
export function foreignDatabase(dir: string): string {
  const path = join(dir, 'other.db');
  const db = new Database(path);
  db.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)');
  db.close();
  return path;
}

/** The names of the tables in the database at `path`, sorted, read without writing. */
export function tableNames(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
  } finally {
    db.close();
  }
}

/** The newest schema version this build knows. */
export const KNOWN_SQLITE_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

/**
 * Creates `newer.db` in `dir` as a newer agentbus would leave it: this build's schema and two
 * events, one migration more recorded (and its table), in rollback-journal mode (so a WAL
 * switch would show). Returns its path.
 */
export async function newerDatabase(dir: string): Promise<string> {
  const path = join(dir, 'newer.db');
  const store = await openSqliteStore({ path });
  await store.append(items(2, { topic: 'project.tasks' }));
  await store.close();
  const db = new Database(path);
  try {
    db.pragma('journal_mode = DELETE');
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
      KNOWN_SQLITE_VERSION + 1,
      'a table this build has never heard of',
      Date.UTC(2027, 0, 1),
    );
    db.exec('CREATE TABLE from_the_future (id INTEGER PRIMARY KEY)');
  } finally {
    db.close();
  }
  return path;
}

/** Every table's rows, the schema and the journal mode, as text: equal means nothing was written. */
export function contentsOf(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const schema = db.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY type, name').all() as {
      name: string;
      sql: string | null;
    }[];
    const rows = schema
      .filter((t) => t.sql?.startsWith('CREATE TABLE'))
      .map((t) => [t.name, db.prepare(`SELECT * FROM "${t.name}"`).all()]);
    return JSON.stringify({ schema, rows, journal: db.pragma('journal_mode', { simple: true }) });
  } finally {
    db.close();
  }
}
