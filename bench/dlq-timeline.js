/**
 * The cost of a correlation timeline next to a long dead-letter queue: fills the store with N
 * unrelated dead letters (default 20,000: one event each, each of its own correlation), then a
 * flow of 10 events, 2 of them dead-lettered, and times `timeline(store, flow)` (median of the
 * runs, after one warm-up) and counts the dead letters it read through
 * `deliveries.listDeadLetters` (the calls and the rows they returned). Before dead letters
 * could be listed by correlation the timeline paged through the whole queue; now it reads the
 * flow's own.
 *
 * SQLite by default; `--postgres` runs it in a fresh PostgreSQL database (AGENTBUS_BENCH_PG or
 * 127.0.0.1:5432), dropped afterwards. `--dist DIR` runs another build (e.g. one of the commit
 * before, for the figures before the change).
 *
 *   npm run build && node bench/dlq-timeline.js [dead letters] [--postgres] [--dist DIR] [--runs N]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

const args = process.argv.slice(2);
const postgres = args.includes('--postgres');
const flagValue = (flag) => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
};
const dist = resolve(flagValue('--dist') ?? new URL('../dist', import.meta.url).pathname);
const runs = Number(flagValue('--runs') ?? 20);
const unrelated = Number(args.find((arg, i) => /^\d+$/.test(arg) && !['--dist', '--runs'].includes(args[i - 1])) ?? 20_000);
const FLOW = 'flow-measured';
const FLOW_EVENTS = 10;
/** Events appended, and deliveries claimed and settled, per call while filling. */
const CHUNK = 1_000;

const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { openSqliteStore } = await load('store/sqlite/index.js');
const { openPostgresStore } = await load('store/postgres/index.js');
const { createEnvelopeWithText, createIdGenerator } = await load('envelope/index.js');
const { timeline } = await load('observe/index.js');

const BASE = process.env.AGENTBUS_BENCH_PG ?? process.env.AGENTBUS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
function urlOf(database) {
  const url = new URL(BASE);
  url.pathname = `/${database}`;
  return url.toString();
}
async function admin(sql) {
  const client = new pg.Client({ connectionString: urlOf('test') });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Runs `fn(store)` on a fresh store of the chosen engine, closed and removed afterwards. */
async function withStore(fn) {
  if (postgres) {
    const name = `agentbus_bench_${randomBytes(5).toString('hex')}`;
    await admin(`CREATE DATABASE "${name}"`);
    try {
      const store = await openPostgresStore({ url: urlOf(name) });
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    } finally {
      await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-'));
  try {
    const store = await openSqliteStore({ path: join(dir, 'agentbus.db') });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const clock = { now: () => Date.now() };
const newId = createIdGenerator({ clock });
const item = (input) =>
  createEnvelopeWithText({ topic: 'bench.jobs', type: 'Job', payload: {}, ...input }, { clock, newId, defaultSource: '/bench' });

/** Subscription `q` takes every event it has not settled: dead-letters those `dead` picks, acknowledges the rest. */
async function work(store, dead) {
  await store.deliveries.ensureConsumer({ name: 'q', topic: '>', start: 'earliest' });
  for (;;) {
    const { deliveries } = await store.deliveries.claim({
      consumer: 'q',
      owner: 'bench',
      max: CHUNK,
      leaseMs: 600_000,
      matchTopic: () => true,
    });
    if (deliveries.length === 0) return;
    await store.deliveries.settle(
      deliveries.map((d) => ({
        consumer: 'q',
        seq: d.event.seq,
        topic: d.event.envelope.routing.topic,
        attempt: d.attempt,
        lease: d.lease,
        outcome: dead(d.event.envelope.event.id)
          ? { kind: 'dead', error: { reason: 'invalid_payload', message: 'refused by the bench' } }
          : { kind: 'ack' },
      })),
    );
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

await withStore(async (store) => {
  for (let at = 0; at < unrelated; at += CHUNK) {
    await store.append(Array.from({ length: Math.min(CHUNK, unrelated - at) }, () => item({})));
  }
  await store.append(Array.from({ length: FLOW_EVENTS }, (_, i) => item({ id: `flow-${i}`, correlationId: FLOW })));
  await work(store, (id) => !id.startsWith('flow-') || id === 'flow-3' || id === 'flow-7');

  // Counts what the timeline reads from the dead-letter queue.
  const list = store.deliveries.listDeadLetters.bind(store.deliveries);
  const read = { calls: 0, rows: 0 };
  store.deliveries.listDeadLetters = async (filter) => {
    const rows = await list(filter);
    read.calls++;
    read.rows += rows.length;
    return rows;
  };
  const entries = await timeline(store, FLOW);
  const perRun = { ...read };
  const times = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await timeline(store, FLOW);
    times.push(performance.now() - started);
  }
  console.log(
    JSON.stringify(
      {
        engine: postgres ? 'postgresql' : 'sqlite',
        dist,
        deadLetters: unrelated + 2,
        flow: { events: FLOW_EVENTS, deadLetters: entries.filter((e) => e.kind === 'dead_letter').length },
        timeline: {
          runs,
          medianMs: Math.round(median(times) * 100) / 100,
          minMs: Math.round(Math.min(...times) * 100) / 100,
          listDeadLettersCalls: perRun.calls,
          deadLettersRead: perRun.rows,
        },
      },
      null,
      2,
    ),
  );
});
