/**
 * Competing consumers across processes: two members of one durable subscription split its
 * events. With a lease long enough to never lapse and no crash, no event reaches both.
 * A member whose event loop freezes past ackWait loses its leases to the other; when it
 * thaws, its late settlements are refused, so the transactional outbox stays exactly-once.
 * A member stopped by the OS (SIGSTOP) at a random instant does not break the contract.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import type { ConsumerInfo, StoredEvent } from '../../src/store/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { type Child, assertBuilt, killAllChildren, randomInt, readLines, sleep, startChild, tempDir } from './crash-helpers.js';

const EVENTS = 2_000;

/** Messages of the STATUS lines of a consumer child, by type. */
function statusesOf(child: Child): Array<{ type: string; error?: string }> {
  return child
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('STATUS '))
    .map((line) => JSON.parse(line.slice('STATUS '.length)) as { type: string; error?: string });
}

async function waitUntilSettled(
  store: Awaited<ReturnType<typeof openSqliteStore>>,
  events: number,
  what: string,
): Promise<ConsumerInfo> {
  for (let polls = 0; ; polls++) {
    const info = await store.deliveries.getConsumer('crash-consumer');
    if (info && info.ackFloor >= events && info.inFlight === 0 && info.scheduled === 0) return info;
    if (polls > 300) throw new Error(`${what} did not finish: ${JSON.stringify(info)}`);
    await sleep(100);
  }
}

