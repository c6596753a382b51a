/**
 * Closing a bus on NATS, on a private nats-server (its own port and store directory).
 *
 * With the server gone, `close()` must not wait for the connection to come back: nothing it
 * would flush can reach a server that is not there. The client tries to reconnect every 2 s;
 * while the server is away a plain TCP listener on its port counts those attempts (and drops
 * them), and `close()` must return before the next one. With the server up, `close()` still
 * sends every acknowledgement before it returns: none is redelivered, and the durable state
 * is intact when the server comes back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, createBus } from '../../src/bus/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { type NatsTransport, type NatsTransportStatus, createNatsTransport } from '../../src/transport/nats/index.js';
import { type PrivateNatsServer, natsServerBinary, startPrivateNatsServer } from '../support/nats.js';
import { captureProcessErrors } from '../support/process-errors.js';
import { waitFor, within } from './outage-helpers.js';

const binary = natsServerBinary('the NATS close tests');

/** A TCP listener on `port` that counts the connections it gets and drops each at once. */
async function connectionCounter(port: number): Promise<{ readonly count: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    count: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe.skipIf(!binary)('closing a bus on NATS', () => {
  let server: PrivateNatsServer | undefined;
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentbus-nats-close-'));
  });
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('with the server gone, returns before the next reconnect attempt, and the durable state is intact once it is back', {
    timeout: 90_000,
  }, async () => {
    server = await startPrivateNatsServer();
    const nats = server;
    const processErrors = captureProcessErrors();
    const path = join(dir, 'gone.db');
    const store = await openSqliteStore({ path });
    const status: NatsTransportStatus[] = [];
    const settings = { servers: nats.url, store, stream: 'CLOSING', subjectPrefix: 'closing' } as const;
    let transport: NatsTransport | undefined = await createNatsTransport({ ...settings, onStatus: (s) => status.push(s) });
    let bus: Bus | undefined = await createBus({ store, transport });
    let counter: Awaited<ReturnType<typeof connectionCounter>> | undefined;
    try {
      const handled: number[] = [];
      const subscription = {
        name: '/closer',
        topic: 'closing.t',
        start: 'earliest',
        ackWait: '10s',
        handler: (e: { payload: unknown }) => void handled.push((e.payload as { i: number }).i),
      } as const;
      await bus.subscribe(subscription);
      await bus.publishBatch(Array.from({ length: 20 }, (_, i) => ({ topic: 'closing.t', type: 'Task', payload: { i } })));
      await waitFor(() => handled.length === 20, 'twenty events handled', 20_000);
      await transport.waitForHistory(20_000);
      const open = transport;
      await waitFor(
        async () => (await open.subscriptions.backlog()).find((b) => b.name === '/closer')?.inFlight === 0,
        'their acknowledgements at the server',
        20_000,
      );

      await nats.stop('SIGTERM');
      await waitFor(() => status.some((s) => s.type === 'disconnected'), 'the transport to notice', 20_000);
      counter = await connectionCounter(nats.port);
      const attempts = counter;
      await waitFor(() => attempts.count() >= 1, 'a reconnect attempt', 20_000);
      const before = attempts.count();
      // Closing a member gives back what it holds, and the transport drains: neither may wait
      // for the connection (it would flush at the next attempt, 2 s on).
      const closing = Date.now();
      await within(bus.close(), 30_000, 'bus.close() with the server gone');
      await within(transport.close(), 30_000, 'transport.close() with the server gone');
      console.log(`[outage/nats] close with the server gone took ${Date.now() - closing} ms`);
      expect(attempts.count() - before, 'reconnect attempts while closing').toBe(0);
      bus = undefined;
      transport = undefined;
      await attempts.close();
      counter = undefined;

      await nats.start();
      transport = await createNatsTransport(settings);
      bus = await createBus({ store, transport });
      const after = transport;
      const durable = (await after.subscriptions.backlog()).find((b) => b.name === '/closer');
      expect(durable, 'the subscription after the restart').toMatchObject({ pending: 0, inFlight: 0, ackFloor: 20 });
      await bus.subscribe(subscription);
      await bus.publish({ topic: 'closing.t', type: 'Task', payload: { i: 20 } });
      await waitFor(() => handled.includes(20), 'the event published after the restart', 20_000);
      await after.waitForHistory(20_000);
      let recorded = 0;
      for await (const _ of store.read({ topic: 'closing.t' })) recorded++;
      expect(recorded, 'history').toBe(21);
      expect([...new Set(handled)].sort((a, b) => a - b)).toEqual(Array.from({ length: 21 }, (_, i) => i));
      expect(processErrors.errors, 'unhandled rejections and uncaught exceptions').toEqual([]);
    } finally {
      await counter?.close();
      if (bus) await within(bus.close(), 30_000, 'bus.close()').catch(() => {});
      if (transport) await within(transport.close(), 30_000, 'transport.close()').catch(() => {});
      await store.close();
      processErrors.dispose();
    }
  });

  it('with the server up, sends every acknowledgement and gives back every unstarted delivery before it returns', {
    timeout: 60_000,
  }, async () => {
    server = await startPrivateNatsServer();
    const store = await openSqliteStore({ path: join(dir, 'up.db') });
    const settings = { servers: server.url, store, stream: 'ACKED', subjectPrefix: 'acked', recorder: false } as const;
    const transport = await createNatsTransport(settings);
    const bus = await createBus({ store, transport });
    let reader: NatsTransport | undefined;
    let again: Bus | undefined;
    try {
      const handled = new Set<number>();
      // A lost acknowledgement or give-back would keep its event in flight for a minute.
      await bus.subscribe({
        name: '/acker',
        topic: 'acked.t',
        start: 'earliest',
        concurrency: 8,
        window: 32,
        ackWait: '60s',
        handler: async (e) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          handled.add((e.payload as { i: number }).i);
        },
      });
      await bus.publishBatch(Array.from({ length: 400 }, (_, i) => ({ topic: 'acked.t', type: 'Task', payload: { i } })));
      // Closed mid-stream: handlers running, deliveries fetched and not started, pulls on their way.
      await waitFor(() => handled.size >= 50, 'fifty events handled', 20_000);
      await bus.close();
      await transport.close();
      const first = handled.size;
      expect(first).toBeLessThan(400);
      reader = await createNatsTransport(settings);
      // Every handled event is acknowledged: what is left is exactly the rest (given back
      // deliveries wait as acknowledgements pending until fetched again).
      const backlog = (await reader.subscriptions.backlog()).find((b) => b.name === '/acker');
      expect((backlog?.pending ?? 0) + (backlog?.inFlight ?? 0), 'events not settled after the close').toBe(400 - first);
      // And every unstarted one was given back: all come again now, not after ackWait.
      again = await createBus({ store, transport: reader });
      const rest = new Set<number>();
      await again.subscribe({
        name: '/acker',
        topic: 'acked.t',
        ackWait: '60s',
        handler: (e) => void rest.add((e.payload as { i: number }).i),
      });
      await waitFor(
        () => rest.size + first >= 400,
        () => `the rest (${400 - first - rest.size} missing)`,
        20_000,
      );
      expect(
        [...rest].filter((i) => handled.has(i)),
        'handled events delivered again',
      ).toEqual([]);
    } finally {
      await again?.close();
      await bus.close().catch(() => {});
      await transport.close().catch(() => {});
      await reader?.close();
      await store.close();
    }
  });
});
