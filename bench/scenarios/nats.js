/**
 * Group `nats`: the publish -> handle -> ack job on brokers, same ~1 KB events, same handler.
 *
 * - jetstream-raw: nats.js 3 alone on nats-server (file storage): concurrent js.publish of the
 *   envelope text, one durable pull consumer read with consume(), JSON.parse, handler, ack().
 *   The ceiling for agentbus on NATS. Its envelopes are built and validated as bus.publish
 *   builds them, text included (one JSON.stringify each; until 2026-11-24 it stringified
 *   twice, which cost the ceiling about 13% of its events/s).
 * - bus-nats: agentbus on the NATS transport (file storage), bus.publish each (not awaited,
 *   yielding every 1,000), one subscription; the recorder writes every event into a SQLite
 *   store meanwhile. Throughput is measured to the last handler start and acks sent; the
 *   recorder's catch-up is reported apart (historySeconds).
 * - bus-nats-no-recorder: the same without the recorder (another process would record).
 * - bullmq: BullMQ 6 (ioredis) on Redis at 127.0.0.1:6379: the same envelopes as job data,
 *   addBulk of 1,000, a Worker with concurrency 100 (the setting of the peer figure in
 *   PERFORMANCE.md; agentbus holds up to 256 deliveries per subscription), jobs removed on
 *   completion; measured to the last completion (BullMQ's ack).
 *
 * Each case uses a stream or queue of its own and deletes it afterwards.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBus, createEnvelope, createIdGenerator } from '../../dist/index.js';
import { createEnvelopeWithText } from '../../dist/envelope/index.js';
import { openSqliteStore } from '../../dist/store/sqlite/index.js';
import { createNatsTransport } from '../../dist/transport/nats/index.js';
import { tick, withTempDir } from '../lib/env.js';
import { Recorder, TOPIC, cpuPerEvent, makeInput } from '../lib/events.js';
import { latencySummary } from '../lib/stats.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const REDIS = { host: '127.0.0.1', port: 6379 };
const CHUNK = 1000;
/** BullMQ worker concurrency, as in the peer figures of PERFORMANCE.md (agentbus holds up to 256 deliveries). */
const BULLMQ_CONCURRENCY = 100;

const runId = () => randomBytes(4).toString('hex');

/** BullMQ needs a Redis client package (ioredis or redis) installed beside it. */
function redisClientInstalled() {
  const require = createRequire(import.meta.url);
  for (const name of ['ioredis', 'redis']) {
    try {
      require.resolve(name);
      return true;
    } catch {}
  }
  return false;
}

async function jetstreamRaw({ events }) {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, StorageType } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  const stream = `BENCH_RAW_${runId()}`;
  const subject = `${stream.toLowerCase()}.${TOPIC}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream.toLowerCase()}.>`], storage: StorageType.File });
  try {
    await jsm.consumers.add(stream, {
      durable_name: 'bench',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 10_000,
    });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(stream, 'bench');
    const recorder = new Recorder(events);
    const messages = await consumer.consume({
      max_messages: 256,
      callback: (m) => {
        recorder.handler(JSON.parse(m.string()));
        m.ack();
      },
    });
    const clock = { now: () => Date.now() };
    const newId = createIdGenerator({ clock });
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let from = 0; from < events; from += CHUNK) {
      const acks = [];
      for (let i = from; i < Math.min(events, from + CHUNK); i++) {
        // The envelope and its text from one JSON.stringify, as bus.publish builds them
        // (createEnvelope and then serializeEnvelope would stringify it twice).
        const { envelope, text } = createEnvelopeWithText(makeInput(i), { clock, newId });
        acks.push(js.publish(subject, text, { msgID: envelope.event.id }));
      }
      await Promise.all(acks);
    }
    const published = performance.now();
    await recorder.done;
    await nc.flush();
    const end = performance.now();
    await messages.close();
    return {
      events,
      seconds: (end - start) / 1000,
      publishSeconds: (published - start) / 1000,
      cpuPerEvent: cpuPerEvent(cpu, events),
      ...latencySummary(recorder.latencies()),
    };
  } finally {
    await jsm.streams.delete(stream).catch(() => {});
    await nc.close();
  }
}

