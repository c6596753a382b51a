/**
 * Refused input on the command line: one line naming the flag (or the config file's key) and
 * why, exit 2, and no database file created or changed. Read-only commands never create a
 * database, and no command migrates another application's SQLite file or opens one a newer
 * agentbus wrote.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KNOWN_SQLITE_VERSION, contentsOf, foreignDatabase, newerDatabase, tableNames } from '../support/foreign-sqlite.js';
import { type CliResult, runCli } from './run-cli.js';

const dirs: string[] = [];
/** A fresh empty working directory. */
function workDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-refusals-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Exit 2 and one line `agentbus: <field>: ...`. */
function expectRefused(result: CliResult, field: string): void {
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(result.stderr.startsWith(`agentbus: ${field}: `) || result.stderr.includes(`'${field}`)).toBe(true);
  expect(result.code).toBe(2);
}

const PUBLISH = ['publish', '--topic', 'a.b', '--type', 'X'];

describe('refused backend choices write nothing', () => {
  const cases: Array<[string, string[], string, Record<string, string>?]> = [
    ['--store with a mysql:// URL', ['--store', 'mysql://127.0.0.1/x', ...PUBLISH], '--store'],
    ['--store with an http:// URL', ['--store', 'http://x', ...PUBLISH], '--store'],
    ['--store with a pg:// URL', ['--store', 'pg://127.0.0.1/x', ...PUBLISH], '--store'],
    [
      'a config store with a mysql:// URL',
      ['--config', 'c.yaml', ...PUBLISH],
      'c.yaml: store',
      { 'c.yaml': 'store: "mysql://x/y"\n' },
    ],
    ['a postgres URL with spaces', ['--store', 'postgres://bad url with spaces', 'events'], '--store'],
    ['a postgres URL with a port out of range', ['--store', 'postgres://127.0.0.1:99999/test', 'events'], '--store'],
    ['an empty --store', ['--store', '', ...PUBLISH], '--store'],
    ['an empty --db', ['--db', '', 'events'], '--db'],
    ['an empty --db on publish', ['--db', '', ...PUBLISH], '--db'],
    ['a bad --nats-stream', [...PUBLISH, '--nats', 'nats://127.0.0.1:4222', '--nats-stream', 'bad stream.name'], '--nats-stream'],
    ['a bad --nats-prefix', [...PUBLISH, '--nats', 'nats://127.0.0.1:4222', '--nats-prefix', 'a..b'], '--nats-prefix'],
    ['a --nats that is no URL', [...PUBLISH, '--nats', 'garbage url'], '--nats'],
    ['a config nats that is no URL', ['--config', 'c.yaml', ...PUBLISH], 'c.yaml: nats', { 'c.yaml': 'nats: "garbage url"\n' }],
    ['--nats-stream without --nats', [...PUBLISH, '--nats-stream', 'ORDERS'], '--nats-stream'],
    ['--nats-prefix without --nats', ['--nats-prefix', 'orders', 'events'], '--nats-prefix'],
    ['a --delay past the largest date', [...PUBLISH, '--delay', '300000000d'], '--delay'],
  ];
  for (const [what, args, field, files] of cases) {
    it(`${what}: exit 2 naming ${field}`, async () => {
      const cwd = workDir();
      for (const [name, text] of Object.entries(files ?? {})) writeFileSync(join(cwd, name), text);
      expectRefused(await runCli(args, { cwd }), field);
      expect(readdirSync(cwd)).toEqual(Object.keys(files ?? {}));
    });
  }

  it('AGENTBUS_NATS_STREAM without a NATS server is left alone (it may serve other commands)', async () => {
    const cwd = workDir();
    const result = await runCli(PUBLISH, { cwd, env: { AGENTBUS_NATS_STREAM: 'ORDERS' } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('an unreachable NATS server fails (exit 1) without leaving an empty database', async () => {
    const cwd = workDir();
    const result = await runCli([...PUBLISH, '--nats', 'nats://127.0.0.1:1'], { cwd });
    expect(result.code).toBe(1);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe("another application's SQLite file", () => {
  for (const args of [['events'], PUBLISH, ['status'], ['subscriptions', 'list']]) {
    it(`${args[0]} refuses it naming --db and leaves its tables alone`, async () => {
      const cwd = workDir();
      const db = foreignDatabase(cwd);
      const result = await runCli(['--db', db, ...args], { cwd });
      expectRefused(result, '--db');
      expect(result.stderr).toContain('not an agentbus database (it has tables of its own)');
      expect(tableNames(db)).toEqual(['customers']);
    });
  }

  it('a text file is refused as not an SQLite database', async () => {
    const cwd = workDir();
    writeFileSync(join(cwd, 'notes.txt'), 'hello\n');
    const result = await runCli(['events', '--db', 'notes.txt'], { cwd });
    expectRefused(result, '--db');
    expect(result.stderr).toContain('not an SQLite database file');
  });
});

describe('a database a newer agentbus wrote', () => {
  for (const args of [['events'], PUBLISH, ['status'], ['subscriptions', 'list'], ['dlq', 'list']]) {
    it(`${args[0]} refuses it in one line, exit 1, and leaves it as it was`, async () => {
      const cwd = workDir();
      const db = await newerDatabase(cwd);
      const before = contentsOf(db);
      const result = await runCli(['--db', db, ...args], { cwd });
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `agentbus: ${db} has schema version ${KNOWN_SQLITE_VERSION + 1}, but this agentbus knows versions up to ` +
          `${KNOWN_SQLITE_VERSION}: a newer agentbus wrote it. Upgrade agentbus to that version (or newer) to open it; ` +
          'nothing was written.\n',
      );
      expect(contentsOf(db)).toBe(before);
    });
  }
});

describe('read-only commands never create a database', () => {
  for (const args of [
    ['events'],
    ['status'],
    ['topics'],
    ['timeline', 'c-1'],
    ['subscriptions', 'list'],
    ['dlq', 'list'],
    ['sagas'],
    ['timers'],
    ['timers', 'cancel', '001764428400000/evt-1'],
  ]) {
    it(`${args.join(' ')} refuses a missing or empty file`, async () => {
      const cwd = workDir();
      const missing = await runCli(['--db', 'nope.db', ...args], { cwd });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^agentbus: --db: no agentbus database at nope\.db/);
      expect(existsSync(join(cwd, 'nope.db'))).toBe(false);
      writeFileSync(join(cwd, 'empty.db'), '');
      const empty = await runCli(['--db', 'empty.db', ...args], { cwd });
      expect(empty.code).toBe(1);
      expect(empty.stderr).toMatch(/no agentbus database at empty\.db/);
      expect(statSync(join(cwd, 'empty.db')).size).toBe(0);
    });
  }

  it('tail refuses a missing database instead of creating it', async () => {
    const cwd = workDir();
    const result = await runCli(['tail', 'a', '--db', 'nope.db'], { cwd });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no agentbus database at nope\.db/);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe('empty filters and ids are refused naming the flag or argument', () => {
  const cases: Array<[string[], string]> = [
    [['events', '--type', ''], '--type'],
    [['events', '--topic', ''], '--topic'],
    [['events', '--correlation-id', ''], '--correlation-id'],
    [['tail', 'a', '--filter', ''], '--filter'],
    [['dlq', 'list', '--subscription', ''], '--subscription'],
    [['dlq', 'replay', '--all', '--subscription', ''], '--subscription'],
    [['sagas', ''], 'id'],
    [['aggregators', '--correlation-id', ''], '--correlation-id'],
    [['aggregators', ''], 'id'],
  ];
  for (const [args, field] of cases) {
    it(`${args.join(' ')}`, async () => {
      const cwd = workDir();
      const result = await runCli(args, { cwd });
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(`agentbus: ${field}: must not be empty\n`);
      expect(readdirSync(cwd)).toEqual([]);
    });
  }

  it('projections rebuild --module of a module exporting no projection: exit 2 naming --module', async () => {
    const cwd = workDir();
    writeFileSync(join(cwd, 'm.mjs'), 'export const x = 1;\n');
    expectRefused(await runCli(['projections', 'rebuild', 'x', '--module', 'm.mjs'], { cwd }), '--module');
    expect(readdirSync(cwd)).toEqual(['m.mjs']);
  });
});

describe('publish', () => {
  const flagged: Array<[string, string[]]> = [
    ['--topic', ['publish', '--topic', '', '--type', 'X']],
    ['--type', ['publish', '--topic', 'a.b', '--type', '']],
    ['--source', ['publish', '--topic', 'a.b', '--type', 'X', '--source', 'a b']],
    ['--correlation-id', ['publish', '--topic', 'a.b', '--type', 'X', '--correlation-id', '']],
    ['--priority', ['publish', '--topic', 'a.b', '--type', 'X', '--priority', 'urgent']],
    ['--limit', ['events', '--limit', '-3']],
  ];
  for (const [flag, args] of flagged) {
    it(`a refused ${flag} is named as the flag, first`, async () => {
      const cwd = workDir();
      const result = await runCli(args, { cwd });
      expect(result.stderr).toMatch(new RegExp(`^agentbus: ${flag}: \\S`));
      expectRefused(result, flag);
      expect(readdirSync(cwd)).toEqual([]);
    });
  }

  it('- generates a missing event.id and event.timestamp, as HTTP does', async () => {
    const cwd = workDir();
    const envelope = { event: { type: 'X', source: '/a', correlation_id: 'c-1' }, payload: {}, routing: { topic: 'a.b' } };
    const result = await runCli(['publish', '-', '--json', '--db', 'a.db'], { cwd, input: JSON.stringify(envelope) });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const stored = JSON.parse(result.stdout) as { event: { id: string; timestamp: string; correlation_id: string } };
    expect(stored.event.id).toMatch(/\S/);
    expect(Number.isNaN(Date.parse(stored.event.timestamp))).toBe(false);
    expect(stored.event.correlation_id).toBe('c-1');
  });

  it('--deliver-at takes ms since the epoch, as its message says', async () => {
    const cwd = workDir();
    const at = Date.UTC(2030, 0, 1);
    const result = await runCli([...PUBLISH, '--json', '--db', 'a.db', '--deliver-at', String(at)], { cwd });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });
});
