/**
 * `agentbus compact` and the config file's `postgres` section, driven as a user would.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { busOptionsOf } from '../../src/cli/context.js';
import { createBus } from '../../src/index.js';
import { freshDb, removeFreshDbs, runCli } from './run-cli.js';

afterAll(removeFreshDbs);

describe('agentbus compact', () => {
  it('gives the space of pruned events back and prints the size before and after', async () => {
    const db = freshDb();
    const bus = await createBus({ path: db });
    for (let at = 0; at < 2000; at += 500) {
      await bus.publishBatch(
        Array.from({ length: 500 }, (_, i) => ({
          topic: 'project.tasks',
          type: 'TaskCompletedEvent',
          payload: { n: at + i, text: 'x'.repeat(1000) },
        })),
      );
    }
    await bus.close();
    expect((await runCli(['prune', '--db', db, '--max-events', '100'])).code).toBe(0);

    const result = await runCli(['compact', '--db', db, '--json']);
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({ method: 'incremental', note: null });
    expect(json.bytes_after).toBeLessThan(json.bytes_before / 2);

    const again = await runCli(['compact', '--db', db]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^nothing to compact \(\d+(\.\d)? [KMG]?i?B\)/);
    const events = JSON.parse((await runCli(['events', '--db', db, '--json', '--limit', '1000'])).stdout) as unknown[];
    expect(events).toHaveLength(100);
  });

  it('says what it gave back in words', async () => {
    const db = freshDb();
    const bus = await createBus({ path: db });
    await bus.publishBatch(
      Array.from({ length: 1000 }, (_, i) => ({
        topic: 'project.tasks',
        type: 'TaskCompletedEvent',
        payload: { n: i, text: 'x'.repeat(1000) },
      })),
    );
    await bus.prune({ maxEvents: 10 });
    await bus.close();
    const result = await runCli(['compact', '--db', db]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^compacted: [\d.]+ MiB -> [\d.]+ [KM]iB \([\d.]+ MiB given back\) in \d+ steps, the longest [\d.]+ ms/,
    );
  });

  it('refuses a missing database without creating one', async () => {
    const db = freshDb();
    const result = await runCli(['compact', '--db', db]);
    expect(result.code).not.toBe(0);
    expect(existsSync(db)).toBe(false);
  });
});

describe('config file: postgres section', () => {
  it('refuses a statementTimeoutMs that is negative or not a number, naming the field, before opening anything', async () => {
    for (const value of ['-5', '"soon"']) {
      const db = freshDb();
      const config = join(dirname(db), 'agentbus.yaml');
      writeFileSync(config, `store: ${db}\npostgres:\n  statementTimeoutMs: ${value}\n`);
      const result = await runCli(['publish', '--topic', 'project.tasks', '--type', 'TaskCompletedEvent', '--config', config]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('postgres.statementTimeoutMs');
      expect(existsSync(db)).toBe(false);
    }
  });

  it('refuses a postgres section beside a SQLite store in the same file', async () => {
    const db = freshDb();
    const config = join(dirname(db), 'agentbus.yaml');
    writeFileSync(config, `store: ${db}\npostgres:\n  statementTimeoutMs: 30000\n`);
    const result = await runCli(['publish', '--topic', 'project.tasks', '--type', 'TaskCompletedEvent', '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('postgres: applies to a PostgreSQL store only');
    expect(existsSync(db)).toBe(false);
  });

  it('passes its timeouts to a PostgreSQL store', async () => {
    const config = join(dirname(freshDb()), 'agentbus.yaml');
    writeFileSync(
      config,
      'store: postgres://agentbus@db.internal/agentbus\npostgres:\n  statementTimeoutMs: 30000\n  connectTimeoutMs: 2000\n',
    );
    const plan = await busOptionsOf({ db: 'unused.db', dbGiven: false, config });
    expect(plan.options.store).toMatchObject({
      postgres: 'postgres://agentbus@db.internal/agentbus',
      statementTimeoutMs: 30000,
      connectTimeoutMs: 2000,
    });
  });
});
