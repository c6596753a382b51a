/**
 * PostgreSQL connections terminated under load: a publishing bus and two consuming buses
 * (each on a store of its own, as separate processes would be) run on one database while
 * every backend connected to it is terminated several times (`pg_terminate_backend`, what a
 * server restart or a failover does to clients), and then the database refuses connections
 * for a moment (the server away).
 *
 * Holds: every publish that resolved is in the log exactly once and handled at least once;
 * a publish in flight during a kill resolves or rejects with `BACKEND_UNAVAILABLE`, never
 * hangs; the events a handler publishes commit with its ack (exactly one per event); the
 * buses recover by themselves, wake-ups included (the safety check is set far beyond the
 * test, so only LISTEN/NOTIFY can wake the consumers); nothing is left unhandled in the
 * process; `close()` completes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import type { BusStatus } from '../../src/bus/index.js';
import type { EventStore } from '../../src/store/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { type TestDatabase, refuseConnections, terminateBackends, testPostgres } from '../support/postgres.js';
import { captureProcessErrors } from '../support/process-errors.js';
import { PublishLedger, sleep, tally, waitFor, within } from './outage-helpers.js';

const server = await testPostgres();

/** Kills during the run, and how far apart. */
const KILLS = 4;
const KILL_GAP_MS = 700;
/** Far beyond the test: a consumer that is woken at all is woken by LISTEN/NOTIFY. */
const NO_SAFETY_CHECK_MS = 600_000;

async function indexesOf(store: EventStore, topic: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of store.read({ topic })) out.push((e.envelope.payload as { index: number }).index);
  return out;
}

