import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bus, type Envelope, NonRetryableError, type Priority, createBus } from '../../src/index.js';
import { sleep, within } from '../conformance/fixtures.js';

let dir: string;
let path: string;
const open: Bus[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-order-'));
  path = join(dir, 'agentbus.db');
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});
async function bus(): Promise<Bus> {
  const b = await createBus({ path, retry: { initial_delay: 150, max_delay: 150 } });
  open.push(b);
  return b;
}
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  await within(
    (async () => {
      while (!(await check())) await sleep(10);
    })(),
    ms,
    what,
  );
}
const tag = (e: Envelope) => `${e.routing.partition_key ?? '-'}${(e.payload as { n: number }).n}`;

describe('ordered subscriptions', () => {
  it('keep FIFO per partition key through retries: a failing event holds back only its own key', async () => {
    const b = await bus();
    const log: string[] = [];
    let failuresLeft = 2;
    await b.subscribe({
      name: 'ordered',
      topic: 'orders',
      ordered: true,
      concurrency: 4,
      handler: (e, ctx) => {
        log.push(`${tag(e)}#${ctx.attempt}`);
        if (tag(e) === 'A1' && failuresLeft-- > 0) throw new Error('payment service down');
      },
    });
    await b.publishBatch(
      ['A1', 'B1', 'A2', 'B2', 'A3', 'B3'].map((t) => ({
        topic: 'orders',
        type: 'OrderPlaced',
        partitionKey: t[0],
        payload: { n: Number(t[1]) },
      })),
    );
    await until(() => log.length === 8, 'all handled');
    const forKey = (k: string) => log.filter((l) => l.startsWith(k));
    expect(forKey('A')).toEqual(['A1#1', 'A1#2', 'A1#3', 'A2#1', 'A3#1']);
    expect(forKey('B')).toEqual(['B1#1', 'B2#1', 'B3#1']);
    // B did not wait for A's retries.
    expect(log.indexOf('B3#1')).toBeLessThan(log.indexOf('A1#2'));
  });

  it('does not stall when held-back events of a failing key fill the whole window', async () => {
    const b = await bus();
    const log: string[] = [];
    await b.subscribe({
      name: 'full-window',
      topic: 'orders',
      ordered: true,
      window: 4,
      handler: (e, ctx) => {
        log.push(`${tag(e)}#${ctx.attempt}`);
        if (tag(e) === 'A1' && ctx.attempt === 1) throw new Error('try again');
      },
    });
    await b.publishBatch(
      Array.from({ length: 12 }, (_, i) => ({ topic: 'orders', type: 'O', partitionKey: 'A', payload: { n: i + 1 } })),
    );
    await until(() => log.length === 13, 'all handled');
    expect(log).toEqual(['A1#1', 'A1#2', ...Array.from({ length: 11 }, (_, i) => `A${i + 2}#1`)]);
  });

  it('a dead-lettered event releases its key', async () => {
    const b = await bus();
    const log: string[] = [];
    await b.subscribe({
      name: 'ordered-dead',
      topic: 'orders',
      ordered: true,
      handler: (e) => {
        log.push(tag(e));
        if (tag(e) === 'A1') throw new NonRetryableError('malformed order');
      },
    });
    await b.publishBatch([1, 2].map((n) => ({ topic: 'orders', type: 'OrderPlaced', partitionKey: 'A', payload: { n } })));
    await until(() => log.length === 2, 'both handled');
    expect(log).toEqual(['A1', 'A2']);
    // The dead letter commits a moment after its handler threw.
    await until(async () => (await b.deadLetters.list()).length > 0, 'the dead letter');
    expect((await b.deadLetters.list()).map((d) => d.event.envelope.payload)).toEqual([{ n: 1 }]);
  });

  it('runs different keys in parallel up to concurrency, never two of one key at once', async () => {
    const b = await bus();
    const running = new Map<string, number>();
    let now = 0;
    let peak = 0;
    let done = 0;
    await b.subscribe({
      name: 'parallel',
      topic: 'orders',
      ordered: true,
      concurrency: 3,
      handler: async (e) => {
        const key = e.routing.partition_key as string;
        expect(running.get(key) ?? 0).toBe(0);
        running.set(key, 1);
        peak = Math.max(peak, ++now);
        await sleep(20);
        now--;
        running.set(key, 0);
        done++;
      },
    });
    await b.publishBatch(
      Array.from({ length: 24 }, (_, i) => ({
        topic: 'orders',
        type: 'OrderPlaced',
        partitionKey: `k${i % 6}`,
        payload: { n: i },
      })),
    );
    await until(() => done === 24, 'all handled');
    expect(peak).toBe(3);
  });

  it('keeps a key held back across a restart while its retry is scheduled', async () => {
    const first = await bus();
    const log: string[] = [];
    const handler = (e: Envelope, ctx: { attempt: number }) => {
      log.push(`${tag(e)}#${ctx.attempt}`);
      if (tag(e) === 'A1' && ctx.attempt === 1) throw new Error('flaky');
    };
    await first.subscribe({ name: 'restart', topic: 'orders', ordered: true, handler });
    await first.publish({ topic: 'orders', type: 'OrderPlaced', partitionKey: 'A', payload: { n: 1 } });
    await until(() => log.length === 1, 'first attempt');
    await first.close();
    open.splice(open.indexOf(first), 1);
    const second = await bus();
    await second.subscribe({ name: 'restart', topic: 'orders', ordered: true, handler });
    await second.publish({ topic: 'orders', type: 'OrderPlaced', partitionKey: 'A', payload: { n: 2 } });
    await until(() => log.length === 3, 'retry and next');
    expect(log).toEqual(['A1#1', 'A1#2', 'A2#1']);
  });

  it('has one active member in a group; another takes over when it leaves', async () => {
    const a = await bus();
    const b = await bus();
    const seen: string[] = [];
    const subA = await a.subscribe({
      name: 'single-active',
      topic: 'orders',
      ordered: true,
      handler: (e) => void seen.push(`a:${tag(e)}`),
    });
    await a.publishBatch([1, 2, 3].map((n) => ({ topic: 'orders', type: 'OrderPlaced', partitionKey: 'A', payload: { n } })));
    await until(() => seen.length === 3, 'first three');
    await b.subscribe({ name: 'single-active', topic: 'orders', ordered: true, handler: (e) => void seen.push(`b:${tag(e)}`) });
    await a.publishBatch([4, 5].map((n) => ({ topic: 'orders', type: 'OrderPlaced', partitionKey: 'A', payload: { n } })));
    await until(() => seen.length === 5, 'next two');
    expect(seen.slice(0, 5).every((s) => s.startsWith('a:'))).toBe(true);
    expect((await a.subscriptions.get('single-active'))?.activeMember).toBeDefined();
    await subA.close();
    await a.publish({ topic: 'orders', type: 'OrderPlaced', partitionKey: 'A', payload: { n: 6 } });
    await until(() => seen.length === 6, 'taken over');
    expect(seen[5]).toBe('b:A6');
  });
});

