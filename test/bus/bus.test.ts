import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bus, type Envelope, NonRetryableError, createBus, isAgentbusError } from '../../src/index.js';
import { collect, sleep, within } from '../conformance/fixtures.js';

let dir: string;
let path: string;
const open: Bus[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-bus-'));
  path = join(dir, 'agentbus.db');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});
async function bus(options: Parameters<typeof createBus>[0] = {}): Promise<Bus> {
  const b = await createBus({ path, ...options });
  open.push(b);
  return b;
}
/** Resolves with the first `n` envelopes a handler sees. */
function collector(n: number) {
  const seen: Envelope[] = [];
  let done: (value: Envelope[]) => void = () => {};
  const all = new Promise<Envelope[]>((resolve) => {
    done = resolve;
  });
  return {
    seen,
    all: within(all, 10_000, `waiting for ${n} events`),
    handler: (e: Envelope) => {
      seen.push(e);
      if (seen.length === n) done(seen);
    },
  };
}

describe('publish', () => {
  it("returns the stored envelope in the seed's format with defaults filled", async () => {
    const b = await bus();
    const e = await b.publish({ topic: 'project.tasks', type: 'TaskCompletedEvent', payload: { task_id: 'T1' } });
    expect(Object.keys(e)).toEqual(['event', 'payload', 'routing']);
    expect(e.event.id).toMatch(/^evt-\d{8}-\d{6}-[0-9a-z]{19}$/);
    expect(e.event).toMatchObject({ source: '/agentbus', version: '1.0', causation_id: null, kind: 'event' });
    expect(e.event.correlation_id).toBe(e.event.id);
    expect(e.routing).toEqual({ topic: 'project.tasks', priority: 'normal' });
  });

  it('refuses bad input naming the field and writes nothing', async () => {
    const b = await bus();
    const error = await b.publish({ topic: 'project..tasks', type: 'X' }).catch((e: unknown) => e);
    expect(isAgentbusError(error, 'ENVELOPE_INVALID') || isAgentbusError(error, 'TOPIC_INVALID')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toBe('routing.topic');
    const batch = await b
      .publishBatch([
        { topic: 'ok.topic', type: 'Fine' },
        { topic: 'ok.topic', type: 'Bad', payload: { n: Number.NaN } },
      ])
      .catch((e: unknown) => e);
    expect((batch as { details: { field: string } }).details.field).toBe('[1].payload.n');
    const refusals: Array<[() => Promise<unknown>, string]> = [
      // A typo would store an event without its payload.
      [() => b.publish({ topic: 'ok.topic', type: 'Fine', payloadd: { n: 1 } } as never), 'payloadd'],
      // publishBatch appends at once: a delay there would be dropped silently.
      [
        () => b.publishBatch([{ topic: 'ok.topic', type: 'Fine' }, { topic: 'ok.topic', type: 'Later', delay: '1h' } as never]),
        '[1].delay',
      ],
      [() => b.publish(null as never), 'input'],
      [() => b.publish({ topic: 'ok.topic', type: 'Late', delay: 1e20 }), 'delay'],
      [() => b.publish({ topic: 'ok.topic', type: 'Late', deliverAt: 8.64e15 + 1 }), 'deliverAt'],
    ];
    for (const [attempt, field] of refusals) {
      const error = await attempt().catch((e: unknown) => e);
      expect(isAgentbusError(error, 'ENVELOPE_INVALID') && error.details.field, String(error)).toBe(field);
    }
    expect(await collect(b.events())).toEqual([]);
    expect(await collect(b.timers.list())).toEqual([]);
  });

  it('publishes a batch in one commit and keeps given ids idempotent', async () => {
    const b = await bus();
    const stored = await b.publishBatch([
      { topic: 't.a', type: 'A', id: 'evt-fixed' },
      { topic: 't.a', type: 'B' },
    ]);
    const again = await b.publish({ topic: 't.a', type: 'Changed', id: 'evt-fixed' });
    expect(again.event.type).toBe('A');
    expect(stored).toHaveLength(2);
    expect((await collect(b.events())).length).toBe(2);
  });
});

describe('subscribe', () => {
  it('refuses bad options naming the field', async () => {
    const b = await bus();
    const handler = () => {};
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: '', topic: 'a', handler }, 'name'],
      [{ name: 'n', topic: 'a..b', handler }, 'topic'],
      [{ name: 'n', topic: 'a', handler, filter: 'severity ==' }, 'filter'],
      [{ name: 'n', topic: 'a', handler, concurrency: 0 }, 'concurrency'],
      [{ name: 'n', topic: 'a', handler, retry: { initial_delay: 'soon' } }, 'retry.initial_delay'],
      [{ name: 'n', topic: 'a', handler, start: 'yesterday' }, 'start'],
      // Past the end of the log: every event up to it would be skipped.
      [{ name: 'n', topic: 'a', handler, start: 2 }, 'start'],
      [{ name: 'n', topic: 'a', handler, source: 'has space' }, 'source'],
      [{ name: 'n', topic: 'a', handler, timeout: '999999999999d' }, 'timeout'],
      [{ name: 'n', topic: 'a', handler, ackWait: '30d' }, 'ackWait'],
      [{ name: 'n', topic: 'a' }, 'handler'],
    ];
    for (const [options, field] of cases) {
      const error = await b.subscribe(options as never).catch((e: unknown) => e);
      expect(isAgentbusError(error), JSON.stringify(options)).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe(field);
    }
    expect(await b.subscriptions.list()).toEqual([]);
    // The next position is fine: the subscription starts with the next event.
    const started = await b.subscribe({ name: 'from-next', topic: 'a', handler, start: 1 });
    await started.close();
    const reset = await b.subscriptions.reset('from-next', 5).catch((e: unknown) => e);
    expect(isAgentbusError(reset, 'OPTIONS_INVALID') && reset.details.field).toBe('to');
  });

  it('delivers by topic pattern and compact filter, stamping causation on what handlers publish', async () => {
    const b = await bus();
    const downstream = collector(1);
    await b.subscribe({
      name: '/frontend-specialist',
      topic: 'project.*',
      filter: 'type=APIDesignCompleted',
      handler: async (e, ctx) => {
        await ctx.publish('UIImplementationStarted', { endpoints: (e.payload as { endpoints: number }).endpoints });
      },
    });
    await b.subscribe({
      name: 'watcher',
      topic: 'project.tasks',
      filter: 'type=UIImplementationStarted',
      handler: downstream.handler,
    });
    await b.publish({ topic: 'project.tasks', type: 'Unrelated' });
    const root = await b.publish({
      topic: 'project.tasks',
      type: 'APIDesignCompleted',
      payload: { endpoints: 12 },
      correlationId: 'project-xyz-123',
    });
    const [started] = await downstream.all;
    expect(started?.event).toMatchObject({
      type: 'UIImplementationStarted',
      source: '/frontend-specialist',
      correlation_id: 'project-xyz-123',
      causation_id: root.event.id,
    });
    expect(started?.payload).toEqual({ endpoints: 12 });
  });

  it('resumes where it left off after a restart, without redelivering what was handled', async () => {
    const first = await bus();
    const c1 = collector(3);
    const sub = await first.subscribe({ name: 'durable', topic: 'jobs', handler: c1.handler });
    await first.publishBatch([1, 2, 3].map((n) => ({ topic: 'jobs', type: 'Job', payload: { n } })));
    await c1.all;
    await sub.idle();
    await first.close();
    open.splice(open.indexOf(first), 1);

    const writer = await bus();
    await writer.publishBatch([4, 5].map((n) => ({ topic: 'jobs', type: 'Job', payload: { n } })));
    const c2 = collector(2);
    await writer.subscribe({ name: 'durable', topic: 'jobs', handler: c2.handler });
    expect((await c2.all).map((e) => (e.payload as { n: number }).n)).toEqual([4, 5]);
    await sleep(50);
    expect(c2.seen).toHaveLength(2);
  });

  it('close() drains running handlers and their acknowledgements', async () => {
    const b = await bus();
    let finished = 0;
    let started: () => void = () => {};
    const running = new Promise<void>((r) => {
      started = r;
    });
    await b.subscribe({
      name: 'slow',
      topic: 'jobs',
      handler: async () => {
        started();
        await sleep(150);
        finished++;
      },
    });
    await b.publish({ topic: 'jobs', type: 'Job' });
    await running;
    await b.close();
    expect(finished).toBe(1);
    const reopened = await bus();
    expect(await reopened.subscriptions.get('slow')).toMatchObject({ ackFloor: 1, inFlight: 0 });
  });

  it('discards what a failing handler published and retries it; publishes commit with the successful attempt', async () => {
    const b = await bus({ retry: { initial_delay: 10, max_delay: 20 } });
    let attempts = 0;
    const outcome = collector(1);
    await b.subscribe({
      name: 'flaky',
      topic: 'jobs',
      handler: async (_e, ctx) => {
        attempts++;
        await ctx.publish('Attempted', { attempt: ctx.attempt }, { topic: 'results' });
        if (ctx.attempt < 3) throw new Error('flaky dependency');
      },
    });
    await b.subscribe({ name: 'results', topic: 'results', handler: outcome.handler });
    await b.publish({ topic: 'jobs', type: 'Job' });
    const [result] = await outcome.all;
    expect(result?.payload).toEqual({ attempt: 3 });
    expect(attempts).toBe(3);
    expect((await collect(b.events({ type: 'Attempted' }))).length).toBe(1);
    expect(await b.subscriptions.get('flaky')).toMatchObject({ redelivered: 2, deadLettered: 0 });
  });

  it('dead-letters a non-retryable failure at once and a retryable one after max_retries', async () => {
    const b = await bus({ retry: { max_retries: 2, initial_delay: 5, max_delay: 10 } });
    const statuses: string[] = [];
    b.onStatus((s) => statuses.push(`${s.type}:${'willRetry' in s ? s.willRetry : ''}`));
    let calls = 0;
    const sub = await b.subscribe({
      name: 'failing',
      topic: 'jobs',
      handler: (e) => {
        calls++;
        if (e.event.type === 'Poison') throw new NonRetryableError('cannot parse payload');
        throw new Error('always down');
      },
    });
    await b.publish({ topic: 'jobs', type: 'Poison' });
    await b.publish({ topic: 'jobs', type: 'Flaky' });
    await within(
      (async () => {
        while ((await b.subscriptions.get('failing'))?.deadLettered !== 2) await sleep(10);
      })(),
      10_000,
      'two dead letters',
    );
    await sub.idle();
    expect(calls).toBe(1 + 3);
    const dead = await b.store.deliveries.listDeadLetters({ consumer: 'failing' });
    expect(dead.map((d) => [d.event.envelope.event.type, d.reason, d.retries])).toEqual([
      ['Poison', 'invalid_payload', 0],
      ['Flaky', 'temporary_failure', 2],
    ]);
    expect(dead[1]?.stack).toContain('always down');
    expect(statuses.filter((s) => s === 'handler_failed:false')).toHaveLength(2);
  });

  it('a handler timeout aborts its signal and counts as a timeout failure', async () => {
    const b = await bus({ retry: { max_retries: 0 } });
    let aborted: unknown;
    await b.subscribe({
      name: 'timed',
      topic: 'jobs',
      timeout: 50,
      handler: (_e, ctx) =>
        new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
            resolve();
          });
        }),
    });
    await b.publish({ topic: 'jobs', type: 'Job' });
    await within(
      (async () => {
        while ((await b.subscriptions.get('timed'))?.deadLettered !== 1) await sleep(10);
      })(),
      5_000,
      'timeout dead letter',
    );
    expect(isAgentbusError(aborted, 'TIMEOUT')).toBe(true);
    const [dead] = await b.store.deliveries.listDeadLetters({ consumer: 'timed' });
    expect(dead?.reason).toBe('timeout');
  });

  it('starts at a position or a time when new', async () => {
    const b = await bus();
    await b.publishBatch([
      { topic: 'jobs', type: 'Old', timestamp: '2025-01-01T00:00:00Z' },
      { topic: 'jobs', type: 'Mid', timestamp: '2025-06-01T00:00:00Z' },
      { topic: 'jobs', type: 'New', timestamp: '2025-12-01T00:00:00Z' },
    ]);
    const bySeq = collector(2);
    await b.subscribe({ name: 'from-2', topic: 'jobs', start: 2, handler: bySeq.handler });
    const byTime = collector(1);
    await b.subscribe({ name: 'from-time', topic: 'jobs', start: new Date('2025-07-01T00:00:00Z'), handler: byTime.handler });
    expect((await bySeq.all).map((e) => e.event.type)).toEqual(['Mid', 'New']);
    expect((await byTime.all).map((e) => e.event.type)).toEqual(['New']);
  });

  it('pause keeps the position and resume catches up', async () => {
    const b = await bus();
    const c = collector(3);
    await b.subscribe({ name: 'pausable', topic: 'jobs', handler: c.handler });
    await b.subscriptions.pause('pausable');
    await b.publishBatch([1, 2, 3].map((n) => ({ topic: 'jobs', type: 'Job', payload: { n } })));
    await sleep(100);
    expect(c.seen).toHaveLength(0);
    await b.subscriptions.resume('pausable');
    expect((await c.all).map((e) => (e.payload as { n: number }).n)).toEqual([1, 2, 3]);
  });

  it('two buses on one file sharing a name split the events and handle each once', async () => {
    const a = await bus();
    const b = await bus();
    const seen = new Map<string, string>();
    let resolve: () => void = () => {};
    const all = new Promise<void>((r) => {
      resolve = r;
    });
    const record = (who: string) => async (e: Envelope) => {
      if (seen.has(e.event.id)) throw new Error(`handled twice: ${e.event.id}`);
      seen.set(e.event.id, who);
      await sleep(1);
      if (seen.size === 200) resolve();
    };
    await a.subscribe({ name: 'shared', topic: 'jobs', concurrency: 4, window: 8, handler: record('a') });
    await b.subscribe({ name: 'shared', topic: 'jobs', concurrency: 4, window: 8, handler: record('b') });
    for (let i = 0; i < 20; i++) {
      await a.publishBatch(Array.from({ length: 10 }, (_, n) => ({ topic: 'jobs', type: 'Job', payload: { n: i * 10 + n } })));
    }
    await within(all, 10_000, 'all 200 handled');
    const handledBy = [...seen.values()];
    expect(handledBy.filter((who) => who === 'a').length).toBeGreaterThan(0);
    expect(handledBy.filter((who) => who === 'b').length).toBeGreaterThan(0);
  });
});

