import { afterEach, describe, expect, it } from 'vitest';
import {
  type AgentRuntimeOptions,
  BUDGET_NAMESPACE,
  GUARD_REASONS,
  createAgentRuntime,
  defineAgent,
} from '../../src/agents/index.js';
import { pruneBudgets } from '../../src/agents/budget.js';
import type { Bus } from '../../src/bus/index.js';
import { SYSTEM_EVENTS } from '../../src/envelope/index.js';
import { type Harness, eventually, harness, history, waitForDeadLetter, waitForEvents } from './helpers.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.dispose();
  h = undefined;
});

/** Two agents answering each other forever: /ping answers Pong with Ping, /pong answers Ping with Pong. */
async function pingPong(options: AgentRuntimeOptions) {
  h = await harness(options);
  const { bus, runtime } = h;
  await runtime.start(
    defineAgent({
      name: '/ping',
      subscriptions: [{ topic: 'game', filter: 'type=Pong', handler: (_e, ctx) => ctx.publish('Ping', {}) }],
    }),
  );
  await runtime.start(
    defineAgent({
      name: '/pong',
      subscriptions: [{ topic: 'game', filter: 'type=Ping', handler: (_e, ctx) => ctx.publish('Pong', {}) }],
    }),
  );
  const serve = await bus.publish({ topic: 'game', type: 'Ping', correlationId: 'match-1' });
  return { bus, serve };
}

describe('chain-reaction guards', () => {
  it('stops an endless ping-pong with a dead letter naming the cycle guard', async () => {
    const { bus } = await pingPong({});
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe(GUARD_REASONS.cycle);
    expect(dead.error).toMatch(/^chain_cycle_detected: \/p[io]ng already handled P[io]ng 5 times along the causation chain/);
    expect(dead.error).toContain('correlation match-1');
    expect(dead.error).toContain('guards.maxRepeats');
    expect(dead.error).toMatch(/chain: \.\.\. -> .* -> \/p[io]ng P[io]ng$/);
    // Nothing runs after the trip: the game is over, with a bounded number of moves.
    const moves = (await history(bus, 'Ping')).length + (await history(bus, 'Pong')).length;
    expect(moves).toBeLessThanOrEqual(12);
    const [notice] = await waitForEvents(bus, SYSTEM_EVENTS.ErrorOccurred);
    expect(notice?.payload).toMatchObject({ reason: 'chain_cycle_detected', dead_lettered: true });
    expect(notice?.event.correlation_id).toBe('match-1');
  });

  it('refuses an event deeper than maxDepth with chain_depth_exceeded', async () => {
    const { bus } = await pingPong({ guards: { maxDepth: 7, maxRepeats: 1000 } });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe(GUARD_REASONS.depth);
    expect(dead.error).toMatch(/causation depth 8 in correlation match-1 is over the limit of 7 \(guards\.maxDepth\)/);
    expect(dead.event.envelope.event.chain_depth).toBe(8);
    expect((await history(bus, 'Ping')).length + (await history(bus, 'Pong')).length).toBe(9);
  });

  it('refuses events of a correlation over its budget with chain_budget_exceeded', async () => {
    const { bus } = await pingPong({ guards: { budget: 4, maxRepeats: 1000 } });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe(GUARD_REASONS.budget);
    expect(dead.error).toMatch(/agents already published 4 events in correlation match-1, the budget is 4 \(guards\.budget\)/);
    expect((await history(bus, 'Ping')).length + (await history(bus, 'Pong')).length).toBe(5);
  });

  it('counts what a handler published toward the budget with its acknowledgement; a failed attempt counts nothing', async () => {
    h = await harness();
    const { bus, runtime } = h;
    let attempts = 0;
    await runtime.start(
      defineAgent({
        name: '/flaky',
        subscriptions: [
          {
            topic: 'work',
            filter: 'type=Job',
            retry: { max_retries: 3, backoff_type: 'fixed', initial_delay: '10ms' },
            handler: async (_e, ctx) => {
              await ctx.publish('Result', { n: ++attempts });
              // The first attempt publishes, then fails: its event is discarded, and so is its count.
              if (attempts === 1) throw new Error('flaky');
            },
          },
        ],
      }),
    );
    await bus.publish({ topic: 'work', type: 'Job', correlationId: 'job-1' });
    await eventually(async () => (await history(bus, 'Result')).length === 1, 'the result of the second attempt');
    expect(attempts).toBe(2);
    const spent = await eventually(() => bus.store.state.get<number>(BUDGET_NAMESPACE, 'job-1'), 'the budget record');
    expect(spent.value).toBe(1);
  });

  it('prunes budget records of correlations quiet for longer than budgetRetention, at a heartbeat', async () => {
    h = await harness({ budgetRetention: '1s', monitor: false });
    const { bus, runtime } = h;
    await bus.store.state.put(BUDGET_NAMESPACE, 'quiet-correlation', 7);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await bus.store.state.put(BUDGET_NAMESPACE, 'busy-correlation', 3);
    await runtime.heartbeat();
    const left = [];
    for await (const record of bus.store.state.list(BUDGET_NAMESPACE)) left.push(record.key);
    expect(left).toEqual(['busy-correlation']);
  });

  it('pruneBudgets keeps what was written since the cutoff', async () => {
    h = await harness();
    const { state } = h.bus.store;
    await state.put(BUDGET_NAMESPACE, 'old', 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const cutoff = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await state.put(BUDGET_NAMESPACE, 'new', 2);
    expect(await pruneBudgets(state, cutoff)).toBe(1);
    expect(await state.get(BUDGET_NAMESPACE, 'old')).toBeUndefined();
    expect((await state.get(BUDGET_NAMESPACE, 'new'))?.value).toBe(2);
  });

  it('refuses a bad budgetRetention naming the field', async () => {
    h = await harness();
    expect(() => createAgentRuntime(h?.bus as Bus, { budgetRetention: 'soon' })).toThrow(/budgetRetention/);
    expect(() => createAgentRuntime(h?.bus as Bus, { budgetRetention: 0 })).toThrow(/budgetRetention: must be longer than zero/);
    // Retention is not an in-memory timer: months are fine, a heartbeat interval of months is not.
    await createAgentRuntime(h?.bus as Bus, { budgetRetention: '90d' }).close();
    expect(() => createAgentRuntime(h?.bus as Bus, { heartbeatInterval: '90d' })).toThrow(/heartbeatInterval: must be at most/);
  });

  it("lets an agent's own guards override the runtime's", async () => {
    h = await harness();
    const { bus, runtime } = h;
    await runtime.start(
      defineAgent({
        name: '/echo',
        guards: { maxRepeats: 2 },
        subscriptions: [{ topic: 'loop', handler: (e, ctx) => ctx.publish(e.event.type, {}) }],
      }),
    );
    await bus.publish({ topic: 'loop', type: 'Again' });
    const dead = await waitForDeadLetter(bus, '/echo');
    expect(dead.reason).toBe('chain_cycle_detected');
    expect((await history(bus, 'Again')).length).toBe(3);
  });
});
