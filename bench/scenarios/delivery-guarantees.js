/**
 * Delivery-guarantee scenarios (issue 3):
 *
 * - poison: the same publish -> handle -> ack job with and without 1% poison events (they
 *   fail every attempt: retried on a short backoff, then dead-lettered). Reports the healthy
 *   throughput of both and the drop. Aim: the poisoned run keeps > 90% of the healthy rate.
 * - slow-consumer: 200,000 events behind a consumer handling 100 a second; samples heap and
 *   RSS (after GC when --expose-gc is on) while it works. Aim: flat within a few MB.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBus } from '../../dist/index.js';
import { withTempDir } from '../lib/env.js';
import { TOPIC, makeInput } from '../lib/events.js';

const CHUNK = 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const MB = 1024 * 1024;

/** Publishes `events` (1 in 100 marked poison when `poison`) and waits until every healthy one is handled. */
async function healthyRate(dir, name, events, poison) {
  const bus = await createBus({
    path: join(dir, `${name}.db`),
    retry: { max_retries: 2, backoff_type: 'fixed', initial_delay: '20ms' },
  });
  try {
    const healthy = poison ? events - Math.floor(events / 100) : events;
    let handled = 0;
    let resolve;
    const done = new Promise((r) => {
      resolve = r;
    });
    await bus.subscribe({
      name: 'bench',
      topic: TOPIC,
      concurrency: 8,
      handler: (envelope) => {
        if (envelope.payload.poison) throw new Error('poison event');
        if (++handled === healthy) resolve();
      },
    });
    const start = performance.now();
    for (let from = 0; from < events; from += CHUNK) {
      const inputs = [];
      for (let i = from; i < Math.min(events, from + CHUNK); i++) {
        const input = makeInput(i);
        if (poison && i % 100 === 50) input.payload.poison = true;
        inputs.push(input);
      }
      await bus.publishBatch(inputs);
    }
    await done;
    const seconds = (performance.now() - start) / 1000;
    return { healthy, seconds, rate: healthy / seconds };
  } finally {
    await bus.close();
  }
}

/** Baseline and poisoned runs alternate (three pairs) so load changes hit both alike; medians compared. */
async function poisonCase({ events }) {
  return withTempDir(async (dir) => {
    await healthyRate(dir, 'warm-up', Math.min(events, 10_000), true);
    const baseline = [];
    const poisoned = [];
    for (let pair = 0; pair < 3; pair++) {
      baseline.push(await healthyRate(dir, `baseline-${pair}`, events, false));
      poisoned.push(await healthyRate(dir, `poisoned-${pair}`, events, true));
    }
    const medianRate = (runs) => runs.map((r) => r.rate).sort((a, b) => a - b)[1];
    const base = medianRate(baseline);
    const poison = medianRate(poisoned);
    const drop = 100 * (1 - poison / base);
    const middle = poisoned.find((r) => r.rate === poison);
    return {
      events: middle.healthy,
      seconds: middle.seconds,
      baselineRate: base,
      dropPercent: drop,
      note: `healthy events/s with 1% poison vs none, median of 3 alternating pairs: ${Math.round(poison)} vs ${Math.round(base)} (drop ${drop.toFixed(1)}%)`,
    };
  });
}

async function slowConsumerCase({ quick }) {
  const backlog = quick ? 20_000 : 200_000;
  return withTempDir(async (dir) => {
    const path = join(dir, 'slow.db');
    const publisher = await createBus({ path });
    for (let from = 0; from < backlog; from += CHUNK) {
      const inputs = [];
      for (let i = from; i < Math.min(backlog, from + CHUNK); i++) inputs.push(makeInput(i));
      await publisher.publishBatch(inputs);
    }
    await publisher.close();
    const bus = await createBus({ path });
    try {
      let handled = 0;
      await bus.subscribe({
        name: 'slow',
        topic: TOPIC,
        start: 'earliest',
        handler: async () => {
          await sleep(10);
          handled++;
        },
      });
      // Warm-up: the first claims, the page cache and the checkpoint worker's start settle in.
      await sleep(3000);
      const samples = [];
      const start = performance.now();
      for (let i = 0; i <= (quick ? 6 : 20); i++) {
        globalThis.gc?.();
        const { heapUsed, rss } = process.memoryUsage();
        samples.push({ heapUsed, rss, handled });
        await sleep(500);
      }
      const heap = samples.map((s) => s.heapUsed);
      const rss = samples.map((s) => s.rss);
      const worked = (samples.at(-1)?.handled ?? 0) - (samples[0]?.handled ?? 0);
      return {
        events: worked,
        seconds: (performance.now() - start) / 1000,
        heapSpreadMB: (Math.max(...heap) - Math.min(...heap)) / MB,
        rssSpreadMB: (Math.max(...rss) - Math.min(...rss)) / MB,
        note:
          `${backlog.toLocaleString('en-US')} events behind a consumer at ~100/s: heap ${(Math.min(...heap) / MB).toFixed(1)}-${(Math.max(...heap) / MB).toFixed(1)} MB, ` +
          `RSS ${(Math.min(...rss) / MB).toFixed(1)}-${(Math.max(...rss) / MB).toFixed(1)} MB over ${samples.length} samples`,
      };
    } finally {
      await bus.close();
    }
  });
}

export const cases = [
  { name: 'poison', group: 'guarantees', label: 'agentbus with 1% poison events vs none (healthy rate)', run: poisonCase },
  { name: 'slow-consumer', group: 'guarantees', label: 'slow consumer behind a large backlog: memory', run: slowConsumerCase },
];
