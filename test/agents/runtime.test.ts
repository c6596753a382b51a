import { afterEach, describe, expect, it } from 'vitest';
import { type AgentLogEntry, defineAgent, readCheckpoint } from '../../src/agents/index.js';
import { INTEGRATION_EVENTS, SYSTEM_EVENTS, SYSTEM_TOPICS } from '../../src/envelope/index.js';
import { NonRetryableError } from '../../src/errors.js';
import { FAST_RETRY, type Harness, eventually, harness, history, waitForDeadLetter, waitForEvents } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.dispose();
  h = undefined;
});

describe('agent handler context', () => {
  it('publishes as the agent, keeping the correlation, with causation = the event, committed with the ack', async () => {
    const logs: AgentLogEntry[] = [];
    h = await harness({ log: (e) => logs.push(e) });
    const { bus, runtime } = h;
    const seen: Array<{ attempt: number; aborted: boolean; agent: string }> = [];
    await runtime.start(
      defineAgent({
        name: '/frontend-specialist',
        subscriptions: [
          {
            topic: 'project.tasks',
            filter: 'type=APIDesignCompleted',
            handler: async (event, ctx) => {
              seen.push({ attempt: ctx.attempt, aborted: ctx.signal.aborted, agent: ctx.agent });
              ctx.log.warn('starting UI', { endpoints: (event.payload as { endpoints: number }).endpoints });
              await ctx.publish('UIImplementationStarted', { from: event.event.id });
              await ctx.handoff('/test-engineer', { files: 3 });
              await ctx.checkpoint('ui', { step: 1 });
            },
          },
        ],
      }),
    );
    const root = await bus.publish({
      topic: 'project.tasks',
      type: 'APIDesignCompleted',
      correlationId: 'project-xyz-123',
      payload: { endpoints: 12 },
    });
    const [started] = await waitForEvents(bus, 'UIImplementationStarted');
    expect(started?.event).toMatchObject({
      source: '/frontend-specialist',
      correlation_id: 'project-xyz-123',
      causation_id: root.event.id,
      chain_depth: 1,
      chain_hops: ['/frontend-specialist APIDesignCompleted'],
    });
    expect(started?.routing.topic).toBe('project.tasks');
    const [handoff] = await history(bus, INTEGRATION_EVENTS.AgentHandoff);
    expect(handoff?.payload).toEqual({ from: '/frontend-specialist', to: '/test-engineer', context: { files: 3 } });
    expect(handoff?.routing.deliver_to).toBe('/test-engineer');
    expect(handoff?.event.causation_id).toBe(root.event.id);
    const [checkpoint] = await history(bus, SYSTEM_EVENTS.CheckpointCreated);
    expect(checkpoint?.routing.topic).toBe(SYSTEM_TOPICS.checkpoints);
    expect(checkpoint?.payload).toMatchObject({ agent: '/frontend-specialist', checkpoint: 'ui', data: { step: 1 } });
    expect(await readCheckpoint(bus.store.state, '/frontend-specialist', 'ui')).toEqual({ step: 1 });
    expect(seen).toEqual([{ attempt: 1, aborted: false, agent: '/frontend-specialist' }]);
    expect(logs).toEqual([
      expect.objectContaining({
        level: 'warn',
        agent: '/frontend-specialist',
        message: 'starting UI',
        eventId: root.event.id,
        correlationId: 'project-xyz-123',
        fields: { endpoints: 12 },
      }),
    ]);
  });

  it('discards what a failing attempt published, retries, and dead-letters with ErrorOccurredEvent', async () => {
    h = await harness();
    const { bus, runtime } = h;
    let calls = 0;
    const agent = await runtime.start(
      defineAgent({
        name: '/flaky',
        subscriptions: [
          {
            topic: 'work',
            retry: FAST_RETRY,
            handler: async (_event, ctx) => {
              calls++;
              await ctx.publish('Partial', {});
              if (ctx.attempt < 3) throw new Error(`boom ${ctx.attempt}`);
              throw new NonRetryableError('cannot ever work', { code: 'invalid_payload' });
            },
          },
        ],
      }),
    );
    await bus.publish({ topic: 'work', type: 'Job' });
    const dead = await waitForDeadLetter(bus, '/flaky');
    expect(dead.reason).toBe('invalid_payload');
    expect(calls).toBe(3);
    expect(await history(bus, 'Partial')).toEqual([]);
    const [notice] = await waitForEvents(bus, SYSTEM_EVENTS.ErrorOccurred);
    expect(notice?.payload).toMatchObject({ subscription: '/flaky', reason: 'invalid_payload', dead_lettered: true });
    await eventually(() => agent.counts().failed === 3, 'three failures counted');
    expect(agent.counts()).toMatchObject({ consumed: 0, published: 0, failed: 3, processing: 0 });
  });
});

