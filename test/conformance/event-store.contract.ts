/**
 * The EventStore contract. Every implementation runs it against its real engine:
 *   describeEventStoreContract('sqlite', () => openStoreForTest())
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import type { ActivityCount, ClaimRequest, ClaimedDelivery, EventStore, Settlement, StoredEvent } from '../../src/store/index.js';
import type { Clock } from '../../src/time.js';
import { type ContractOptions, collect, item, items, skipped, sleep } from './fixtures.js';
import { describeAttemptsContract } from './attempts.contract.js';
import { describeDeadLettersContract } from './dead-letters.contract.js';
import { describeRetentionContract } from './retention.contract.js';

/**
 * Opens a fresh, empty store (on `clock` when given); `dispose` closes it and removes what it
 * created.
 */
export type StoreFactory = (options?: { clock?: Clock }) => Promise<{ store: EventStore; dispose: () => Promise<void> }>;

const everything = (consumer: string, owner: string, max = 100, leaseMs = 30_000): ClaimRequest => ({
  consumer,
  owner,
  max,
  leaseMs,
  matchTopic: () => true,
});

/** The settlement of `d` for `consumer`: `outcome` at the first attempt, plus `extra`. */
function settlementOf(
  consumer: string,
  d: ClaimedDelivery | undefined,
  outcome: Settlement['outcome'],
  extra: Partial<Settlement> = {},
): Settlement {
  if (!d) throw new Error('no delivery');
  return { consumer, seq: d.event.seq, topic: d.event.envelope.routing.topic, attempt: 1, lease: d.lease, outcome, ...extra };
}

