/**
 * Compaction (ADR 0025): appends N ~1 KB events (default 200,000), prunes 90%, then compacts,
 * and reports the file's size (database plus WAL) before and after, the time, and the longest
 * step. `--older` first fixes the file's auto_vacuum at NONE, as releases before incremental
 * vacuum created it: compaction is then one VACUUM.
 *
 *   npm run build && node bench/compact.js [events] [--older]
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { createEnvelopeWithText, createIdGenerator } from '../dist/envelope/index.js';
import { openSqliteStore } from '../dist/store/sqlite/index.js';
import { withTempDir } from './lib/env.js';
import { makeInput } from './lib/events.js';

const older = process.argv.includes('--older');
const [eventsArg] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
const events = Number(eventsArg ?? 200_000);
const clock = { now: () => Date.now() };
const newId = createIdGenerator({ clock });
const item = (i) => createEnvelopeWithText(makeInput(i), { clock, newId, defaultSource: '/bench' });
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

await withTempDir(async (dir) => {
  const path = join(dir, 'agentbus.db');
  if (older) {
    const db = new Database(path);
    db.pragma('page_size = 8192');
    db.pragma('auto_vacuum = NONE');
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE fix_the_header (x); DROP TABLE fix_the_header');
    db.close();
  }
  const store = await openSqliteStore({ path });
  try {
    const filled = performance.now();
    for (let at = 0; at < events; at += 1000) {
      await store.append(Array.from({ length: Math.min(1000, events - at) }, (_, i) => item(at + i)));
    }
    const fillSeconds = (performance.now() - filled) / 1000;
    const pruneStart = performance.now();
    const pruned = await store.retention.prune({ maxEvents: Math.round(events / 10) });
    const pruneSeconds = (performance.now() - pruneStart) / 1000;
    const started = performance.now();
    const result = await store.retention.compact();
    const seconds = (performance.now() - started) / 1000;
    console.log(
      JSON.stringify(
        {
          events,
          file: older ? 'older (auto_vacuum NONE)' : 'new (auto_vacuum INCREMENTAL)',
          fill_per_s: Math.round(events / fillSeconds),
          pruned: pruned.pruned,
          prune_s: Number(pruneSeconds.toFixed(2)),
          method: result.method,
          before: mib(result.bytesBefore),
          after: mib(result.bytesAfter),
          compact_s: Number(seconds.toFixed(2)),
          steps: result.steps,
          longest_step_ms: Number(result.longestStepMs.toFixed(1)),
          note: result.note ?? null,
          integrity: store.integrityCheck(),
        },
        null,
        2,
      ),
    );
  } finally {
    await store.close();
  }
});