describe('actions', () => {
  it('pause keeps the position of the work subscriptions and resume catches up', async () => {
    h = await harness();
    const { bus, runtime } = h;
    const handled: number[] = [];
    const agent = await runtime.start(
      defineAgent({
        name: '/frontend-specialist',
        subscriptions: [
          { key: 'tasks', topic: 'project.tasks', handler: (e) => void handled.push((e.payload as { n: number }).n) },
          { key: 'alerts', topic: 'project.alerts', filter: 'severity=high', action: 'pause' },
          { key: 'clear', topic: 'project.alerts', filter: 'type=AllClear', action: 'resume' },
        ],
      }),
    );
    await bus.publish({ topic: 'project.tasks', type: 'Task', payload: { n: 1 } });
    await eventually(() => handled.length === 1, 'the first task');
    await bus.publish({ topic: 'project.alerts', type: 'Blocker', payload: { severity: 'high' } });
    await eventually(() => agent.state === 'paused', 'the agent to pause');
    expect(agent.reason).toMatch(/^Blocker evt-/);
    expect((await bus.subscriptions.get('/frontend-specialist:tasks'))?.paused).toBe(true);
    await bus.publish({ topic: 'project.tasks', type: 'Task', payload: { n: 2 } });
    await bus.publish({ topic: 'project.tasks', type: 'Task', payload: { n: 3 } });
    // A low-severity alert does not match the pause filter; the resume subscription still runs while paused.
    await bus.publish({ topic: 'project.alerts', type: 'AllClear', payload: { severity: 'low' } });
    await eventually(() => agent.state === 'running', 'the agent to resume');
    await eventually(() => handled.length === 3, 'the tasks published while paused');
    expect(handled).toEqual([1, 2, 3]);
  });

  it('pause holds while the agent runs elsewhere too: a restarted runtime starts paused', async () => {
    h = await harness();
    const { bus, runtime } = h;
    const def = defineAgent({ name: '/worker', subscriptions: [{ topic: 'jobs', handler: () => {} }] });
    const agent = await runtime.start(def);
    await agent.pause('maintenance');
    await agent.stop();
    await runtime.heartbeat();
    const again = await runtime.start(def);
    expect(again.state).toBe('paused');
    await again.resume();
    expect(again.state).toBe('running');
    expect((await bus.subscriptions.get('/worker'))?.paused).toBe(false);
  });

  it('follows a pause and a resume made from another process (agentbus subscriptions pause)', async () => {
    h = await harness();
    const { bus, runtime } = h;
    const agent = await runtime.start(defineAgent({ name: '/worker', subscriptions: [{ topic: 'jobs', handler: () => {} }] }));
    await bus.subscriptions.pause('/worker');
    await runtime.heartbeat();
    expect(agent.state).toBe('paused');
    expect(agent.reason).toBe('paused by another process');
    await bus.subscriptions.resume('/worker');
    await runtime.heartbeat();
    expect(agent.state).toBe('running');
  });

  it('forward republishes to a topic or an agent, keeping correlation, causation = the event', async () => {
    h = await harness();
    const { bus, runtime } = h;
    const inbox: string[] = [];
    await runtime.start(
      defineAgent({ name: '/incident-manager', handler: (e) => void inbox.push(e.event.type), subscriptions: [] }),
    );
    await runtime.start(
      defineAgent({
        name: '/router',
        subscriptions: [
          {
            key: 'up',
            topic: 'project.alerts',
            filter: 'severity=critical',
            action: 'forward',
            to: { agent: '/incident-manager' },
          },
          { key: 'copy', topic: 'project.alerts', filter: 'severity=critical', action: 'forward', to: { topic: 'ops.pager' } },
        ],
      }),
    );
    const alert = await bus.publish({
      topic: 'project.alerts',
      type: 'DiskFull',
      source: '/monitor',
      payload: { severity: 'critical' },
    });
    await eventually(() => inbox.length === 1, 'the forwarded alert at the agent');
    const copies = await waitForEvents(bus, 'DiskFull', 3);
    const paged = copies.find((c) => c.routing.topic === 'ops.pager');
    expect(paged?.event).toMatchObject({
      correlation_id: alert.event.id,
      causation_id: alert.event.id,
      source: '/monitor',
      chain_depth: 1,
    });
    expect(paged?.payload).toEqual({ severity: 'critical' });
    expect(copies.find((c) => c.routing.deliver_to === '/incident-manager')?.routing.topic).toBe('project.alerts');
  });
});
