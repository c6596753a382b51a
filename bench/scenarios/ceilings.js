/**
 * The two ceilings of scenario 1, measured with the same handler and payloads:
 * - emitter: Node's EventEmitter delivering in memory (nothing stored);
 * - sqlite-raw: better-sqlite3 inserting the same rows into the same `events` schema, 1,000
 *   rows a transaction through one prepared statement, with the store's pragmas.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEnvelope, createIdGenerator, serializeEnvelope } from '../../dist/index.js';
import { MIGRATIONS } from '../../dist/store/sqlite/migrations.js';
import { Database, withTempDir } from '../lib/env.js';
import { Recorder, cpuPerEvent, makeInput } from '../lib/events.js';
import { latencySummary } from '../lib/stats.js';

const BATCH = 1000;
const PRIORITY_RANK = { high: 0, normal: 1, low: 2 };

/** The `events` table and its indexes, taken from the store's own first migration. */
function eventsDdl() {
  return MIGRATIONS[0].sql
    .split(';')
    .map((statement) => statement.trim())
    .filter((statement) => /\b(TABLE|ON) events\b/.test(statement));
}

async function emitter({ events }) {
  const recorder = new Recorder(events);
  const bus = new EventEmitter();
  bus.on('event', recorder.handler);
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < events; i++) bus.emit('event', { payload: makeInput(i).payload });
  const seconds = (performance.now() - start) / 1000;
  return { events, seconds, cpuPerEvent: cpuPerEvent(cpu, events), ...latencySummary(recorder.latencies()) };
}

/** Rows exactly as the store writes them (same envelope text, same columns). */
function buildRows(events) {
  const clock = { now: () => Date.now() };
  const newId = createIdGenerator({ clock });
  const rows = new Array(events);
  for (let i = 0; i < events; i++) {
    const envelope = createEnvelope(makeInput(i), { clock, newId });
    const { event, routing } = envelope;
    rows[i] = [
      event.id,
      routing.topic,
      event.type,
      event.correlation_id,
      event.causation_id,
      routing.partition_key ?? null,
      PRIORITY_RANK[routing.priority] ?? 1,
      Date.parse(event.timestamp),
      null,
      Date.now(),
      serializeEnvelope(envelope),
    ];
  }
  return rows;
}

function rawInsert(synchronous) {
  return ({ events }) =>
    withTempDir(async (dir) => {
      const rows = buildRows(events);
      const db = new Database(join(dir, 'raw.db'));
      // The store's pragmas (src/store/sqlite/sqlite-store.ts).
      db.pragma('page_size = 8192');
      db.pragma('auto_vacuum = INCREMENTAL');
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      db.pragma('cache_size = -32000');
      db.pragma('temp_store = MEMORY');
      db.pragma('wal_autocheckpoint = 0');
      for (const statement of eventsDdl()) db.exec(statement);
      const insert = db.prepare(
        `INSERT INTO events (id, topic, type, correlation_id, causation_id, partition_key, priority, ts, expires_at, stored_at, body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      );
      const insertBatch = db.transaction((from, to) => {
        for (let i = from; i < to; i++) insert.run(rows[i]);
      });
      const cpu = process.cpuUsage();
      const start = performance.now();
      for (let from = 0; from < events; from += BATCH) insertBatch.immediate(from, Math.min(events, from + BATCH));
      const seconds = (performance.now() - start) / 1000;
      const cpuUs = cpuPerEvent(cpu, events);
      const count = db.prepare('SELECT count(*) FROM events').pluck().get();
      db.close();
      if (count !== events) throw new Error(`sqlite-raw: stored ${count} rows, expected ${events}`);
      return { events, seconds, cpuPerEvent: cpuUs };
    });
}

export const cases = [
  { name: 'emitter', group: 'throughput', label: 'EventEmitter (in-memory ceiling)', run: emitter },
  {
    name: 'sqlite-raw',
    group: 'throughput',
    label: 'raw inserts, NORMAL (storage ceiling)',
    provides: 'normal',
    ceiling: 'normal',
    run: rawInsert('NORMAL'),
  },
  {
    name: 'sqlite-raw-full',
    group: 'throughput',
    label: 'raw inserts, FULL (storage ceiling)',
    provides: 'full',
    ceiling: 'full',
    run: rawInsert('FULL'),
  },
];
