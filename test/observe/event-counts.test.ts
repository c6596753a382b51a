/**
 * The store's per-topic and per-source counts (EventStore.counts) on SQLite: kept by appends,
 * duplicates left out, committed with the events, and filled from an existing log by the
 * migration that adds them; the recent-activity table added to an existing database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/index.js';
import { item, items } from '../conformance/fixtures.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-counts-'));
  dirs.push(dir);
  return join(dir, 'agentbus.db');
}

/**
 * A database with `appended` events on `project.tasks`, taken back to the schema before the
 * migration `name` (its table dropped, its record gone); reopened, the migration runs again.
 */
async function beforeMigration(table: string, name: string, appended: number, source = '/conformance'): Promise<string> {
  const path = freshPath();
  const store = await openSqliteStore({ path });
  await store.append(items(appended, { topic: 'project.tasks', source }));
  await store.close();
  const db = new Database(path);
  db.prepare(`DROP TABLE ${table}`).run();
  db.prepare('DELETE FROM schema_migrations WHERE name = ?').run(name);
  db.close();
  return path;
}

describe('EventStore.counts on SQLite', () => {
  it('counts events per topic and source, once per id, across group commits and transactions', async () => {
    const store = await openSqliteStore({ path: freshPath() });
    try {
      await Promise.all([
        store.append(items(3, { topic: 'project.tasks', source: '/backend-architect' })),
        store.append(items(2, { topic: 'project.tasks', source: '/python-pro' })),
        store.append([item({ topic: 'project.reviews', source: '/python-pro', id: 'evt-review-1' })]),
      ]);
      // A repeated id is not counted again.
      await store.append([item({ topic: 'project.reviews', source: '/python-pro', id: 'evt-review-1' })]);
      const [alert] = await store.transaction((tx) =>
        tx.append(items(1, { topic: 'project.alerts', source: '/incident-manager' })),
      );
      const totals = await store.counts.totals();
      expect(totals.map(({ topic, source, events }) => ({ topic, source, events }))).toEqual([
        { topic: 'project.alerts', source: '/incident-manager', events: 1 },
        { topic: 'project.reviews', source: '/python-pro', events: 1 },
        { topic: 'project.tasks', source: '/backend-architect', events: 3 },
        { topic: 'project.tasks', source: '/python-pro', events: 2 },
      ]);
      expect(totals.find((t) => t.topic === 'project.alerts')?.lastSeq).toBe(alert?.seq);
    } finally {
      await store.close();
    }
  });

  it('counts the events of a topic after a position', async () => {
    const store = await openSqliteStore({ path: freshPath() });
    try {
      await store.append(items(4, { topic: 'project.tasks' }));
      await store.append(items(3, { topic: 'project.reviews' }));
      await store.append(items(2, { topic: 'project.tasks' }));
      expect(await store.counts.after('project.tasks', 0)).toBe(6);
      expect(await store.counts.after('project.tasks', 4)).toBe(2);
      expect(await store.counts.after('project.reviews', 5)).toBe(2);
      expect(await store.counts.after('project.tasks', 9)).toBe(0);
      expect(await store.counts.after('project.unknown', 0)).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('a rolled-back transaction counts nothing', async () => {
    const store = await openSqliteStore({ path: freshPath() });
    try {
      await store
        .transaction(async (tx) => {
          await tx.append(items(2, { topic: 'project.tasks' }));
          throw new Error('abort');
        })
        .catch(() => {});
      expect(await store.counts.totals()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('the migration fills the counts from a log written before it', async () => {
    const path = await beforeMigration('event_counts', 'event counts per topic and source', 3, '/orchestrator');
    const reopened = await openSqliteStore({ path });
    try {
      expect(await reopened.counts.totals()).toEqual([
        { topic: 'project.tasks', source: '/orchestrator', events: 3, lastSeq: 3 },
      ]);
    } finally {
      await reopened.close();
    }
  });

  it('the migration adds recent activity to a database written before it, counting from then on', async () => {
    const path = await beforeMigration('activity', 'recent activity per minute, topic and kind', 3);
    const reopened = await openSqliteStore({ path });
    try {
      // Nothing is filled in from the log: consumed and failed could not be.
      expect(await reopened.counts.recent(0)).toEqual([]);
      await reopened.append(items(2, { topic: 'project.tasks' }));
      expect(await reopened.counts.recent(0)).toEqual([{ topic: 'project.tasks', kind: 'published', count: 2 }]);
    } finally {
      await reopened.close();
    }
  });
});
