/**
 * Scenario 2: a paced publisher at 1,000 events/s (one bus.publish per millisecond, from a
 * timer that catches up when it fires late; no batching by the caller), one subscription.
 * Reports publish-to-handler latency and stalls: gaps in handler starts, or latencies,
 * longer than 10 ms (overlapping ones count once).
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBus } from '../../dist/index.js';
import { closeBus, withTempDir } from '../lib/env.js';
import { Recorder, TOPIC, makeInput } from '../lib/events.js';
import { latencySummary, stalls } from '../lib/stats.js';

const RATE = 1000;
const WARMUP = 500;
const STALL_MS = 10;

/** Publishes `events` at RATE/s; resolves with the worst lateness of the timer (ms). */
function pacedPublish(bus, events, onError) {
  return new Promise((resolve) => {
    const start = performance.now();
    let sent = 0;
    let lateness = 0;
    const step = () => {
      const now = performance.now();
      const due = Math.min(events, Math.floor(((now - start) * RATE) / 1000) + 1);
      if (due > sent) lateness = Math.max(lateness, now - (start + ((due - 1) * 1000) / RATE));
      while (sent < due) bus.publish(makeInput(sent++)).catch(onError);
      if (sent < events) setTimeout(step, 1);
      else resolve(lateness);
    };
    step();
  });
}

function pacedCase(synchronous) {
  return ({ events: throughputEvents, quick }) =>
    withTempDir(async (dir) => {
      const events = quick ? RATE : 10 * RATE;
      void throughputEvents;
      const bus = await createBus({ path: join(dir, 'bus.db'), sqlite: { synchronous } });
      try {
        let recorder = new Recorder(WARMUP);
        const subscription = await bus.subscribe({
          name: 'bench',
          topic: TOPIC,
          start: 'latest',
          handler: (envelope) => recorder.handler(envelope),
        });
        const errors = [];
        // Warm-up (not measured): JIT, statement caches, the first WAL pages.
        await pacedPublish(bus, WARMUP, (e) => errors.push(e));
        await recorder.done;
        await subscription.idle();
        recorder = new Recorder(events);
        const start = performance.now();
        const lateness = await pacedPublish(bus, events, (e) => errors.push(e));
        await recorder.done;
        await subscription.idle();
        const seconds = (performance.now() - start) / 1000;
        if (errors.length > 0) throw errors[0];
        const stall = stalls(recorder.sent, recorder.started, STALL_MS);
        return {
          events,
          seconds,
          ...latencySummary(recorder.latencies()),
          stalls: stall.count,
          maxGap: stall.maxGap,
          slowEvents: stall.slowEvents,
          timerLateness: lateness,
        };
      } finally {
        await closeBus(bus);
      }
    });
}

export const cases = [
  { name: 'paced', group: 'paced', label: 'agentbus paced 1,000/s, NORMAL', run: pacedCase('normal') },
  { name: 'paced-full', group: 'paced', label: 'agentbus paced 1,000/s, FULL', run: pacedCase('full') },
];
