/**
 * NATS server restarted under load: a private nats-server (its own port and store
 * directory), a bus on the NATS transport with the recorder on (history in SQLite), publishers
 * and a consumer running; the server is stopped (SIGTERM, a graceful shutdown) or killed
 * (SIGKILL, a crash of the process, not of the machine) for two seconds and started again on
 * the same port and store.
 *
 * Holds: publishes that resolved, before or after the restart, are delivered and recorded;
 * publishes during the outage resolve after the reconnect or reject with
 * `BACKEND_UNAVAILABLE`, never hang; the consumer resumes by itself; nothing unhandled in the
 * process; `close()` completes. And with no server at all, `createBus` fails at once with an
 * error naming it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import type { BusStatus } from '../../src/bus/index.js';
import { isAgentbusError } from '../../src/errors.js';
import type { EventStore } from '../../src/store/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { type NatsTransport, type NatsTransportStatus, createNatsTransport } from '../../src/transport/nats/index.js';
import { type PrivateNatsServer, freePort, natsServerBinary, startPrivateNatsServer } from '../support/nats.js';
import { captureProcessErrors } from '../support/process-errors.js';
import { PublishLedger, sleep, tally, waitFor, within } from './outage-helpers.js';

const binary = natsServerBinary('the NATS outage tests');
const OUTAGE_MS = 2_000;

async function indexesOf(store: EventStore, topic: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of store.read({ topic })) out.push((e.envelope.payload as { index: number }).index);
  return out;
}

describe.skipIf(!binary)('NATS server restarted under load', () => {
  let server: PrivateNatsServer | undefined;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentbus-nats-outage-'));
  });
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  // SIGTERM: a graceful restart. SIGKILL: the server process crashes; nats-server 2.9 has
  // written what it acknowledged to its files (not synced), so the kernel keeps it.
  it.each([
    ['SIGTERM', 'stopped'],
    ['SIGKILL', 'killed'],
  ] as const)(
    '%s: delivers and records every publish acknowledged before or after the server was %s, never hangs a publish, and resumes consuming by itself',
    {
      timeout: 120_000,
    },
    async (signal, _how) => {
      server = await startPrivateNatsServer();
      const nats = server;
      const processErrors = captureProcessErrors();
      const store = await openSqliteStore({ path: join(dir, `restart-${signal}.db`) });
      const transportStatus: NatsTransportStatus[] = [];
      const busStatus: BusStatus[] = [];
      let transport: NatsTransport | undefined;
      let bus: Awaited<ReturnType<typeof createBus>> | undefined;
      const ledger = new PublishLedger(40_000);
      let stop = false;
      const publishers: Array<Promise<void>> = [];
      try {
        transport = await createNatsTransport({
          servers: nats.url,
          store,
          stream: 'OUTAGE',
          subjectPrefix: 'outage',
          onStatus: (s) => transportStatus.push(s),
        });
        const open = { transport };
        bus = await createBus({ store, transport });
        const publisher = bus;
        bus.onStatus((s) => busStatus.push(s));
        const handled: number[] = [];
        const handledAt = new Map<number, number>();
        await bus.subscribe({
          name: 'outage-nats',
          topic: 'outage.nats',
          start: 'earliest',
          concurrency: 8,
          ackWait: '10s',
          handler: async (event) => {
            const { index } = event.payload as { index: number };
            handled.push(index);
            if (!handledAt.has(index)) handledAt.set(index, Date.now());
          },
        });

        let next = 0;
        const publishOne = async () => {
          const index = next++;
          await ledger.track([index], () => publisher.publish({ topic: 'outage.nats', type: 'OutageTask', payload: { index } }));
        };
        const publishTen = async () => {
          const keys = Array.from({ length: 10 }, () => next++);
          await ledger.track(keys, () =>
            publisher.publishBatch(keys.map((index) => ({ topic: 'outage.nats', type: 'OutageTask', payload: { index } }))),
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

        await waitFor(() => ledger.resolved.length >= 300 && handled.length >= 100, 'the load to get going');
        const resolvedBefore = new Set(ledger.resolved);
        const inFlightAtStop = ledger.inFlight;
        await nats.stop(signal);
        await sleep(OUTAGE_MS);
        await nats.start();
        const restartedAt = Date.now();
        const firstAfter = next;
        const resolvedAtRestart = ledger.resolved.length;
        // Well within the long poll (30 s): the consumer asks again on reconnect.
        await waitFor(() => handled.some((i) => i >= firstAfter), 'the consumer to resume after the restart', 20_000);
        await waitFor(() => ledger.resolved.length >= resolvedAtRestart + 300, 'publishes to resolve again after the restart');
        const publishRecoveryMs = Date.now() - restartedAt;
        stop = true;
        await within(Promise.all(publishers), 60_000, 'the publishers');

        const resolved = new Set(ledger.resolved);
        await waitFor(
          () => {
            const seen = new Set(handled);
            return [...resolved].every((i) => seen.has(i));
          },
          () => `every resolved publish to be handled (${[...resolved].filter((i) => !handled.includes(i)).length} missing)`,
          60_000,
        );
        const resumedAt = Math.min(...[...handledAt].filter(([i]) => i >= firstAfter).map(([, at]) => at));
        // History, read from the store (not waitForHistory: an ack lost in the shutdown keeps a
        // recorded message pending at the server until the recorder's ack_wait, 60 s).
        let recorded = new Map<number, number>();
        await waitFor(
          async () => {
            recorded = tally(await indexesOf(store, 'outage.nats'));
            return [...resolved].every((i) => recorded.has(i));
          },
          () => `history to hold every resolved publish (${[...resolved].filter((i) => !recorded.has(i)).length} missing)`,
          60_000,
        );
        const historyAfterMs = Date.now() - restartedAt;

        await within(bus.close(), 30_000, 'bus.close()');
        await within(open.transport.close(), 30_000, 'transport.close()');
        transport = undefined;
        bus = undefined;

        const handledCount = tally(handled);
        const rejectedKeys = ledger.rejected.flatMap((r) => r.keys);
        const count = (type: string) => [...busStatus, ...transportStatus].filter((s) => s.type === type).length;
        console.log(
          `[outage/nats ${signal}] published=${next} resolved=${resolved.size} (before the stop ${resolvedBefore.size}) rejected=${rejectedKeys.length} ` +
            `(${rejectedKeys.filter((i) => recorded.has(i)).length} stored anyway) hung=${ledger.hung.length} in flight at stop=${inFlightAtStop} ` +
            `handled=${handled.length} duplicates=${handled.length - handledCount.size} recorded=${recorded.size} ` +
            `disconnected=${count('disconnected')} reconnected=${count('reconnected')} fetch_failed=${count('fetch_failed')} ` +
            `settle_failed=${count('settle_failed')} recorder_failed=${count('recorder_failed')} ` +
            `publish recovery=${publishRecoveryMs} ms consumer resumed after=${resumedAt - restartedAt} ms history complete after=${historyAfterMs} ms; rejections: ${ledger.rejectionSummary()}`,
        );

        expect(processErrors.errors, 'unhandled rejections and uncaught exceptions').toEqual([]);
        expect(ledger.hung, 'publishes that never settled').toEqual([]);
        expect(ledger.unclearRejections(['BACKEND_UNAVAILABLE']), 'rejections without a clear error').toEqual([]);
        expect(
          [...resolved].filter((i) => !handledCount.has(i)),
          'resolved publishes never handled',
        ).toEqual([]);
        expect(
          [...resolved].filter((i) => recorded.get(i) !== 1),
          'resolved publishes not in history exactly once',
        ).toEqual([]);
      } finally {
        stop = true;
        await Promise.allSettled(publishers);
        if (bus) await within(bus.close(), 30_000, 'bus.close()').catch(() => {});
        if (transport) await within(transport.close(), 30_000, 'transport.close()').catch(() => {});
        await store.close();
        processErrors.dispose();
      }
    },
  );

  it('an idle consumer resumes after a restart at once, not when its long poll would have ended', {
    timeout: 60_000,
  }, async () => {
    server = await startPrivateNatsServer();
    const nats = server;
    const store = await openSqliteStore({ path: join(dir, 'idle.db') });
    const transportStatus: NatsTransportStatus[] = [];
    const transport = await createNatsTransport({
      servers: nats.url,
      store,
      stream: 'IDLE',
      subjectPrefix: 'idle',
      recorder: false,
      onStatus: (s) => transportStatus.push(s),
    });
    const bus = await createBus({ store, transport });
    try {
      const handled: string[] = [];
      await bus.subscribe({ name: 'idle', topic: 'idle.t', handler: (e) => void handled.push(e.event.id) });
      const before = await bus.publish({ topic: 'idle.t', type: 'Before', payload: {} });
      await waitFor(() => handled.includes(before.event.id), 'the first event', 10_000);
      await sleep(300); // caught up: the member now waits in a long poll at the server
      await nats.stop('SIGTERM');
      await nats.start();
      await waitFor(() => transportStatus.some((s) => s.type === 'reconnected'), 'the reconnect', 20_000);
      const reconnectedAt = Date.now();
      const after = await bus.publish({ topic: 'idle.t', type: 'After', payload: {} });
      // The long poll lasts 30 s (the default): a member waiting it out would miss this.
      await waitFor(() => handled.includes(after.event.id), 'the event published after the restart', 15_000);
      console.log(`[outage/nats] idle consumer: handled ${Date.now() - reconnectedAt} ms after the reconnect`);
    } finally {
      await within(bus.close(), 30_000, 'bus.close()');
      await within(transport.close(), 30_000, 'transport.close()');
      await store.close();
    }
  });

  it('with the server gone, a publish rejects with BACKEND_UNAVAILABLE and close() completes', {
    timeout: 90_000,
  }, async () => {
    server = await startPrivateNatsServer();
    const nats = server;
    const processErrors = captureProcessErrors();
    const store = await openSqliteStore({ path: join(dir, 'gone.db') });
    const transport = await createNatsTransport({ servers: nats.url, store, stream: 'GONE', subjectPrefix: 'gone' });
    const bus = await createBus({ store, transport });
    try {
      await bus.subscribe({ name: 'gone', topic: 'gone.t', handler: () => {} });
      await bus.publish({ topic: 'gone.t', type: 'Before', payload: {} });
      await nats.stop('SIGTERM');
      const started = Date.now();
      const error = await within(
        bus.publish({ topic: 'gone.t', type: 'Meanwhile', payload: {} }).catch((e: unknown) => e),
        60_000,
        'a publish with the server gone',
      );
      const rejectedAfter = Date.now() - started;
      expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE'), String(error)).toBe(true);
      expect((error as Error).message, 'the error names the server').toContain(`127.0.0.1:${nats.port}`);
      const closing = Date.now();
      await within(bus.close(), 30_000, 'bus.close() with the server gone');
      await within(transport.close(), 30_000, 'transport.close() with the server gone');
      console.log(
        `[outage/nats] server gone: publish rejected after ${rejectedAfter} ms (${(error as Error).message}); close took ${Date.now() - closing} ms`,
      );
      expect(processErrors.errors, 'unhandled rejections and uncaught exceptions').toEqual([]);
    } finally {
      await within(bus.close(), 30_000, 'bus.close()').catch(() => {});
      await within(transport.close(), 30_000, 'transport.close()').catch(() => {});
      await store.close();
      processErrors.dispose();
    }
  });

  it('createBus with the server down fails at once with BACKEND_UNAVAILABLE naming the server', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    const error = await within(
      createBus({ store: { sqlite: join(dir, 'down.db') }, transport: { nats: url } }).catch((e: unknown) => e),
      30_000,
      'createBus with no server',
    );
    expect(isAgentbusError(error, 'BACKEND_UNAVAILABLE'), String(error)).toBe(true);
    expect((error as Error).message).toContain(url);
    console.log(
      `[outage/nats] createBus with no server at ${url} failed after ${Date.now() - started} ms: ${(error as Error).message}`,
    );
  });
});
