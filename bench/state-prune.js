/**
 * Pruning old state records (ADR 0019): fills the chain-budget namespace (`agents.budget`, one
 * small counter per correlation, random correlation ids) with N records, 1% of them written a
 * day earlier, then times `pruneBudgets` twice: the first prune deletes the old 1%, the second
 * finds nothing due (what the hourly prune costs most hours). Also reports the fill rate (puts
 * through the group commit), where the new index costs a little on every write, and the time
 * to list the whole namespace (what every prune read before ADR 0019).
 *
 * SQLite by default; `--postgres` runs it in a fresh PostgreSQL database (AGENTBUS_BENCH_PG or
 * 127.0.0.1:5432), dropped afterwards. `--dist DIR` runs another build (e.g. one of the commit
 * before, for the figures before the change).
 *
 *   npm run build && node bench/state-prune.js [records] [--postgres] [--dist DIR]
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
const distAt = args.indexOf('--dist');
const dist = distAt >= 0 ? resolve(args[distAt + 1]) : resolve(new URL('../dist', import.meta.url).pathname);
const records = Number(args.find((arg, i) => /^\d+$/.test(arg) && args[i - 1] !== '--dist') ?? 1_000_000);
const oldRecords = Math.round(records / 100);
const NAMESPACE = 'agents.budget';
const DAY = 86_400_000;
/** Puts in flight at once while filling: they share group commits. */
const PUTS_AT_ONCE = 5_000;

const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { openSqliteStore } = await load('store/sqlite/index.js');
const { openPostgresStore } = await load('store/postgres/index.js');
const { pruneBudgets } = await load('agents/budget.js');

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

/** Runs `fn(store, clock)` on a fresh store of the chosen engine, closed and removed afterwards. */
async function withStore(fn) {
  const clock = { t: Date.now(), now: () => clock.t };
  if (postgres) {
    const name = `agentbus_bench_${randomBytes(5).toString('hex')}`;
    await admin(`CREATE DATABASE "${name}"`);
    try {
      const store = await openPostgresStore({ url: urlOf(name), clock });
      try {
        return await fn(store, clock);
      } finally {
        await store.close();
      }
    } finally {
      await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-'));
  try {
    const store = await openSqliteStore({ path: join(dir, 'agentbus.db'), clock });
    try {
      return await fn(store, clock);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Writes `count` budget records (random correlation ids) from the clock's current time on,
 * moving it 1 ms per batch as a real clock would (the index by write time grows at its end).
 */
async function fill(store, clock, count) {
  for (let at = 0; at < count; at += PUTS_AT_ONCE) {
    clock.t++;
    const puts = [];
    for (let i = at; i < Math.min(count, at + PUTS_AT_ONCE); i++) {
      puts.push(store.state.put(NAMESPACE, `corr-${randomBytes(8).toString('hex')}`, 1 + (i % 7)));
    }
    await Promise.all(puts);
  }
}

async function timed(fn) {
  const started = performance.now();
  const result = await fn();
  return { result, ms: Math.round((performance.now() - started) * 10) / 10 };
}

await withStore(async (store, clock) => {
  const now = clock.t;
  clock.t = now - DAY;
  const filled = await timed(async () => {
    await fill(store, clock, oldRecords);
    clock.t = now;
    await fill(store, clock, records - oldRecords);
  });
  const cutoff = now - DAY / 2;
  const first = await timed(() => pruneBudgets(store.state, cutoff));
  const second = await timed(() => pruneBudgets(store.state, cutoff));
  const fullList = await timed(async () => {
    let listed = 0;
    for await (const _ of store.state.list(NAMESPACE)) listed++;
    return listed;
  });
  console.log(
    JSON.stringify(
      {
        engine: postgres ? 'postgresql' : 'sqlite',
        dist,
        records,
        old: oldRecords,
        fillSeconds: Math.round(filled.ms / 100) / 10,
        putsPerSecond: Math.round(records / (filled.ms / 1000)),
        firstPrune: { deleted: first.result, ms: first.ms },
        secondPrune: { deleted: second.result, ms: second.ms },
        fullList: { records: fullList.result, ms: fullList.ms },
      },
      null,
      2,
    ),
  );
});
