/**
 * Scheduled retries live in the store: a consumer killed between a failure and its retry is
 * restarted, and each retry happens exactly once, never before it is due.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { assertBuilt, killAllChildren, readLines, sleep, startChild, tempDir } from './crash-helpers.js';

const EVENTS = 40;
const RETRY_DELAY_MS = 1000;

describe('scheduled retries across a crash', () => {
  beforeAll(assertBuilt);
  afterEach(killAllChildren);

  it('fire once, never early, after the consumer is killed between the failure and the retry', async () => {
    const { dir, cleanup } = tempDir('retry');
    const dbPath = join(dir, 'bus.db');
    const logPath = join(dir, 'handler.log');
    try {
      const bus = await createBus({ path: dbPath });
      await bus.publishBatch(
        Array.from({ length: EVENTS }, (_, index) => ({ topic: 'retry.test', type: 'RetryTask', payload: { index } })),
      );
      await bus.close();

      const first = startChild('retry-consumer.mjs', [dbPath, logPath]);
      await first.waitForLine('ready');
      // Wait until every first attempt failed and its retry is durably scheduled (a second
      // later), then kill: the crash falls between the failures and their retries.
      const store = await openSqliteStore({ path: dbPath, watch: false });
      let scheduled = 0;
      for (let i = 0; i < 500 && scheduled < EVENTS; i++) {
        scheduled = (await store.deliveries.getConsumer('retrying'))?.scheduled ?? 0;
        if (scheduled < EVENTS) await sleep(5);
      }
      first.proc.kill('SIGKILL');
      await first.exited;
      await store.close();

      const second = startChild('retry-consumer.mjs', [dbPath, logPath]);
      await second.waitForLine('ready');
      for (let i = 0; i < 500 && readLines(logPath).filter((l) => l.startsWith('done')).length < EVENTS; i++) await sleep(10);
      await sleep(300);
      second.proc.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);

      const lines = readLines(logPath).map((l) => l.split(' '));
      const failedAt = new Map(lines.filter((l) => l[0] === 'fail').map((l) => [Number(l[1]), Number(l[3])]));
      const done = lines.filter((l) => l[0] === 'done');
      console.log(
        `[crash/retry] events=${EVENTS} scheduled at the kill=${scheduled} failures=${failedAt.size} retries run=${done.length}`,
      );
      expect(scheduled).toBe(EVENTS);
      expect(failedAt.size).toBe(EVENTS);
      expect(done.map((l) => Number(l[1])).sort((a, b) => a - b)).toEqual(Array.from({ length: EVENTS }, (_, i) => i));
      for (const [, index, attempt, at] of done) {
        expect(attempt).toBe('2');
        expect(Number(at) - (failedAt.get(Number(index)) as number)).toBeGreaterThanOrEqual(RETRY_DELAY_MS);
      }
      const after = await openSqliteStore({ path: dbPath });
      expect(await after.deliveries.getConsumer('retrying')).toMatchObject({ scheduled: 0, inFlight: 0, deadLettered: 0 });
      expect(after.integrityCheck()).toBe('ok');
      await after.close();
    } finally {
      await killAllChildren();
      cleanup();
    }
  });
});