describe.skipIf(!server.available)(`PostgreSQL connections terminated under load ${server.skipReason}`, () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await server.createDatabase('agentbus_outage');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('lose no acknowledged publish, never hang a publish, and recover delivery and wake-ups by themselves', {
    timeout: 120_000,
  }, async () => {
    const processErrors = captureProcessErrors();
    const stores: EventStore[] = [];
    const open = async () => {
      const store = await openPostgresStore({ url: db.url, poolSize: 4, safetyCheckMs: NO_SAFETY_CHECK_MS });
      stores.push(store);
      return store;
    };
    const statuses: BusStatus[] = [];
    const ledger = new PublishLedger(30_000);
    let stop = false;
    const publishers: Array<Promise<void>> = [];
    const buses: Array<{ close(): Promise<void> }> = [];
    try {
      const publisher = await createBus({ store: await open() });
      buses.push(publisher);
      const handled: number[] = [];
      const consumers = await Promise.all(
        ['a', 'b'].map(async (member) => {
          const bus = await createBus({ store: await open() });
          buses.push(bus);
          bus.onStatus((s) => statuses.push(s));
          await bus.subscribe({
            name: 'outage',
            topic: 'outage.pg',
            start: 'earliest',
            concurrency: 8,
            ackWait: '5s',
            handler: async (event, ctx) => {
              const { index } = event.payload as { index: number };
              handled.push(index);
              // Committed with the ack: exactly one per event, whatever the kills did.
              await ctx.publish('OutageHandled', { index, member }, { topic: 'outage.handled' });
            },
          });
          return bus;
        }),
      );

      let next = 0;
      const publishOne = async () => {
        const index = next++;
        await ledger.track([index], () => publisher.publish({ topic: 'outage.pg', type: 'OutageTask', payload: { index } }));
      };
      const publishTen = async () => {
        const keys = Array.from({ length: 10 }, () => next++);
        await ledger.track(keys, () =>
          publisher.publishBatch(keys.map((index) => ({ topic: 'outage.pg', type: 'OutageTask', payload: { index } }))),
        );
      };
      for (const step of [publishOne, publishOne, publishTen]) {
        publishers.push(
          (async () => {
            while (!stop) {
              await step();
              await sleep(2);
            }
          })(),
        );
      }

      // Kills while publishing and consuming.
      await waitFor(() => ledger.resolved.length >= 300 && handled.length >= 100, 'the load to get going');
      const terminated: number[] = [];
      let inFlightAtKill = 0;
      for (let k = 0; k < KILLS; k++) {
        inFlightAtKill += ledger.inFlight;
        terminated.push(await terminateBackends(db.name));
        await sleep(KILL_GAP_MS);
      }
      // Then the server away for a moment: open connections end and no new one is accepted.
      // Publishes meanwhile fail at once; the listener keeps trying to reconnect.
      const rejectedBefore = ledger.rejected.length;
      await refuseConnections(db.name, true);
      try {
        terminated.push(await terminateBackends(db.name));
        await waitFor(() => ledger.rejected.length > rejectedBefore, 'a publish to be refused while the server is away');
        await sleep(1_500);
      } finally {
        await refuseConnections(db.name, false);
      }
      const rejectedWhileAway = ledger.rejected.length - rejectedBefore;
      const lastKill = Date.now();
      const resolvedAtLastKill = ledger.resolved.length;
      await waitFor(() => ledger.resolved.length >= resolvedAtLastKill + 300, 'publishes to resolve again after the kills');
      const publishRecoveryMs = Date.now() - lastKill;
      stop = true;
      await within(Promise.all(publishers), 60_000, 'the publishers');

      // After the outage, a new event is delivered by a wake-up (no safety check runs).
      const sentAt = Date.now();
      const final = next++;
      await publisher.publish({ topic: 'outage.pg', type: 'OutageTask', payload: { index: final } });
      await waitFor(() => handled.includes(final), 'the event published after the outage to be handled', 30_000);
      const wakeUpMs = Date.now() - sentAt;

      const resolved = new Set(ledger.resolved);
      resolved.add(final);
      const reader = stores[0] as EventStore;
      const logged = tally(await indexesOf(reader, 'outage.pg'));
      // Everything in the log is handled, rejected publishes that did commit included.
      await waitFor(
        () => {
          const seen = new Set(handled);
          return [...logged.keys()].every((i) => seen.has(i));
        },
        () => `every logged event to be handled (${new Set(handled).size} of ${logged.size})`,
        60_000,
      );
      let missing: number[] = [];
      await waitFor(
        async () => {
          const done = new Set(await indexesOf(reader, 'outage.handled'));
          missing = [...logged.keys()].filter((i) => !done.has(i));
          return missing.length === 0;
        },
        async () =>
          `every handler's ack to commit; missing ${missing.length}: ${missing.slice(0, 20).join(',')}; consumer ${JSON.stringify(
            await reader.deliveries.getConsumer('outage'),
          )}; statuses ${statuses
            .slice(-5)
            .map((s) => JSON.stringify({ ...s, error: 'error' in s ? String(s.error) : undefined }))
            .join(' ')}`,
        60_000,
      );

      await within(Promise.all([publisher, ...consumers].map((bus) => bus.close())), 30_000, 'bus.close()');

      const effects = tally(await indexesOf(reader, 'outage.handled'));
      const handledCount = tally(handled);
      const duplicates = handled.length - handledCount.size;
      const rejectedKeys = ledger.rejected.flatMap((r) => r.keys);
      const committedAnyway = rejectedKeys.filter((i) => logged.has(i)).length;
      const count = (type: BusStatus['type']) => statuses.filter((s) => s.type === type).length;
      console.log(
        `[outage/pg] published=${next} resolved=${resolved.size} rejected=${rejectedKeys.length} (${committedAnyway} committed anyway) hung=${ledger.hung.length} ` +
          `in flight at kills=${inFlightAtKill} terminated=${terminated.join('/')} rejected while away=${rejectedWhileAway} handled=${handled.length} duplicates=${duplicates} ` +
          `fetch_failed=${count('fetch_failed')} settle_failed=${count('settle_failed')} lease_renewal_failed=${count('lease_renewal_failed')} ` +
          `publish recovery=${publishRecoveryMs} ms wake-up after=${wakeUpMs} ms; rejections: ${ledger.rejectionSummary()}`,
      );

      expect(processErrors.errors, 'unhandled rejections and uncaught exceptions').toEqual([]);
      expect(
        terminated.every((n) => n > 0),
        `backends terminated per kill: ${terminated.join('/')}`,
      ).toBe(true);
      expect(ledger.hung, 'publishes that never settled').toEqual([]);
      expect(ledger.unclearRejections(['BACKEND_UNAVAILABLE']), 'rejections without a clear error').toEqual([]);
      expect(
        [...resolved].filter((i) => logged.get(i) !== 1),
        'resolved publishes not in the log exactly once',
      ).toEqual([]);
      expect(
        [...logged].filter(([, n]) => n !== 1),
        'events in the log more than once',
      ).toEqual([]);
      expect(
        [...resolved].filter((i) => !handledCount.has(i)),
        'resolved publishes never handled',
      ).toEqual([]);
      expect(
        [...logged.keys()].filter((i) => effects.get(i) !== 1),
        'events without exactly one effect committed with their ack',
      ).toEqual([]);
    } finally {
      stop = true;
      await Promise.allSettled(publishers);
      await Promise.allSettled(buses.map((bus) => within(bus.close(), 30_000, 'bus.close()')));
      await Promise.allSettled(stores.map((s) => s.close()));
      processErrors.dispose();
    }
  });
  it('close() completes while the database refuses connections', { timeout: 60_000 }, async () => {
    const processErrors = captureProcessErrors();
    const store = await openPostgresStore({ url: db.url, poolSize: 3, connectTimeoutMs: 2_000 });
    const bus = await createBus({ store });
    let refused = false;
    try {
      const handled: number[] = [];
      await bus.subscribe({
        name: 'closing',
        topic: 'outage.closing',
        start: 'earliest',
        concurrency: 4,
        handler: async (event) => {
          handled.push((event.payload as { index: number }).index);
          await sleep(5);
        },
      });
      await bus.publishBatch(
        Array.from({ length: 200 }, (_, index) => ({ topic: 'outage.closing', type: 'T', payload: { index } })),
      );
      await waitFor(() => handled.length >= 20, 'some events to be handled');
      await refuseConnections(db.name, true);
      refused = true;
      await terminateBackends(db.name);
      const started = Date.now();
      await within(bus.close(), 30_000, 'bus.close() with the database away');
      await within(store.close(), 30_000, 'store.close() with the database away');
      console.log(`[outage/pg] close with the database away took ${Date.now() - started} ms`);
      expect(processErrors.errors, 'unhandled rejections and uncaught exceptions').toEqual([]);
    } finally {
      if (refused) await refuseConnections(db.name, false);
      await bus.close().catch(() => {});
      await store.close().catch(() => {});
      processErrors.dispose();
    }
  });
});
