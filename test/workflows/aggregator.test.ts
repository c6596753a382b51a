/**
 * Aggregators on a SQLite bus: the seed's configuration, one durable instance per
 * correlation id, duplicates counted once, timeouts through durable timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/index.js';
import { createManualClock, createTestBus } from '../../src/testing.js';
import {
  AGGREGATORS_NAMESPACE,
  aggregatorStatusLine,
  listAggregatorInstances,
  startAggregator,
} from '../../src/workflows/index.js';
import { eventsOfType, until } from './helpers.js';

const SEED = {
  aggregator_id: 'phase1-complete',
  wait_for: [
    { type: 'APIDesignCompleted', from: '/backend-architect' },
    { type: 'WireframeCompleted', from: '/ux-designer' },
    { type: 'TestPlanCompleted', from: '/test-engineer' },
  ],
  timeout: '2h',
  on_complete: 'Phase1CompletedEvent',
  on_timeout: 'Phase1TimeoutEvent',
  topic: 'project.>',
};

const buses: Array<Bus & { dispose(): Promise<void> }> = [];
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.dispose();
});
async function testBus(options: Parameters<typeof createTestBus>[0] = {}) {
  const bus = await createTestBus(options);
  buses.push(bus);
  return bus;
}

function done(bus: Bus, type: string, source: string, correlationId: string, id?: string) {
  return bus.publish({ topic: 'project.tasks', type, source, correlationId, payload: { by: source }, ...(id ? { id } : {}) });
}

describe('aggregator', () => {
  it('emits on_complete with the collected events once all three arrive, per correlation id', async () => {
    const bus = await testBus();
    const agg = await startAggregator(bus, SEED);
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'project-a');
    await done(bus, 'WireframeCompleted', '/ux-designer', 'project-a');
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'project-b');
    const partial = await until(async () => {
      const i = await agg.instance('project-a');
      return i && i.received.length === 2 ? i : undefined;
    }, 'two events of project-a');
    expect(aggregatorStatusLine(partial)).toBe('2/3 events received, waiting for TestPlanCompleted');
    await done(bus, 'TestPlanCompleted', '/test-engineer', 'project-a');
    const [completed] = await until(async () => {
      const e = await eventsOfType(bus, 'Phase1CompletedEvent');
      return e.length > 0 ? e : undefined;
    }, 'Phase1CompletedEvent');
    const { envelope } = completed as NonNullable<typeof completed>;
    expect(envelope.event.correlation_id).toBe('project-a');
    const payload = envelope.payload as { events: Array<{ event: { type: string } }> };
    expect(payload.events.map((e) => e.event.type)).toEqual(['APIDesignCompleted', 'WireframeCompleted', 'TestPlanCompleted']);
    const b = await agg.instance('project-b');
    expect(b?.status).toBe('waiting');
    expect((await listAggregatorInstances(bus.store, { aggregatorId: 'phase1-complete' })).map((i) => i.correlation_id)).toEqual([
      'project-a',
      'project-b',
    ]);
    // The timeout of the completed instance was cancelled; project-b's remains.
    const timers = [];
    for await (const t of bus.timers.list()) timers.push(t);
    expect(timers).toHaveLength(1);
    await agg.close();
  });

  it('counts a duplicate event once: a repeated id, or a second event for the same entry', async () => {
    const bus = await testBus();
    const agg = await startAggregator(bus, SEED);
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'p', 'evt-api-1');
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'p', 'evt-api-1');
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'p', 'evt-api-2');
    await done(bus, 'WireframeCompleted', '/ux-designer', 'p');
    const instance = await until(async () => {
      const i = await agg.instance('p');
      return i?.received.some((r) => r.type === 'WireframeCompleted') ? i : undefined;
    }, 'wireframe received');
    expect(instance.received.map((r) => r.event_id)).toEqual(['evt-api-1', instance.received[1]?.event_id]);
    expect(instance.received).toHaveLength(2);
    expect(await eventsOfType(bus, 'Phase1CompletedEvent')).toHaveLength(0);
    await agg.close();
  });

  it('emits on_timeout naming what is missing when the durable timer fires', async () => {
    // Starts at the real time: the dispatcher checks leases against the system clock.
    const clock = createManualClock(Date.now());
    const bus = await testBus({ clock });
    const agg = await startAggregator(bus, SEED);
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'late');
    await until(async () => (await agg.instance('late'))?.deadline, 'instance with a deadline');
    clock.advance(2 * 3_600_000 - 1);
    expect(await bus.timers.fireDue()).toBe(0);
    clock.advance(1);
    expect(await bus.timers.fireDue()).toBe(1);
    const [timeout] = await until(async () => {
      const e = await eventsOfType(bus, 'Phase1TimeoutEvent');
      return e.length > 0 ? e : undefined;
    }, 'Phase1TimeoutEvent');
    expect(timeout?.envelope.payload).toMatchObject({
      aggregator_id: 'phase1-complete',
      correlation_id: 'late',
      received: ['APIDesignCompleted'],
      missing: ['WireframeCompleted', 'TestPlanCompleted'],
    });
    expect((await agg.instance('late'))?.status).toBe('timed_out');
    await done(bus, 'WireframeCompleted', '/ux-designer', 'late');
    await done(bus, 'TestPlanCompleted', '/test-engineer', 'late');
    await until(
      async () => (await bus.subscriptions.get(agg.subscription))?.ackFloor === (await bus.store.head()),
      'all handled',
    );
    expect(await eventsOfType(bus, 'Phase1CompletedEvent')).toHaveLength(0);
    await agg.close();
  });

  it('completes N of M (count 2) and any of (count 1)', async () => {
    const bus = await testBus();
    const two = await startAggregator(bus, { ...SEED, aggregator_id: 'two-reviews', count: 2, on_complete: 'TwoOfThree' });
    const any = await startAggregator(bus, {
      ...SEED,
      aggregator_id: 'first-answer',
      count: 1,
      on_complete: 'FirstAnswer',
      on_timeout: undefined,
      timeout: undefined,
    });
    await done(bus, 'TestPlanCompleted', '/test-engineer', 'n');
    await until(async () => (await eventsOfType(bus, 'FirstAnswer')).length === 1, 'any of');
    await done(bus, 'WireframeCompleted', '/ux-designer', 'n');
    await until(async () => (await eventsOfType(bus, 'TwoOfThree')).length === 1, 'two of three');
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'n');
    await until(
      async () => (await bus.subscriptions.get(two.subscription))?.ackFloor === (await bus.store.head()),
      'all handled',
    );
    expect(await eventsOfType(bus, 'TwoOfThree')).toHaveLength(1);
    expect(await eventsOfType(bus, 'FirstAnswer')).toHaveLength(1);
    await two.close();
    await any.close();
  });

  it('resumes an instance after a restart of the bus', async () => {
    const first = await createTestBus();
    const agg = await startAggregator(first, SEED);
    await done(first, 'APIDesignCompleted', '/backend-architect', 'r');
    await done(first, 'WireframeCompleted', '/ux-designer', 'r');
    await until(async () => (await agg.instance('r'))?.received.length === 2, 'two received');
    const path = first.dbPath;
    await first.close();
    const { createBus } = await import('../../src/bus/index.js');
    const second = await createBus({ path });
    try {
      await startAggregator(second, SEED);
      await done(second, 'TestPlanCompleted', '/test-engineer', 'r');
      await until(async () => (await eventsOfType(second, 'Phase1CompletedEvent')).length === 1, 'completion after restart');
    } finally {
      await second.close();
      await first.dispose();
    }
  });
});

describe('aggregator retention (soak)', () => {
  it('deletes instances that ended longer than `retention` ago as it handles events; waiting ones stay', async () => {
    // Regression: every correlation's instance stayed for ever (with the envelopes it
    // collected): the namespace grew by about two records a second in the soak's join.
    const clock = createManualClock(Date.now());
    const bus = await testBus({ clock });
    const agg = await startAggregator(bus, { ...SEED, timeout: '30d' }, { retention: '1h' });
    const count = async () => (await listAggregatorInstances(bus.store, { aggregatorId: SEED.aggregator_id })).length;
    for (let i = 0; i < 20; i++) {
      await done(bus, 'APIDesignCompleted', '/backend-architect', `old-${i}`);
      await done(bus, 'WireframeCompleted', '/ux-designer', `old-${i}`);
      await done(bus, 'TestPlanCompleted', '/test-engineer', `old-${i}`);
    }
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'still-waiting');
    await until(async () => ((await eventsOfType(bus, 'Phase1CompletedEvent')).length === 20 ? true : undefined), '20 completed');
    await agg.idle();
    expect(await count()).toBe(21);
    clock.advance(2 * 3_600_000);
    // The next event prunes in the background: the ended instances go, the waiting one and the new one stay.
    await done(bus, 'APIDesignCompleted', '/backend-architect', 'new');
    await until(async () => ((await count()) === 2 ? true : undefined), 'the ended instances pruned');
    expect((await agg.instance('still-waiting'))?.status).toBe('waiting');
    expect(await bus.store.state.get(AGGREGATORS_NAMESPACE, `${SEED.aggregator_id}/old-0`)).toBeUndefined();
    expect(await agg.prune()).toBe(0);
  });

  it('refuses a retention that is not a positive duration, naming it', async () => {
    const bus = await testBus();
    await expect(startAggregator(bus, SEED, { retention: '0s' })).rejects.toMatchObject({
      code: 'OPTIONS_INVALID',
      details: { field: 'retention' },
    });
  });
});
