/**
 * Retention through the bus (ADR 0018): the `retention` option, the background pruner,
 * `bus.prune`, and that nothing a subscription, a dead letter or a stream still needs goes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type BusStatus, type Envelope, NonRetryableError, createBus, isAgentbusError, statusSnapshot } from '../../src/index.js';
import { createTestBus } from '../../src/testing.js';
import { collect, items, sleep, within } from '../conformance/fixtures.js';

type TestBus = Awaited<ReturnType<typeof createTestBus>>;
const buses: TestBus[] = [];
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.dispose();
});

async function openBus(options: Parameters<typeof createTestBus>[0] = {}): Promise<TestBus> {
  const bus = await createTestBus(options);
  buses.push(bus);
  return bus;
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  await within(
    (async () => {
      while (!(await check())) await sleep(10);
    })(),
    10_000,
    what,
  );
}

const publishMany = (bus: TestBus, n: number, topic = 'project.tasks') =>
  bus.publishBatch(Array.from({ length: n }, (_, i) => ({ topic, type: 'TaskCompletedEvent', payload: { n: i } })));

const stored = async (bus: TestBus) => (await collect(bus.events())).map((e) => e.seq);

describe('retention option', () => {
  it.each([
    [{ maxAge: 'soon' }, 'retention.maxAge'],
    [{ maxAge: 0 }, 'retention.maxAge'],
    [{ maxEvents: 0 }, 'retention.maxEvents'],
    [{ maxEvents: 2.5 }, 'retention.maxEvents'],
    [{ maxEvents: 10, interval: -5 }, 'retention.interval'],
    [{ maxEvents: 10, keep: 'all' }, 'retention.keep'],
    [{}, 'retention'],
    ['30d', 'retention'],
  ])('createBus refuses retention %j naming %s', async (retention, field) => {
    const error = await createBus({ path: ':memory:', retention: retention as never }).catch((e: unknown) => e);
    expect(isAgentbusError(error, 'OPTIONS_INVALID')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toBe(field);
  });

  it('accepts durations and counts and reports them in ms', async () => {
    const bus = await openBus({ retention: { maxAge: '30d', maxEvents: 1_000_000, interval: '1m' } });
    expect(bus.retentionPolicy).toEqual({ maxAgeMs: 30 * 86_400_000, maxEvents: 1_000_000, intervalMs: 60_000 });
  });

  it('without the option the log keeps everything, and bus.prune needs a limit', async () => {
    const bus = await openBus();
    await publishMany(bus, 5);
    expect(bus.retentionPolicy).toBeUndefined();
    const error = await bus.prune().catch((e: unknown) => e);
    expect(isAgentbusError(error, 'OPTIONS_INVALID')).toBe(true);
    expect(await stored(bus)).toHaveLength(5);
    expect(await bus.prune({ maxEvents: 2 })).toMatchObject({ pruned: 3, firstRetained: 4 });
  });

  it('the background pruner prunes on its interval and says so in a status event', async () => {
    const bus = await openBus({ retention: { maxEvents: 5, interval: 20 } });
    const statuses: BusStatus[] = [];
    bus.onStatus((s) => statuses.push(s));
    await publishMany(bus, 30);
    await until(async () => (await bus.store.retention.info()).firstRetained === 26, 'background prune');
    expect(await stored(bus)).toEqual([26, 27, 28, 29, 30]);
    await until(() => statuses.some((s) => s.type === 'retention_pruned'), 'retention_pruned status');
  });
});

describe('pruning never loses what is still needed', () => {
  it("a lagging subscription's unsettled events survive pruning and are all delivered", async () => {
    const bus = await openBus();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const seen: number[] = [];
    await bus.subscribe({
      name: '/slow-worker',
      topic: 'project.tasks',
      handler: async (e) => {
        await gate;
        seen.push((e.payload as { n: number }).n);
      },
    });
    await publishMany(bus, 10);
    await until(async () => ((await bus.subscriptions.get('/slow-worker'))?.inFlight ?? 0) > 0, 'first delivery');
    const held = await bus.prune({ maxEvents: 1 });
    expect(held.pruned).toBe(0);
    expect(held.heldBy).toMatchObject({ kind: 'subscription', name: '/slow-worker', seq: 1 });
    release();
    await until(() => seen.length === 10, 'all ten delivered');
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await until(async () => (await bus.prune({ maxEvents: 1 })).firstRetained === 10, 'prune once settled');
  });

  it('a paused subscription holds retention back until it resumes, then gets every event it had not reached', async () => {
    const bus = await openBus();
    const seen: number[] = [];
    const sub = await bus.subscribe({
      name: '/reporter',
      topic: 'project.tasks',
      handler: (e) => {
        seen.push((e.payload as { n: number }).n);
      },
    });
    await bus.subscriptions.pause('/reporter');
    await publishMany(bus, 8);
    const result = await bus.prune({ maxEvents: 2 });
    expect(result).toMatchObject({ pruned: 0, heldBy: { kind: 'subscription', name: '/reporter', paused: true } });
    expect((await statusSnapshot(bus)).retention?.heldBy[0]).toMatchObject({ name: '/reporter', paused: true });
    await bus.subscriptions.resume('/reporter');
    await until(() => seen.length === 8, 'caught up');
    await sub.close();
  });

  it('an open dead letter is replayable after its event was pruned from the log around it', async () => {
    const bus = await openBus({ retry: { max_retries: 0 } });
    let broken = true;
    const handled: Envelope[] = [];
    await bus.subscribe({
      name: '/deployer',
      topic: 'deploy.>',
      handler: (e) => {
        if (broken && (e.payload as { bad?: boolean }).bad) throw new NonRetryableError('registry down');
        handled.push(e);
      },
    });
    await bus.publish({ topic: 'deploy.prod', type: 'DeployCommand', payload: { bad: true } });
    await publishMany(bus, 5, 'deploy.prod');
    await until(async () => (await bus.deadLetters.list()).length === 1 && handled.length === 5, 'dead letter');
    await publishMany(bus, 4, 'deploy.prod');
    await until(() => handled.length === 9, 'later events handled');

    const result = await bus.prune({ maxEvents: 1 });
    expect(result.firstRetained).toBe(await bus.store.head());
    const [letter] = await bus.deadLetters.list();
    expect(letter?.status).toBe('open');
    expect(await bus.getEvent(letter?.event.envelope.event.id as string)).toBeDefined();

    broken = false;
    await bus.deadLetters.replay([letter?.id as number]);
    await until(() => handled.length === 10, 'replayed');
    expect(handled[9]?.event.id).toBe(letter?.event.envelope.event.id);
  });

  it('a subscription created after a prune with start earliest begins at the first retained event', async () => {
    const bus = await openBus();
    await publishMany(bus, 10);
    const { firstRetained } = await bus.prune({ maxEvents: 3 });
    expect(firstRetained).toBe(8);
    const seen: number[] = [];
    await bus.subscribe({ name: 'late', topic: '>', start: 'earliest', handler: (_e, ctx) => void seen.push(ctx.seq) });
    await until(() => seen.length === 3, 'three retained events');
    expect(seen).toEqual([8, 9, 10]);
    // A reset below the first retained position begins there too.
    expect((await bus.subscriptions.reset('late', 1)).nextSeq).toBe(8);
  });

  it('events of an event-sourced stream are kept whatever the policy', async () => {
    const bus = await openBus();
    await bus.store.streams.append('order-7', items(3));
    await publishMany(bus, 5);
    expect(await bus.prune({ maxEvents: 1 })).toMatchObject({ pruned: 4, firstRetained: 8 });
    expect((await collect(bus.store.streams.read('order-7'))).map((e) => e.version)).toEqual([1, 2, 3]);
  });
});
