/**
 * PostgreSQL: agentbus on the PostgreSQL store against its ceiling and a peer, on the same
 * 1 KB events, each case in a database of its own (created, then dropped):
 *
 * - pg-raw: raw `pg` batched inserts, 1,000 rows a statement (`unnest`), into the store's own
 *   `events` table and indexes: the storage ceiling of agentbus on PostgreSQL.
 * - pg-bus-publish / pg-bus-batch: agentbus on PostgreSQL, publish -> handle -> ack end to end
 *   (store-backed transport, one subscription), publish each / publishBatch of 1,000.
 * - pgboss: pg-boss 10 doing the same job: `insert` batches of 1,000 jobs while a tight
 *   `fetch(100)` + `complete` loop handles them (its `work()` polls every 0.5 s at best).
 *
 * The server: AGENTBUS_BENCH_PG or AGENTBUS_TEST_PG (a URL without a database), default
 * postgres://postgres@127.0.0.1:5432; databases are created through the `test` database.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { createBus, createEnvelope, createIdGenerator, serializeEnvelope } from '../../dist/index.js';
import { POSTGRES_MIGRATIONS, openPostgresStore } from '../../dist/store/postgres/index.js';
import { measureEndToEnd, publishBatches, publishEach } from '../lib/end-to-end.js';
import { Recorder, cpuPerEvent, makeInput } from '../lib/events.js';
import { latencySummary } from '../lib/stats.js';

const BASE = process.env.AGENTBUS_BENCH_PG ?? process.env.AGENTBUS_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432';
const BATCH = 1000;
const PRIORITY_RANK = { high: 0, normal: 1, low: 2 };
const _tick = () => new Promise((resolve) => setImmediate(resolve));

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

/** Runs `fn(url)` in a fresh database, dropped afterwards. */
export async function withDatabase(fn) {
  const name = `agentbus_bench_${randomBytes(5).toString('hex')}`;
  await admin(`CREATE DATABASE "${name}"`);
  try {
    return await fn(urlOf(name));
  } finally {
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
}

/** Rows exactly as the store writes them (same envelope text, same columns). */
function buildRows(events) {
  const clock = { now: () => Date.now() };
  const newId = createIdGenerator({ clock });
  const rows = [];
  for (let i = 0; i < events; i++) {
    const envelope = createEnvelope(makeInput(i), { clock, newId });
    rows.push({ envelope, text: serializeEnvelope(envelope) });
  }
  return rows;
}

async function raw({ events }) {
  return withDatabase(async (url) => {
    const rows = buildRows(events);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // The store's schema, from its own first migration.
      await client.query('CREATE SCHEMA agentbus');
      await client.query(POSTGRES_MIGRATIONS[0].sql('"agentbus"'));
      const text = `INSERT INTO agentbus.events (seq, id, topic, type, correlation_id, causation_id, partition_key, priority, ts, expires_at, stored_at, target, body)
        SELECT u.*, $11, NULL, u2.body FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::smallint[], $9::bigint[], $10::bigint[])
          AS u(seq, id, topic, type, correlation_id, causation_id, partition_key, priority, ts, expires_at)
        JOIN unnest($1::bigint[], $12::text[]) AS u2(seq, body) USING (seq)`;
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (let from = 0; from < events; from += BATCH) {
        const cols = Array.from({ length: 11 }, () => []);
        for (let i = from; i < Math.min(events, from + BATCH); i++) {
          const { envelope, text: body } = rows[i];
          const { event, routing } = envelope;
          const values = [
            i + 1,
            event.id,
            routing.topic,
            event.type,
            event.correlation_id,
            event.causation_id,
            routing.partition_key ?? null,
            PRIORITY_RANK[routing.priority] ?? 1,
            Date.parse(event.timestamp),
            null,
            body,
          ];
          for (const [c, v] of values.entries()) cols[c].push(v);
        }
        const body = cols.pop();
        await client.query({ name: 'raw', text, values: [...cols, Date.now(), body] });
      }
      const seconds = (performance.now() - start) / 1000;
      const { rows: counted } = await client.query('SELECT count(*)::int AS n FROM agentbus.events');
      if (counted[0].n !== events) throw new Error(`pg-raw: stored ${counted[0].n} rows, expected ${events}`);
      return { events, seconds, cpuPerEvent: cpuPerEvent(cpu, events) };
    } finally {
      await client.end();
    }
  });
}

function busCase(publish) {
  return ({ events }) =>
    withDatabase(async (url) => {
      const store = await openPostgresStore({ url });
      const bus = await createBus({ store });
      try {
        return await measureEndToEnd(bus, events, publish);
      } finally {
        await bus.close();
        await store.close();
      }
    });
}

async function pgboss({ events }) {
  return withDatabase(async (url) => {
    const boss = new PgBoss({ connectionString: url, max: 10, supervise: false, schedule: false, migrate: true });
    boss.on('error', () => {});
    await boss.start();
    try {
      const queue = 'bench';
      await boss.createQueue(queue);
      const recorder = new Recorder(events);
      let handled = 0;
      const consume = (async () => {
        while (handled < events) {
          const jobs = await boss.fetch(queue, { batchSize: 100 });
          if (jobs.length === 0) {
            await new Promise((resolve) => setTimeout(resolve, 1));
            continue;
          }
          for (const job of jobs) recorder.handler(job.data);
          await boss.complete(
            queue,
            jobs.map((j) => j.id),
          );
          handled += jobs.length;
        }
      })();
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (let from = 0; from < events; from += BATCH) {
        const jobs = [];
        for (let i = from; i < Math.min(events, from + BATCH); i++) jobs.push({ name: queue, data: makeInput(i) });
        await boss.insert(jobs);
      }
      const published = performance.now();
      await consume;
      const end = performance.now();
      return {
        events,
        seconds: (end - start) / 1000,
        publishSeconds: (published - start) / 1000,
        cpuPerEvent: cpuPerEvent(cpu, events),
        ...latencySummary(recorder.latencies()),
      };
    } finally {
      await boss.stop({ graceful: false, wait: true });
    }
  });
}

export const cases = [
  {
    name: 'pg-raw',
    group: 'postgres',
    label: 'raw pg batched inserts, 1000 rows a statement (PostgreSQL ceiling)',
    provides: 'pg',
    ceiling: 'pg',
    run: raw,
  },
  {
    name: 'pg-bus-publish',
    group: 'postgres',
    label: 'agentbus on PostgreSQL, publish each',
    ceiling: 'pg',
    run: busCase(publishEach),
  },
  {
    name: 'pg-bus-batch',
    group: 'postgres',
    label: 'agentbus on PostgreSQL, publishBatch 1000',
    ceiling: 'pg',
    run: busCase(publishBatches),
  },
  { name: 'pgboss', group: 'postgres', label: 'pg-boss 10: insert 1000 + fetch(100)/complete loop', ceiling: 'pg', run: pgboss },
];
