/**
 * Dead letters by correlation, the part of the EventStore contract that `listDeadLetters({
 * correlationId })` added, run by `describeEventStoreContract` for every implementation
 * against its real engine: the dead letters of one flow's events, with the other filters and
 * paging, those of events kept below the log start (ADR 0018) and those recorded by a
 * transport outside the store included; a value that cannot be a correlation id is refused.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import type { ClaimRequest, ClaimedDelivery, DeadLetter, EventStore, Settlement, StoredEvent } from '../../src/store/index.js';
import type { StoreFactory } from './event-store.contract.js';
import { type ContractOptions, item, items, skipped } from './fixtures.js';

const claimOf = (consumer: string): ClaimRequest => ({
  consumer,
  owner: 'member',
  max: 100,
  leaseMs: 30_000,
  matchTopic: () => true,
});

const DEAD: Settlement['outcome'] = { kind: 'dead', error: { reason: 'invalid_payload', message: 'refused on purpose' } };

function settle(consumer: string, d: ClaimedDelivery, outcome: Settlement['outcome']): Settlement {
  return { consumer, seq: d.event.seq, topic: d.event.envelope.routing.topic, attempt: d.attempt, lease: d.lease, outcome };
}

/** What a test compares: which subscription, which event. */
const pairs = (letters: readonly DeadLetter[]) => letters.map((d) => [d.consumer, d.event.envelope.event.id]);