describe('two consumer processes sharing a subscription name', () => {
  beforeAll(assertBuilt);
  afterEach(killAllChildren);

  it('split the events: each handles some, together all, and no event is handled by both', async () => {
    const { dir, cleanup } = tempDir('group');
    const dbPath = join(dir, 'bus.db');
    const store = await openSqliteStore({ path: dbPath });
    try {
      const members = ['a', 'b'].map((tag) => {
        const sidePath = join(dir, `side-${tag}.txt`);
        return { tag, sidePath, child: startChild('consumer.mjs', [dbPath, sidePath, '4', '30s', '2', 'keepalive']) };
      });
      await Promise.all(members.map((m) => m.child.waitForLine('ready')));

      // Published while both members are listening, in many commits.
      const publisher = await createBus({ store });
      for (let i = 0; i < EVENTS; i += 100) {
        await publisher.publishBatch(
          Array.from({ length: 100 }, (_, j) => ({ topic: 'crash.test', type: 'CrashTask', payload: { index: i + j } })),
        );
        await sleep(5);
      }
      await publisher.close();

      const info = await waitUntilSettled(store, EVENTS, 'the members');
      for (const m of members) m.child.proc.kill('SIGTERM');
      for (const m of members) expect((await m.child.exited).code, m.child.stderr()).toBe(0);

      const handledBy = members.map((m) => readLines(m.sidePath).map(Number));
      const [a, b] = handledBy as [number[], number[]];
      const inA = new Set(a);
      const inB = new Set(b);
      expect(a.length - inA.size, 'indexes member a handled twice').toBe(0);
      expect(b.length - inB.size, 'indexes member b handled twice').toBe(0);
      expect(
        a.filter((index) => inB.has(index)),
        'indexes handled by both members',
      ).toEqual([]);
      expect(inA.size + inB.size).toBe(EVENTS);
      expect(inA.size).toBeGreaterThan(0);
      expect(inB.size).toBeGreaterThan(0);

      const handled: StoredEvent[] = [];
      for await (const e of store.read({ type: 'Handled' })) handled.push(e);
      expect(new Set(handled.map((e) => (e.envelope.payload as { index: number }).index)).size).toBe(EVENTS);
      expect(handled.length).toBe(EVENTS);

      const refused = members.flatMap((m) =>
        m.child
          .stderr()
          .split('\n')
          .filter((l) => l.startsWith('STATUS ')),
      );
      expect(refused, 'status events (failures, refused settlements)').toEqual([]);
      expect(info).toMatchObject({ redelivered: 0, deadLettered: 0 });
      expect(store.integrityCheck()).toBe('ok');
      console.log(`[crash/group] events=${EVENTS} member a=${inA.size} member b=${inB.size} duplicates=0`);
    } finally {
      await killAllChildren();
      await store.close();
      cleanup();
    }
  });

  it('hand the leases of one frozen past ackWait to the other, and refuse its settlements when it thaws', async () => {
    const { dir, cleanup } = tempDir('freeze');
    const dbPath = join(dir, 'bus.db');
    const store = await openSqliteStore({ path: dbPath });
    try {
      await seed(store, EVENTS);
      const sideA = join(dir, 'side-a.txt');
      const sideB = join(dir, 'side-b.txt');
      const a = startChild('consumer.mjs', [dbPath, sideA, '8', '1s', '2', 'keepalive']);
      await a.waitForLine('ready');
      // A is working through its first window (its window holds up to 256 deliveries) ...
      await waitFor(() => readLines(sideA).length >= 50, 'A to handle 50 events');
      // ... when its event loop freezes (outside any transaction): it cannot renew its leases.
      a.proc.kill('SIGUSR2');
      await a.waitForLine('frozen');
      const handledByABeforeFreeze = readLines(sideA).length;
      const b = startChild('consumer.mjs', [dbPath, sideB, '8', '1s', '2', 'keepalive']);
      await b.waitForLine('ready');
      // While A is frozen, B takes over A's lapsed leases and settles everything.
      const info = await waitUntilSettled(store, EVENTS, 'B alone');
      const handledBeforeThaw = await countHandled(store);
      expect(handledBeforeThaw).toEqual({ total: EVENTS, distinct: EVENTS });

      // A thaws: deliveries it had not started are dropped (their leases were taken over or
      // lapsed); those that were running when it froze finish, and their settlements are refused.
      writeFileSync(`${sideA}.resume`, '');
      await sleep(500);
      for (const c of [a, b]) c.proc.kill('SIGTERM');
      for (const c of [a, b]) expect((await c.exited).code, c.stderr()).toBe(0);

      const handled = await countHandled(store);
      expect(handled, 'Handled events: exactly one per index, none added by the thawed member').toEqual({
        total: EVENTS,
        distinct: EVENTS,
      });
      const sideEffects = [...readLines(sideA), ...readLines(sideB)].map(Number);
      expect(new Set(sideEffects).size).toBe(EVENTS);
      const refused = statusesOf(a).filter((s) => s.type === 'settle_failed');
      const notStarted = statusesOf(a).filter((s) => s.type === 'lease_lost');
      const lateByA = readLines(sideA).length - handledByABeforeFreeze;
      console.log(
        `[crash/freeze] events=${EVENTS} redelivered (taken over from A)=${info.redelivered} ` +
          `side effects A=${readLines(sideA).length} (after thaw ${lateByA}) B=${readLines(sideB).length} ` +
          `duplicates=${sideEffects.length - EVENTS} A settlements refused after thawing=${refused.length} ` +
          `A deliveries dropped unstarted=${notStarted.length}`,
      );
      expect(info.redelivered, 'B took over deliveries of the frozen member').toBeGreaterThan(0);
      expect(refused.length + notStarted.length, 'the thawed member noticed it lost its leases').toBeGreaterThan(0);
      for (const s of refused) expect(s.error).toMatch(/taken over or settled/);
      // What A had not started when it froze is not run after it thaws.
      expect(lateByA, 'handlers A ran after thawing').toBeLessThanOrEqual(8);
      expect(statusesOf(a).filter((s) => s.type !== 'settle_failed' && s.type !== 'lease_lost')).toEqual([]);
      expect(statusesOf(b)).toEqual([]);
      expect(info).toMatchObject({ deadLettered: 0 });
      expect(store.integrityCheck()).toBe('ok');
    } finally {
      await killAllChildren();
      await store.close();
      cleanup();
    }
  });

  it('handle every event at least once and publish Handled exactly once when one is stopped (SIGSTOP) at a random instant', async () => {
    // A process stopped by the OS may be inside a write transaction: it then holds the
    // database's write lock and the other member waits (busy_timeout) until it continues.
    // Whatever the instant, the delivery contract must hold.
    const { dir, cleanup } = tempDir('sigstop');
    const dbPath = join(dir, 'bus.db');
    const store = await openSqliteStore({ path: dbPath });
    try {
      await seed(store, EVENTS);
      const sideA = join(dir, 'side-a.txt');
      const sideB = join(dir, 'side-b.txt');
      const a = startChild('consumer.mjs', [dbPath, sideA, '8', '1s', '2', 'keepalive']);
      const b = startChild('consumer.mjs', [dbPath, sideB, '8', '1s', '2', 'keepalive']);
      await Promise.all([a.waitForLine('ready'), b.waitForLine('ready')]);
      // A random instant while both work (after a random share of the events was handled).
      const stopAfter = randomInt(100, EVENTS / 2);
      await waitFor(() => readLines(sideA).length + readLines(sideB).length >= stopAfter, `${stopAfter} events handled`);
      a.proc.kill('SIGSTOP');
      await sleep(2_500); // longer than ackWait
      a.proc.kill('SIGCONT');
      const info = await waitUntilSettled(store, EVENTS, 'the members');
      for (const c of [a, b]) c.proc.kill('SIGTERM');
      for (const c of [a, b]) expect((await c.exited).code, c.stderr()).toBe(0);

      expect(await countHandled(store)).toEqual({ total: EVENTS, distinct: EVENTS });
      const sideEffects = [...readLines(sideA), ...readLines(sideB)].map(Number);
      expect(new Set(sideEffects).size).toBe(EVENTS);
      const status = [...statusesOf(a), ...statusesOf(b)];
      expect(status.filter((s) => s.type === 'handler_failed')).toEqual([]);
      expect(info).toMatchObject({ deadLettered: 0 });
      expect(store.integrityCheck()).toBe('ok');
      const kinds = new Map<string, number>();
      for (const s of status) kinds.set(s.type, (kinds.get(s.type) ?? 0) + 1);
      console.log(
        `[crash/sigstop] events=${EVENTS} redelivered=${info.redelivered} side effects A=${readLines(sideA).length} ` +
          `B=${readLines(sideB).length} duplicates=${sideEffects.length - EVENTS} statuses=${JSON.stringify(Object.fromEntries(kinds))}`,
      );
    } finally {
      await killAllChildren();
      await store.close();
      cleanup();
    }
  });
});

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let polls = 0; !condition(); polls++) {
    if (polls > 1000) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function seed(store: Awaited<ReturnType<typeof openSqliteStore>>, events: number): Promise<void> {
  const bus = await createBus({ store });
  for (let i = 0; i < events; i += 1000) {
    await bus.publishBatch(
      Array.from({ length: Math.min(1000, events - i) }, (_, j) => ({
        topic: 'crash.test',
        type: 'CrashTask',
        payload: { index: i + j },
      })),
    );
  }
  await bus.close();
}

async function countHandled(store: Awaited<ReturnType<typeof openSqliteStore>>): Promise<{ total: number; distinct: number }> {
  const indexes = new Set<number>();
  let total = 0;
  for await (const e of store.read({ type: 'Handled' })) {
    total++;
    indexes.add((e.envelope.payload as { index: number }).index);
  }
  return { total, distinct: indexes.size };
}
