/**
 * The retention part of the EventStore contract (ADR 0018), run by
 * `describeEventStoreContract` for every implementation against its real engine.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import type { ClaimRequest, ClaimedDelivery, EventStore, PruneProgress, Settlement } from '../../src/store/index.js';
import type { Clock } from '../../src/time.js';
import type { StoreFactory } from './event-store.contract.js';
import { type ContractOptions, collect, item, items, skipped } from './fixtures.js';

const everything = (consumer: string, max = 100): ClaimRequest => ({
  consumer,
  owner: 'member',
  max,
  leaseMs: 30_000,
  matchTopic: () => true,
});

function settle(consumer: string, d: ClaimedDelivery, outcome: Settlement['outcome']): Settlement {
  return { consumer, seq: d.event.seq, topic: d.event.envelope.routing.topic, attempt: 1, lease: d.lease, outcome };
}

const seqs = async (store: EventStore) => (await collect(store.read())).map((e) => e.seq);

export function describeRetentionContract(name: string, factory: StoreFactory, options?: ContractOptions): void {
  describe(`EventStore contract: ${name}: retention`, () => {
    let store: EventStore;
    let dispose: () => Promise<void>;
    let time = 1_000_000;
    const clock: Clock = { now: () => time };
    beforeEach(async () => {
      time = 1_000_000;
      ({ store, dispose } = await factory({ clock }));
    });
    afterEach(async () => {
      await dispose();
    });
    const test = (title: string, fn: () => Promise<void>) => (skipped(options, title) ? it.skip : it)(title, fn);

    test('prunes by count: keeps the newest positions, never reuses a position, keeps totals as published', async () => {
      await store.append(items(10));
      const result = await store.retention.prune({ maxEvents: 4 });
      expect(result).toMatchObject({ pruned: 6, firstRetained: 7, head: 10, dryRun: false });
      expect(result.batches).toBeGreaterThan(0);
      expect(await seqs(store)).toEqual([7, 8, 9, 10]);
      const [next] = await store.append([item()]);
      expect(next?.seq).toBe(11);
      expect(await store.head()).toBe(11);
      // event_counts are totals of what was published, not of what is stored.
      expect((await store.counts.totals()).reduce((n, c) => n + c.events, 0)).toBe(11);
      const info = await store.retention.info();
      expect(info).toMatchObject({ firstRetained: 7, pruned: 6, head: 11, holds: [] });
      expect(info.lastPrunedAt).toBe(time);
    });

    test('prunes by age on the store clock (storedAt), oldest first', async () => {
      await store.append(items(5));
      time += 60_000;
      await store.append(items(5));
      time += 10_000;
      // Stored 70 s and 10 s ago: a 30 s limit lets the first five go.
      expect(await store.retention.prune({ maxAgeMs: 30_000 })).toMatchObject({ pruned: 5, firstRetained: 6 });
      expect(await seqs(store)).toEqual([6, 7, 8, 9, 10]);
      // Both limits: an event goes when either says so.
      expect(await store.retention.prune({ maxAgeMs: 30_000, maxEvents: 2 })).toMatchObject({ pruned: 3, firstRetained: 9 });
      // Nothing old enough: nothing more goes.
      expect(await store.retention.prune({ maxAgeMs: 30_000 })).toMatchObject({ pruned: 0, firstRetained: 9 });
    });

    test('always keeps the newest event, so the head stays readable', async () => {
      await store.append(items(3));
      time += 3_600_000;
      expect(await store.retention.prune({ maxAgeMs: 1 })).toMatchObject({ pruned: 2, firstRetained: 3, head: 3 });
      expect(await seqs(store)).toEqual([3]);
      expect(await store.head()).toBe(3);
    });

    test('a dry run counts what would go and deletes nothing', async () => {
      await store.append(items(8));
      const result = await store.retention.prune({ maxEvents: 3, dryRun: true });
      expect(result).toMatchObject({ pruned: 5, firstRetained: 6, batches: 0, dryRun: true });
      expect(await seqs(store)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect((await store.retention.info()).firstRetained).toBe(1);
    });

    test('deletes in batches of batchSize and reports progress after each', async () => {
      await store.append(items(10));
      const progress: PruneProgress[] = [];
      const result = await store.retention.prune({ maxEvents: 1, batchSize: 3, onProgress: (p) => progress.push(p) });
      expect(result).toMatchObject({ pruned: 9, firstRetained: 10, batches: 3 });
      expect(progress.map((p) => [p.pruned, p.logStart])).toEqual([
        [3, 4],
        [6, 7],
        [9, 10],
      ]);
    });

    test('takes what was due when it started, not the events appended while it runs', async () => {
      await store.append(items(10));
      const appending: Promise<unknown>[] = [];
      // Every batch, publishers append two more: a prune that chased them would never end under steady load.
      const result = await store.retention.prune({
        maxEvents: 1,
        batchSize: 3,
        onProgress: () => {
          appending.push(store.append(items(2)));
        },
      });
      await Promise.all(appending);
      expect(result).toMatchObject({ pruned: 9, firstRetained: 10, head: 10 });
      expect((await seqs(store))[0]).toBe(10);
      expect(await store.head()).toBe(10 + 2 * appending.length);
    });

    test('a subscription holds retention back at its unsettled deliveries, paused or not', async () => {
      await store.append(items(10));
      await store.deliveries.ensureConsumer({ name: 'lagging', topic: '>', start: 'earliest' });
      const claim = await store.deliveries.claim(everything('lagging', 5));
      // Positions 1 and 2 acked; 3 to 5 still in flight.
      const [d1, d2] = claim.deliveries as [ClaimedDelivery, ClaimedDelivery];
      await store.deliveries.settle([settle('lagging', d1, { kind: 'ack' }), settle('lagging', d2, { kind: 'ack' })]);
      const held = await store.retention.prune({ maxEvents: 1 });
      expect(held.pruned).toBe(0);
      expect(held.heldBy).toMatchObject({ kind: 'subscription', name: 'lagging', paused: false });
      expect(await seqs(store)).toHaveLength(10);

      // All five settled, the rest unclaimed: the cursor (6) is what holds now.
      await store.deliveries.settle(claim.deliveries.slice(2).map((d) => settle('lagging', d, { kind: 'ack' })));
      await store.deliveries.setPaused('lagging', true);
      const result = await store.retention.prune({ maxEvents: 1 });
      expect(result).toMatchObject({ pruned: 5, firstRetained: 6 });
      expect(result.heldBy).toMatchObject({ kind: 'subscription', name: 'lagging', seq: 6, paused: true });
      expect((await store.retention.info()).holds).toEqual([{ kind: 'subscription', name: 'lagging', seq: 6, paused: true }]);
      // The paused subscription gets every event it had not reached.
      await store.deliveries.setPaused('lagging', false);
      const rest = await store.deliveries.claim(everything('lagging'));
      expect(rest.deliveries.map((d) => d.event.seq)).toEqual([6, 7, 8, 9, 10]);
    });

    test('a scheduled retry holds its event', async () => {
      await store.append(items(4));
      await store.deliveries.ensureConsumer({ name: 'r', topic: '>', start: 'earliest' });
      const claim = await store.deliveries.claim(everything('r'));
      const [first, ...others] = claim.deliveries as [ClaimedDelivery, ...ClaimedDelivery[]];
      const error = { reason: 'temporary_failure', message: 'later' };
      await store.deliveries.settle([
        settle('r', first, { kind: 'retry', delayMs: 60_000, error }),
        ...others.map((d) => settle('r', d, { kind: 'ack' })),
      ]);
      const result = await store.retention.prune({ maxEvents: 1 });
      expect(result.pruned).toBe(0);
      expect(result.heldBy).toMatchObject({ kind: 'subscription', name: 'r', seq: 1 });
    });

    test('keeps the events of dead letters and streams below the log start; the dead letter replays', async () => {
      await store.append(items(4));
      await store.deliveries.ensureConsumer({ name: 'd', topic: '>', start: 'earliest' });
      const claim = await store.deliveries.claim(everything('d'));
      const dead = claim.deliveries[1] as ClaimedDelivery;
      const fail = { kind: 'dead', error: { reason: 'invalid_payload', message: 'bad' } } as const;
      await store.deliveries.settle(claim.deliveries.map((d) => settle('d', d, d === dead ? fail : { kind: 'ack' })));
      const stream = await store.streams.append('order-1', items(2)); // positions 5, 6
      await store.append(items(4)); // 7 to 10
      await store.deliveries.settle(
        (await store.deliveries.claim(everything('d'))).deliveries.map((d) => settle('d', d, { kind: 'ack' })),
      );

      const result = await store.retention.prune({ maxEvents: 1 });
      expect(result).toMatchObject({ pruned: 6, firstRetained: 10 });
      expect(await seqs(store)).toEqual([2, 5, 6, 10]);
      expect((await collect(store.streams.read('order-1'))).map((e) => e.seq)).toEqual(stream.events.map((e) => e.seq));

      const [letter] = await store.deliveries.listDeadLetters({ consumer: 'd' });
      expect(letter?.event.seq).toBe(2);
      await store.deliveries.replayDeadLetter(letter?.id as number);
      const again = await store.deliveries.claim(everything('d'));
      expect(again.deliveries.map((d) => d.event.seq)).toEqual([2]);
      expect(again.deliveries[0]?.event.envelope).toEqual(dead.event.envelope);

      // A purged dead letter releases its event to the next prune.
      await store.deliveries.settle(again.deliveries.map((d) => settle('d', d, { kind: 'ack' })));
      await store.deliveries.purgeDeadLetters({ status: 'all' });
      await store.append(items(1));
      await store.deliveries.settle(
        (await store.deliveries.claim(everything('d'))).deliveries.map((d) => settle('d', d, { kind: 'ack' })),
      );
      await store.retention.prune({ maxEvents: 1 });
      expect(await seqs(store)).toEqual([5, 6, 11]);
    });

    test('recovered deliveries go with their events; those of an event kept for a dead letter stay', async () => {
      await store.append([item({ correlationId: 'flow-pruned' }), item({ correlationId: 'flow-pruned' }), ...items(3)]);
      await store.deliveries.ensureConsumer({ name: 'a', topic: '>', start: 'earliest' });
      await store.deliveries.ensureConsumer({ name: 'b', topic: '>', start: 'earliest' });
      const error = { reason: 'temporary_failure', message: 'not yet' };
      const ofA = (await store.deliveries.claim(everything('a'))).deliveries;
      await store.deliveries.settle(
        ofA.map((d) => settle('a', d, d.event.seq <= 2 ? { kind: 'retry', delayMs: 0, error } : { kind: 'ack' })),
      );
      const again = (await store.deliveries.claim(everything('a'))).deliveries;
      expect(again.map((d) => d.event.seq)).toEqual([1, 2]);
      await store.deliveries.settle(again.map((d) => ({ ...settle('a', d, { kind: 'ack' }), attempt: 2 })));
      const ofB = (await store.deliveries.claim(everything('b'))).deliveries;
      await store.deliveries.settle(
        ofB.map((d) => settle('b', d, d.event.seq === 1 ? { kind: 'dead', error } : { kind: 'ack' })),
      );
      const before = await store.deliveries.recovered.list({ correlationId: 'flow-pruned' });
      expect(before.map((r) => [r.event.seq, r.consumer, r.handledAttempt])).toEqual([
        [1, 'a', 2],
        [2, 'a', 2],
      ]);
      expect(await store.retention.prune({ maxEvents: 1 })).toMatchObject({ pruned: 3, firstRetained: 5 });
      const after = await store.deliveries.recovered.list({ correlationId: 'flow-pruned' });
      expect(after.map((r) => [r.event.seq, r.consumer])).toEqual([[1, 'a']]);
    });

    test('earliest, early positions and resets begin at the first retained position', async () => {
      await store.append(items(6));
      await store.retention.prune({ maxEvents: 2 });
      expect((await store.deliveries.ensureConsumer({ name: 'e', topic: '>', start: 'earliest' })).nextSeq).toBe(5);
      expect((await store.deliveries.ensureConsumer({ name: 's', topic: '>', start: { seq: 2 } })).nextSeq).toBe(5);
      expect((await store.deliveries.ensureConsumer({ name: 't', topic: '>', start: { time: 0 } })).nextSeq).toBe(5);
      expect((await store.deliveries.ensureConsumer({ name: 'l', topic: '>', start: 'latest' })).nextSeq).toBe(7);
      expect((await store.deliveries.resetConsumer('l', 'earliest')).nextSeq).toBe(5);
      const claim = await store.deliveries.claim(everything('e'));
      expect(claim.deliveries.map((d) => d.event.seq)).toEqual([5, 6]);
      // History reads return what is stored, from the first retained position.
      expect((await collect(store.read({ fromSeq: 1, limit: 1 })))[0]?.seq).toBe(5);
    });

    test('an outbox record and a projection checkpoint hold retention back', async () => {
      const stored = await store.append(items(6));
      await store.state.put('outbox', stored[2]?.envelope.event.id as string, { at: time });
      await store.state.put('agentbus.projections', 'checkpoint/orders', { position: 4, applied: 4, topics: ['>'] });
      const first = await store.retention.prune({ maxEvents: 1 });
      expect(first).toMatchObject({ pruned: 2, firstRetained: 3, heldBy: { kind: 'outbox', name: 'outbox', seq: 3 } });
      await store.state.delete('outbox', stored[2]?.envelope.event.id as string);
      const second = await store.retention.prune({ maxEvents: 1 });
      expect(second).toMatchObject({ pruned: 2, firstRetained: 5, heldBy: { kind: 'projection', name: 'orders', seq: 5 } });
    });

    test('two prunes at once delete each event once', async () => {
      await store.append(items(50));
      const [a, b] = await Promise.all([
        store.retention.prune({ maxEvents: 5, batchSize: 4 }),
        store.retention.prune({ maxEvents: 5, batchSize: 4 }),
      ]);
      expect((a?.pruned ?? 0) + (b?.pruned ?? 0)).toBe(45);
      expect(await store.retention.info()).toMatchObject({ pruned: 45, firstRetained: 46 });
      expect(await seqs(store)).toEqual([46, 47, 48, 49, 50]);
    });

    test('refuses bad options naming the field, deleting nothing', async () => {
      await store.append(items(3));
      const refused = async (options: object, field: string) => {
        const error = await store.retention.prune(options).catch((e: unknown) => e);
        expect(isAgentbusError(error, 'OPTIONS_INVALID')).toBe(true);
        expect((error as { details: { field?: string } }).details.field).toBe(field);
      };
      await refused({}, 'maxAgeMs');
      await refused({ maxEvents: 0 }, 'maxEvents');
      await refused({ maxEvents: 1.5 }, 'maxEvents');
      await refused({ maxAgeMs: -1 }, 'maxAgeMs');
      await refused({ maxEvents: 1, batchSize: 0 }, 'batchSize');
      expect(await seqs(store)).toEqual([1, 2, 3]);
    });
  });
}