describe('priority', () => {
  it('delivers a backlog high before normal before low, in position order within each', async () => {
    const b = await bus();
    const log: string[] = [];
    await b.subscribe({
      name: 'prioritised',
      topic: 'alerts',
      handler: (e) => void log.push(`${e.routing.priority[0]}${(e.payload as { n: number }).n}`),
    });
    await b.subscriptions.pause('prioritised');
    const priorities: Priority[] = ['low', 'normal', 'high'];
    await b.publishBatch(
      Array.from({ length: 30 }, (_, n) => ({ topic: 'alerts', type: 'Alert', priority: priorities[n % 3], payload: { n } })),
    );
    await b.subscriptions.resume('prioritised');
    await until(() => log.length === 30, 'backlog handled');
    const expected = [
      ...Array.from({ length: 10 }, (_, i) => `h${i * 3 + 2}`),
      ...Array.from({ length: 10 }, (_, i) => `n${i * 3 + 1}`),
      ...Array.from({ length: 10 }, (_, i) => `l${i * 3}`),
    ];
    expect(log).toEqual(expected);
  });

  it('never breaks per-key order: a high event waits behind an earlier event of its key', async () => {
    const b = await bus();
    const log: string[] = [];
    await b.subscribe({ name: 'prio-ordered', topic: 'orders', ordered: true, handler: (e) => void log.push(tag(e)) });
    await b.subscriptions.pause('prio-ordered');
    await b.publishBatch([
      { topic: 'orders', type: 'O', partitionKey: 'K', priority: 'low', payload: { n: 1 } },
      { topic: 'orders', type: 'O', partitionKey: 'K', priority: 'high', payload: { n: 2 } },
      { topic: 'orders', type: 'O', partitionKey: 'J', priority: 'normal', payload: { n: 1 } },
      { topic: 'orders', type: 'O', partitionKey: 'H', priority: 'high', payload: { n: 1 } },
    ]);
    await b.subscriptions.resume('prio-ordered');
    await until(() => log.length === 4, 'all handled');
    expect(log).toEqual(['H1', 'J1', 'K1', 'K2']);
  });
});
