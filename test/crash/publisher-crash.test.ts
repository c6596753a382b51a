/**
 * Publisher crash: a child process publishes in a loop (bursts of unawaited single publishes
 * and batches, several in flight at once) and is killed with SIGKILL at a random instant
 * 100-600 ms after it started publishing, five times on the same database file. A publish that returned must be in the log.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { StoredEvent } from '../../src/store/index.js';
import { assertBuilt, killAllChildren, randomInt, readLines, sleep, startChild, tempDir } from './crash-helpers.js';

const ROUNDS = 5;

describe('publisher killed with SIGKILL', () => {
  beforeAll(assertBuilt);
  afterEach(killAllChildren);

  it('keeps every publish that returned, with positions strictly increasing, ids unique and the file intact', async () => {
    const { dir, cleanup } = tempDir('pub');
    try {
      const dbPath = join(dir, 'bus.db');
      const ackPath = join(dir, 'acknowledged.txt');

      for (let round = 0; round < ROUNDS; round++) {
        const child = startChild('publisher.mjs', [dbPath, ackPath, String(round)]);
        // A random instant while it publishes (startup time varies with load, so count from "ready").
        await child.waitForLine('ready');
        await sleep(randomInt(100, 600));
        await child.kill();
        const exit = await child.exited;
        // It died of our SIGKILL, not of an error of its own.
        expect(exit.signal, `round ${round} stderr:\n${child.stderr()}`).toBe('SIGKILL');
      }

      // What the children saw returned: `<id> <round> <k>` per line (a torn last line is dropped).
      const acknowledged = readLines(ackPath).map((line) => {
        const [id, round, k] = line.split(' ');
        return { id: id as string, round: Number(round), k: Number(k) };
      });

      const store = await openSqliteStore({ path: dbPath });
      try {
        expect(store.integrityCheck()).toBe('ok');

        const events: StoredEvent[] = [];
        for await (const event of store.read()) events.push(event);

        // Positions strictly increasing, ids unique, stored_at never decreasing, and each
        // publish input (round, k) stored at most once. Violations are collected, then asserted.
        const violations: string[] = [];
        const ids = new Set<string>();
        const inputs = new Set<string>();
        for (let i = 0; i < events.length; i++) {
          const event = events[i] as StoredEvent;
          const previous = events[i - 1];
          if (previous && event.seq <= previous.seq) violations.push(`seq ${event.seq} after ${previous.seq}`);
          if (previous && event.storedAt < previous.storedAt) violations.push(`storedAt decreases at seq ${event.seq}`);
          const id = event.envelope.event.id;
          if (ids.has(id)) violations.push(`id ${id} stored twice`);
          ids.add(id);
          const { round, k } = event.envelope.payload as { round: number; k: number };
          if (inputs.has(`${round}/${k}`)) violations.push(`input ${round}/${k} stored twice`);
          inputs.add(`${round}/${k}`);
        }
        expect(violations).toEqual([]);

        // Every publish that returned is in the log, as the copy that was published.
        const byId = new Map(events.map((e) => [e.envelope.event.id, e]));
        const missing: string[] = [];
        const altered: string[] = [];
        for (const a of acknowledged) {
          const stored = byId.get(a.id);
          if (!stored) {
            missing.push(a.id);
            continue;
          }
          const payload = stored.envelope.payload as { round: number; k: number };
          if (payload.round !== a.round || payload.k !== a.k) altered.push(a.id);
        }
        expect(missing, `${missing.length} returned publishes are missing from the log`).toEqual([]);
        expect(altered, 'returned publishes whose stored copy is another input').toEqual([]);
        // Spot-check the by-id path as well.
        for (const a of acknowledged.filter((_, i) => i % 997 === 0)) {
          expect((await store.get(a.id))?.envelope.event.id).toBe(a.id);
        }

        // The file still takes writes after the crashes, after every position ever used.
        const lastSeq = events.length > 0 ? (events[events.length - 1] as StoredEvent).seq : 0;
        const bus = await createBus({ store });
        const after = await bus.publish({ topic: 'crash.pub', type: 'AfterCrash', payload: {} });
        await bus.close();
        expect((await store.get(after.event.id))?.seq).toBeGreaterThan(lastSeq);

        const perRound = Array.from({ length: ROUNDS }, (_, round) => ({
          round,
          returned: acknowledged.filter((a) => a.round === round).length,
          stored: events.filter((e) => (e.envelope.payload as { round: number }).round === round).length,
        }));
        console.log(
          `[crash/publisher] rounds=${ROUNDS} returned=${acknowledged.length} stored=${events.length} ` +
            `stored-but-not-returned (in flight at the kill)=${events.length - acknowledged.length} ` +
            `per round=${JSON.stringify(perRound)}`,
        );
        // The test means something only if publishes returned before the kills.
        expect(acknowledged.length).toBeGreaterThan(0);
        expect(events.length).toBeGreaterThanOrEqual(acknowledged.length);
      } finally {
        await store.close();
      }
    } finally {
      cleanup();
    }
  });
});
