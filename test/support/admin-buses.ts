/**
 * Buses for input tests that must behave the same on every store: one on SQLite and, when
 * the server is reachable, one on PostgreSQL (a database of its own, dropped afterwards);
 * and dead letters made on demand.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe } from 'vitest';
import { type Bus, createBus } from '../../src/bus/index.js';
import { NonRetryableError } from '../../src/errors.js';
import { createTestBus } from '../../src/testing.js';
import { sleep, within } from '../conformance/fixtures.js';
import { type TestDatabase, testPostgres } from './postgres.js';

/** Opens a bus that dead-letters at the first failure; `dispose` closes it. */
export type OpenBus = () => Promise<{ bus: Bus; dispose: () => Promise<void> }>;

const pg = await testPostgres();

/** Runs `suite` once on SQLite and once on PostgreSQL (skipped, with the reason, without a server). */
export function describeOnEachStore(suite: (backend: string, open: OpenBus) => void): void {
  suite('SQLite', async () => {
    const bus = await createTestBus({ retry: { max_retries: 0 } });
    return { bus, dispose: () => bus.dispose() };
  });
  describe.skipIf(!pg.available)(`PostgreSQL ${pg.skipReason}`, () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await pg.createDatabase();
    });
    afterAll(async () => {
      await db?.drop();
    });
    suite('PostgreSQL', async () => {
      const bus = await createBus({ store: { postgres: db.url }, retry: { max_retries: 0 } });
      return { bus, dispose: () => bus.close() };
    });
  });
}

/** `n` open dead letters of a fresh subscription of `bus` (of events of `correlationId`, when given): its name and their ids. */
export async function openDeadLetters(
  bus: Bus,
  n: number,
  options: { correlationId?: string } = {},
): Promise<{ name: string; ids: number[] }> {
  const name = `/picky-${randomBytes(3).toString('hex')}`;
  const topic = `admin.${name.slice(1)}`;
  const sub = await bus.subscribe({
    name,
    topic,
    handler: () => {
      throw new NonRetryableError('refused on purpose');
    },
  });
  await bus.publishBatch(Array.from({ length: n }, (_, i) => ({ topic, type: 'Job', payload: { i }, ...options })));
  await within(
    (async () => {
      while ((await bus.deadLetters.list({ subscription: name })).length < n) await sleep(10);
    })(),
    20_000,
    'dead letters',
  );
  await sub.close();
  return { name, ids: (await bus.deadLetters.list({ subscription: name })).map((d) => d.id) };
}