export function describeDeadLettersContract(name: string, factory: StoreFactory, options?: ContractOptions): void {
  describe(`EventStore contract: ${name}: dead letters by correlation`, () => {
    let store: EventStore;
    let dispose: () => Promise<void>;
    beforeEach(async () => {
      ({ store, dispose } = await factory());
    });
    afterEach(async () => {
      await dispose();
    });
    const test = (title: string, fn: () => Promise<void>) => (skipped(options, title) ? it.skip : it)(title, fn);

    /** `consumer` takes every event it has not settled: dead-letters those `dead` picks, acknowledges the rest. */
    const work = async (consumer: string, dead: (event: StoredEvent) => boolean) => {
      await store.deliveries.ensureConsumer({ name: consumer, topic: '>', start: 'earliest' });
      const { deliveries } = await store.deliveries.claim(claimOf(consumer));
      await store.deliveries.settle(deliveries.map((d) => settle(consumer, d, dead(d.event) ? DEAD : { kind: 'ack' })));
    };
    const idIn =
      (...ids: string[]) =>
      (event: StoredEvent) =>
        ids.includes(event.envelope.event.id);
    const ofFlow = (letters: readonly DeadLetter[], flow: string) =>
      letters.filter((d) => d.event.envelope.event.correlation_id === flow);

    test('counts open dead letters per subscription and, as events, per topic, without listing them', async () => {
      expect(await store.deliveries.countOpenDeadLetters()).toEqual({ bySubscription: [], byTopic: [] });
      await store.append([
        item({ id: 't-1', topic: 'project.tasks' }),
        item({ id: 't-2', topic: 'project.tasks' }),
        item({ id: 'r-1', topic: 'project.reviews' }),
        item({ id: 'ok', topic: 'project.reviews' }),
      ]);
      await work('x', idIn('t-1', 't-2', 'r-1'));
      await work('y', idIn('t-1', 'r-1'));
      // An archived letter is no longer open.
      const [archived] = await store.deliveries.listDeadLetters({ consumer: 'y', correlationId: 'r-1' });
      await store.deliveries.archiveDeadLetter(archived?.id as number, 'looked at');
      expect(await store.deliveries.countOpenDeadLetters()).toEqual({
        bySubscription: [
          { consumer: 'x', count: 3 },
          { consumer: 'y', count: 1 },
        ],
        // t-1 is dead in both subscriptions: one event.
        byTopic: [
          { topic: 'project.reviews', events: 1 },
          { topic: 'project.tasks', events: 2 },
        ],
      });
    });

    test("lists one correlation's dead letters by id, narrowed by subscription and status, in pages", async () => {
      await store.append([
        item({ id: 'a-1', correlationId: 'flow-a' }),
        item({ id: 'b-1', correlationId: 'flow-b' }),
        item({ id: 'a-2', correlationId: 'flow-a' }),
        item({ id: 'o-1' }),
        item({ id: 'a-3', correlationId: 'flow-a' }),
      ]);
      await work('x', idIn('a-1', 'b-1', 'a-2'));
      await work('y', idIn('a-2', 'a-3', 'o-1'));
      const all = await store.deliveries.listDeadLetters();
      expect(all).toHaveLength(6);

      const flowA = await store.deliveries.listDeadLetters({ correlationId: 'flow-a' });
      expect(flowA).toEqual(ofFlow(all, 'flow-a'));
      expect(pairs(flowA).sort()).toEqual([
        ['x', 'a-1'],
        ['x', 'a-2'],
        ['y', 'a-2'],
        ['y', 'a-3'],
      ]);
      expect(pairs(await store.deliveries.listDeadLetters({ correlationId: 'flow-b' }))).toEqual([['x', 'b-1']]);
      expect(await store.deliveries.listDeadLetters({ correlationId: 'flow-unknown' })).toEqual([]);

      expect(await store.deliveries.listDeadLetters({ correlationId: 'flow-a', consumer: 'y' })).toEqual(
        flowA.filter((d) => d.consumer === 'y'),
      );
      const archived = flowA[1] as DeadLetter;
      await store.deliveries.archiveDeadLetter(archived.id, 'resolved by hand');
      expect((await store.deliveries.listDeadLetters({ correlationId: 'flow-a', status: 'open' })).map((d) => d.id)).toEqual(
        flowA.filter((d) => d !== archived).map((d) => d.id),
      );
      expect((await store.deliveries.listDeadLetters({ correlationId: 'flow-a', status: 'archived' })).map((d) => d.id)).toEqual([
        archived.id,
      ]);

      const first = await store.deliveries.listDeadLetters({ correlationId: 'flow-a', limit: 3 });
      expect(first.map((d) => d.id)).toEqual(flowA.slice(0, 3).map((d) => d.id));
      const rest = await store.deliveries.listDeadLetters({ correlationId: 'flow-a', afterId: first.at(-1)?.id, limit: 3 });
      expect(rest.map((d) => d.id)).toEqual(flowA.slice(3).map((d) => d.id));
    });

    test('finds the dead letters of events kept below the log start for them', async () => {
      await store.append([
        item({ id: 'kept', correlationId: 'flow-kept' }),
        item({ correlationId: 'flow-kept' }),
        item({ id: 'unrelated' }),
        ...items(2),
      ]);
      await work('d', idIn('kept', 'unrelated'));
      await store.append(items(2));
      await work('d', () => false);
      const pruned = await store.retention.prune({ maxEvents: 1 });
      expect(pruned.pruned).toBeGreaterThan(0);
      const [letter] = await store.deliveries.listDeadLetters({ correlationId: 'flow-kept' });
      expect(letter?.event.envelope.event.id).toBe('kept');
      expect(letter?.event.seq).toBeLessThan(pruned.firstRetained);
      expect(await store.deliveries.listDeadLetters({ correlationId: 'flow-kept' })).toHaveLength(1);
      expect(await store.deliveries.listDeadLetters()).toHaveLength(2);
    });

    test('finds a dead letter recorded by a transport outside the store by its event', async () => {
      const outside = (event: ReturnType<typeof item>) =>
        store.deliveries.recordDeadLetter({
          consumer: '/outside',
          event,
          reason: 'timeout',
          error: 'handler timed out',
          retries: 1,
          firstFailedAt: 1_000,
          lastFailedAt: 2_000,
        });
      await outside(item({ id: 'outside-0', correlationId: 'flow-elsewhere' }));
      const recorded = await outside(item({ id: 'outside-1', correlationId: 'flow-outside' }));
      await store.append([item({ correlationId: 'flow-outside' })]);
      const found = await store.deliveries.listDeadLetters({ correlationId: 'flow-outside' });
      expect(found.map((d) => d.id)).toEqual([recorded.id]);
      expect(found[0]).toEqual(recorded);
    });

    test('refuses a correlation id that cannot be one, naming correlationId', async () => {
      await store.append([item({ correlationId: 'flow-a' })]);
      for (const bad of ['', 'a\u0000b', 'x'.repeat(256), 7]) {
        const error = await store.deliveries
          .listDeadLetters({ correlationId: bad as string })
          .then(() => undefined)
          .catch((e: unknown) => e);
        expect(isAgentbusError(error, 'OPTIONS_INVALID'), JSON.stringify(bad)).toBe(true);
        expect((error as { details: { field?: string } }).details.field).toBe('correlationId');
      }
    });
  });
}
