/**
 * `retention.compact()` on SQLite (ADR 0025): the pages of pruned events go back to the file
 * system. Files this version creates do it in small steps beside other connections; older
 * files (no incremental vacuum) are rewritten once by VACUUM, which needs the file alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import type { CompactProgress } from '../../src/store/index.js';
import { type SqliteEventStore, openSqliteStore } from '../../src/store/sqlite/index.js';
import { collect, items } from '../conformance/fixtures.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function freshPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-compact-'));
  dirs.push(dir);
  return join(dir, 'agentbus.db');
}

/** A file as releases before incremental vacuum created it: auto_vacuum fixed at NONE. */
function olderFile(): string {
  const path = freshPath();
  const db = new Database(path);
  db.pragma('page_size = 8192');
  db.pragma('auto_vacuum = NONE');
  db.pragma('journal_mode = WAL');
  // Writing the file once fixes its auto_vacuum; the table goes again, so the store sees no tables.
  db.exec('CREATE TABLE fix_the_header (x); DROP TABLE fix_the_header');
  db.close();
  return path;
}

const PAYLOAD = { text: 'x'.repeat(1000) };

/** `n` ~1 KB events, then all but the newest `keep` pruned. */
async function filledAndPruned(store: SqliteEventStore, n: number, keep: number): Promise<void> {
  for (let at = 0; at < n; at += 500) await store.append(items(Math.min(500, n - at), { payload: PAYLOAD }));
  const result = await store.retention.prune({ maxEvents: keep });
  expect(result.pruned).toBeGreaterThanOrEqual(n - keep);
}

describe('SQLite compact', () => {
  it('gives the pages of pruned events back in small steps on a new file, keeping every retained event', async () => {
    const store = await openSqliteStore({ path: freshPath() });
    try {
      await filledAndPruned(store, 3000, 300);
      const progress: CompactProgress[] = [];
      const result = await store.retention.compact({ stepPages: 32, onProgress: (p) => progress.push(p) });
      expect(result.method).toBe('incremental');
      expect(result.steps).toBeGreaterThan(1);
      expect(progress).toHaveLength(result.steps);
      expect(progress.at(-1)?.freedBytes).toBeGreaterThan(0);
      // 2,700 of 3,000 events went: the file keeps well under half of what it had.
      expect(result.bytesAfter).toBeLessThan(result.bytesBefore / 2);
      expect(result.note).toBeUndefined();
      const kept = await collect(store.read());
      expect(kept.map((e) => e.seq)).toEqual(Array.from({ length: 300 }, (_, i) => 2701 + i));
      expect(store.integrityCheck()).toBe('ok');
      expect((await store.append(items(1)))[0]?.seq).toBe(3001);
      // Nothing left to give back.
      expect((await store.retention.compact()).method).toBe('none');
    } finally {
      await store.close();
    }
  });

  it('runs its steps beside another connection that has the file open', async () => {
    const path = freshPath();
    const store = await openSqliteStore({ path });
    const other = new Database(path);
    try {
      await filledAndPruned(store, 2000, 200);
      other.prepare('SELECT count(*) FROM events').get();
      const result = await store.retention.compact();
      expect(result.method).toBe('incremental');
      expect(result.bytesAfter).toBeLessThan(result.bytesBefore / 2);
      expect(other.prepare('SELECT count(*) AS n FROM events').get()).toEqual({ n: 200 });
    } finally {
      other.close();
      await store.close();
    }
  });

  it('rewrites an older file once (VACUUM), and compacts it in steps from then on', async () => {
    const path = olderFile();
    const store = await openSqliteStore({ path });
    try {
      await filledAndPruned(store, 2000, 200);
      const first = await store.retention.compact();
      expect(first.method).toBe('vacuum');
      expect(first.bytesAfter).toBeLessThan(first.bytesBefore / 2);
      expect(store.integrityCheck()).toBe('ok');
      expect(await collect(store.read())).toHaveLength(200);
      await filledAndPruned(store, 1000, 100);
      expect((await store.retention.compact()).method).toBe('incremental');
    } finally {
      await store.close();
    }
  });

  it('refuses the one-time VACUUM while another process has the file open, and the store keeps working', async () => {
    const path = olderFile();
    const store = await openSqliteStore({ path });
    const other = new Database(path);
    try {
      await filledAndPruned(store, 1000, 100);
      other.prepare('SELECT count(*) FROM events').get();
      const error = await store.retention.compact().catch((e: unknown) => e);
      expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE') && error.details.reason).toBe('busy');
      expect((error as Error).message).toContain('another process has it open');
      expect((await store.append(items(1)))[0]?.seq).toBe(1001);
      expect(other.prepare('SELECT count(*) AS n FROM events').get()).toEqual({ n: 101 });
      other.close();
      expect((await store.retention.compact()).method).toBe('vacuum');
      expect(store.integrityCheck()).toBe('ok');
    } finally {
      if (other.open) other.close();
      await store.close();
    }
  });

  it('refuses a bad stepPages naming the field', async () => {
    const store = await openSqliteStore({ path: freshPath() });
    try {
      for (const stepPages of [0, -1, 1.5, '8']) {
        const error = await store.retention.compact({ stepPages: stepPages as number }).catch((e: unknown) => e);
        expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field).toBe('stepPages');
      }
    } finally {
      await store.close();
    }
  });
});
