/**
 * A projection process killed with SIGKILL between applying an event and committing its
 * checkpoint never applies that event twice: read model and checkpoint commit together.
 * Runs on SQLite and on PostgreSQL.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentBusOptions, createBus } from '../../src/agentbus.js';
import type { EventStore } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { assertBuilt, killAllChildren, randomInt, sleep, startChild, tempDir } from '../crash/crash-helpers.js';
import { type TestDatabase, testPostgres } from '../support/postgres.js';

const WORKER = '../../cqrs/fixtures/projection-worker.mjs';

/** Where the worker and the checks find the database. */
interface Target {
  /** The worker's first argument: a SQLite file or a postgres:// URL. */
  readonly arg: string;
  readonly busOptions: AgentBusOptions;
  open(): Promise<EventStore>;
}

beforeAll(() => assertBuilt());
afterEach(async () => {
  await killAllChildren();
});

async function crashScenario(target: Target): Promise<void> {
  const withStore = async <T>(fn: (store: EventStore) => Promise<T>): Promise<T> => {
    const store = await target.open();
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  };
  const readProjection = () =>
    withStore(async (store) => ({
      model: (await store.state.get<{ seqs: number[] }>('agentbus.projections', 'model/crash-seqs'))?.value,
      checkpoint: (await store.state.get<{ position: number; applied: number }>('agentbus.projections', 'checkpoint/crash-seqs'))
        ?.value,
    }));
  const events = () =>
    withStore(async (store) => {
      const out: Array<{ seq: number; n: number }> = [];
      for await (const e of store.read({ topic: 'crash.events' }))
        out.push({ seq: e.seq, n: (e.envelope.payload as { n: number }).n });
      return out;
    });
  /** What committed is the events up to the checkpoint, each exactly once. */
  const expectConsistent = async () => {
    const { model, checkpoint } = await readProjection();
    const upTo = (await events()).filter((e) => e.seq <= (checkpoint?.position ?? 0)).map((e) => e.seq);
    expect(model?.seqs ?? []).toEqual(upTo);
    return model?.seqs ?? [];
  };

  const bus = await createBus(target.busOptions);
  for (let n = 0; n < 60; n++) {
    await bus.publish({ topic: 'crash.events', type: 'Counted', payload: { n } });
    if (n % 4 === 0) await bus.publish({ topic: 'noise', type: 'Noise', payload: { n } });
  }
  await bus.close();

  // Each round blocks inside apply (the batch's transaction open) and is killed there.
  for (const hangAt of [7, 23, 24, 41]) {
    const seq = (await events()).find((e) => e.n === hangAt)?.seq;
    const child = startChild(WORKER, [target.arg, String(hangAt)]);
    await child.waitForLine(`IN_APPLY ${seq}`);
    await child.kill();
    expect(await expectConsistent()).not.toContain(seq);
  }

  // Then kills at random moments while it works through many small batches.
  const more = await createBus(target.busOptions);
  for (let i = 0; i < 4; i++) {
    await more.publishBatch(
      Array.from({ length: 500 }, (_, k) => ({ topic: 'crash.events', type: 'Counted', payload: { n: 1000 + i * 500 + k } })),
    );
  }
  await more.close();
  for (let round = 0; round < 4; round++) {
    const child = startChild(WORKER, [target.arg, 'none']);
    await child.waitForLine('STARTING');
    await sleep(randomInt(20, 250));
    await child.kill();
    await expectConsistent();
  }

  const last = startChild(WORKER, [target.arg, 'none']);
  await last.waitForLine('CAUGHT_UP');
  await last.kill();
  const seqs = await expectConsistent();
  expect(seqs).toEqual((await events()).map((e) => e.seq));
  expect(new Set(seqs).size).toBe(2060);
  expect((await readProjection()).checkpoint?.applied).toBe(2060);
}

describe('projection crash: sqlite', () => {
  let cleanup: () => void = () => {};
  afterAll(() => cleanup());

  it('a worker killed mid-batch, again and again, never applies an event twice', async () => {
    const temp = tempDir('agentbus-projection-crash-');
    cleanup = temp.cleanup;
    const db = join(temp.dir, 'agentbus.db');
    await crashScenario({ arg: db, busOptions: { path: db }, open: () => openSqliteStore({ path: db }) });
    const store = await openSqliteStore({ path: db });
    expect(store.integrityCheck()).toBe('ok');
    await store.close();
  });
});

const server = await testPostgres();

describe.skipIf(!server.available)(`projection crash: postgres ${server.skipReason}`, () => {
  let db: TestDatabase | undefined;
  afterAll(async () => {
    await db?.drop();
  });

  it('a worker killed mid-batch, again and again, never applies an event twice', async () => {
    db = await server.createDatabase('agentbus_cqrs_crash');
    const url = db.url;
    await crashScenario({ arg: url, busOptions: { store: { postgres: url } }, open: () => openPostgresStore({ url }) });
  });
});
