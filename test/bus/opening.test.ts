/**
 * What `createBus` and `openSqliteStore` refuse before they open or create anything: URLs
 * given as SQLite paths, bad NATS settings, a bad clock, another application's database, a
 * file that is not SQLite; and what a reader (`create: false`) refuses.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/index.js';
import type { AgentBusOptions } from '../../src/agentbus.js';
import { isAgentbusError } from '../../src/errors.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { foreignDatabase, tableNames } from '../support/foreign-sqlite.js';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-opening-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Resolves with the refusal's code and field; fails when `open` resolves. */
async function refusal(open: () => Promise<{ close(): Promise<void> }>): Promise<{ code: string; field: unknown }> {
  let opened: { close(): Promise<void> } | undefined;
  try {
    opened = await open();
  } catch (error) {
    if (!isAgentbusError(error)) throw error;
    return { code: error.code, field: error.details.field };
  }
  await opened.close();
  throw new Error('expected a refusal');
}

describe('createBus refuses before creating anything', () => {
  const cases: Array<[string, (dir: string) => AgentBusOptions, string]> = [
    ['a URL as path', () => ({ path: 'mysql://127.0.0.1/x' }), 'path'],
    ['a postgres URL as path', () => ({ path: 'postgres://127.0.0.1/x' }), 'path'],
    ['a URL as store.sqlite', () => ({ store: { sqlite: 'http://x' } }), 'store.sqlite'],
    ['an unparseable postgres URL', () => ({ store: { postgres: 'postgres://127.0.0.1:99999/test' } }), 'store.postgres'],
    [
      'a bad NATS stream name',
      (dir) => ({ path: join(dir, 'a.db'), transport: { nats: 'nats://127.0.0.1:4222', stream: 'a b' } }),
      'transport.stream',
    ],
    [
      'a bad NATS subject prefix',
      (dir) => ({ path: join(dir, 'a.db'), transport: { nats: 'nats://127.0.0.1:4222', subjectPrefix: 'a..b' } }),
      'transport.subjectPrefix',
    ],
    [
      'a NATS server that is no URL',
      (dir) => ({ path: join(dir, 'a.db'), transport: { nats: 'garbage url' } }),
      'transport.nats',
    ],
    [
      'a NATS URL of another scheme',
      (dir) => ({ path: join(dir, 'a.db'), transport: { nats: 'http://127.0.0.1:4222' } }),
      'transport.nats',
    ],
    ['a clock that is not one', (dir) => ({ path: join(dir, 'a.db'), clock: 5 as never }), 'clock'],
    [
      'store.create that is no boolean',
      (dir) => ({ store: { sqlite: join(dir, 'a.db'), create: 'no' as never } }),
      'store.create',
    ],
  ];
  for (const [what, options, field] of cases) {
    it(`${what}: OPTIONS_INVALID naming ${field}, no file`, async () => {
      const dir = tempDir();
      const cwd = process.cwd();
      process.chdir(dir); // a URL taken as a path would land here
      try {
        expect(await refusal(() => createBus(options(dir)))).toEqual({ code: 'OPTIONS_INVALID', field });
        expect(readdirSync(dir)).toEqual([]);
      } finally {
        process.chdir(cwd);
      }
    });
  }

  it('an unreachable NATS server fails without leaving the new database (or its folder) behind', async () => {
    const dir = tempDir();
    const path = join(dir, 'sub', 'a.db');
    const result = await refusal(() => createBus({ path, transport: { nats: 'nats://127.0.0.1:1' } }));
    expect(result.code).toBe('BACKEND_UNAVAILABLE');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an unreachable NATS server leaves a database that existed before as it was', async () => {
    const path = join(tempDir(), 'a.db');
    const bus = await createBus({ path });
    await bus.publish({ topic: 'a.b', type: 'Kept' });
    await bus.close();
    expect((await refusal(() => createBus({ path, transport: { nats: 'nats://127.0.0.1:1' } }))).code).toBe(
      'BACKEND_UNAVAILABLE',
    );
    const again = await createBus({ path });
    expect(await again.store.head()).toBe(1);
    await again.close();
  });
});

describe('opening a SQLite file', () => {
  it("refuses another application's database and leaves it untouched", async () => {
    const path = foreignDatabase(tempDir());
    const before = statSync(path).mtimeMs;
    expect(await refusal(() => openSqliteStore({ path }))).toEqual({ code: 'OPTIONS_INVALID', field: 'path' });
    expect(await refusal(() => createBus({ path }))).toEqual({ code: 'OPTIONS_INVALID', field: 'path' });
    expect(tableNames(path)).toEqual(['customers']);
    expect(statSync(path).mtimeMs).toBe(before);
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('refuses a file that is not SQLite, naming path', async () => {
    const path = join(tempDir(), 'notes.txt');
    writeFileSync(path, 'hello\n');
    expect(await refusal(() => openSqliteStore({ path }))).toEqual({ code: 'OPTIONS_INVALID', field: 'path' });
  });

  it('with create: false, refuses a missing or empty file and creates nothing', async () => {
    const dir = tempDir();
    const missing = join(dir, 'missing.db');
    expect(await refusal(() => openSqliteStore({ path: missing, create: false }))).toEqual({ code: 'NOT_FOUND', field: 'path' });
    expect(existsSync(missing)).toBe(false);
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    expect(await refusal(() => openSqliteStore({ path: empty, create: false }))).toEqual({ code: 'NOT_FOUND', field: 'path' });
    expect(statSync(empty).size).toBe(0);
  });

  it('createBus with store: { sqlite, create: false } refuses a missing file naming path', async () => {
    const path = join(tempDir(), 'missing.db');
    expect(await refusal(() => createBus({ store: { sqlite: path, create: false } }))).toEqual({
      code: 'NOT_FOUND',
      field: 'path',
    });
    expect(existsSync(path)).toBe(false);
  });

  it('with create: false, opens an agentbus database; by default an empty file becomes one', async () => {
    const path = join(tempDir(), 'a.db');
    writeFileSync(path, '');
    const created = await openSqliteStore({ path });
    await created.close();
    const reader = await openSqliteStore({ path, create: false });
    expect(await reader.head()).toBe(0);
    await reader.close();
  });
});
