/**
 * Pending timers as an operator works them: listed with what each is for, cancelled all or
 * none, and a workflow's timeout kept unless forced.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/index.js';
import { createEnvelope } from '../../src/envelope/index.js';
import { isAgentbusError } from '../../src/errors.js';
import { createTestBus } from '../../src/testing.js';
import {
  AGGREGATOR_TIMEOUT_EVENT,
  SAGA_TIMEOUT_EVENT,
  aggregatorSource,
  cancelTimers,
  listTimers,
  sagaSource,
  startAggregator,
  timerKind,
} from '../../src/workflows/index.js';
import { collect } from '../conformance/fixtures.js';
import { until } from './helpers.js';

const buses: Array<Bus & { dispose(): Promise<void> }> = [];
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.dispose();
});
async function testBus() {
  const bus = await createTestBus();
  buses.push(bus);
  return bus;
}

/** Three reminders due in 1, 2 and 3 hours; their keys, earliest first. */
async function reminders(bus: Bus): Promise<string[]> {
  for (const hours of [3, 1, 2]) {
    await bus.publish({ topic: 'project.reminders', type: 'ReviewReminder', payload: { hours }, delay: `${hours}h` });
  }
  return (await collect(bus.timers.list())).map((t) => t.key);
}

async function refusal(promise: Promise<unknown>) {
  const error = await promise.catch((e: unknown) => e);
  if (!isAgentbusError(error)) throw new Error(`expected an AgentbusError, got ${String(error)}`);
  return error;
}

describe('bus.timers.cancelMany', () => {
  it('cancels every timer named, in one transaction, and returns them in the order given', async () => {
    const bus = await testBus();
    const [first, second, third] = await reminders(bus);
    const cancelled = await bus.timers.cancelMany([third as string, first as string]);
    expect(cancelled.map((t) => t.key)).toEqual([third, first]);
    expect(cancelled.map((t) => t.envelope.payload)).toEqual([{ hours: 3 }, { hours: 1 }]);
    expect((await collect(bus.timers.list())).map((t) => t.key)).toEqual([second]);
    expect(await bus.timers.get(first as string)).toBeUndefined();
    expect((await bus.timers.get(second as string))?.envelope.payload).toEqual({ hours: 2 });
  });

  it('cancels none when one is not pending, naming every missing key; refuses bad keys by index', async () => {
    const bus = await testBus();
    const keys = await reminders(bus);
    const [first, second] = keys as [string, string];
    const gone = `${first.slice(0, 16)}evt-gone`;
    const missing = await refusal(bus.timers.cancelMany([first, gone, second, `${second}x`]));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.details.missing).toEqual([gone, `${second}x`]);
    expect(missing.message).toContain('nothing was cancelled');
    for (const [given, field] of [
      [[], 'keys'],
      [['nope'], 'keys[0]'],
      [[first, '001/evt-1'], 'keys[1]'],
      [[first, second, first], 'keys[2]'],
    ] as const) {
      const error = await refusal(bus.timers.cancelMany(given));
      expect([error.code, error.details.field]).toEqual(['OPTIONS_INVALID', field]);
    }
    expect(await refusal(bus.timers.get('evt-1'))).toMatchObject({ code: 'OPTIONS_INVALID', details: { field: 'key' } });
    expect((await collect(bus.timers.list())).map((t) => t.key)).toEqual(keys);
  });
});

describe('listTimers and cancelTimers', () => {
  it('lists the earliest first up to the limit, saying whether more are pending', async () => {
    const bus = await testBus();
    const keys = await reminders(bus);
    const two = await listTimers(bus, { limit: 2 });
    expect(two.timers.map((t) => [t.key, t.kind])).toEqual([
      [keys[0], 'delayed'],
      [keys[1], 'delayed'],
    ]);
    expect(two.more).toBe(true);
    expect((await listTimers(bus, { limit: 3 })).more).toBe(false);
    expect((await listTimers(bus)).timers).toHaveLength(3);
    for (const limit of [0, 1.5, 10_001]) {
      expect((await refusal(listTimers(bus, { limit }))).details.field).toBe('limit');
    }
  });

  it("tells a workflow's timeout by its event type and who set it", () => {
    const timeout = (type: string, source: string) => createEnvelope({ topic: 'project.tasks', type, source });
    expect(timerKind(timeout(AGGREGATOR_TIMEOUT_EVENT, aggregatorSource('phase1-complete')))).toBe('aggregator_timeout');
    expect(timerKind(timeout(SAGA_TIMEOUT_EVENT, sagaSource('deploy')))).toBe('saga_timeout');
    expect(timerKind(timeout('ApprovalTimedOut', '/approvals'))).toBe('approval_timeout');
    // The same type from anyone else is an ordinary delayed event.
    expect(timerKind(timeout(SAGA_TIMEOUT_EVENT, '/backend-architect'))).toBe('delayed');
    expect(timerKind(timeout('ReviewReminder', '/code-reviewer'))).toBe('delayed');
  });

  it("keeps an aggregator's timeout unless forced, and cancels nothing of the request then", async () => {
    const bus = await testBus();
    const [reminder] = await reminders(bus);
    const agg = await startAggregator(bus, {
      aggregator_id: 'phase1-complete',
      wait_for: [
        { type: 'APIDesignCompleted', from: '/backend-architect' },
        { type: 'WireframeCompleted', from: '/ux-designer' },
      ],
      timeout: '2h',
      on_complete: 'Phase1CompletedEvent',
      on_timeout: 'Phase1TimeoutEvent',
      topic: 'project.>',
    });
    try {
      await bus.publish({
        topic: 'project.tasks',
        type: 'APIDesignCompleted',
        source: '/backend-architect',
        correlationId: 'project-xyz-123',
      });
      const timeout = await until(async () => {
        const { timers } = await listTimers(bus);
        return timers.find((t) => t.kind === 'aggregator_timeout');
      }, 'the aggregator timeout');
      const refused = await refusal(cancelTimers(bus, [reminder as string, timeout.key], { forceHint: '--force' }));
      expect(refused.code).toBe('CONCURRENCY_CONFLICT');
      expect(refused.details).toMatchObject({ field: 'keys[1]', kind: 'aggregator_timeout' });
      expect(refused.message).toBe(
        `timer ${timeout.key} is the timeout of aggregator phase1-complete for project-xyz-123: without it the instance waits for ever; give --force to cancel it anyway (nothing was cancelled)`,
      );
      expect(await bus.timers.get(reminder as string)).toBeDefined();
      const forced = await cancelTimers(bus, [timeout.key, reminder as string], { force: true });
      expect(forced.map((t) => t.kind)).toEqual(['aggregator_timeout', 'delayed']);
    } finally {
      await agg.close();
    }
  });
});
