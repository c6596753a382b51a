/**
 * Scenario 1: publish -> deliver -> ack throughput on the embedded default (SQLite file,
 * store-backed transport), one subscription started at 'latest' before publishing.
 *
 * - publish: one bus.publish per event, not awaited; the caller yields to the event loop
 *   every 1,000 calls, so the group commit sees 1,000 appends per tick.
 * - batch: awaited bus.publishBatch of 1,000 events.
 *
 * Throughput = events / (first publish -> last ack committed, i.e. subscription.idle()).
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBus } from '../../dist/index.js';
import { tick, withTempDir } from '../lib/env.js';
import { Recorder, TOPIC, cpuPerEvent, makeInput } from '../lib/events.js';
import { latencySummary } from '../lib/stats.js';

const CHUNK = 1000;

async function publishEach(bus, events) {
  const pending = [];
  for (let i = 0; i < events; i++) {
    pending.push(bus.publish(makeInput(i)));
    if ((i + 1) % CHUNK === 0) await tick();
  }
  await Promise.all(pending);
}

async function publishBatches(bus, events) {
  for (let from = 0; from < events; from += CHUNK) {
    const inputs = [];
    for (let i = from; i < Math.min(events, from + CHUNK); i++) inputs.push(makeInput(i));
    await bus.publishBatch(inputs);
  }
}

function busCase(publish, synchronous) {
  return ({ events }) =>
    withTempDir(async (dir) => {
      const bus = await createBus({ path: join(dir, 'bus.db'), sqlite: { synchronous } });
      try {
        const recorder = new Recorder(events);
        const subscription = await bus.subscribe({ name: 'bench', topic: TOPIC, start: 'latest', handler: recorder.handler });
        const cpu = process.cpuUsage();
        const start = performance.now();
        await publish(bus, events);
        const published = performance.now();
        await recorder.done;
        await subscription.idle();
        const end = performance.now();
        const info = await bus.subscriptions.get('bench');
        if (info.ackFloor !== info.nextSeq - 1 || info.inFlight !== 0) {
          throw new Error(`not all acks committed: ${JSON.stringify(info)}`);
        }
        return {
          events,
          seconds: (end - start) / 1000,
          publishSeconds: (published - start) / 1000,
          cpuPerEvent: cpuPerEvent(cpu, events),
          ...latencySummary(recorder.latencies()),
        };
      } finally {
        await bus.close();
      }
    });
}

export const cases = [
  {
    name: 'bus-publish',
    group: 'throughput',
    label: 'agentbus publish each, NORMAL',
    ceiling: 'normal',
    run: busCase(publishEach, 'normal'),
  },
  {
    name: 'bus-batch',
    group: 'throughput',
    label: 'agentbus publishBatch 1000, NORMAL',
    ceiling: 'normal',
    run: busCase(publishBatches, 'normal'),
  },
  {
    name: 'bus-publish-full',
    group: 'throughput',
    label: 'agentbus publish each, FULL',
    ceiling: 'full',
    run: busCase(publishEach, 'full'),
  },
  {
    name: 'bus-batch-full',
    group: 'throughput',
    label: 'agentbus publishBatch 1000, FULL',
    ceiling: 'full',
    run: busCase(publishBatches, 'full'),
  },
];
