/**
 * Consumer crash: 10,000 events; a consumer process (concurrency 8) is killed with SIGKILL
 * at random instants and restarted, 20 times, then a last one runs to completion.
 * Side effects written by the handler are at-least-once (duplicates expected); events the
 * handler publishes with ctx.publish commit with the ack, so each index is Handled once.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import type { ConsumerInfo, StoredEvent } from '../../src/store/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { type Child, assertBuilt, killAllChildren, randomInt, readLines, sleep, startChild, tempDir } from './crash-helpers.js';

const EVENTS = 10_000;
const KILLS = 20;
const NAME = 'crash-consumer';

/** STATUS lines a consumer child wrote to stderr. */
function statuses(child: Child): Array<{ type: string }> {
  return child
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('STATUS '))
    .map((line) => JSON.parse(line.slice('STATUS '.length)) as { type: string });
}

describe('consumer killed with SIGKILL and restarted', () => {
  beforeAll(assertBuilt);
  afterEach(killAllChildren);

  it('handles every event at least once and publishes its Handled event exactly once', async () => {
    const { dir, cleanup } = tempDir('consumer');
    const dbPath = join(dir, 'bus.db');
    const sidePath = join(dir, 'side-effects.txt');
    const store = await openSqliteStore({ path: dbPath });
    try {
      const seeder = await createBus({ store });
      const tasks = Array.from({ length: EVENTS }, (_, index) => ({
        topic: 'crash.test',
        type: 'CrashTask',
        payload: { index },
      }));
      for (let i = 0; i < EVENTS; i += 1000) await seeder.publishBatch(tasks.slice(i, i + 1000));
      await seeder.close();
      const taskIds = new Map<number, string>();
      for await (const e of store.read({ topic: 'crash.test', type: 'CrashTask' })) {
        taskIds.set((e.envelope.payload as { index: number }).index, e.envelope.event.id);
      }
      expect(taskIds.size).toBe(EVENTS);

      const args = [dbPath, sidePath, '8', '2s', '2', 'keepalive'];
      const all: Child[] = [];
      const progress: number[] = [];
      for (let round = 0; round < KILLS; round++) {
        const child = startChild('consumer.mjs', args);
        all.push(child);
        if (round % 4 === 3) {
          // Now and then, a kill at any instant from the start: while opening, migrating, joining.
          await sleep(randomInt(0, 300));
        } else {
          await child.waitForLine('ready');
          await sleep(randomInt(50, 350));
        }
        await child.kill();
        const exit = await child.exited;
        expect(exit.signal, `round ${round} died by itself; stderr:\n${child.stderr()}`).toBe('SIGKILL');
        progress.push(readLines(sidePath).length);
      }

      // The last member runs until the subscription has settled every task.
      const last = startChild('consumer.mjs', args);
      all.push(last);
      await last.waitForLine('ready');
      let info: ConsumerInfo | undefined;
      for (let polls = 0; ; polls++) {
        info = await store.deliveries.getConsumer(NAME);
        if (info && info.ackFloor >= EVENTS && info.inFlight === 0 && info.scheduled === 0) break;
        if (polls > 600) throw new Error(`the last consumer did not finish: ${JSON.stringify(info)}\n${last.stderr()}`);
        await sleep(100);
      }
      last.proc.kill('SIGTERM');
      expect((await last.exited).code, last.stderr()).toBe(0);

      expect(store.integrityCheck()).toBe('ok');
      expect(info).toMatchObject({ deadLettered: 0, inFlight: 0, scheduled: 0 });

      // At least once: every index reached the side-effect log.
      const side = readLines(sidePath).map(Number);
      const sideCounts = new Map<number, number>();
      for (const index of side) sideCounts.set(index, (sideCounts.get(index) ?? 0) + 1);
      const neverHandled = [...taskIds.keys()].filter((index) => !sideCounts.has(index));
      expect(neverHandled, 'indexes never handled').toEqual([]);
      const duplicates = side.length - sideCounts.size;

      // Exactly once: the Handled events (committed with the acks).
      const handled: StoredEvent[] = [];
      for await (const e of store.read({ type: 'Handled' })) handled.push(e);
      const handledCounts = new Map<number, number>();
      const wrongCause: number[] = [];
      for (const e of handled) {
        const { index } = e.envelope.payload as { index: number };
        handledCounts.set(index, (handledCounts.get(index) ?? 0) + 1);
        if (e.envelope.event.causation_id !== taskIds.get(index)) wrongCause.push(index);
      }
      const handledTwice = [...handledCounts].filter(([, n]) => n > 1).map(([index, n]) => `${index}x${n}`);
      const handledNever = [...taskIds.keys()].filter((index) => !handledCounts.has(index));
      expect(handledTwice, 'indexes with more than one Handled event').toEqual([]);
      expect(handledNever, 'indexes without a Handled event').toEqual([]);
      expect(wrongCause, 'Handled events not caused by their task').toEqual([]);
      expect(handled.length).toBe(EVENTS);

      const status = all.flatMap(statuses);
      const count = (type: string) => status.filter((s) => s.type === type).length;
      // Handlers never throw; a failure would be a bug of the fixture or the bus.
      expect(count('handler_failed')).toBe(0);
      console.log(
        `[crash/consumer] kills=${KILLS} events=${EVENTS} side-effect lines=${side.length} ` +
          `duplicates=${duplicates} (at-least-once) distinct=${sideCounts.size} Handled=${handled.length} ` +
          `redelivered=${info?.redelivered} settle_failed=${count('settle_failed')} ` +
          `side-effect lines after each kill=${JSON.stringify(progress)}`,
      );
    } finally {
      await killAllChildren();
      await store.close();
      cleanup();
    }
  });
});
