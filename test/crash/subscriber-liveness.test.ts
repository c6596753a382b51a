/**
 * An idle subscriber process must stay up and go on receiving what other processes publish
 * later. Regression tests of two bugs the crash suite found (fixed in dc22aea).
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { assertBuilt, killAllChildren, readLines, sleep, startChild, tempDir } from './crash-helpers.js';

describe('subscriber process with nothing else to do', () => {
  beforeAll(assertBuilt);
  afterEach(killAllChildren);

  it('stays alive while its subscription is idle and handles an event published later', async () => {
    // Was a bug: while a subscription waited for new events nothing kept Node's event loop
    // alive (no timer in StoreBackedConsumer#sleep without nextWakeAt, fs.watch with
    // persistent: false, the lease-renewal interval unref'd), so a worker process exited with
    // code 0 as soon as the log was drained and never handled later events. The `no-keepalive`
    // fixture relies on agentbus alone (the other crash tests also hold a timer of their own).
    const { dir, cleanup } = tempDir('liveness');
    const dbPath = join(dir, 'bus.db');
    const sidePath = join(dir, 'side-effects.txt');
    const store = await openSqliteStore({ path: dbPath });
    try {
      const child = startChild('consumer.mjs', [dbPath, sidePath, '1', '30s', '0', 'no-keepalive']);
      let exitedOnItsOwn: number | null | undefined;
      void child.exited.then((e) => {
        exitedOnItsOwn = e.code;
      });
      await child.waitForLine('ready');
      await sleep(300); // idle for a while, as a worker waiting for work is

      const bus = await createBus({ store });
      await bus.publish({ topic: 'crash.test', type: 'CrashTask', payload: { index: 7 } });
      await bus.close();
      for (let i = 0; i < 100 && exitedOnItsOwn === undefined && readLines(sidePath).length === 0; i++) await sleep(50);

      expect({ exitedOnItsOwn, handled: readLines(sidePath) }).toEqual({ exitedOnItsOwn: undefined, handled: ['7'] });
    } finally {
      await killAllChildren();
      await store.close();
      cleanup();
    }
  });

  it('receives events another process publishes later even without file-system change notification', async () => {
    // Was a bug: an idle consumer learned of other processes' appends only through fs.watch.
    // With no notification (`sqlite.watch: false`, fs.watch failing, e.g. ENOSPC when inotify
    // watches run out, or a lost notification) it slept with no deadline and never claimed
    // again. `no-watch` stands for all of these; `keepalive` isolates this from the test above.
    const { dir, cleanup } = tempDir('nowatch');
    const dbPath = join(dir, 'bus.db');
    const sidePath = join(dir, 'side-effects.txt');
    const store = await openSqliteStore({ path: dbPath });
    try {
      const child = startChild('consumer.mjs', [dbPath, sidePath, '1', '30s', '0', 'keepalive', 'no-watch']);
      await child.waitForLine('ready');
      await sleep(300);
      const bus = await createBus({ store });
      await bus.publish({ topic: 'crash.test', type: 'CrashTask', payload: { index: 7 } });
      await bus.close();
      for (let i = 0; i < 100 && readLines(sidePath).length === 0; i++) await sleep(50);
      expect(readLines(sidePath), 'handled by the idle subscriber within 5 s').toEqual(['7']);
    } finally {
      await killAllChildren();
      await store.close();
      cleanup();
    }
  });
});
