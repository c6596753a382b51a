/**
 * Timers fire exactly once when several processes race for them: three processes run the
 * same database; every timer is fired by exactly one of them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import { collect, sleep } from '../conformance/fixtures.js';
import { assertBuilt, killAll, startFixture } from './children.js';

const TIMERS = 30;

describe('timers raced by several processes', () => {
  beforeAll(assertBuilt);
  afterEach(killAll);

  it('fires every timer once, and never before it is due', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-timer-race-'));
    const path = join(dir, 'agentbus.db');
    try {
      const bus = await createBus({ path });
      // Create the schema before the children open it.
      await bus.publish({ topic: 'race.setup', type: 'SetupEvent' });
      const children = [0, 1, 2].map(() => startFixture('timer-runner.mjs', [path]));
      await Promise.all(children.map((c) => c.waitForLine('ready')));
      const due = new Map<string, number>();
      for (let n = 0; n < TIMERS; n++) {
        const delay = 200 + n * 10;
        const before = Date.now();
        const e = await bus.publish({ topic: 'race.timers', type: 'RaceTimer', payload: { n }, delay });
        due.set(e.event.id, before + delay);
      }
      bus.timers.close();
      let fired = await collect(bus.events({ type: 'RaceTimer' }));
      for (let i = 0; i < 400 && fired.length < TIMERS; i++) {
        await sleep(50);
        fired = await collect(bus.events({ type: 'RaceTimer' }));
      }
      expect(fired).toHaveLength(TIMERS);
      for (const e of fired) expect(e.storedAt).toBeGreaterThanOrEqual(due.get(e.envelope.event.id) as number);
      const counts: number[] = [];
      for (const child of children) {
        const exit = await child.kill('SIGTERM');
        expect(exit.code, child.stderr()).toBe(0);
        counts.push(Number((await child.waitForLine('fired ')).slice('fired '.length)));
      }
      expect(counts.reduce((a, b) => a + b, 0)).toBe(TIMERS);
      await bus.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
