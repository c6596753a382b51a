/**
 * Scenario 2: a paced publisher at 1,000 events/s (one bus.publish per millisecond, from a
 * timer that catches up when it fires late; no batching by the caller), one subscription.
 * Reports publish-to-handler latency and stalls: gaps in handler starts, or latencies,
 * longer than 10 ms (overlapping ones count once).
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBus } from '../../dist/index.js';
import { withTempDir } from '../lib/env.js';
import { Recorder, TOPIC, cpuPerEvent, makeInput } from '../lib/events.js';
import { latencySummary, stalls } from '../lib/stats.js';

const RATE = 1000;
const WARMUP = 500;
const STALL_MS = 10;

/** Publishes `events` at RATE/s; resolves with the worst lateness of the timer (ms). */
function pacedPublish(publish, events, onError) {
  return new Promise((resolve) => {
    const start = performance.now();
    let sent = 0;
    let lateness = 0;
    const step = () => {
      const now = performance.now();
      const due = Math.min(events, Math.floor(((now - start) * RATE) / 1000) + 1);
      if (due > sent) lateness = Math.max(lateness, now - (start + ((due - 1) * 1000) / RATE));
      while (sent < due) publish(makeInput(sent++)).catch(onError);
      if (sent < events) setTimeout(step, 1);
      else resolve(lateness);
    };
    step();
  });
}

/** The paced scenario's figures, from `start` (performance.now()) and `cpu` (process.cpuUsage()). */
function summarize(recorder, start, cpu, timerLateness) {
  const stall = stalls(recorder.sent, recorder.started, STALL_MS);
  return {
    events: recorder.n,
    seconds: (performance.now() - start) / 1000,
    ...latencySummary(recorder.latencies()),
    stalls: stall.count,
    maxGap: stall.maxGap,
    slowEvents: stall.slowEvents,
    timerLateness,
    cpuPerEvent: cpuPerEvent(cpu, recorder.n),
  };
}

function pacedCase(synchronous) {
  return ({ quick }) =>
    withTempDir(async (dir) => {
      const bus = await createBus({ path: join(dir, 'bus.db'), sqlite: { synchronous } });
      try {
        let recorder = new Recorder(WARMUP);
        const handler = (envelope) => recorder.handler(envelope);
        const subscription = await bus.subscribe({ name: 'bench', topic: TOPIC, start: 'latest', handler });
        const errors = [];
        const publish = (input) => bus.publish(input);
        const onError = (error) => errors.push(error);
        // Warm-up (not measured): JIT, statement caches, the first WAL pages.
        await pacedPublish(publish, WARMUP, onError);
        await recorder.done;
        await subscription.idle();
        recorder = new Recorder(quick ? RATE : 10 * RATE);
        const cpu = process.cpuUsage();
        const start = performance.now();
        const lateness = await pacedPublish(publish, recorder.n, onError);
        await recorder.done;
        await subscription.idle();
        if (errors.length > 0) throw errors[0];
        return summarize(recorder, start, cpu, lateness);
      } finally {
        await bus.close();
      }
    });
}

/**
 * The noise floor of this machine: the same paced timer delivering through an EventEmitter
 * on the next setImmediate (no storage). Stalls here are the machine's (other processes,
 * timers), not agentbus's.
 */
async function pacedEmitter({ quick }) {
  const recorder = new Recorder(quick ? RATE : 10 * RATE);
  const emitter = new EventEmitter();
  emitter.on('event', recorder.handler);
  const publish = (input) => {
    setImmediate(() => emitter.emit('event', { payload: input.payload }));
    return Promise.resolve();
  };
  const cpu = process.cpuUsage();
  const start = performance.now();
  const lateness = await pacedPublish(publish, recorder.n, () => {});
  await recorder.done;
  return summarize(recorder, start, cpu, lateness);
}

export const cases = [
  {
    name: 'paced-emitter',
    group: 'latency',
    label: 'EventEmitter paced 1,000/s (noise floor of the machine)',
    run: pacedEmitter,
  },
  { name: 'paced', group: 'latency', label: 'agentbus paced 1,000/s, NORMAL', run: pacedCase('normal') },
  { name: 'paced-full', group: 'latency', label: 'agentbus paced 1,000/s, FULL', run: pacedCase('full') },
];
