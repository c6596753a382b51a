/**
 * Many processes on PostgreSQL: three worker processes share one subscription through the
 * PostgreSQL store. They split the load; one is killed with SIGKILL while it holds in-flight
 * deliveries, which are redelivered to the other two; every published event is handled, and
 * the events handlers publish (committed with their acks) exist exactly once per event.
 */
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import type { ConsumerInfo, StoredEvent } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { type TestDatabase, testPostgres } from '../support/postgres.js';
import { assertBuilt, killAllChildren, readLines, sleep, startChild, tempDir } from './crash-helpers.js';

const EVENTS = 1_500;
const server = await testPostgres();

/** Positions a worker holds leases on (its windows' pending positions and leased retries). */
async function heldBy(url: string, pid: number): Promise<number[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const owner = `%:${pid}:%`;
    const { rows } = await client.query<{ seq: string }>(
      `SELECT unnest(pending)::text AS seq FROM agentbus.consumer_windows WHERE consumer = 'pg-workers' AND owner LIKE $1
       UNION SELECT seq::text FROM agentbus.consumer_retries WHERE consumer = 'pg-workers' AND owner LIKE $1`,
      [owner],
    );
    return rows.map((r) => Number(r.seq));
  } finally {
    await client.end();
  }
}

async function waitFor(condition: () => Promise<boolean> | boolean, what: string | (() => string), polls = 1_200): Promise<void> {
  for (let i = 0; i < polls; i++) {
    if (await condition()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
}

describe.skipIf(!server.available)(`three worker processes on PostgreSQL ${server.skipReason}`, () => {
  let db: TestDatabase;
  beforeAll(async () => {
    assertBuilt();
    db = await server.createDatabase('agentbus_crash');
  });
  afterEach(killAllChildren);
  afterAll(async () => {
    await killAllChildren();
    await db?.drop();
  });

  it('split the load, and redeliver the in-flight events of one killed with SIGKILL to the others', {
    timeout: 180_000,
  }, async () => {
    const { dir, cleanup } = tempDir('pg-workers');
    const store = await openPostgresStore({ url: db.url, poolSize: 4 });
    try {
      const workers = ['a', 'b', 'c'].map((tag) => {
        const sidePath = join(dir, `side-${tag}.txt`);
        return { tag, sidePath, child: startChild('postgres-worker.mjs', [db.url, sidePath, '8', '30s', '30', tag]) };
      });
      await Promise.all(workers.map((w) => w.child.waitForLine('ready')));

      // Published in many commits while the workers run; the victim dies in the middle.
      const publisher = await createBus({ store });
      let lastSeq = 0;
      const publishing = (async () => {
        for (let i = 0; i < EVENTS; i += 50) {
          await publisher.publishBatch(
            Array.from({ length: 50 }, (_, j) => ({ topic: 'crash.pg', type: 'CrashTask', payload: { index: i + j } })),
          );
          await sleep(40);
        }
      })();

      // The victim is killed while it holds leases, after it handled some events.
      const [victim, ...survivors] = workers as [(typeof workers)[0], ...typeof workers];
      await waitFor(async () => {
        if (readLines(victim.sidePath).length < 20) return false;
        return (await heldBy(db.url, victim.child.pid)).length > 0;
      }, 'the victim to hold in-flight deliveries');
      await victim.child.kill();
      // What it held at the moment it died (it may have settled some between the two looks).
      const orphaned = await heldBy(db.url, victim.child.pid);
      expect(orphaned.length, 'deliveries the victim held when killed').toBeGreaterThan(0);
      await publishing;
      for await (const last of store.read({ topic: 'crash.pg', direction: 'backward', limit: 1 })) lastSeq = last.seq;

      let info: ConsumerInfo | undefined;
      await waitFor(
        async () => {
          info = await store.deliveries.getConsumer('pg-workers');
          return info !== undefined && info.ackFloor >= lastSeq && info.inFlight === 0 && info.scheduled === 0;
        },
        () => `the survivors to settle everything (last published ${lastSeq}): ${JSON.stringify(info)}`,
      );
      for (const w of survivors) w.child.proc.kill('SIGTERM');
      for (const w of survivors) expect((await w.child.exited).code, w.child.stderr()).toBe(0);
      await publisher.close();

      const handledBy = new Map(workers.map((w) => [w.tag, new Set(readLines(w.sidePath).map(Number))]));
      const all = new Set([...handledBy.values()].flatMap((s) => [...s]));
      expect(all.size, 'indexes handled by some worker').toBe(EVENTS);
      for (const w of workers) expect(handledBy.get(w.tag)?.size, `events handled by ${w.tag}`).toBeGreaterThan(0);

      // The victim's in-flight events went to the survivors.
      const indexOf = new Map<number, number>();
      for await (const e of store.read({ topic: 'crash.pg' })) {
        indexOf.set(e.seq, (e.envelope.payload as { index: number }).index);
      }
      const survivorsHandled = new Set(survivors.flatMap((w) => [...(handledBy.get(w.tag) ?? [])]));
      for (const seq of orphaned) expect(survivorsHandled.has(indexOf.get(seq) as number), `position ${seq}`).toBe(true);

      // Published effects commit with the ack: exactly one Handled per event.
      const handled: StoredEvent[] = [];
      for await (const e of store.read({ type: 'Handled' })) handled.push(e);
      const handledIndexes = handled.map((e) => (e.envelope.payload as { index: number }).index);
      expect(new Set(handledIndexes).size).toBe(EVENTS);
      expect(handled.length).toBe(EVENTS);
      expect(info?.redelivered, 'redelivered after the kill').toBeGreaterThanOrEqual(orphaned.length);
      console.log(
        `[crash/pg-workers] events=${EVENTS} ${workers.map((w) => `${w.tag}=${handledBy.get(w.tag)?.size}`).join(' ')} orphaned=${orphaned.length} redelivered=${info?.redelivered}`,
      );
    } finally {
      await killAllChildren();
      await store.close();
      cleanup();
    }
  });
});
