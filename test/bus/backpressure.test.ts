import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentbusError } from '../../src/errors.js';
import {
  BackpressureError,
  type Envelope,
  type EventStore,
  createBus,
  isAgentbusError,
  openSqliteStore,
} from '../../src/index.js';
import { createTestBus } from '../../src/testing.js';
import { collect, sleep, within } from '../conformance/fixtures.js';
import { captureProcessErrors } from '../support/process-errors.js';

type TestBus = Awaited<ReturnType<typeof createTestBus>>;
let bus: TestBus;
beforeEach(async () => {
  bus = await createTestBus({ blockTimeout: 300 });
});
afterEach(async () => {
  release();
  await bus.dispose();
});

let release: () => void = () => {};
/** A handler that holds every event until `release()` is called. */
function gate() {
  let open = false;
  const waiting: Array<() => void> = [];
  release = () => {
    open = true;
    for (const w of waiting.splice(0)) w();
  };
  return async (_e: Envelope) => {
    if (!open) await new Promise<void>((r) => waiting.push(r));
  };
}

const job = (n: number, topic = 'jobs') => ({ topic, type: 'Job', payload: { n } });

describe('backpressure', () => {
  it('reject: refuses the publish past max_lag, naming the subscription, its lag and the limit, and writes nothing', async () => {
    await bus.subscribe({ name: 'slow-worker', topic: 'jobs', handler: gate(), maxLag: 5, onFull: 'reject' });
    for (let n = 0; n < 5; n++) await bus.publish(job(n));
    const error = await bus.publish(job(5)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackpressureError);
    expect(isAgentbusError(error, 'BACKPRESSURE')).toBe(true);
    expect((error as BackpressureError).details).toMatchObject({ subscription: 'slow-worker', lag: 5, limit: 5 });
    expect((error as Error).message).toContain('slow-worker');
    expect((await collect(bus.events({ topic: 'jobs' }))).length).toBe(5);
    expect((await bus.subscriptions.get('slow-worker'))?.lag).toEqual({ maxLag: 5, onFull: 'reject', pending: 5 });
  });

  it('counts only events the subscription receives: other topics and filtered-out events do not count', async () => {
    await bus.subscribe({ name: 'picky', topic: 'jobs', filter: 'urgent=true', handler: gate(), maxLag: 2, onFull: 'reject' });
    await bus.publishBatch(Array.from({ length: 50 }, (_, n) => job(n, 'other')));
    await bus.publishBatch(Array.from({ length: 50 }, (_, n) => job(n)));
    await bus.publish({ topic: 'jobs', type: 'Job', payload: { urgent: true } });
    await bus.publish({ topic: 'jobs', type: 'Job', payload: { urgent: true } });
    const error = await bus.publish({ topic: 'jobs', type: 'Job', payload: { urgent: true } }).catch((e: unknown) => e);
    expect(isAgentbusError(error, 'BACKPRESSURE')).toBe(true);
    expect((await bus.subscriptions.get('picky'))?.lag?.pending).toBe(2);
  });

  it('block: a publish waits until the subscription catches up, then succeeds', async () => {
    await bus.dispose();
    bus = await createTestBus({ blockTimeout: '20s' });
    const handled: number[] = [];
    const open = gate();
    await bus.subscribe({
      name: 'catching-up',
      topic: 'jobs',
      maxLag: 3,
      handler: async (e) => {
        await open(e);
        handled.push((e.payload as { n: number }).n);
      },
    });
    for (let n = 0; n < 3; n++) await bus.publish(job(n));
    let published = false;
    const blocked = bus.publish(job(3)).then(() => {
      published = true;
    });
    await sleep(100);
    expect(published).toBe(false);
    release();
    await within(blocked, 5_000, 'blocked publish');
    await within(
      (async () => {
        while (handled.length < 4) await sleep(10);
      })(),
      5_000,
      'all handled',
    );
    expect(handled).toEqual([0, 1, 2, 3]);
    // The last acknowledgement commits a moment after its handler returns.
    await within(
      (async () => {
        while ((await bus.subscriptions.get('catching-up'))?.lag?.pending !== 0) await sleep(10);
      })(),
      5_000,
      'the last acknowledgement',
    );
  });

  it('block: fails with BACKPRESSURE after the block timeout when the subscription stays behind', async () => {
    await bus.subscribe({ name: 'stuck', topic: 'jobs', handler: gate(), maxLag: 1 });
    await bus.publish(job(0));
    const started = Date.now();
    const error = await bus.publish(job(1)).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(isAgentbusError(error, 'BACKPRESSURE')).toBe(true);
    expect((error as BackpressureError).details).toMatchObject({ subscription: 'stuck', lag: 1, limit: 1 });
  });

  it('refuses a batch that can never fit', async () => {
    await bus.subscribe({ name: 'small', topic: 'jobs', handler: gate(), maxLag: 3 });
    const error = await bus.publishBatch([0, 1, 2, 3].map((n) => job(n))).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/can never fit/);
    expect(await collect(bus.events())).toEqual([]);
  });

  it('dead letters and acks lower the count; a replay raises it', async () => {
    await bus.subscribe({
      name: 'counted',
      topic: 'jobs',
      maxLag: 10,
      retry: { max_retries: 0 },
      handler: (e) => {
        if ((e.payload as { n: number }).n === 0) throw new Error('fails');
      },
    });
    await bus.publishBatch([0, 1, 2].map((n) => job(n)));
    await within(
      (async () => {
        while ((await bus.subscriptions.get('counted'))?.lag?.pending !== 0) await sleep(10);
      })(),
      5_000,
      'count back to zero',
    );
    const [dead] = await bus.deadLetters.list();
    await bus.subscriptions.pause('counted');
    await bus.deadLetters.replay([dead?.id as number]);
    expect((await bus.subscriptions.get('counted'))?.lag?.pending).toBe(1);
  });

  it('a failed read of the limits behind a publish that went ahead is not left unhandled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-backpressure-'));
    const real = await openSqliteStore({ path: join(dir, 'bus.db') });
    // The store as a backend that goes away: its lag limits can no longer be read.
    let down = false;
    const bound = (target: object, key: string | symbol) => {
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    };
    const deliveries = new Proxy(real.deliveries, {
      get: (target, key) =>
        key === 'lagLimits' && down
          ? () => Promise.reject(new AgentbusError('BACKEND_UNAVAILABLE', 'PostgreSQL read failed: the server went away'))
          : bound(target, key),
    });
    const store = new Proxy(real, {
      get: (target, key) => (key === 'deliveries' ? deliveries : bound(target, key)),
    }) as EventStore;
    const processErrors = captureProcessErrors();
    const other = await createBus({ store });
    try {
      await other.publish(job(0)); // no subscription has a max_lag: later publishes need not wait
      down = true;
      await other.publish(job(1)); // goes ahead; the read of the limits behind it fails
      await sleep(50);
      expect(processErrors.errors).toEqual([]);
      const refused = await sleep(150).then(() => other.publish(job(2)).catch((e: unknown) => e));
      expect(isAgentbusError(refused, 'BACKEND_UNAVAILABLE'), String(refused)).toBe(true);
    } finally {
      processErrors.dispose();
      await other.close();
      await real.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad max_lag or on_full', async () => {
    for (const [options, field] of [
      [{ maxLag: 0 }, 'maxLag'],
      [{ onFull: 'drop' }, 'onFull'],
    ] as const) {
      const error = await bus
        .subscribe({ name: 'x', topic: 'jobs', handler: () => {}, ...options } as never)
        .catch((e: unknown) => e);
      expect((error as { details: { field: string } }).details.field).toBe(field);
    }
  });
});
