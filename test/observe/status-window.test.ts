/**
 * The dashboard's throughput bars over a recent window (the seed's "Throughput (Last Hour)"),
 * on SQLite and on PostgreSQL: events and settlements inside the window count, those before
 * it do not, a repeated id counts once, and a bad window is refused before anything is read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, createBus } from '../../src/index.js';
import { isAgentbusError } from '../../src/errors.js';
import { statusSnapshot } from '../../src/observe/index.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { type TestDatabase, testPostgres } from '../support/postgres.js';
import { type ShiftedClock, WINDOW_FIGURES, shiftedClock, windowScenario } from './scenarios.js';

const HOUR = 3_600_000;
const server = await testPostgres();

/** A bus on a store of the backend, on `clock`; `dispose` closes and removes it. */
type BusFactory = (clock: ShiftedClock) => Promise<{ bus: Bus; dispose: () => Promise<void> }>;

function describeWindow(name: string, open: () => BusFactory): void {
  describe(`status throughput over a window on ${name}`, () => {
    let bus: Bus;
    let clock: ShiftedClock;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      clock = shiftedClock();
      ({ bus, dispose } = await open()(clock));
      await windowScenario(bus, clock);
    });
    afterAll(async () => {
      await dispose?.();
    });

    it('counts the last hour by default: published, consumed (acked) and failed (retried or dead) in it, open dead letters now', async () => {
      const s = await statusSnapshot(bus, { now: clock.now() });
      expect(s.throughput).toMatchObject(WINDOW_FIGURES.lastHour);
      expect(s.throughput.windowMs).toBe(HOUR);
    });

    it('counts a longer window when asked', async () => {
      const s = await statusSnapshot(bus, { now: clock.now(), window: 3 * HOUR });
      expect(s.throughput).toMatchObject({ ...WINDOW_FIGURES.lastThreeHours, windowMs: 3 * HOUR });
    });

    it('keeps By Topic and Agent Activity cumulative', async () => {
      const s = await statusSnapshot(bus, { now: clock.now(), window: 15 * 60_000 });
      expect(s.topics.find((t) => t.topic === 'project.tasks')?.published).toBe(6);
      expect(s.agents.find((a) => a.agent === '/orchestrator')?.published).toBe(9);
    });

    it('refuses a bad window naming it, before reading or writing anything', async () => {
      const head = await bus.store.head();
      const recent = await bus.store.counts.recent(0);
      for (const window of [0, -HOUR, 30_000, 25 * HOUR, Number.NaN, Number.POSITIVE_INFINITY, 'soon']) {
        const error = await statusSnapshot(bus, { window: window as number }).catch((e: unknown) => e);
        expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field, String(window)).toBe('window');
      }
      expect(await bus.store.head()).toBe(head);
      expect(await bus.store.counts.recent(0)).toEqual(recent);
    });
  });
}

describeWindow('sqlite', () => async (clock) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-window-'));
  const bus = await createBus({ path: join(dir, 'agentbus.db'), clock });
  return {
    bus,
    dispose: async () => {
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe.skipIf(!server.available)(`PostgreSQL ${server.skipReason}`, () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await server.createDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  describeWindow('postgres', () => async (clock) => {
    const store = await openPostgresStore({ url: db.url, schema: 'status_window', poolSize: 4, clock });
    const bus = await createBus({ store, clock });
    return {
      bus,
      dispose: async () => {
        await bus.close();
        await store.close();
      },
    };
  });
});
