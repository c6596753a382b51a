import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { GroupCommitter } from '../../src/store/sqlite/group-commit.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { AgentbusError } from '../../src/errors.js';

describe('SQLite store', () => {
  it('commits every job issued in the same tick in one transaction, and a later tick in another', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (n INTEGER)');
    let transactions = 0;
    const committer = new GroupCommitter(db, () => {
      transactions++;
    });
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    await Promise.all(Array.from({ length: 500 }, (_, n) => committer.enqueue(() => insert.run(n))));
    expect(transactions).toBe(1);
    await committer.enqueue(() => insert.run(-1));
    expect(transactions).toBe(2);
    expect(db.prepare('SELECT count(*) AS c FROM t').get()).toEqual({ c: 501 });
    db.close();
  });

  it('a job that throws rolls back its whole flush and fails every job in it', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (n INTEGER)');
    const committer = new GroupCommitter(db);
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    const results = await Promise.allSettled([
      committer.enqueue(() => insert.run(1)),
      committer.enqueue(() => {
        throw new Error('disk on fire');
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(db.prepare('SELECT count(*) AS c FROM t').get()).toEqual({ c: 0 });
    await committer.enqueue(() => insert.run(2));
    expect(db.prepare('SELECT count(*) AS c FROM t').get()).toEqual({ c: 1 });
    db.close();
  });

  it('runs the schema migrations once and records them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-mig-'));
    const path = join(dir, 'a.db');
    await (await openSqliteStore({ path })).close();
    await (await openSqliteStore({ path })).close();
    const db = new Database(path);
    const rows = db.prepare('SELECT version FROM schema_migrations').all();
    const mode = db.pragma('journal_mode', { simple: true });
    db.close();
    rmSync(dir, { recursive: true, force: true });
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    expect(mode).toBe('wal');
  });

  it('refuses a bad synchronous level and a file that is not a database (naming path: the wrong file was given)', async () => {
    await expect(openSqliteStore({ path: ':memory:', synchronous: 'sometimes' as never })).rejects.toThrow(/synchronous/);
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-bad-'));
    const path = join(dir, 'not-a-db');
    (await import('node:fs')).writeFileSync(path, 'this is a text file, not SQLite '.repeat(100));
    const error = await openSqliteStore({ path }).catch((e: unknown) => e);
    rmSync(dir, { recursive: true, force: true });
    expect(error).toBeInstanceOf(AgentbusError);
    expect((error as AgentbusError).code).toBe('OPTIONS_INVALID');
    expect((error as AgentbusError).details.field).toBe('path');
  });
});