function busNats(recording) {
  return ({ events }) =>
    withTempDir(async (dir) => {
      const store = await openSqliteStore({ path: join(dir, 'history.db'), synchronous: 'normal' });
      const run = runId();
      const transport = await createNatsTransport({
        servers: NATS_URL,
        store,
        stream: `BENCH_BUS_${run}`,
        subjectPrefix: `bench-${run}`,
        recorder: recording,
      });
      const bus = await createBus({ store, transport });
      try {
        const recorder = new Recorder(events);
        const subscription = await bus.subscribe({ name: 'bench', topic: TOPIC, start: 'latest', handler: recorder.handler });
        const cpu = process.cpuUsage();
        const start = performance.now();
        const pending = [];
        for (let i = 0; i < events; i++) {
          pending.push(bus.publish(makeInput(i)));
          if ((i + 1) % CHUNK === 0) {
            await tick();
            // Bound the publishes in flight as the raw case does (one chunk of acks at a time).
            await Promise.all(pending.splice(0));
          }
        }
        await Promise.all(pending);
        const published = performance.now();
        await recorder.done;
        await subscription.idle();
        await tick(); // acks are sent together once per turn of the event loop
        const end = performance.now();
        let historySeconds;
        if (recording) {
          await transport.waitForHistory(300_000);
          historySeconds = (performance.now() - start) / 1000;
        }
        return {
          events,
          seconds: (end - start) / 1000,
          publishSeconds: (published - start) / 1000,
          ...(historySeconds !== undefined ? { historySeconds } : {}),
          cpuPerEvent: cpuPerEvent(cpu, events),
          ...latencySummary(recorder.latencies()),
        };
      } finally {
        await bus.close();
        await transport.destroy().catch(() => {});
        await transport.close();
        await store.close();
      }
    });
}

async function bullmq({ events }) {
  const { Queue, Worker } = await import('bullmq');
  const name = `bench-${runId()}`;
  const queue = new Queue(name, { connection: REDIS });
  const recorder = new Recorder(events);
  let completed = 0;
  let allCompleted;
  const finished = new Promise((resolve) => {
    allCompleted = resolve;
  });
  // The same job as the other cases: the handler gets the event (here the envelope as the
  // job's data, JSON in Redis), runs, and the job is acknowledged (moved to completed and
  // removed, as removeOnComplete does).
  const worker = new Worker(
    name,
    async (job) => {
      recorder.handler(job.data);
    },
    { connection: REDIS, concurrency: BULLMQ_CONCURRENCY, removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } },
  );
  worker.on('completed', () => {
    if (++completed === events) allCompleted();
  });
  try {
    await worker.waitUntilReady();
    const clock = { now: () => Date.now() };
    const newId = createIdGenerator({ clock });
    const cpu = process.cpuUsage();
    const start = performance.now();
    for (let from = 0; from < events; from += CHUNK) {
      const jobs = [];
      for (let i = from; i < Math.min(events, from + CHUNK); i++) {
        const envelope = createEnvelope(makeInput(i), { clock, newId });
        jobs.push({ name: TOPIC, data: envelope });
      }
      await queue.addBulk(jobs);
    }
    const published = performance.now();
    await finished;
    const end = performance.now();
    return {
      events,
      seconds: (end - start) / 1000,
      publishSeconds: (published - start) / 1000,
      cpuPerEvent: cpuPerEvent(cpu, events),
      ...latencySummary(recorder.latencies()),
    };
  } finally {
    await worker.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

export const cases = [
  {
    name: 'jetstream-raw',
    group: 'nats',
    label: 'nats.js JetStream publish/consume/ack (ceiling)',
    provides: 'jetstream',
    run: jetstreamRaw,
  },
  {
    name: 'bus-nats',
    group: 'nats',
    label: 'agentbus on NATS, recorder on',
    ceiling: 'jetstream',
    run: busNats(true),
  },
  {
    name: 'bus-nats-no-recorder',
    group: 'nats',
    label: 'agentbus on NATS, no recorder',
    ceiling: 'jetstream',
    run: busNats(false),
  },
];

if (redisClientInstalled()) {
  cases.push({ name: 'bullmq', group: 'nats', label: 'BullMQ 6 on Redis, addBulk + Worker concurrency 100', run: bullmq });
} else if (!process.argv.includes('--child')) {
  process.stderr.write('bench: case bullmq left out: BullMQ 6 needs ioredis (or redis), which is not installed\n');
}
