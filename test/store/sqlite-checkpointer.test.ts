/**
 * The background checkpointer lets the process exit: a checkpoint that finishes while the
 * store closes starts no second worker (one did, when a request had come in meanwhile, and
 * its message port kept the process alive: `agentbus dlq replay` after a crash never exited).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Checkpointer } from '../../src/store/sqlite/checkpointer.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function walDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-checkpointer-'));
  dirs.push(dir);
  const path = join(dir, 'wal.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE t (x TEXT)');
  const insert = db.prepare('INSERT INTO t VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 2_000; i++) insert.run('x'.repeat(1_000));
  })();
  db.close();
  return path;
}

const workersKeepingAlive = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;

describe('Checkpointer', () => {
  it('starts no worker once closing, even for a request that came in during a checkpoint', async () => {
    const path = walDatabase();
    const before = workersKeepingAlive();
    let done = 0;
    const checkpointer = new Checkpointer(path, () => done++);
    checkpointer.request();
    checkpointer.request(); // comes in while the first runs: asks for another round after it
    await checkpointer.close(); // the worker answers the checkpoint before it reads "close"
    checkpointer.request();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(workersKeepingAlive()).toBe(before);
    expect(done).toBe(0);
  });
});