describe('createBus', () => {
  it('refuses bad options naming the field, before opening anything', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ path: 42 }, 'path'],
      [{ limits: { maxPayloadBytes: -1 } }, 'limits.maxPayloadBytes'],
      [{ blockTimeout: 'soon' }, 'blockTimeout'],
      [{ retry: { max_retries: 'x' } }, 'retry.max_retries'],
      [{ source: '' }, 'source'],
      [{ source: 'has space' }, 'source'],
      // Typos are refused rather than ignored.
      [{ pth: 'x.db' }, 'pth'],
      [{ sqlite: { synchronus: 'full' } }, 'sqlite.synchronus'],
      [{ limits: { maxPayload: 10 } }, 'limits.maxPayload'],
      [{ cqrs: { commandTimout: '1s' } }, 'cqrs.commandTimout'],
      [{ clock: 5 }, 'clock'],
      [{ blockTimeout: '30d' }, 'blockTimeout'],
    ];
    for (const [options, field] of cases) {
      const error = await createBus({ path, ...options } as never).catch((e: unknown) => e);
      expect(isAgentbusError(error, 'OPTIONS_INVALID'), JSON.stringify(options)).toBe(true);
      expect((error as { details: { field: string } }).details.field).toBe(field);
    }
    const none = await createBus(null as never).catch((e: unknown) => e);
    expect(isAgentbusError(none, 'OPTIONS_INVALID') && none.details.field).toBe('options');
    expect(existsSync(path)).toBe(false);
  });
});