export function describeEventStoreContract(name: string, factory: StoreFactory, options?: ContractOptions): void {
  describe(`EventStore contract: ${name}`, () => {
    let store: EventStore;
    let dispose: () => Promise<void>;
    beforeEach(async () => {
      ({ store, dispose } = await factory());
    });
    afterEach(async () => {
      await dispose();
    });
    const test = (title: string, fn: () => Promise<void>) => (skipped(options, title) ? it.skip : it)(title, fn);

    describe('append', () => {
      test('assigns strictly increasing positions and returns the stored envelope', async () => {
        const input = items(3);
        const stored = await store.append(input);
        expect(stored.map((s) => s.seq)).toEqual([1, 2, 3]);
        expect(stored.map((s) => s.envelope)).toEqual(input.map((i) => i.envelope));
        expect(stored.every((s) => !s.duplicate)).toBe(true);
        expect(await store.head()).toBe(3);
      });

      test('is idempotent by id: the same id again returns the first copy and stores nothing', async () => {
        const first = item({ id: 'evt-same', payload: { copy: 1 } });
        const second = item({ id: 'evt-same', payload: { copy: 2 } });
        const [a] = await store.append([first]);
        const [b] = await store.append([second]);
        expect(b?.duplicate).toBe(true);
        expect(b?.seq).toBe(a?.seq);
        expect(b?.envelope.payload).toEqual({ copy: 1 });
        expect(await store.head()).toBe(1);
      });

      test('treats a repeated id inside one batch as a duplicate of the first', async () => {
        const stored = await store.append([item({ id: 'evt-x', payload: 1 }), item({ id: 'evt-x', payload: 2 })]);
        expect(stored.map((s) => s.duplicate)).toEqual([false, true]);
        expect(stored[1]?.envelope.payload).toBe(1);
      });

      test('a large batch with stored and repeated ids among new ones: positions in order, duplicates named', async () => {
        await store.append([item({ id: 'evt-old-1', payload: 'old' }), item({ id: 'evt-old-2', payload: 'old' })]);
        const input = Array.from({ length: 100 }, (_, i) => item({ id: `evt-new-${i}`, payload: i }));
        input[10] = item({ id: 'evt-old-1', payload: 'again' });
        input[45] = item({ id: 'evt-new-40', payload: 'repeat' });
        input[99] = item({ id: 'evt-old-2', payload: 'again' });
        const stored = await store.append(input);
        const duplicates = stored.flatMap((s, i) => (s.duplicate ? [i] : []));
        expect(duplicates).toEqual([10, 45, 99]);
        expect(stored[10]?.envelope.payload).toBe('old');
        expect(stored[45]?.envelope.payload).toBe(40);
        expect(stored[45]?.seq).toBe(stored[40]?.seq);
        const fresh = stored.filter((s) => !s.duplicate).map((s) => s.seq);
        expect(fresh).toHaveLength(97);
        for (let i = 1; i < fresh.length; i++) expect(fresh[i]).toBeGreaterThan(fresh[i - 1] as number);
        const all = await collect(store.read());
        expect(all.map((e) => e.envelope.event.id)).toEqual([
          'evt-old-1',
          'evt-old-2',
          ...input.filter((_, i) => !duplicates.includes(i)).map((i) => i.envelope.event.id),
        ]);
        expect(await store.head()).toBe(fresh[96]);
      });

      test('appends issued in the same tick all commit, in call order', async () => {
        const batch = items(200);
        const results = await Promise.all(batch.map((i) => store.append([i])));
        expect(results.map((r) => r[0]?.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      });

      test('records a storage time that never decreases along positions', async () => {
        await store.append(items(5));
        await sleep(5);
        await store.append(items(5));
        const all = await collect(store.read());
        for (let i = 1; i < all.length; i++) {
          expect((all[i] as StoredEvent).storedAt).toBeGreaterThanOrEqual((all[i - 1] as StoredEvent).storedAt);
        }
      });
    });

    describe('history', () => {
      beforeEach(async () => {
        await store.append([
          item({
            id: 'e1',
            topic: 'project.tasks',
            type: 'TaskStartedEvent',
            correlationId: 'c1',
            timestamp: '2025-11-29T10:00:00Z',
          }),
          item({
            id: 'e2',
            topic: 'project.tasks',
            type: 'TaskCompletedEvent',
            correlationId: 'c1',
            causationId: 'e1',
            timestamp: '2025-11-29T10:05:00Z',
          }),
          item({
            id: 'e3',
            topic: 'project.reviews',
            type: 'ReviewRequestedEvent',
            correlationId: 'c2',
            timestamp: '2025-11-29T10:10:00Z',
          }),
          item({
            id: 'e4',
            topic: 'project.reviews.security',
            type: 'ReviewRequestedEvent',
            correlationId: 'c1',
            causationId: 'e2',
            timestamp: '2025-11-29T10:15:00Z',
          }),
          item({
            id: 'e5',
            topic: 'other.alerts',
            type: 'AgentHealthEvent',
            correlationId: 'c3',
            timestamp: '2025-11-29T10:20:00Z',
          }),
        ]);
      });
      const ids = async (query: Parameters<EventStore['read']>[0]) =>
        (await collect(store.read(query))).map((e) => e.envelope.event.id);

      test('reads everything in position order', async () => {
        expect(await ids({})).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
      });
      test('reads a position range, inclusive', async () => {
        expect(await ids({ fromSeq: 2, toSeq: 4 })).toEqual(['e2', 'e3', 'e4']);
      });
      test('reads by literal topic and by * and > patterns', async () => {
        expect(await ids({ topic: 'project.tasks' })).toEqual(['e1', 'e2']);
        expect(await ids({ topic: 'project.*' })).toEqual(['e1', 'e2', 'e3']);
        expect(await ids({ topic: 'project.>' })).toEqual(['e1', 'e2', 'e3', 'e4']);
        expect(await ids({ topic: '*.alerts' })).toEqual(['e5']);
      });
      test('reads by type, correlation id and causation id', async () => {
        expect(await ids({ type: 'ReviewRequestedEvent' })).toEqual(['e3', 'e4']);
        expect(await ids({ correlationId: 'c1' })).toEqual(['e1', 'e2', 'e4']);
        expect(await ids({ causationId: 'e2' })).toEqual(['e4']);
      });
      test('reads a time range by event time, since inclusive and until exclusive', async () => {
        const since = Date.parse('2025-11-29T10:05:00Z');
        const until = Date.parse('2025-11-29T10:15:00Z');
        expect(await ids({ since, until })).toEqual(['e2', 'e3']);
      });
      test('combines filters, limits and reads backward', async () => {
        expect(await ids({ correlationId: 'c1', topic: 'project.>', limit: 2 })).toEqual(['e1', 'e2']);
        expect(await ids({ direction: 'backward', limit: 2 })).toEqual(['e5', 'e4']);
      });
      test('gets one event by id, undefined for an unknown id', async () => {
        expect((await store.get('e3'))?.envelope.routing.topic).toBe('project.reviews');
        expect(await store.get('nope')).toBeUndefined();
      });
    });

    test('streams a long history page by page without loading it all', async () => {
      for (let i = 0; i < 5; i++) await store.append(items(500, { correlationId: 'long' }));
      let count = 0;
      let last = 0;
      for await (const event of store.read({ correlationId: 'long' })) {
        expect(event.seq).toBeGreaterThan(last);
        last = event.seq;
        count++;
      }
      expect(count).toBe(2500);
    });

    describe('state area', () => {
      test('creates, compares and sets, and refuses a stale version without writing', async () => {
        expect(await store.state.put('saga', 's1', { step: 1 }, 'absent')).toBe(1);
        expect(await store.state.put('saga', 's1', { step: 2 }, 1)).toBe(2);
        const stale = await store.state.put('saga', 's1', { step: 99 }, 1).catch((e: unknown) => e);
        expect(isAgentbusError(stale, 'CONCURRENCY_CONFLICT')).toBe(true);
        const absent = await store.state.put('saga', 's1', { step: 99 }, 'absent').catch((e: unknown) => e);
        expect(isAgentbusError(absent, 'CONCURRENCY_CONFLICT')).toBe(true);
        expect(await store.state.get('saga', 's1')).toMatchObject({ value: { step: 2 }, version: 2 });
      });

      test('deletes with a version check and lists a namespace by prefix in key order', async () => {
        await store.state.put('agg', 'b', 2);
        await store.state.put('agg', 'a', 1);
        await store.state.put('agg', 'c-1', 3);
        await store.state.put('other', 'a', 0);
        expect((await collect(store.state.list('agg'))).map((r) => r.key)).toEqual(['a', 'b', 'c-1']);
        expect((await collect(store.state.list('agg', { prefix: 'c' }))).map((r) => r.value)).toEqual([3]);
        const refused = await store.state.delete('agg', 'a', 7).catch((e: unknown) => e);
        expect(isAgentbusError(refused, 'CONCURRENCY_CONFLICT')).toBe(true);
        expect(await store.state.delete('agg', 'a', 1)).toBe(true);
        expect(await store.state.get('agg', 'a')).toBeUndefined();
      });

      test('lists a namespace of many pages in key order, all of it or from a prefix on', async () => {
        const keys = Array.from(
          { length: 450 },
          (_, i) => `${i % 3 === 0 ? 'x' : 'y'}/${String((i * 151) % 450).padStart(3, '0')}`,
        );
        await Promise.all(keys.map((key, i) => store.state.put('many', key, i)));
        await store.state.put('many~', 'after', 0);
        expect((await collect(store.state.list('many'))).map((r) => r.key)).toEqual([...keys].sort());
        const under = keys.filter((k) => k.startsWith('y/')).sort();
        expect((await collect(store.state.list('many', { prefix: 'y/' }))).map((r) => r.key)).toEqual(under);
      });

      test('a refused compare-and-set does not fail other writes of the same tick', async () => {
        await store.state.put('ns', 'k', 1);
        const [bad, good, appended] = await Promise.allSettled([
          store.state.put('ns', 'k', 2, 5),
          store.state.put('ns', 'other', 1),
          store.append([item()]),
        ]);
        expect(bad.status).toBe('rejected');
        expect(good.status).toBe('fulfilled');
        expect(appended.status).toBe('fulfilled');
      });

      describe('records last written before a time', () => {
        const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
        /** The records written, as the store should list them: (when, key). */
        type Written = { key: string; at: number };
        const byAge = (a: Written, b: Written) => a.at - b.at || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

        /**
         * On a store of its own whose clock the case moves: 450 records in `budget`, under
         * `a/` and `b/`, written over 150 s with three at each second, so key order is not
         * write order, equal times span pages (of 200 or so), and a cutoff takes about 300.
         */
        async function onWrittenState(fn: (s: EventStore, written: Written[], clock: { t: number }) => Promise<void>) {
          const clock = { t: T0, now: () => clock.t };
          const opened = await factory({ clock });
          try {
            const written: Written[] = [];
            for (let second = 0; second < 150; second++) {
              clock.t = T0 + second * 1000;
              // 151 is prime to 450: n -> n * 151 % 450 shuffles the 450 keys, each written once.
              const keys = [0, 1, 2].map((j) => {
                const n = ((second * 3 + j) * 151) % 450;
                return `${n % 2 === 0 ? 'a' : 'b'}/${String(n).padStart(3, '0')}`;
              });
              await Promise.all(keys.map((key) => opened.store.state.put('budget', key, second)));
              for (const key of keys) written.push({ key, at: clock.t });
            }
            await opened.store.state.put('other', 'a/000', 'another namespace');
            await fn(opened.store, written, clock);
          } finally {
            await opened.dispose();
          }
        }

        test('lists only the records last written before a time, oldest first then by key, page after page', () =>
          onWrittenState(async (s, written) => {
            const cutoff = T0 + 100_000;
            const listed = await collect(s.state.list('budget', { updatedBefore: cutoff }));
            const expected = written.filter((w) => w.at < cutoff).sort(byAge);
            expect(expected.length).toBeGreaterThan(250);
            expect(listed.map((r) => [r.key, r.updatedAt])).toEqual(expected.map((w) => [w.key, w.at]));
            expect(listed[0]).toMatchObject({ namespace: 'budget', value: 0, version: 1 });
            // A record written exactly at the cutoff is not before it; a fraction of a ms later it is.
            expect((await collect(s.state.list('budget', { updatedBefore: T0 }))).length).toBe(0);
            expect((await collect(s.state.list('budget', { updatedBefore: T0 + 0.5 }))).length).toBe(3);
          }));

        test('with a prefix, lists only the old records under it', () =>
          onWrittenState(async (s, written) => {
            const cutoff = T0 + 120_000;
            const listed = await collect(s.state.list('budget', { prefix: 'b/', updatedBefore: cutoff }));
            const expected = written.filter((w) => w.at < cutoff && w.key.startsWith('b/')).sort(byAge);
            expect(listed.map((r) => r.key)).toEqual(expected.map((w) => w.key));
            expect(await collect(s.state.list('budget', { prefix: 'c/', updatedBefore: cutoff }))).toEqual([]);
          }));

        test('a record written again leaves the old records; deleting as it lists, with the versions read, takes the others', () =>
          onWrittenState(async (s, written, clock) => {
            const cutoff = T0 + 100_000;
            const old = written.filter((w) => w.at < cutoff).sort(byAge);
            const rewritten = old[0] as Written;
            const late = old[old.length - 1] as Written;
            clock.t = T0 + 200_000;
            await s.state.put('budget', rewritten.key, 'written again');
            const listed = await collect(s.state.list('budget', { updatedBefore: cutoff }));
            expect(listed.map((r) => r.key)).not.toContain(rewritten.key);
            expect(listed).toHaveLength(old.length - 1);

            // A prune: deletes each record as it is listed, a compare-and-set on its version;
            // a record written again after it was read stays.
            let deleted = 0;
            let conflicts = 0;
            for await (const record of s.state.list('budget', { updatedBefore: cutoff })) {
              if (record.key === old[1]?.key) await s.state.put('budget', late.key, 'written during the prune');
              const outcome = await s.state.delete('budget', record.key, record.version).catch((e: unknown) => e);
              if (outcome === true) deleted++;
              else if (isAgentbusError(outcome, 'CONCURRENCY_CONFLICT')) conflicts++;
              else throw outcome;
            }
            // The record written during the prune is either not listed (its page was read after
            // the write) or listed with its old version and refused.
            expect(deleted).toBe(old.length - 2);
            expect(conflicts).toBeLessThanOrEqual(1);
            expect(await s.state.get('budget', rewritten.key)).toMatchObject({ value: 'written again', version: 2 });
            expect(await s.state.get('budget', late.key)).toMatchObject({ value: 'written during the prune', version: 2 });
            expect(await collect(s.state.list('budget', { updatedBefore: cutoff }))).toEqual([]);
            const left = (await collect(s.state.list('budget'))).map((r) => r.key);
            expect(left.sort()).toEqual(
              written
                .filter((w) => w.at >= cutoff || w.key === rewritten.key || w.key === late.key)
                .map((w) => w.key)
                .sort(),
            );
            expect(await s.state.get('other', 'a/000')).toMatchObject({ value: 'another namespace' });
          }));

        test('refuses an updatedBefore that is not a finite number, naming it', async () => {
          for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number]) {
            const refused = await collect(store.state.list('budget', { updatedBefore: bad })).catch((e: unknown) => e);
            expect(isAgentbusError(refused, 'OPTIONS_INVALID'), String(bad)).toBe(true);
            expect((refused as { details: Record<string, unknown> }).details.field).toBe('updatedBefore');
          }
        });
      });
    });

    describe('counts', () => {
      test('totals count events per topic and source, once per id, with the last position', async () => {
        await store.append(items(3, { topic: 'project.tasks', source: '/backend-architect' }));
        await store.append([item({ topic: 'project.reviews', source: '/python-pro', id: 'evt-counted-once' })]);
        await store.append([item({ topic: 'project.reviews', source: '/python-pro', id: 'evt-counted-once' })]);
        const [last] = await store.append(items(1, { topic: 'project.tasks', source: '/python-pro' }));
        const totals = await store.counts.totals();
        expect(totals.map(({ topic, source, events }) => [topic, source, events])).toEqual([
          ['project.reviews', '/python-pro', 1],
          ['project.tasks', '/backend-architect', 3],
          ['project.tasks', '/python-pro', 1],
        ]);
        expect(totals.at(-1)?.lastSeq).toBe(last?.seq);
      });

      test('after counts the events of one topic above a position', async () => {
        const first = await store.append(items(2, { topic: 'project.tasks' }));
        await store.append(items(3, { topic: 'project.reviews' }));
        await store.append(items(2, { topic: 'project.tasks' }));
        expect(await store.counts.after('project.tasks', 0)).toBe(4);
        expect(await store.counts.after('project.tasks', first[1]?.seq ?? 0)).toBe(2);
        expect(await store.counts.after('project.unknown', 0)).toBe(0);
      });
    });

    describe('recent activity', () => {
      const MINUTE = 60_000;
      const HOUR = 60 * MINUTE;
      /** A minute boundary, so the cases know which bucket each write lands in. */
      const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
      const rows = (counts: readonly ActivityCount[]) => counts.map((c) => [c.topic, c.kind, c.count]);

      /** Runs `fn` on a store of its own, on a clock the case moves by hand. */
      async function onClock(fn: (s: EventStore, clock: { t: number }) => Promise<void>): Promise<void> {
        const clock = { t: T0, now: () => clock.t };
        const opened = await factory({ clock });
        try {
          await fn(opened.store, clock);
        } finally {
          await opened.dispose();
        }
      }

      test('counts appended events per topic by the minute they were stored, once per id, committed ones only', () =>
        onClock(async (s, clock) => {
          clock.t = T0 - 2 * HOUR;
          await s.append(items(2, { topic: 'project.old' }));
          clock.t = T0 + 10_000;
          await s.append([...items(2, { topic: 'project.tasks' }), item({ topic: 'project.tasks', id: 'evt-active-once' })]);
          await s.append([item({ topic: 'project.tasks', id: 'evt-active-once' })]);
          await s.transaction((tx) => tx.append(items(1, { topic: 'project.alerts' })));
          await s
            .transaction(async (tx) => {
              await tx.append(items(2, { topic: 'project.rolled-back' }));
              throw new Error('abort');
            })
            .catch(() => {});
          const lastHour = [
            ['project.alerts', 'published', 1],
            ['project.tasks', 'published', 3],
          ];
          expect(rows(await s.counts.recent(T0 - HOUR))).toEqual(lastHour);
          expect(rows(await s.counts.recent(T0 - 3 * HOUR))).toEqual([
            ['project.alerts', 'published', 1],
            ['project.old', 'published', 2],
            ['project.tasks', 'published', 3],
          ]);
          // The window is rounded out to whole minutes: the minute holding `since` counts whole.
          expect(rows(await s.counts.recent(T0 + 30_000))).toEqual(lastHour);
          expect(await s.counts.recent(T0 + MINUTE)).toEqual([]);
        }));

      test('counts accepted settlements: acks as consumed, retries and dead letters apart; refused ones not at all', () =>
        onClock(async (s) => {
          await s.append([...items(3, { topic: 'project.tasks' }), ...items(1, { topic: 'project.reviews' })]);
          await s.deliveries.ensureConsumer({ name: 'act', topic: '>', start: 'earliest' });
          const claimed = (await s.deliveries.claim(everything('act', 'm'))).deliveries;
          expect(claimed).toHaveLength(4);
          const error = { reason: 'temporary_failure', message: 'try later' };
          const settle = (i: number, outcome: Settlement['outcome']) => settlementOf('act', claimed[i], outcome);
          await s.deliveries.settle([settle(0, { kind: 'ack' }), settle(3, { kind: 'ack' })]);
          await s.deliveries.settle([settle(1, { kind: 'retry', delayMs: HOUR, error })]);
          await s.deliveries.settle([settle(2, { kind: 'dead', error })]);
          // Settled already: refused, and not counted again.
          const [refused] = await s.deliveries.settle([settle(0, { kind: 'ack' })]);
          expect(refused).toBeInstanceOf(Error);
          // A dead letter decided outside the store counts once, however often it is recorded.
          const external = {
            consumer: 'elsewhere',
            event: item({ topic: 'project.external', id: 'evt-external-dead' }),
            reason: 'invalid_payload',
            error: 'bad',
            retries: 0,
            firstFailedAt: T0,
            lastFailedAt: T0,
          };
          await s.deliveries.recordDeadLetter(external);
          await s.deliveries.recordDeadLetter(external);
          expect(rows(await s.counts.recent(T0))).toEqual([
            ['project.external', 'dead_lettered', 1],
            ['project.external', 'published', 1],
            ['project.reviews', 'consumed', 1],
            ['project.reviews', 'published', 1],
            ['project.tasks', 'consumed', 1],
            ['project.tasks', 'dead_lettered', 1],
            ['project.tasks', 'published', 3],
            ['project.tasks', 'retried', 1],
          ]);
        }));

      test('record adds what a transport saw outside the store; bad counts are refused and write nothing', () =>
        onClock(async (s) => {
          await s.counts.record([
            { topic: 'project.tasks', kind: 'consumed', count: 3 },
            { topic: 'project.tasks', kind: 'retried', count: 1 },
          ]);
          await s.counts.record([{ topic: 'project.tasks', kind: 'consumed', count: 2 }]);
          for (const bad of [
            { topic: 'project.tasks', kind: 'consumed', count: 0 },
            { topic: 'project.tasks', kind: 'consumed', count: 1.5 },
            { topic: 'project.tasks', kind: 'lost', count: 1 },
            { topic: '', kind: 'consumed', count: 1 },
          ]) {
            const error = await s.counts
              .record([{ topic: 'project.tasks', kind: 'consumed', count: 1 }, bad as ActivityCount])
              .catch((e: unknown) => e);
            expect(isAgentbusError(error, 'OPTIONS_INVALID'), JSON.stringify(bad)).toBe(true);
          }
          expect(rows(await s.counts.recent(T0))).toEqual([
            ['project.tasks', 'consumed', 5],
            ['project.tasks', 'retried', 1],
          ]);
        }));

      test('a later write drops the buckets older than a day', () =>
        onClock(async (s, clock) => {
          await s.append(items(1, { topic: 'project.early' }));
          await s.counts.record([{ topic: 'project.early', kind: 'consumed', count: 1 }]);
          clock.t = T0 + 25 * HOUR;
          await s.append(items(1, { topic: 'project.late' }));
          expect(rows(await s.counts.recent(0))).toEqual([['project.late', 'published', 1]]);
        }));

      test('recent refuses a time that is not a finite number', async () => {
        const error = await store.counts.recent(Number.NaN).catch((e: unknown) => e);
        expect(isAgentbusError(error, 'OPTIONS_INVALID')).toBe(true);
      });
    });

    describe('transaction', () => {
      test('commits appends and state writes together', async () => {
        await store.transaction(async (tx) => {
          await tx.append([item({ id: 't1' })]);
          await tx.state.put('ns', 'k', 'v');
        });
        expect(await store.get('t1')).toBeDefined();
        expect((await store.state.get('ns', 'k'))?.value).toBe('v');
      });

      test('rolls back everything when the function throws', async () => {
        const error = await store
          .transaction(async (tx) => {
            await tx.append([item({ id: 't2' })]);
            await tx.state.put('ns', 'k2', 'v');
            throw new Error('boom');
          })
          .catch((e: unknown) => e);
        expect((error as Error).message).toBe('boom');
        expect(await store.get('t2')).toBeUndefined();
        expect(await store.state.get('ns', 'k2')).toBeUndefined();
      });

      test('appends issued while a transaction runs wait for it and then commit', async () => {
        let release: () => void = () => {};
        const gate = new Promise<void>((r) => {
          release = r;
        });
        const tx = store.transaction(async (t) => {
          await t.append([item({ id: 'inside' })]);
          await gate;
        });
        const outside = store.append([item({ id: 'outside' })]);
        await sleep(20);
        release();
        await tx;
        const [stored] = await outside;
        expect(stored?.seq).toBe(2);
      });
    });

    describe('delivery state', () => {
      test('a new consumer starts at the position its start option names', async () => {
        await store.append(items(3));
        expect((await store.deliveries.ensureConsumer({ name: 'e', topic: '>', start: 'earliest' })).nextSeq).toBe(1);
        expect((await store.deliveries.ensureConsumer({ name: 'l', topic: '>', start: 'latest' })).nextSeq).toBe(4);
        expect((await store.deliveries.ensureConsumer({ name: 's', topic: '>', start: { seq: 2 } })).nextSeq).toBe(2);
        // An existing consumer keeps its position whatever start says.
        expect((await store.deliveries.ensureConsumer({ name: 'l', topic: '>', start: 'earliest' })).nextSeq).toBe(4);
      });

      test('claims matching events after the position and acks move the floor', async () => {
        await store.append([...items(2, { topic: 'a.x' }), ...items(2, { topic: 'b.x' }), ...items(2, { topic: 'a.y' })]);
        await store.deliveries.ensureConsumer({ name: 'c', topic: 'a.*', start: 'earliest' });
        const claim = await store.deliveries.claim({ ...everything('c', 'm1'), matchTopic: (t) => t.startsWith('a.') });
        expect(claim.deliveries.map((d) => d.event.seq)).toEqual([1, 2, 5, 6]);
        expect(claim.deliveries.every((d) => d.attempt === 1)).toBe(true);
        const results = await store.deliveries.settle(
          claim.deliveries.map((d) => ({
            consumer: 'c',
            seq: d.event.seq,
            topic: d.event.envelope.routing.topic,
            attempt: 1,
            lease: d.lease,
            outcome: { kind: 'ack' },
          })),
        );
        expect(results.every((r) => Array.isArray(r))).toBe(true);
        const info = await store.deliveries.getConsumer('c');
        expect(info).toMatchObject({ ackFloor: 6, nextSeq: 7, inFlight: 0 });
        expect((await store.deliveries.claim(everything('c', 'm1'))).deliveries).toEqual([]);
      });

      test('gives each event to one member of the group while its lease holds', async () => {
        await store.append(items(10));
        await store.deliveries.ensureConsumer({ name: 'g', topic: '>', start: 'earliest' });
        const a = await store.deliveries.claim(everything('g', 'member-a', 4));
        const b = await store.deliveries.claim(everything('g', 'member-b', 100));
        const seqA = a.deliveries.map((d) => d.event.seq);
        const seqB = b.deliveries.map((d) => d.event.seq);
        expect(seqA).toHaveLength(4);
        expect([...seqA, ...seqB].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        expect((await store.deliveries.getConsumer('g'))?.inFlight).toBe(10);
      });

      test('schedules a retry, does not hand it out early, and redelivers it with the next attempt number', async () => {
        await store.append(items(1));
        await store.deliveries.ensureConsumer({ name: 'r', topic: '>', start: 'earliest' });
        const [d] = (await store.deliveries.claim(everything('r', 'm'))).deliveries;
        if (!d) throw new Error('no delivery');
        const error = { reason: 'temporary_failure', message: 'try later' };
        await store.deliveries.settle([
          {
            consumer: 'r',
            seq: d.event.seq,
            topic: d.event.envelope.routing.topic,
            attempt: 1,
            lease: d.lease,
            outcome: { kind: 'retry', delayMs: 150, error },
          },
        ]);
        const early = await store.deliveries.claim(everything('r', 'm'));
        expect(early.deliveries).toEqual([]);
        expect(early.nextWakeAt).toBeGreaterThan(Date.now());
        expect((await store.deliveries.getConsumer('r'))?.scheduled).toBe(1);
        await sleep(200);
        const [again] = (await store.deliveries.claim(everything('r', 'm'))).deliveries;
        expect(again?.event.seq).toBe(d.event.seq);
        expect(again?.attempt).toBe(2);
        expect((await store.deliveries.getConsumer('r'))?.redelivered).toBe(1);
      });

      test('a dead delivery becomes a dead letter with its failure and is not redelivered', async () => {
        await store.append(items(1));
        await store.deliveries.ensureConsumer({ name: 'd', topic: '>', start: 'earliest' });
        const [d] = (await store.deliveries.claim(everything('d', 'm'))).deliveries;
        if (!d) throw new Error('no delivery');
        await store.deliveries.settle([
          {
            consumer: 'd',
            seq: d.event.seq,
            topic: d.event.envelope.routing.topic,
            attempt: 1,
            lease: d.lease,
            outcome: { kind: 'dead', error: { reason: 'invalid_payload', message: 'bad', stack: 'Error: bad\n  at x' } },
          },
        ]);
        const [dead] = await store.deliveries.listDeadLetters({ consumer: 'd' });
        expect(dead).toMatchObject({ consumer: 'd', reason: 'invalid_payload', error: 'bad', retries: 0, status: 'open' });
        expect(dead?.event.envelope.event.id).toBe(d.event.envelope.event.id);
        expect((await store.deliveries.claim(everything('d', 'm'))).deliveries).toEqual([]);
        expect(await store.deliveries.getConsumer('d')).toMatchObject({ deadLettered: 1, ackFloor: 1 });
      });

      test('records a dead letter decided outside the store, idempotently, and replays it as redelivered', async () => {
        const [kept] = items(1);
        if (!kept) throw new Error('no item');
        const record = {
          consumer: '/outside',
          event: kept,
          reason: 'invalid_payload',
          error: 'bad',
          retries: 2,
          firstFailedAt: 1_000,
          lastFailedAt: 2_000,
        };
        const dead = await store.deliveries.recordDeadLetter(record);
        expect(dead).toMatchObject({ consumer: '/outside', reason: 'invalid_payload', error: 'bad', retries: 2, status: 'open' });
        expect(dead.event.envelope.event.id).toBe(kept.envelope.event.id);
        expect((await store.get(kept.envelope.event.id))?.seq).toBe(dead.event.seq);
        expect((await store.deliveries.recordDeadLetter(record)).id).toBe(dead.id);
        expect(await store.deliveries.listDeadLetters({ consumer: '/outside' })).toHaveLength(1);
        expect(await collect(store.read())).toHaveLength(1);
        const replayed = await store.deliveries.replayDeadLetter(dead.id, undefined, { redelivered: true });
        expect(replayed.status).toBe('replayed');
      });

      test("takes over a lapsed lease and refuses the old holder's settlement", async () => {
        await store.append(items(2));
        await store.deliveries.ensureConsumer({ name: 't', topic: '>', start: 'earliest' });
        const old = (await store.deliveries.claim(everything('t', 'slow-member', 100, 50))).deliveries;
        await sleep(80);
        const taken = (await store.deliveries.claim(everything('t', 'other-member'))).deliveries;
        expect(taken.map((d) => [d.event.seq, d.attempt])).toEqual([
          [1, 2],
          [2, 2],
        ]);
        const first = old[0];
        if (!first) throw new Error('no delivery');
        const [refused] = await store.deliveries.settle([
          {
            consumer: 't',
            seq: first.event.seq,
            topic: first.event.envelope.routing.topic,
            attempt: 1,
            lease: first.lease,
            outcome: { kind: 'ack' },
            publish: [item({ id: 'must-not-exist' })],
          },
        ]);
        expect(isAgentbusError(refused, 'LEASE_LOST')).toBe(true);
        expect(await store.get('must-not-exist')).toBeUndefined();
        const accepted = await store.deliveries.settle(
          taken.map((d) => ({
            consumer: 't',
            seq: d.event.seq,
            topic: d.event.envelope.routing.topic,
            attempt: d.attempt,
            lease: d.lease,
            outcome: { kind: 'ack' as const },
          })),
        );
        expect(accepted.every((r) => Array.isArray(r))).toBe(true);
        expect(await store.deliveries.getConsumer('t')).toMatchObject({ ackFloor: 2, inFlight: 0 });
      });

      test('extending a lease keeps other members away', async () => {
        await store.append(items(1));
        await store.deliveries.ensureConsumer({ name: 'x', topic: '>', start: 'earliest' });
        const [d] = (await store.deliveries.claim(everything('x', 'worker', 100, 60))).deliveries;
        if (!d) throw new Error('no delivery');
        for (let i = 0; i < 3; i++) {
          await sleep(30);
          await store.deliveries.extend('x', 'worker', [d.lease], 60);
        }
        expect((await store.deliveries.claim(everything('x', 'thief'))).deliveries).toEqual([]);
      });

      test('released deliveries go to another member without counting an attempt', async () => {
        await store.append(items(3));
        await store.deliveries.ensureConsumer({ name: 'rel', topic: '>', start: 'earliest' });
        const claimed = (await store.deliveries.claim(everything('rel', 'leaving'))).deliveries;
        await store.deliveries.release(
          'rel',
          'leaving',
          claimed.map((d) => ({ lease: d.lease, seq: d.event.seq })),
        );
        const next = (await store.deliveries.claim(everything('rel', 'staying'))).deliveries;
        expect(next.map((d) => [d.event.seq, d.attempt])).toEqual([
          [1, 1],
          [2, 1],
          [3, 1],
        ]);
        expect((await store.deliveries.getConsumer('rel'))?.redelivered).toBe(0);
      });

      test('settling with publish appends the events atomically with the ack', async () => {
        await store.append(items(1));
        await store.deliveries.ensureConsumer({ name: 'o', topic: '>', start: 'earliest' });
        const [d] = (await store.deliveries.claim(everything('o', 'm'))).deliveries;
        if (!d) throw new Error('no delivery');
        const [result] = await store.deliveries.settle([
          {
            consumer: 'o',
            seq: d.event.seq,
            topic: d.event.envelope.routing.topic,
            attempt: 1,
            lease: d.lease,
            outcome: { kind: 'ack' },
            publish: [item({ id: 'caused' })],
          },
        ]);
        expect(Array.isArray(result) && result[0]?.envelope.event.id).toBe('caused');
        expect(await store.get('caused')).toBeDefined();
      });

      test('counters ride with accepted acks only: in one settle, across settles, never with a retry or a refusal', async () => {
        await store.append(items(4));
        await store.deliveries.ensureConsumer({ name: 'cnt', topic: '>', start: 'earliest' });
        const claimed = (await store.deliveries.claim(everything('cnt', 'm'))).deliveries;
        const counter = (by: number) => [{ namespace: 'test.counters', key: 'corr-1', by }];
        const settlement = (i: number, outcome: Settlement['outcome'], by: number) =>
          settlementOf('cnt', claimed[i], outcome, { counters: counter(by) });
        // Two acks of one flush on the same counter, and a retry whose counter must not count.
        const error = { reason: 'temporary_failure', message: 'try again' };
        await store.deliveries.settle([settlement(0, { kind: 'ack' }, 2), settlement(1, { kind: 'ack' }, 3)]);
        await store.deliveries.settle([settlement(2, { kind: 'retry', delayMs: 60_000, error }, 100)]);
        expect((await store.state.get('test.counters', 'corr-1'))?.value).toBe(5);
        // An ack in a later settle adds to it; a second settlement of a settled lease is refused and adds nothing.
        await store.deliveries.settle([settlement(3, { kind: 'ack' }, 1)]);
        const [refused] = await store.deliveries.settle([settlement(0, { kind: 'ack' }, 50)]);
        expect(isAgentbusError(refused, 'LEASE_LOST')).toBe(true);
        const record = await store.state.get('test.counters', 'corr-1');
        expect(record?.value).toBe(6);
      });

      test('a paused consumer gets nothing and resumes at its position; reset moves it', async () => {
        await store.append(items(3));
        await store.deliveries.ensureConsumer({ name: 'p', topic: '>', start: 'earliest' });
        await store.deliveries.setPaused('p', true);
        expect((await store.deliveries.claim(everything('p', 'm'))).deliveries).toEqual([]);
        expect((await store.deliveries.getConsumer('p'))?.paused).toBe(true);
        await store.deliveries.setPaused('p', false);
        expect((await store.deliveries.claim(everything('p', 'm', 1))).deliveries.map((d) => d.event.seq)).toEqual([1]);
        const reset = await store.deliveries.resetConsumer('p', 'latest');
        expect(reset).toMatchObject({ nextSeq: 4, inFlight: 0, ackFloor: 3 });
        const again = await store.deliveries.resetConsumer('p', { seq: 2 });
        expect(again.nextSeq).toBe(2);
        expect((await store.deliveries.claim(everything('p', 'm'))).deliveries.map((d) => d.event.seq)).toEqual([2, 3]);
      });

      test('an unknown consumer is NOT_FOUND', async () => {
        const error = await store.deliveries.claim(everything('missing', 'm')).catch((e: unknown) => e);
        expect(isAgentbusError(error, 'NOT_FOUND')).toBe(true);
        expect(isAgentbusError(await store.deliveries.setPaused('missing', true).catch((e: unknown) => e), 'NOT_FOUND')).toBe(
          true,
        );
      });

      test('skips and counts expired events', async () => {
        await store.append([item({ id: 'old', expiresAt: '2000-01-01T00:00:00Z' }), item({ id: 'fresh' })]);
        await store.deliveries.ensureConsumer({ name: 'exp', topic: '>', start: 'earliest' });
        const claim = await store.deliveries.claim(everything('exp', 'm'));
        expect(claim.deliveries.map((d) => d.event.envelope.event.id)).toEqual(['fresh']);
        expect((await store.deliveries.getConsumer('exp'))?.expired).toBe(1);
      });

      test('wakes change listeners after an append commits', async () => {
        const heads: number[] = [];
        const stop = store.changes.onAppend((head) => heads.push(head));
        await store.append(items(2));
        await sleep(20);
        stop();
        expect(heads.at(-1)).toBe(2);
      });
    });

    describe('streams', () => {
      test('appends with a version per stream, starting at 1, and reads them back in order', async () => {
        const first = await store.streams.append('user-1', items(2), 'no_stream');
        expect(first.version).toBe(2);
        expect(first.events.map((e) => e.seq)).toEqual([1, 2]);
        await store.append([item()]);
        const second = await store.streams.append('user-1', items(1), 2);
        expect(second.version).toBe(3);
        await store.streams.append('user-2', items(1));
        expect(await store.streams.version('user-1')).toBe(3);
        expect(await store.streams.version('user-2')).toBe(1);
        expect(await store.streams.version('missing')).toBe(0);
        const read = await collect(store.streams.read('user-1'));
        expect(read.map((e) => [e.version, e.seq, e.stream])).toEqual([
          [1, 1, 'user-1'],
          [2, 2, 'user-1'],
          [3, 4, 'user-1'],
        ]);
        expect(read[2]?.envelope).toEqual(second.events[0]?.envelope);
        // Stream events are ordinary history too.
        expect((await store.get(read[2]?.envelope.event.id as string))?.seq).toBe(4);
      });

      test('reads a version range with a limit', async () => {
        await store.streams.append('s', items(6));
        const read = await collect(store.streams.read('s', { fromVersion: 2, toVersion: 5, limit: 3 }));
        expect(read.map((e) => e.version)).toEqual([2, 3, 4]);
      });

      test('checks no_stream, exists, any and a number, and writes nothing on a conflict', async () => {
        const conflict = async (p: Promise<unknown>) => {
          const error = await p.then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(isAgentbusError(error, 'CONCURRENCY_CONFLICT')).toBe(true);
          return error as { details: Record<string, unknown> };
        };
        await conflict(store.streams.append('a', items(1), 'exists'));
        await conflict(store.streams.append('a', items(1), 1));
        expect(await store.head()).toBe(0);
        await store.streams.append('a', items(2), 'no_stream');
        const refused = await conflict(store.streams.append('a', items(1), 'no_stream'));
        expect(refused.details).toMatchObject({ stream: 'a', expected: 'no_stream', actual: 2 });
        expect((await conflict(store.streams.append('a', items(1), 1))).details).toMatchObject({ expected: 1, actual: 2 });
        expect(await store.head()).toBe(2);
        expect((await store.streams.append('a', items(1), 'exists')).version).toBe(3);
        expect((await store.streams.append('a', items(1), 'any')).version).toBe(4);
        expect((await store.streams.append('b', items(1), 0)).version).toBe(1);
      });

      test('an empty append checks the version only', async () => {
        await store.streams.append('e', items(2));
        expect(await store.streams.append('e', [], 2)).toEqual({ version: 2, events: [] });
        const error = await store.streams.append('e', [], 1).catch((e: unknown) => e);
        expect(isAgentbusError(error, 'CONCURRENCY_CONFLICT')).toBe(true);
      });

      test('an event id already stored gets no new version', async () => {
        const again = item({ id: 'evt-stream-dup' });
        await store.streams.append('d', [again]);
        const result = await store.streams.append('d', [again, item()]);
        expect(result.version).toBe(2);
        expect(result.events.map((e) => e.duplicate)).toEqual([true, false]);
        expect((await collect(store.streams.read('d'))).map((e) => e.envelope.event.id)[0]).toBe('evt-stream-dup');
      });

      test('refuses a bad expected version without writing', async () => {
        const error = await store.streams.append('x', items(1), -1 as unknown as number).catch((e: unknown) => e);
        expect(isAgentbusError(error, 'OPTIONS_INVALID')).toBe(true);
        expect(await store.head()).toBe(0);
      });

      test('eight concurrent writers: contiguous versions, successes + conflicts = attempts', async () => {
        const writers = 8;
        const rounds = 12;
        let successes = 0;
        let conflicts = 0;
        const writer = async (w: number) => {
          for (let r = 0; r < rounds; r++) {
            const version = await store.streams.version('hot');
            try {
              await store.streams.append('hot', items(1, { payload: { w, r } }), version);
              successes++;
            } catch (error) {
              if (!isAgentbusError(error, 'CONCURRENCY_CONFLICT')) throw error;
              conflicts++;
            }
            if (r % 3 === 0) await sleep(1);
          }
        };
        await Promise.all(Array.from({ length: writers }, (_, w) => writer(w)));
        expect(successes + conflicts).toBe(writers * rounds);
        expect(successes).toBeGreaterThan(0);
        const read = await collect(store.streams.read('hot'));
        expect(read.map((e) => e.version)).toEqual(Array.from({ length: successes }, (_, i) => i + 1));
        expect(await store.streams.version('hot')).toBe(successes);
        // Every stored event is in the stream exactly once: a refused append wrote nothing.
        expect(await store.head()).toBe(successes);
      });
    });
  });
  describeRetentionContract(name, factory, options);
  describeAttemptsContract(name, factory, options);
  describeDeadLettersContract(name, factory, options);
}
