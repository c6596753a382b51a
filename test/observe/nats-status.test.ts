/**
 * The status views on NATS read what JetStream knows of each subscription: its durable
 * consumer's backlog (not yet delivered + delivered and not yet acknowledged) is the Lag of
 * By Topic and of `agentbus topics`, and its acknowledgements pending are the Processing of
 * Agent Activity. One consumer listing per view (several views at once share it), none per
 * event. Against the real server (127.0.0.1:4222, or NATS_URL), on a stream of its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsConnection, connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, createBus } from '../../src/index.js';
import { pendingBySubscription, statusSnapshot, topicsOverview } from '../../src/observe/index.js';
import { createApp } from '../../src/server/index.js';
import type { EventStore } from '../../src/store/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { type NatsTransport, createNatsTransport } from '../../src/transport/nats/index.js';
import { NATS_URL, natsForSuite } from '../support/nats.js';
import { until } from './scenarios.js';

const up = await natsForSuite('status views on NATS');

const TASKS = 8;
/** Tasks the gated handler finishes; the next two wait at the gate, the rest are not delivered yet. */
const DONE = 3;
const REVIEWS = 4;

describe.skipIf(!up)(`status views on NATS at ${NATS_URL}`, () => {
  const run = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-nats-status-'));
  let store: EventStore;
  let transport: NatsTransport;
  let bus: Bus;
  let wire: NatsConnection;
  let open: () => void = () => {};
  /** JetStream consumer API requests seen on the wire (LIST and INFO of this stream). */
  const apiRequests: string[] = [];

  beforeAll(async () => {
    store = await openSqliteStore({ path: join(dir, 'history.db') });
    // An event in history that the stream never had: store positions and stream sequences differ by one.
    const local = await createBus({ store });
    await local.publish({ topic: 'elsewhere.before', type: 'Imported', payload: {} });
    await local.close();
    transport = await createNatsTransport({
      servers: NATS_URL,
      store,
      stream: `AB_STATUS_${run}`,
      subjectPrefix: `abstatus-${run}`,
      storage: 'memory',
    });
    bus = await createBus({ store, transport });
    wire = await connect({ servers: NATS_URL });
    wire.subscribe(`$JS.API.CONSUMER.*.${transport.stream}.>`, { callback: (_e, m) => void apiRequests.push(m.subject) });
    wire.subscribe(`$JS.API.CONSUMER.LIST.${transport.stream}`, { callback: (_e, m) => void apiRequests.push(m.subject) });
    await wire.flush();

    // A subscription no process runs now: its durable consumer keeps a backlog of 4.
    const auditor = await bus.subscribe({ name: '/auditor', topic: 'project.reviews', start: 'earliest', handler: () => {} });
    await auditor.close();
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let finished = 0;
    await bus.subscribe({
      name: '/frontend-specialist',
      topic: 'project.tasks',
      start: 'earliest',
      concurrency: 2,
      window: 2,
      handler: async (event) => {
        if ((event.payload as { i: number }).i >= DONE) await gate;
        finished++;
      },
    });
    const source = '/backend-architect';
    await bus.publishBatch(
      Array.from({ length: TASKS }, (_, i) => ({ source, topic: 'project.tasks', type: 'TaskCreated', payload: { i } })),
    );
    await bus.publishBatch(
      Array.from({ length: REVIEWS }, (_, i) => ({ source, topic: 'project.reviews', type: 'ReviewRequested', payload: { i } })),
    );
    await until(async () => finished === DONE, 'the first tasks handled');
    await until(
      async () => (await store.counts.handled()).find((h) => h.consumer === '/frontend-specialist')?.count === DONE,
      'their acknowledgements counted',
    );
    await transport.waitForHistory(20_000);
    await until(async () => {
      const b = await transport.subscriptions.backlog();
      return b.find((s) => s.name === '/frontend-specialist')?.inFlight === 2;
    }, 'two tasks at the gate');
  }, 60_000);

  afterAll(async () => {
    open();
    await bus?.close();
    await wire?.close();
    await transport?.destroy();
    await transport?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads each consumer backlog from JetStream: pending, in flight, positions', async () => {
    const backlog = await transport.subscriptions.backlog();
    const byName = new Map(backlog.map((b) => [b.name, b]));
    expect([...byName.keys()].sort()).toEqual(['/auditor', '/frontend-specialist']);
    expect(byName.get('/auditor')).toMatchObject({ topic: 'project.reviews', pending: REVIEWS, inFlight: 0, ackFloor: 0 });
    expect(byName.get('/frontend-specialist')).toMatchObject({
      topic: 'project.tasks',
      pending: TASKS - DONE - 2,
      inFlight: 2,
      ackFloor: DONE,
      delivered: DONE + 2,
    });
  });

  it('fills By Topic Consumed and Lag, and Agent Activity Processing, in the status snapshot', async () => {
    const s = await statusSnapshot(bus);
    expect(s.topics.find((t) => t.topic === 'project.tasks')).toEqual({
      topic: 'project.tasks',
      published: TASKS,
      consumed: DONE,
      lag: TASKS - DONE,
      subscriptions: ['/frontend-specialist'],
    });
    expect(s.topics.find((t) => t.topic === 'project.reviews')).toEqual({
      topic: 'project.reviews',
      published: REVIEWS,
      consumed: 0,
      lag: REVIEWS,
      subscriptions: ['/auditor'],
    });
    expect(s.subscriptions.find((x) => x.name === '/frontend-specialist')).toMatchObject({
      handled: DONE,
      pending: TASKS - DONE,
      inFlight: 2,
      settled: DONE,
    });
    expect(s.agents.find((a) => a.agent === '/frontend-specialist')).toMatchObject({ consumed: DONE, processing: 2 });
    expect(s.agents.find((a) => a.agent === '/auditor')).toMatchObject({ consumed: 0, processing: 0 });
    expect(s.health.consumerLag.maxPending).toBe(TASKS - DONE);
  });

  it("counts agentbus subscriptions' Pending from the consumers, not from store positions", async () => {
    const pending = await pendingBySubscription(bus, await bus.subscriptions.list());
    expect(pending.get('/frontend-specialist')).toBe(TASKS - DONE);
    expect(pending.get('/auditor')).toBe(REVIEWS);
  });

  it('shows NATS subscriptions as subscribers with their lag in agentbus topics and GET /v1/topics', async () => {
    const overview = await topicsOverview(bus);
    expect(overview.topics.find((t) => t.topic === 'project.tasks')).toMatchObject({
      subscribers: ['/frontend-specialist'],
      lag: TASKS - DONE,
    });
    expect(overview.topics.find((t) => t.topic === 'project.reviews')).toMatchObject({ subscribers: ['/auditor'], lag: REVIEWS });
    const response = await createApp({ bus }).request('/v1/topics');
    expect(response.status).toBe(200);
    const json = (await response.json()) as { topics: Array<{ topic: string; subscribers: string[]; lag: number | null }> };
    expect(json.topics.find((t) => t.topic === 'project.reviews')).toMatchObject({ subscribers: ['/auditor'], lag: REVIEWS });
  });

  it('asks JetStream once for views taken together, and not at all per event', async () => {
    // Past the short cache of the earlier views.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await wire.flush();
    const list = `$JS.API.CONSUMER.LIST.${transport.stream}`;
    // Reads made at the same time share one request.
    const shared = apiRequests.length;
    await Promise.all([transport.subscriptions.backlog(), transport.subscriptions.backlog(), transport.subscriptions.backlog()]);
    await wire.flush();
    expect(apiRequests.slice(shared)).toEqual([list]);
    // Views ask with one LIST each at most (fewer when they fall within its short cache; on a
    // loaded machine their own store reads may spread them past it), never a request per consumer.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const before = apiRequests.length;
    await Promise.all([statusSnapshot(bus), topicsOverview(bus), statusSnapshot(bus)]);
    await wire.flush();
    const asked = apiRequests.slice(before);
    expect(asked.length).toBeGreaterThanOrEqual(1);
    expect(asked.length).toBeLessThanOrEqual(3);
    expect(new Set(asked)).toEqual(new Set([list]));

    const quiet = apiRequests.length;
    const handled: number[] = [];
    const sub = await bus.subscribe({
      name: 'counter',
      topic: 'project.events',
      start: 'earliest',
      handler: (e) => void handled.push((e.payload as { i: number }).i),
    });
    const created = apiRequests.length;
    await bus.publishBatch(Array.from({ length: 50 }, (_, i) => ({ topic: 'project.events', type: 'Counted', payload: { i } })));
    await until(async () => handled.length === 50, 'fifty events handled');
    await sub.close();
    await wire.flush();
    expect(created - quiet, 'joining a subscription looks its consumer up').toBeGreaterThan(0);
    expect(apiRequests.slice(created), 'consumer API requests while publishing and handling').toEqual([]);
  });
});
