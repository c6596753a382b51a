/**
 * Failed attempts and handled counts, the part of the EventStore contract ADR 0021 added, run
 * by `describeEventStoreContract` for every implementation against its real engine: a
 * scheduled retry keeps each failed attempt (time, reason, message cut, delay chosen) and its
 * dead letter carries them; acknowledgements are counted per subscription in their commit.
 * ADR 0023: a delivery handled after failing keeps them as a recovered delivery.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import {
  ATTEMPTS_KEPT,
  ATTEMPT_ERROR_MAX,
  type ClaimRequest,
  type ClaimedDelivery,
  type EventStore,
  type ExternalDeadLetter,
  type ExternalRecovery,
  type HandledCount,
  type Settlement,
} from '../../src/store/index.js';
import type { Clock } from '../../src/time.js';
import type { StoreFactory } from './event-store.contract.js';
import { type ContractOptions, item, items, skipped } from './fixtures.js';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

const claimOf = (consumer: string, matchEvent?: ClaimRequest['matchEvent']): ClaimRequest => ({
  consumer,
  owner: 'member',
  max: 100,
  leaseMs: 30_000,
  matchTopic: () => true,
  ...(matchEvent ? { matchEvent } : {}),
});

function settle(consumer: string, d: ClaimedDelivery | undefined, outcome: Settlement['outcome']): Settlement {
  if (!d) throw new Error('no delivery');
  return { consumer, seq: d.event.seq, topic: d.event.envelope.routing.topic, attempt: d.attempt, lease: d.lease, outcome };
}

const only = (counts: readonly HandledCount[], consumers: readonly string[]) =>
  counts.filter((c) => consumers.includes(c.consumer));

export function describeAttemptsContract(name: string, factory: StoreFactory, options?: ContractOptions): void {
  describe(`EventStore contract: ${name}: failed attempts and handled counts`, () => {
    let store: EventStore;
    let dispose: () => Promise<void>;
    const clock: Clock & { t: number } = { t: T0, now: () => clock.t };
    beforeEach(async () => {
      clock.t = T0;
      ({ store, dispose } = await factory({ clock }));
    });
    afterEach(async () => {
      await dispose();
    });
    const test = (title: string, fn: () => Promise<void>) => (skipped(options, title) ? it.skip : it)(title, fn);

    /** Claims the one delivery of `consumer` due now (the clock moved past its retry). */
    const claimOne = async (consumer: string): Promise<ClaimedDelivery> => {
      const [d] = (await store.deliveries.claim(claimOf(consumer))).deliveries;
      if (!d) throw new Error(`nothing to claim for ${consumer} at ${clock.t}`);
      return d;
    };

    test('a retry keeps each failed attempt with its time, reason, message and delay; the dead letter carries them all', async () => {
      await store.append([item({ id: 'evt-flaky' })]);
      await store.deliveries.ensureConsumer({ name: 'a', topic: '>', start: 'earliest' });
      const long = `agent unavailable ${'x'.repeat(2 * ATTEMPT_ERROR_MAX)}`;
      await store.deliveries.settle([
        settle('a', await claimOne('a'), {
          kind: 'retry',
          delayMs: 1_000,
          error: { reason: 'temporary_failure', message: 'agent unavailable' },
        }),
      ]);
      clock.t = T0 + 1_000;
      await store.deliveries.settle([
        settle('a', await claimOne('a'), { kind: 'retry', delayMs: 2_000, error: { reason: 'timeout', message: long } }),
      ]);
      clock.t = T0 + 3_000;
      const third = await claimOne('a');
      expect([third.attempt, third.failures, third.firstFailedAt]).toEqual([3, 2, T0]);
      await store.deliveries.settle([
        settle('a', third, { kind: 'dead', error: { reason: 'temporary_failure', message: 'gave up', stack: 'Error: gave up' } }),
      ]);
      const [dead] = await store.deliveries.listDeadLetters({ consumer: 'a' });
      expect(dead).toMatchObject({ retries: 2, firstFailedAt: T0, lastFailedAt: T0 + 3_000, stack: 'Error: gave up' });
      expect(dead?.attempts).toEqual([
        { attempt: 1, at: T0, reason: 'temporary_failure', error: 'agent unavailable', delayMs: 1_000 },
        { attempt: 2, at: T0 + 1_000, reason: 'timeout', error: `${long.slice(0, ATTEMPT_ERROR_MAX - 1)}…`, delayMs: 2_000 },
        { attempt: 3, at: T0 + 3_000, reason: 'temporary_failure', error: 'gave up' },
      ]);
      expect(await store.deliveries.getDeadLetter(dead?.id as number)).toEqual(dead);
    });

    test(`keeps the last ${ATTEMPTS_KEPT} attempts of a delivery that keeps failing`, async () => {
      await store.append([item({ id: 'evt-poison' })]);
      await store.deliveries.ensureConsumer({ name: 'p', topic: '>', start: 'earliest' });
      const error = { reason: 'temporary_failure', message: 'still failing' };
      const failures = ATTEMPTS_KEPT + 4;
      for (let i = 0; i < failures; i++) {
        await store.deliveries.settle([settle('p', await claimOne('p'), { kind: 'retry', delayMs: 0, error })]);
        clock.t += 10;
      }
      await store.deliveries.settle([settle('p', await claimOne('p'), { kind: 'dead', error })]);
      const [dead] = await store.deliveries.listDeadLetters({ consumer: 'p' });
      expect(dead?.retries).toBe(failures);
      expect(dead?.attempts.map((a) => a.attempt)).toEqual(
        Array.from({ length: ATTEMPTS_KEPT }, (_, i) => failures + 2 - ATTEMPTS_KEPT + i),
      );
      expect(dead?.firstFailedAt).toBe(T0);
    });

    test('a replayed dead letter starts a history of its own', async () => {
      await store.append([item({ id: 'evt-replayed' })]);
      await store.deliveries.ensureConsumer({ name: 'r', topic: '>', start: 'earliest' });
      const error = { reason: 'invalid_payload', message: 'first' };
      await store.deliveries.settle([settle('r', await claimOne('r'), { kind: 'dead', error })]);
      const [first] = await store.deliveries.listDeadLetters({ consumer: 'r' });
      await store.deliveries.replayDeadLetter(first?.id as number);
      clock.t = T0 + 500;
      await store.deliveries.settle([
        settle('r', await claimOne('r'), { kind: 'dead', error: { reason: 'invalid_payload', message: 'again' } }),
      ]);
      const letters = await store.deliveries.listDeadLetters({ consumer: 'r' });
      expect(letters.map((d) => d.attempts.map((a) => [a.attempt, a.error]))).toEqual([[[1, 'first']], [[1, 'again']]]);
    });

    test('records the attempts of a dead letter decided outside the store, bounded; bad ones are refused naming the entry', async () => {
      const attempts = Array.from({ length: ATTEMPTS_KEPT + 2 }, (_, i) => ({
        attempt: i + 1,
        at: T0 + i,
        reason: 'temporary_failure',
        error: i === ATTEMPTS_KEPT + 1 ? 'y'.repeat(ATTEMPT_ERROR_MAX + 10) : `failure ${i + 1}`,
        ...(i === ATTEMPTS_KEPT + 1 ? {} : { delayMs: 100 }),
      }));
      const record: ExternalDeadLetter = {
        consumer: '/outside',
        event: item({ id: 'evt-outside' }),
        reason: 'temporary_failure',
        error: 'gave up',
        retries: ATTEMPTS_KEPT + 1,
        firstFailedAt: T0,
        lastFailedAt: T0 + ATTEMPTS_KEPT + 1,
        attempts,
      };
      const dead = await store.deliveries.recordDeadLetter(record);
      expect(dead.attempts).toHaveLength(ATTEMPTS_KEPT);
      expect(dead.attempts[0]).toEqual({ attempt: 3, at: T0 + 2, reason: 'temporary_failure', error: 'failure 3', delayMs: 100 });
      expect(dead.attempts.at(-1)?.error).toHaveLength(ATTEMPT_ERROR_MAX);
      expect(dead.attempts.at(-1)?.delayMs).toBeUndefined();
      // Without attempts (a transport of an earlier release): no history, not an error.
      const bare = await store.deliveries.recordDeadLetter({ ...record, consumer: '/bare', attempts: undefined });
      expect(bare.attempts).toEqual([]);

      for (const [bad, field] of [
        [{ ...attempts[0], at: Number.NaN }, 'attempts[1].at'],
        [{ ...attempts[0], attempt: 0 }, 'attempts[1].attempt'],
        [{ ...attempts[0], reason: '' }, 'attempts[1].reason'],
        [{ ...attempts[0], delayMs: -1 }, 'attempts[1].delayMs'],
        ['no', 'attempts[1]'],
      ] as const) {
        const refused = await store.deliveries
          .recordDeadLetter({ ...record, consumer: '/refused', attempts: [attempts[0], bad] as ExternalDeadLetter['attempts'] })
          .catch((e: unknown) => e);
        expect(isAgentbusError(refused, 'OPTIONS_INVALID') && refused.details.field, field).toBe(field);
      }
      expect(await store.deliveries.listDeadLetters({ consumer: '/refused' })).toEqual([]);
    });

    test('an event handled after failing keeps its failed attempts and the attempt handled; a plain ack, a lapsed lease or a dead letter keeps none', async () => {
      await store.append([
        item({ id: 'evt-recovers', correlationId: 'flow-r' }),
        item({ id: 'evt-plain', correlationId: 'flow-r' }),
        item({ id: 'evt-lapses', correlationId: 'flow-r' }),
        item({ id: 'evt-dies', correlationId: 'flow-r' }),
        item({ id: 'evt-elsewhere', correlationId: 'flow-other' }),
      ]);
      await store.deliveries.ensureConsumer({ name: 'a', topic: '>', start: 'earliest' });
      await store.deliveries.ensureConsumer({ name: 'b', topic: '>', start: 'earliest' });
      const byId = (ds: readonly ClaimedDelivery[], id: string) => ds.find((d) => d.event.envelope.event.id === id);
      const first = (await store.deliveries.claim(claimOf('a'))).deliveries;
      const timeout = { reason: 'timeout', message: 'handler timed out after 30s' };
      await store.deliveries.settle([
        settle('a', byId(first, 'evt-recovers'), { kind: 'retry', delayMs: 1_000, error: timeout }),
        settle('a', byId(first, 'evt-plain'), { kind: 'ack' }),
        settle('a', byId(first, 'evt-dies'), { kind: 'retry', delayMs: 1_000, error: timeout }),
        settle('a', byId(first, 'evt-elsewhere'), { kind: 'ack' }),
      ]);
      // b's lease on its first delivery of evt-lapses lapses: a redelivery, no failure.
      const ofB = (await store.deliveries.claim({ ...claimOf('b'), leaseMs: 100 })).deliveries;
      await store.deliveries.settle(
        ofB.filter((d) => d.event.envelope.event.id !== 'evt-lapses').map((d) => settle('b', d, { kind: 'ack' })),
      );
      clock.t = T0 + 1_000;
      const second = (await store.deliveries.claim(claimOf('a'))).deliveries;
      await store.deliveries.settle([
        settle('a', byId(second, 'evt-recovers'), {
          kind: 'retry',
          delayMs: 2_000,
          error: { reason: 'temporary_failure', message: 'agent unavailable' },
        }),
        settle('a', byId(second, 'evt-dies'), { kind: 'dead', error: timeout }),
      ]);
      const lapsed = (await store.deliveries.claim({ ...claimOf('b'), owner: 'another member' })).deliveries;
      expect(lapsed.map((d) => [d.event.envelope.event.id, d.attempt, d.failures])).toEqual([['evt-lapses', 2, 0]]);
      await store.deliveries.settle([settle('b', lapsed[0], { kind: 'ack' })]);
      clock.t = T0 + 3_000;
      const [third] = (await store.deliveries.claim(claimOf('a'))).deliveries;
      expect([third?.event.envelope.event.id, third?.attempt]).toEqual(['evt-recovers', 3]);
      clock.t = T0 + 3_250;
      await store.deliveries.settle([settle('a', third, { kind: 'ack' })]);

      const recovered = await store.deliveries.recovered.list({ correlationId: 'flow-r' });
      expect(recovered.map((r) => ({ ...r, event: r.event.envelope.event.id }))).toEqual([
        {
          consumer: 'a',
          event: 'evt-recovers',
          retries: 2,
          firstFailedAt: T0,
          attempts: [
            { attempt: 1, at: T0, reason: 'timeout', error: 'handler timed out after 30s', delayMs: 1_000 },
            { attempt: 2, at: T0 + 1_000, reason: 'temporary_failure', error: 'agent unavailable', delayMs: 2_000 },
          ],
          handledAttempt: 3,
          handledAt: T0 + 3_250,
        },
      ]);
      expect(recovered[0]?.event.seq).toBe(third?.event.seq);
      expect(await store.deliveries.recovered.list({ correlationId: 'flow-r', consumer: 'b' })).toEqual([]);
      expect(await store.deliveries.recovered.list({ correlationId: 'flow-other' })).toEqual([]);
      // The handled event is settled like any other: nothing of it is left to deliver.
      expect((await store.deliveries.getConsumer('a'))?.scheduled).toBe(0);
    });

    test('an event that recovers again (its subscription reset) keeps its latest recovery only', async () => {
      await store.append([item({ id: 'evt-twice', correlationId: 'flow-twice' })]);
      await store.deliveries.ensureConsumer({ name: 'c', topic: '>', start: 'earliest' });
      const error = { reason: 'temporary_failure', message: 'not yet' };
      await store.deliveries.settle([settle('c', await claimOne('c'), { kind: 'retry', delayMs: 0, error })]);
      await store.deliveries.settle([settle('c', await claimOne('c'), { kind: 'ack' })]);
      await store.deliveries.resetConsumer('c', 'earliest');
      for (let i = 0; i < 2; i++) {
        await store.deliveries.settle([settle('c', await claimOne('c'), { kind: 'retry', delayMs: 0, error })]);
      }
      await store.deliveries.settle([settle('c', await claimOne('c'), { kind: 'ack' })]);
      const list = await store.deliveries.recovered.list({ correlationId: 'flow-twice' });
      expect(list.map((r) => [r.consumer, r.retries, r.attempts.map((a) => a.attempt), r.handledAttempt])).toEqual([
        ['c', 2, [1, 2], 3],
      ]);
    });

    test('records a recovery seen by a transport outside the store, bounded; bad ones are refused naming the field', async () => {
      const attempts = Array.from({ length: ATTEMPTS_KEPT + 1 }, (_, i) => ({
        attempt: i + 1,
        at: T0 + i,
        reason: 'temporary_failure',
        error: `failure ${i + 1}`,
        delayMs: 10,
      }));
      const record: ExternalRecovery = {
        consumer: '/outside',
        event: item({ id: 'evt-outside-recovered', correlationId: 'flow-outside' }),
        retries: ATTEMPTS_KEPT + 1,
        firstFailedAt: T0,
        attempts,
        handledAttempt: ATTEMPTS_KEPT + 2,
        handledAt: T0 + 100,
      };
      await store.deliveries.recovered.record(record);
      // Recorded again (a redelivery after a lost ack): one record, the latest.
      await store.deliveries.recovered.record({ ...record, handledAttempt: ATTEMPTS_KEPT + 3, handledAt: T0 + 200 });
      const [kept, ...more] = await store.deliveries.recovered.list({ correlationId: 'flow-outside' });
      expect(more).toEqual([]);
      expect(kept).toMatchObject({ consumer: '/outside', retries: ATTEMPTS_KEPT + 1, handledAttempt: ATTEMPTS_KEPT + 3 });
      expect(kept?.attempts.map((a) => a.attempt)).toEqual(attempts.slice(1).map((a) => a.attempt));
      // Its event was appended to the log, once.
      expect((await store.get('evt-outside-recovered'))?.seq).toBe(kept?.event.seq);

      for (const [bad, field] of [
        [{ retries: 0 }, 'retries'],
        [{ handledAttempt: 1.5 }, 'handledAttempt'],
        [{ handledAt: Number.NaN }, 'handledAt'],
        [{ consumer: '' }, 'consumer'],
        [{ attempts: [attempts[0], { ...attempts[0], reason: '' }] }, 'attempts[1].reason'],
      ] as const) {
        const refused = await store.deliveries.recovered
          .record({ ...record, event: item({ correlationId: 'flow-refused' }), ...bad } as ExternalRecovery)
          .catch((e: unknown) => e);
        expect(isAgentbusError(refused, 'OPTIONS_INVALID') && refused.details.field, field).toBe(field);
      }
      expect(await store.deliveries.recovered.list({ correlationId: 'flow-refused' })).toEqual([]);
    });

    test('counts acks per subscription in their commit; skipped events, retries, dead letters and refused settlements count nothing', async () => {
      await store.append([
        item({ type: 'Wanted' }),
        item({ type: 'Skipped' }),
        item({ type: 'Wanted' }),
        item({ type: 'Wanted' }),
        ...items(3, { type: 'Skipped' }),
      ]);
      await store.deliveries.ensureConsumer({ name: 'picky', topic: '>', start: 'earliest' });
      await store.deliveries.ensureConsumer({ name: 'all', topic: '>', start: 'earliest' });
      const wanted = (await store.deliveries.claim(claimOf('picky', (e) => e.envelope.event.type === 'Wanted'))).deliveries;
      expect(wanted).toHaveLength(3);
      const error = { reason: 'temporary_failure', message: 'later' };
      await store.deliveries.settle([
        settle('picky', wanted[0], { kind: 'ack' }),
        settle('picky', wanted[1], { kind: 'retry', delayMs: 0, error }),
        settle('picky', wanted[2], { kind: 'dead', error }),
      ]);
      const [refused] = await store.deliveries.settle([settle('picky', wanted[0], { kind: 'ack' })]);
      expect(isAgentbusError(refused, 'LEASE_LOST')).toBe(true);
      // The retried event handled at last counts once.
      await store.deliveries.settle([settle('picky', await claimOne('picky'), { kind: 'ack' })]);
      const everything = (await store.deliveries.claim(claimOf('all'))).deliveries;
      await store.deliveries.settle(everything.map((d) => settle('all', d, { kind: 'ack' })));
      expect(await store.counts.handled()).toEqual([
        { consumer: 'all', count: 7 },
        { consumer: 'picky', count: 2 },
      ]);
      // A deleted subscription's count stays: like published totals, it is what happened.
      await store.deliveries.deleteConsumer('all');
      expect(only(await store.counts.handled(), ['all'])).toEqual([{ consumer: 'all', count: 7 }]);
    });

    test('record adds handled counts a transport saw; bad ones are refused naming the entry and write nothing', async () => {
      await store.counts.record(
        [{ topic: 'project.tasks', kind: 'consumed', count: 3 }],
        [{ consumer: '/nats-worker', count: 3 }],
      );
      await store.counts.record([], [{ consumer: '/nats-worker', count: 2 }]);
      for (const [bad, field] of [
        [{ consumer: '', count: 1 }, 'handled[1].consumer'],
        [{ consumer: '/x', count: 0 }, 'handled[1].count'],
        [{ consumer: '/x', count: 2.5 }, 'handled[1].count'],
      ] as const) {
        const error = await store.counts
          .record([{ topic: 'project.tasks', kind: 'consumed', count: 1 }], [{ consumer: '/nats-worker', count: 1 }, bad])
          .catch((e: unknown) => e);
        expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field, field).toBe(field);
      }
      expect(await store.counts.handled()).toEqual([{ consumer: '/nats-worker', count: 5 }]);
      expect(await store.counts.recent(T0)).toEqual([{ topic: 'project.tasks', kind: 'consumed', count: 3 }]);
    });
  });
}
