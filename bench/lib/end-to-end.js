/**
 * The publish -> handle -> ack job every agentbus case runs, whatever the backend: one
 * subscription started at 'latest', then `events` published, timed until the last ack is
 * committed (`subscription.idle()`).
 */
import { performance } from 'node:perf_hooks';
import { tick } from './env.js';
import { Recorder, TOPIC, cpuPerEvent, makeInput } from './events.js';
import { latencySummary } from './stats.js';

const CHUNK = 1000;

/** One `bus.publish` per event, not awaited; yields every 1,000 so a tick sees 1,000 appends. */
export async function publishEach(bus, events) {
  const pending = [];
  for (let i = 0; i < events; i++) {
    pending.push(bus.publish(makeInput(i)));
    if ((i + 1) % CHUNK === 0) await tick();
  }
  await Promise.all(pending);
}

/** Awaited `bus.publishBatch` of 1,000 events. */
export async function publishBatches(bus, events) {
  for (let from = 0; from < events; from += CHUNK) {
    const inputs = [];
    for (let i = from; i < Math.min(events, from + CHUNK); i++) inputs.push(makeInput(i));
    await bus.publishBatch(inputs);
  }
}

/**
 * Runs the job on `bus` and returns the case's result. Checks that every ack was committed
 * (store-backed transports), so an unacknowledged run cannot pass for a fast one.
 */
export async function measureEndToEnd(bus, events, publish) {
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
}
