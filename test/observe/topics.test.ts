/**
 * The seed's Pub/Sub Configuration, measured: per topic, its events in a recent window, who
 * published them, which subscriptions match it and how far behind they are. From the
 * store's counters and a few position reads, never a scan of the log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, type EventStore, type StoredEvent, createBus } from '../../src/index.js';
import { isAgentbusError } from '../../src/errors.js';
import { firstPositionSince, statusSnapshot, topicsOverview } from '../../src/observe/index.js';
import { PUB_SUB_LAST_HOUR, type ShiftedClock, pubSubScenario, shiftedClock } from './scenarios.js';

const HOUR = 3_600_000;
const dir = mkdtempSync(join(tmpdir(), 'agentbus-topics-'));
let bus: Bus;
let clock: ShiftedClock;
beforeAll(async () => {
  clock = shiftedClock();
  bus = await createBus({ path: join(dir, 'agentbus.db'), clock });
  await pubSubScenario(bus, clock);
});
afterAll(async () => {
  await bus?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `store` with a count of the events its history reads hand out. */
function countingReads(store: EventStore): { store: EventStore; eventsRead: () => number } {
  let eventsRead = 0;
  const counted = new Proxy(store, {
    get(target, property) {
      if (property === 'read') {
        return (query?: Parameters<EventStore['read']>[0]) =>
          (async function* (): AsyncIterable<StoredEvent> {
            for await (const event of target.read(query)) {
              eventsRead++;
              yield event;
            }
          })();
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: counted, eventsRead: () => eventsRead };
}

describe('topicsOverview', () => {
  it('lists each topic with its events and publishers of the last hour, its subscribers and their lag', async () => {
    const overview = await topicsOverview(bus, { now: clock.now() });
    expect(overview.windowMs).toBe(HOUR);
    expect(overview.topics).toEqual(PUB_SUB_LAST_HOUR);
  });

  it('counts a longer window when asked: earlier publishers come back', async () => {
    const overview = await topicsOverview(bus, { now: clock.now(), window: 3 * HOUR });
    expect(overview.topics.find((t) => t.topic === 'project.tasks')).toMatchObject({
      events: 6,
      publishers: ['/backend-architect', '/old-architect', '/python-pro'],
    });
  });

  it('shows system topics only when asked, and agrees with agentbus status on events and lag', async () => {
    const all = await topicsOverview(bus, { now: clock.now(), includeSystem: true });
    expect(all.topics.find((t) => t.topic === 'system.agents')).toEqual({
      topic: 'system.agents',
      pattern: false,
      events: 1,
      publishers: ['/backend-architect'],
      subscribers: [],
      lag: null,
    });
    const status = await statusSnapshot(bus, { now: clock.now() });
    const topics = await topicsOverview(bus, { now: clock.now() });
    expect(topics.topics.reduce((n, t) => n + t.events, 0)).toBe(status.throughput.published);
    for (const row of status.topics) {
      expect(topics.topics.find((t) => t.topic === row.topic)?.lag, row.topic).toBe(row.lag);
    }
  });

  it('reads a few dozen events at most, however long the log (a binary search by storage time)', async () => {
    const path = join(dir, 'long.db');
    const long = await createBus({ path });
    try {
      for (let i = 0; i < 4; i++) {
        await long.publishBatch(
          Array.from({ length: 1000 }, (_, j) => ({ topic: `bulk.t${j % 7}`, type: 'Bulk', source: `/p${j % 3}` })),
        );
      }
      const { store, eventsRead } = countingReads(long.store);
      const overview = await topicsOverview(store);
      expect(overview.topics).toHaveLength(7);
      expect(overview.topics[0]).toMatchObject({ topic: 'bulk.t0', publishers: ['/p0', '/p1', '/p2'] });
      expect(eventsRead()).toBeLessThan(30);
    } finally {
      await long.close();
    }
  });

  it('finds the first position stored in a window, or the next one when none is', async () => {
    const head = await bus.store.head();
    expect(await firstPositionSince(bus.store, 0, head)).toBe(1);
    expect(await firstPositionSince(bus.store, clock.now() - HOUR, head)).toBe(4);
    expect(await firstPositionSince(bus.store, clock.now() + HOUR, head)).toBe(head + 1);
  });

  it('refuses a bad window naming it, before reading anything', async () => {
    for (const window of [0, 30_000, 90_000, 25 * HOUR]) {
      const error = await topicsOverview(bus, { window }).catch((e: unknown) => e);
      expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field, String(window)).toBe('window');
    }
  });
});
