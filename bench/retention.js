/**
 * Retention (ADR 0018): appends N events (~1 KB each, default 1,000,000), then prunes all but
 * the newest 1,000 while a publisher keeps appending, and reports the longest prune
 * transaction (on SQLite, the time the write lock is held by one batch), the prune rate, and
 * the publisher's append latency during the prune. SQLite by default; `--postgres` runs it on
 * a fresh PostgreSQL database (AGENTBUS_BENCH_PG or 127.0.0.1:5432), dropped afterwards.
 *
 *   npm run build && node bench/retention.js [events] [batchSize] [--postgres]
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEnvelopeWithText, createIdGenerator } from '../dist/envelope/index.js';
import { openPostgresStore } from '../dist/store/postgres/index.js';
import { openSqliteStore } from '../dist/store/sqlite/index.js';
import { withTempDir } from './lib/env.js';
import { makeInput } from './lib/events.js';
import { latencySummary } from './lib/stats.js';
import { withDatabase } from './scenarios/postgres.js';

const postgres = process.argv.includes('--postgres');
const [eventsArg, batchArg] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const events = Number(eventsArg ?? 1_000_000);
const batchSize = Number(batchArg ?? 1_000);
const clock = { now: () => Date.now() };
const newId = createIdGenerator({ clock });
const item = (i) => createEnvelopeWithText(makeInput(i), { clock, newId, defaultSource: '/bench' });

/** Runs `fn(store)` on a fresh store of the chosen engine, closed and removed afterwards. */
async function withStore(fn) {
  if (postgres) {
    return withDatabase(async (url) => {
      const store = await openPostgresStore({ url });
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    });
  }
  return withTempDir(async (dir) => {
    const store = await openSqliteStore({ path: join(dir, 'agentbus.db') });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  });
}

await withStore(async (store) => {
  const filled = performance.now();
  for (let at = 0; at < events; at += 1000) {
    await store.append(Array.from({ length: Math.min(1000, events - at) }, (_, i) => item(at + i)));
  }
  const fillSeconds = (performance.now() - filled) / 1000;

  // A publisher appending 10 events every 2 ms throughout the prune.
  let publishing = true;
  const latencies = [];
  const publisher = (async () => {
    let i = events;
    while (publishing) {
      const start = performance.now();
      await store.append(Array.from({ length: 10 }, () => item(i++)));
      latencies.push(performance.now() - start);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();

  const started = performance.now();
  // Gaps between progress reports: a batch's transaction plus the turn of the event loop after it.
  const gaps = [];
  let last = performance.now();
  const result = await store.retention.prune({
    maxEvents: 1000,
    batchSize,
    onProgress: () => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    },
  });
  const seconds = (performance.now() - started) / 1000;
  publishing = false;
  await publisher;
  const append = latencySummary(latencies);
  console.log(
    JSON.stringify(
      {
        engine: postgres ? 'postgresql' : 'sqlite',
        events,
        batchSize,
        fillSeconds: Math.round(fillSeconds * 10) / 10,
        pruned: result.pruned,
        firstRetained: result.firstRetained,
        batches: result.batches,
        pruneSeconds: Math.round(seconds * 100) / 100,
        prunedPerSecond: Math.round(result.pruned / seconds),
        longestBatchMs: Math.round(result.longestBatchMs * 10) / 10,
        batchGapMs: latencySummary(gaps),
        appendsDuringPrune: latencies.length,
        appendLatencyMs: append,
      },
      null,
      2,
    ),
  );
});
