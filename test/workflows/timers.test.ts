/**
 * Durable timers and delayed publish: kept in the store, never fired early, fired once
 * across processes, and after a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Bus, createBus } from '../../src/bus/index.js';
import { OUTBOX_NAMESPACE } from '../../src/bus/outbox.js';
import { TIMERS_NAMESPACE } from '../../src/bus/timers.js';
import { isAgentbusError } from '../../src/errors.js';
import { cancelTimer, createEnvelope, putTimer } from '../../src/index.js';
import type { StoredEvent } from '../../src/store/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { createManualClock } from '../../src/testing.js';
import { collect, sleep, within } from '../conformance/fixtures.js';

const dirs: string[] = [];
const buses: Bus[] = [];
function dbPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-timers-'));
  dirs.push(dir);
  return join(dir, 'agentbus.db');
}
async function open(path: string, options: Parameters<typeof createBus>[0] = {}): Promise<Bus> {
  const bus = await createBus({ ...options, path });
  buses.push(bus);
  return bus;
}
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function reminders(bus: Bus): Promise<StoredEvent[]> {
  return collect(bus.events({ type: 'ReminderEvent' }));
}

describe('delayed publish', () => {
  it('appends the event only once the clock reaches its due time', async () => {
    const clock = createManualClock();
    const bus = await open(dbPath(), { clock });
    const envelope = await bus.publish({ topic: 'project.reminders', type: 'ReminderEvent', payload: { n: 1 }, delay: '5m' });
    expect(Date.parse(envelope.event.timestamp)).toBe(clock.now() + 300_000);
    expect(await bus.timers.fireDue()).toBe(0);
    clock.advance(299_999);
    expect(await bus.timers.fireDue()).toBe(0);
    expect(await reminders(bus)).toHaveLength(0);
    clock.advance(1);
    expect(await bus.timers.fireDue()).toBe(1);
    const stored = await reminders(bus);
    expect(stored.map((e) => e.envelope.event.id)).toEqual([envelope.event.id]);
    expect(await bus.timers.fireDue()).toBe(0);
    expect(await collect(bus.timers.list())).toEqual([]);
    // The store is the log here: nothing goes through the outbox (that is for NATS).
    expect(await collect(bus.store.state.list(OUTBOX_NAMESPACE))).toEqual([]);
  });

  it('deliverAt takes an RFC 3339 time; timers fire in due order', async () => {
    const clock = createManualClock(Date.UTC(2025, 10, 29, 14, 0));
    const bus = await open(dbPath(), { clock });
    await bus.publish({
      topic: 'project.reminders',
      type: 'ReminderEvent',
      payload: { n: 2 },
      deliverAt: '2025-11-29T14:30:00Z',
    });
    await bus.publish({
      topic: 'project.reminders',
      type: 'ReminderEvent',
      payload: { n: 1 },
      deliverAt: new Date(Date.UTC(2025, 10, 29, 14, 10)),
    });
    clock.set(Date.UTC(2025, 10, 29, 15, 0));
    await bus.timers.fireDue();
    expect((await reminders(bus)).map((e) => (e.envelope.payload as { n: number }).n)).toEqual([1, 2]);
  });

  it('refuses a bad delay, or both delay and deliverAt, writing nothing', async () => {
    const bus = await open(dbPath());
    const attempts = [{ delay: 'soon' }, { delay: '1s', deliverAt: '2025-11-29T14:30:00Z' }, { deliverAt: 'tomorrow' }];
    for (const extra of attempts) {
      const error = await bus.publish({ topic: 'project.reminders', type: 'ReminderEvent', ...extra }).catch((e: unknown) => e);
      expect(isAgentbusError(error, 'ENVELOPE_INVALID'), String(error)).toBe(true);
    }
    const bad = await bus.publish({ topic: 'bad topic', type: 'ReminderEvent', delay: '1s' }).catch((e: unknown) => e);
    expect(isAgentbusError(bad, 'ENVELOPE_INVALID')).toBe(true);
    expect(await collect(bus.timers.list())).toEqual([]);
  });

  it('is delivered to a running subscription when due, on the real clock', async () => {
    const bus = await open(dbPath());
    const got: string[] = [];
    let done: () => void = () => {};
    const arrived = new Promise<void>((resolve) => {
      done = resolve;
    });
    await bus.subscribe({
      name: 'reminders',
      topic: 'project.reminders',
      handler: (e) => {
        got.push(e.event.id);
        done();
      },
    });
    const published = Date.now();
    const envelope = await bus.publish({ topic: 'project.reminders', type: 'ReminderEvent', delay: 300 });
    await within(arrived, 10_000, 'the delayed event');
    expect(got).toEqual([envelope.event.id]);
    const [stored] = await reminders(bus);
    expect((stored as StoredEvent).storedAt).toBeGreaterThanOrEqual(published + 300);
  });
});

describe('fireDue under wake-ups faster than its rounds (soak: PostgreSQL workers)', () => {
  it('runs one more round for all the calls made during a round, not one each', async () => {
    // Regression: every call made while a round ran chained a promise (and later a round of
    // its own) on it; with a wake-up per commit and slower rounds (PostgreSQL under load)
    // they piled up without bound: 93,000 pending promises in a worker after 8 minutes.
    const clock = createManualClock();
    const bus = await open(dbPath(), { clock });
    for (let i = 0; i < 3; i++) await bus.publish({ topic: 't', type: 'ReminderEvent', payload: { i }, delay: '1m' });
    expect(await bus.timers.fireDue()).toBe(0); // after the rounds the publishes started
    clock.advance(60_000);
    const list = vi.spyOn(bus.store.state, 'list');
    const rounds = () => list.mock.calls.filter(([namespace]) => namespace === TIMERS_NAMESPACE).length;
    const first = bus.timers.fireDue();
    const during = Array.from({ length: 500 }, () => bus.timers.fireDue());
    expect(await first).toBe(3);
    expect(await Promise.all(during)).toEqual(new Array(500).fill(0));
    // The first round reads the timers once per fired timer and once more; the round after
    // it once. Before the fix: 500 more rounds.
    expect(rounds()).toBeLessThanOrEqual(3 + 1 + 1);
    expect(await reminders(bus)).toHaveLength(3);
    // Calls made after the queued round started get a round of their own, and see new timers.
    await bus.publish({ topic: 't', type: 'ReminderEvent', payload: { i: 3 }, delay: '1m' });
    expect(await bus.timers.fireDue()).toBe(0);
    clock.advance(60_000);
    const again = await Promise.all(Array.from({ length: 50 }, () => bus.timers.fireDue()));
    expect(again.reduce((a, b) => a + b, 0)).toBe(1);
    expect(await reminders(bus)).toHaveLength(4);
  });
});

describe('timers set in your own transaction (putTimer, cancelTimer)', () => {
  it('sets and cancels timers atomically with other writes, and refuses bad input by name', async () => {
    const clock = createManualClock(Date.UTC(2025, 10, 29, 14, 0));
    const bus = await open(dbPath(), { clock });
    const timedOut = createEnvelope({ topic: 'orders', type: 'PaymentTimedOut', payload: { order: 'o-1' } });
    const other = createEnvelope({ topic: 'orders', type: 'ReminderEvent', payload: { order: 'o-1' } });
    let otherKey = '';
    await bus.store.transaction(async (tx) => {
      await tx.state.put('orders', 'o-1', { status: 'awaiting-payment' }, 'absent');
      await putTimer(tx.state, { dueAt: '2025-11-29T14:15:00Z', envelope: timedOut });
      otherKey = await putTimer(tx.state, { dueAt: clock.now() + 60_000, envelope: other });
    });
    await bus.store.transaction(async (tx) => {
      expect(await cancelTimer(tx.state, otherKey)).toBe(true);
    });
    clock.advance(15 * 60_000);
    expect(await bus.timers.fireDue()).toBe(1);
    expect((await collect(bus.events({ topic: 'orders' }))).map((e) => e.envelope.event.id)).toEqual([timedOut.event.id]);

    // Refused: nothing of the transaction is written.
    for (const [timer, code, field] of [
      [{ dueAt: 'soon', envelope: timedOut }, 'OPTIONS_INVALID', 'dueAt'],
      [{ dueAt: Number.NaN, envelope: timedOut }, 'OPTIONS_INVALID', 'dueAt'],
      [{ dueAt: 0, envelope: { ...timedOut, routing: { topic: 'bad topic' } } }, 'ENVELOPE_INVALID', 'routing.topic'],
      [{ dueAt: 0, envelope: 'not an envelope' }, 'ENVELOPE_INVALID', 'envelope'],
    ] as const) {
      const error = await bus.store
        .transaction(async (tx) => {
          await tx.state.put('orders', 'o-2', { status: 'new' }, 'absent');
          await putTimer(tx.state, timer as Parameters<typeof putTimer>[1]);
        })
        .catch((e: unknown) => e);
      expect(isAgentbusError(error, code) && error.details.field, String(error)).toBe(field);
      expect(await bus.store.state.get('orders', 'o-2')).toBeUndefined();
    }
    const badKey = await bus.store.transaction((tx) => cancelTimer(tx.state, 'nope')).catch((e: unknown) => e);
    expect(isAgentbusError(badKey, 'OPTIONS_INVALID') && badKey.details.field).toBe('key');
    expect(await collect(bus.timers.list())).toEqual([]);
  });
});

describe('durable timers across processes and restarts', () => {
  it('fires a timer set before a restart once the bus runs again', async () => {
    const path = dbPath();
    const first = await open(path);
    const envelope = await first.publish({ topic: 'project.reminders', type: 'ReminderEvent', delay: 200 });
    await first.close();
    await sleep(300);
    const second = await open(path);
    await second.subscribe({ name: 'reminders', topic: 'project.reminders', handler: () => {} });
    for (let i = 0; i < 200 && (await reminders(second)).length === 0; i++) await sleep(25);
    expect((await reminders(second)).map((e) => e.envelope.event.id)).toEqual([envelope.event.id]);
  });

  it('a running process notices a timer another process set', async () => {
    const path = dbPath();
    const runner = await open(path);
    await runner.subscribe({ name: 'reminders', topic: 'project.reminders', handler: () => {} });
    // A short-lived publisher on its own store connection sets the timer and leaves.
    const store = await openSqliteStore({ path });
    const publisher = await createBus({ store });
    const envelope = await publisher.publish({ topic: 'project.reminders', type: 'ReminderEvent', delay: 200 });
    publisher.timers.close();
    await publisher.close();
    await store.close();
    for (let i = 0; i < 400 && (await reminders(runner)).length === 0; i++) await sleep(25);
    expect((await reminders(runner)).map((e) => e.envelope.event.id)).toEqual([envelope.event.id]);
  });
});
