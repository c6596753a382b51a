/**
 * Another application's SQLite database, for tests that agentbus refuses it and leaves it as
 * it was.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';

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