describe('publishEnvelope', () => {
  it('keeps what a wire envelope gives and generates a missing id and timestamp', async () => {
    const b = await bus();
    const stored = await b.publishEnvelope({
      event: { type: 'TaskCompletedEvent', source: '/backend-architect', correlation_id: 'project-xyz-123' },
      payload: { task_id: 'T1' },
      routing: { topic: 'project.tasks' },
    });
    expect(stored.event.id).toMatch(/^evt-/);
    expect(Number.isNaN(Date.parse(stored.event.timestamp))).toBe(false);
    expect(stored.event).toMatchObject({ source: '/backend-architect', correlation_id: 'project-xyz-123' });
    const error = await b
      .publishEnvelope({ event: { type: 'X' }, payload: {}, routing: { topic: 'a..b' } })
      .catch((e: unknown) => e);
    expect(isAgentbusError(error, 'ENVELOPE_INVALID')).toBe(true);
  });
});

describe('publishEnvelopes', () => {
  it('appends every envelope, or none when one is refused (naming its index)', async () => {
    const b = await bus();
    const good = (n: number) => ({ event: { type: 'BatchEvent' }, payload: { n }, routing: { topic: 'batch.env' } });
    const stored = await b.publishEnvelopes([good(1), good(2)]);
    expect(stored.map((e) => e.payload)).toEqual([{ n: 1 }, { n: 2 }]);
    const error = await b
      .publishEnvelopes([good(3), { event: { type: 'X' }, payload: {}, routing: { topic: 'a..b' } }])
      .catch((e: unknown) => e);
    expect(isAgentbusError(error, 'ENVELOPE_INVALID')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toMatch(/^\[1\]\.routing\.topic/);
    const all: unknown[] = [];
    for await (const e of b.events({ type: 'BatchEvent' })) all.push(e.envelope.payload);
    expect(all).toEqual([{ n: 1 }, { n: 2 }]);
  });
});
