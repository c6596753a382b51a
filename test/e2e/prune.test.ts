/**
 * `agentbus prune` and the retention line of `agentbus status`, driven as a user would.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/index.js';
import { freshDb, removeFreshDbs, runCli } from './run-cli.js';

afterAll(removeFreshDbs);

/** A database with `n` events on project.tasks and, when `paused`, a paused subscription at position 1. */
async function dbWith(n: number, options: { paused?: boolean } = {}): Promise<string> {
  const db = freshDb();
  const bus = await createBus({ path: db });
  if (options.paused) {
    const sub = await bus.subscribe({ name: '/reporter', topic: 'project.tasks', handler: () => {} });
    await sub.close();
    await bus.subscriptions.pause('/reporter');
  }
  for (let at = 0; at < n; at += 1000) {
    const size = Math.min(1000, n - at);
    await bus.publishBatch(
      Array.from({ length: size }, (_, i) => ({ topic: 'project.tasks', type: 'TaskCompletedEvent', payload: { n: at + i } })),
    );
  }
  await bus.close();
  return db;
}

async function eventCount(db: string): Promise<number> {
  const result = await runCli(['events', '--db', db, '--json', '--limit', '100000']);
  return (JSON.parse(result.stdout) as unknown[]).length;
}

describe('agentbus prune', () => {
  it('--max-events keeps the newest events and prints the first retained position; status shows it', async () => {
    const db = await dbWith(20);
    const result = await runCli(['prune', '--db', db, '--max-events', '5', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ pruned: 15, first_retained: 16, head: 20, dry_run: false, held_by: null });
    expect(await eventCount(db)).toBe(5);
    const status = JSON.parse((await runCli(['status', '--db', db, '--json'])).stdout);
    expect(status.retention).toMatchObject({ first_retained: 16, pruned: 15, held_by: [] });
    expect((await runCli(['status', '--db', db])).stdout).toContain('- Retention: history from #16 (15 pruned)');
  });

  it('--dry-run counts and deletes nothing', async () => {
    const db = await dbWith(10);
    const result = await runCli(['prune', '--db', db, '--max-events', '4', '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('would prune 6 events; history from #7');
    expect(await eventCount(db)).toBe(10);
  });

  it('a paused subscription holds retention back, and prune and status name it', async () => {
    const db = await dbWith(10, { paused: true });
    const result = await runCli(['prune', '--db', db, '--max-events', '2']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('pruned 0 events; history from #1');
    expect(result.stdout).toContain('held back at #1 by subscription /reporter (paused)');
    expect(await eventCount(db)).toBe(10);
    const status = await runCli(['status', '--db', db, '--json']);
    expect(JSON.parse(status.stdout).retention.held_by).toEqual([
      { kind: 'subscription', name: '/reporter', seq: 1, paused: true },
    ]);
  });

  it('prunes by the config file retention when no limit is given', async () => {
    const db = await dbWith(8);
    const config = join(dirname(db), 'agentbus.yaml');
    writeFileSync(config, `store: ${db}\nretention:\n  maxEvents: 3\n  maxAge: 30d\n`);
    const result = await runCli(['prune', '--config', config, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ pruned: 5, first_retained: 6 });
    expect((await runCli(['status', '--config', config])).stdout).toContain('- Retention: history from #6 (5 pruned)');
  });

  it('shows progress on stderr for a long run', async () => {
    const db = await dbWith(5000);
    const result = await runCli(['prune', '--db', db, '--max-events', '1']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('pruned 4999 events; history from #5000');
    expect(result.stderr).toMatch(/pruning █+░* +\d+%/);
  });

  it.each([
    [['--max-age', 'soon'], '--max-age'],
    [['--max-age', '30'], '--max-age'],
    [['--max-events', '0'], '--max-events'],
    [['--max-events', 'many'], '--max-events'],
    [[], '--max-age'],
  ])('refuses %j with one line naming %s, exit 2, deleting nothing', async (flags, flag) => {
    const db = await dbWith(4);
    const result = await runCli(['prune', '--db', db, ...flags]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(flag);
    expect(await eventCount(db)).toBe(4);
  });

  it('refuses a bad retention section of the config file naming the key', async () => {
    const db = await dbWith(3);
    const config = join(dirname(db), 'bad.yaml');
    writeFileSync(config, `store: ${db}\nretention:\n  maxAge: eventually\n`);
    const result = await runCli(['prune', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('retention.maxAge');
    expect(await eventCount(db)).toBe(3);
  });
});
