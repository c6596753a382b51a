/**
 * The WAL a process writes must be checkpointed back into the database file while it runs:
 * after a crash the next opener replays the whole WAL, and reads slow down as it grows.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { assertBuilt, killAllChildren, sleep, startChild, tempDir } from './crash-helpers.js';

const EVENTS = 20_000;
const MiB = 1024 * 1024;

describe('WAL of a consumer process', () => {
  beforeAll(assertBuilt);
  afterEach(killAllChildren);

  it('is checkpointed into the database file while the consumer claims, settles and publishes', async () => {
    // Regression (found by this suite): checkpoints used to be requested only after 8 MiB of
    // appended event text, so a process that only consumed (claims, settlements, a handler's
    // publishes) never checkpointed and its WAL grew without bound. The store now decides on
    // the WAL file's real size (SqliteEventStore#maybeCheckpoint).
    const { dir, cleanup } = tempDir('wal');
    const dbPath = join(dir, 'bus.db');
    const store = await openSqliteStore({ path: dbPath }); // another process keeps the file open
    try {
      const seeder = await createBus({ store });
      for (let i = 0; i < EVENTS; i += 1000) {
        await seeder.publishBatch(
          Array.from({ length: 1000 }, (_, j) => ({ topic: 'crash.test', type: 'CrashTask', payload: { index: i + j } })),
        );
      }
      await seeder.close();
      const walAfterSeed = statSync(`${dbPath}-wal`).size;

      const child = startChild('consumer.mjs', [dbPath, join(dir, 'side.txt'), '8', '30s', '0', 'keepalive']);
      await child.waitForLine('ready');
      for (let polls = 0; ; polls++) {
        const info = await store.deliveries.getConsumer('crash-consumer');
        if (info && info.ackFloor >= EVENTS && info.inFlight === 0) break;
        if (polls > 600) throw new Error(`the consumer did not finish: ${JSON.stringify(info)}`);
        await sleep(100);
      }
      child.proc.kill('SIGTERM');
      expect((await child.exited).code, child.stderr()).toBe(0);

      const wal = statSync(`${dbPath}-wal`).size;
      const db = statSync(dbPath).size;
      console.log(
        `[crash/wal] events=${EVENTS} WAL after seeding=${(walAfterSeed / MiB).toFixed(1)} MiB ` +
          `WAL after consuming=${(wal / MiB).toFixed(1)} MiB database file=${(db / MiB).toFixed(2)} MiB`,
      );
      expect(db, 'pages checkpointed into the database file').toBeGreaterThan(MiB);
    } finally {
      await killAllChildren();
      await store.close();
      cleanup();
    }
  });
});
