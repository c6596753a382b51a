import { afterEach, describe, expect, it } from 'vitest';
import { defineAgent, getAgent, listAgents } from '../../src/agents/index.js';
import { SYSTEM_EVENTS, SYSTEM_TOPICS } from '../../src/envelope/index.js';
import { collect } from '../conformance/fixtures.js';
import { type Harness, eventually, harness, waitForEvents } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.dispose();
  h = undefined;
});

describe('agent health', () => {
  it('sends heartbeats as AgentHealthEvent on system.agents with the counts', async () => {
    h = await harness({ heartbeatInterval: '100ms' });
    const { bus, runtime } = h;
    await runtime.start(
      defineAgent({
        name: '/backend-architect',
        subscriptions: [
          { topic: 'project.tasks', filter: 'type=UserStoryApproved', handler: (_e, ctx) => ctx.publish('APIDesignStarted', {}) },
        ],
      }),
    );
    await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved' });
    await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved' });
    await waitForEvents(bus, 'APIDesignStarted', 2);
    const beat = await eventually(async () => {
      const beats = (await collect(bus.events({ topic: SYSTEM_TOPICS.agents, type: SYSTEM_EVENTS.AgentHealth }))).map(
        (e) => e.envelope,
      );
      return beats.find((b) => (b.payload as { consumed: number }).consumed === 2);
    }, 'a heartbeat counting both events');
    expect(beat.event.source).toBe('/backend-architect');
    expect(beat.payload).toMatchObject({
      agent: '/backend-architect',
      state: 'running',
      instance: runtime.instance,
      subscriptions: ['/backend-architect'],
      published: 2,
      consumed: 2,
      processing: 0,
      failed: 0,
      interval_ms: 100,
    });
  });

  it("lists each agent's state, subscriptions and counts from the state area", async () => {
    h = await harness({ heartbeatInterval: '1h' });
    const { bus, runtime } = h;
    const worker = await runtime.start(
      defineAgent({
        name: '/python-pro',
        subscriptions: [
          {
            key: 'impl',
            topic: 'project.tasks',
            filter: 'type=APIDesignCompleted',
            handler: (_e, ctx) => ctx.publish('BackendImplementationStarted', {}),
          },
          { key: 'alerts', topic: 'project.alerts', filter: 'severity=high', action: 'pause' },
        ],
      }),
    );
    await bus.publish({ topic: 'project.tasks', type: 'APIDesignCompleted' });
    await waitForEvents(bus, 'BackendImplementationStarted');
    await eventually(() => worker.counts().consumed === 1, 'the count');
    await runtime.heartbeat();
    const [record] = await listAgents(bus.store);
    expect(record).toMatchObject({ name: '/python-pro', state: 'running', published: 1, consumed: 1, processing: 0, failed: 0 });
    expect(record?.subscriptions).toEqual([
      { name: '/python-pro:impl', topic: 'project.tasks', filter: 'type=APIDesignCompleted', runs: 'handler', inbox: false },
      { name: '/python-pro:alerts', topic: 'project.alerts', filter: 'severity=high', runs: 'pause', inbox: false },
    ]);
    expect(record?.instances).toEqual([expect.objectContaining({ id: runtime.instance, state: 'running', pid: process.pid })]);

    // Paused is reported at once (no need to wait for the interval), with the reason.
    await worker.pause('assessing a blocker');
    const paused = await eventually(async () => {
      const a = await getAgent(bus.store, '/python-pro');
      return a?.state === 'paused' ? a : undefined;
    }, 'the paused state');
    expect(paused.instances[0]?.reason).toBe('assessing a blocker');

    // Heartbeats from later runs add to the totals.
    await worker.resume();
    await bus.publish({ topic: 'project.tasks', type: 'APIDesignCompleted' });
    await waitForEvents(bus, 'BackendImplementationStarted', 2);
    await eventually(() => worker.counts().consumed === 2, 'the second count');
    await runtime.close();
    const stopped = await getAgent(bus.store, '/python-pro');
    expect(stopped).toMatchObject({ state: 'stopped', published: 2, consumed: 2, processing: 0 });
  });

  it('shows an agent as unhealthy once it misses its heartbeats', async () => {
    h = await harness({ heartbeatInterval: '1s', missedHeartbeats: 3 });
    const { bus, runtime } = h;
    await runtime.start(defineAgent({ name: '/ux-designer', subscriptions: [{ topic: 'project.tasks', handler: () => {} }] }));
    const now = Date.now();
    expect((await getAgent(bus.store, '/ux-designer', { now }))?.state).toBe('running');
    const later = await getAgent(bus.store, '/ux-designer', { now: now + 10_000 });
    expect(later?.state).toBe('unhealthy');
    expect(later?.processing).toBe(0);
    expect(later?.instances[0]?.reason).toMatch(/^no heartbeat for \d+ s \(every 1 s expected\)$/);
    expect((await getAgent(bus.store, '/ux-designer', { now: now + 10_000, missedHeartbeats: 20 }))?.state).toBe('running');
  });
});
