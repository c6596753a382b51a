import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Envelope, NonRetryableError, isAgentbusError } from '../../src/index.js';
import { createTestBus } from '../../src/testing.js';
import { collect, sleep, within } from '../conformance/fixtures.js';

type TestBus = Awaited<ReturnType<typeof createTestBus>>;
let bus: TestBus;
beforeEach(async () => {
  bus = await createTestBus({ retry: { max_retries: 0 } });
});
afterEach(async () => {
  await bus.dispose();
});

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  await within(
    (async () => {
      while (!(await check())) await sleep(10);
    })(),
    10_000,
    what,
  );
}

/** A subscription that fails events whose payload has `bad: true` and records the rest. */
async function pickyAgent(name: string, seen: Envelope[]) {
  return bus.subscribe({
    name,
    topic: 'project.tasks',
    handler: (e) => {
      if ((e.payload as { bad?: boolean }).bad) throw new NonRetryableError(`cannot deploy ${e.event.id}: invalid manifest`);
      seen.push(e);
    },
  });
}

describe('dead-letter queue', () => {
  it('records the failure and announces it as ErrorOccurredEvent on system.errors, caused by the dead event', async () => {
    await pickyAgent('/deployer', []);
    const dead = await bus.publish({
      topic: 'project.tasks',
      type: 'DeployCommand',
      payload: { bad: true },
      correlationId: 'c-1',
    });
    await until(async () => (await bus.deadLetters.list()).length === 1, 'dead letter');
    const [letter] = await bus.deadLetters.list();
    expect(letter).toMatchObject({ consumer: '/deployer', reason: 'invalid_payload', retries: 0, status: 'open' });
    expect(letter?.error).toContain('invalid manifest');
    expect(letter?.stack).toContain('NonRetryableError');
    const [notice] = await collect(bus.events({ topic: 'system.errors' }));
    expect(notice?.envelope.event).toMatchObject({
      type: 'ErrorOccurredEvent',
      source: '/agentbus',
      correlation_id: 'c-1',
      causation_id: dead.event.id,
    });
    expect(notice?.envelope.payload).toMatchObject({
      subscription: '/deployer',
      event_id: dead.event.id,
      reason: 'invalid_payload',
    });
  });

  it('replays the same event to its subscription only, counting attempts afresh', async () => {
    let fail = true;
    const attempts: number[] = [];
    await bus.subscribe({
      name: 'flaky',
      topic: 'project.tasks',
      handler: (_e, ctx) => {
        attempts.push(ctx.attempt);
        if (fail) throw new Error('dependency down');
      },
    });
    const bystander: Envelope[] = [];
    await bus.subscribe({ name: 'bystander', topic: 'project.tasks', handler: (e) => void bystander.push(e) });
    await bus.publish({ topic: 'project.tasks', type: 'TaskCompletedEvent' });
    await until(async () => (await bus.deadLetters.list()).length === 1, 'dead letter');
    fail = false;
    const [replayed] = await bus.deadLetters.replay({ all: true });
    expect(replayed?.status).toBe('replayed');
    await until(
      async () => attempts.length === 2 && (await bus.subscriptions.get('flaky'))?.inFlight === 0,
      'replayed event handled',
    );
    expect(attempts).toEqual([1, 1]);
    expect(bystander).toHaveLength(1);
  });

  it('fix and replay publishes a corrected copy, caused by the dead one, for that subscription only', async () => {
    const deployer: Envelope[] = [];
    const auditor: Envelope[] = [];
    await pickyAgent('/deployer', deployer);
    await bus.subscribe({ name: '/auditor', topic: 'project.tasks', handler: (e) => void auditor.push(e) });
    const dead = await bus.publish({ topic: 'project.tasks', type: 'DeployCommand', payload: { bad: true, version: 1 } });
    await until(async () => (await bus.deadLetters.list()).length === 1, 'dead letter');
    const [letter] = await bus.deadLetters.list();
    const [replayed] = await bus.deadLetters.replay([letter?.id as number], { payload: { bad: false, version: 2 } });
    await until(async () => deployer.length === 1, 'corrected copy handled');
    const copy = deployer[0] as Envelope;
    expect(copy.payload).toEqual({ bad: false, version: 2 });
    expect(copy.event).toMatchObject({
      type: 'DeployCommand',
      causation_id: dead.event.id,
      correlation_id: dead.event.correlation_id,
    });
    expect(copy.routing.deliver_to).toBe('/deployer');
    expect(replayed?.replayedAs).toBe(copy.event.id);
    await sleep(50);
    expect(auditor.map((e) => e.event.id)).toEqual([dead.event.id]);
  });

  it('refuses an invalid corrected payload before replaying anything', async () => {
    await pickyAgent('/deployer', []);
    await bus.publish({ topic: 'project.tasks', type: 'DeployCommand', payload: { bad: true } });
    await until(async () => (await bus.deadLetters.list()).length === 1, 'dead letter');
    const error = await bus.deadLetters
      .replay({ all: true }, { payload: { when: Number.POSITIVE_INFINITY } })
      .catch((e: unknown) => e);
    expect(isAgentbusError(error, 'ENVELOPE_INVALID')).toBe(true);
    expect((await bus.deadLetters.list())[0]?.status).toBe('open');
  });

  it('a bulk replay done twice (as after a crash) redelivers each dead letter once', async () => {
    const handled: string[] = [];
    let fail = true;
    await bus.subscribe({
      name: 'batch',
      topic: 'project.tasks',
      concurrency: 4,
      handler: (e) => {
        if (fail) throw new NonRetryableError('not yet');
        handled.push(e.event.id);
      },
    });
    await bus.publishBatch(Array.from({ length: 30 }, (_, n) => ({ topic: 'project.tasks', type: 'Job', payload: { n } })));
    await until(async () => (await bus.deadLetters.list()).length === 30, '30 dead letters');
    fail = false;
    const progress: number[] = [];
    const ids = (await bus.deadLetters.list()).map((d) => d.id);
    await bus.deadLetters.replay(ids.slice(0, 12));
    await bus.deadLetters.replay({ all: true }, { onProgress: (done) => progress.push(done) });
    await bus.deadLetters.replay({ all: true });
    await until(async () => handled.length >= 30, 'all replayed');
    await sleep(50);
    expect(new Set(handled).size).toBe(30);
    expect(handled).toHaveLength(30);
    expect(progress.at(-1)).toBe(18);
  });

  it('groups open dead letters by error fingerprint', async () => {
    await bus.subscribe({
      name: 'grouped',
      topic: 'project.tasks',
      handler: (e) => {
        const n = (e.payload as { n: number }).n;
        if (n % 3 === 0) throw new NonRetryableError(`order ${n} has no customer`);
        throw new NonRetryableError(`timeout after ${1000 + n} ms`, { code: 'unauthorized' });
      },
    });
    await bus.publishBatch(Array.from({ length: 9 }, (_, n) => ({ topic: 'project.tasks', type: 'Job', payload: { n } })));
    await until(async () => (await bus.deadLetters.list()).length === 9, '9 dead letters');
    const groups = await bus.deadLetters.groups();
    expect(groups.map((g) => [g.reason, g.count])).toEqual([
      ['unauthorized', 6],
      ['invalid_payload', 3],
    ]);
    expect(groups[0]?.ids).toHaveLength(6);
  });

  it('archives with a note, refuses an archive without one, and purges resolved dead letters', async () => {
    await pickyAgent('/deployer', []);
    await bus.publishBatch([1, 2].map(() => ({ topic: 'project.tasks', type: 'DeployCommand', payload: { bad: true } })));
    await until(async () => (await bus.deadLetters.list()).length === 2, 'dead letters');
    const [first, second] = await bus.deadLetters.list();
    expect(
      isAgentbusError(await bus.deadLetters.archive(first?.id as number, ' ').catch((e: unknown) => e), 'OPTIONS_INVALID'),
    ).toBe(true);
    const archived = await bus.deadLetters.archive(first?.id as number, 'manifest format retired');
    expect(archived).toMatchObject({ status: 'archived', note: 'manifest format retired' });
    expect(await bus.deadLetters.purge()).toBe(1);
    expect((await bus.deadLetters.list()).map((d) => d.id)).toEqual([second?.id]);
    expect(isAgentbusError(await bus.deadLetters.replay([999]).catch((e: unknown) => e), 'NOT_FOUND')).toBe(true);
  });
});
