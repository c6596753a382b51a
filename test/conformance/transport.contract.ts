/**
 * The Transport contract, in JetStream's vocabulary. Every transport runs it against its
 * real engine:
 *   describeTransportContract('nats', () => openNatsTransportForTest())
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAgentbusError } from '../../src/errors.js';
import { ATTEMPTS_KEPT, ATTEMPT_ERROR_MAX, type EventStore, type HandledCount } from '../../src/store/index.js';
import type { ConsumerOptions, Delivery, Transport, TransportConsumer } from '../../src/transport/index.js';
import { type ContractOptions, item, items, skipped, sleep, within } from './fixtures.js';

/** A fresh transport; `store` is where its events are recorded (history and dead letters). */
export type TransportFactory = () => Promise<{ transport: Transport; store: EventStore; dispose: () => Promise<void> }>;

const failure = { reason: 'temporary_failure', message: 'try again' };

export function describeTransportContract(name: string, factory: TransportFactory, options?: ContractOptions): void {
  describe(`Transport contract: ${name}`, () => {
    let transport: Transport;
    let store: EventStore;
    let dispose: () => Promise<void>;
    const open: TransportConsumer[] = [];
    beforeEach(async () => {
      ({ transport, store, dispose } = await factory());
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((c) => c.close()));
      await dispose();
    });
    const test = (title: string, fn: () => Promise<void>) => (skipped(options, title) ? it.skip : it)(title, fn);
    const consumer = async (o: Partial<ConsumerOptions> & { name: string }) => {
      const c = await transport.consumer({ topic: 'project.>', start: 'earliest', ...o });
      open.push(c);
      return c;
    };
    const fetch = (c: TransportConsumer, max = 100) => within(c.fetch(max), 5_000, `fetch from ${c.name}`);
    const seqs = (ds: Delivery[]) => ds.map((d) => d.event.envelope.event.id);

    test('delivers published events to a consumer starting at the earliest', async () => {
      await transport.publish([item({ id: 'a' }), item({ id: 'b' })]);
      const c = await consumer({ name: 'first' });
      const got = await fetch(c);
      expect(seqs(got)).toEqual(['a', 'b']);
      expect(got.every((d) => d.attempt === 1)).toBe(true);
    });

    test('a consumer starting at the latest sees only what is published after it joined', async () => {
      await transport.publish([item({ id: 'before' })]);
      const c = await consumer({ name: 'late', start: 'latest' });
      await transport.publish([item({ id: 'after' })]);
      expect(seqs(await fetch(c))).toEqual(['after']);
    });

    test('a waiting fetch wakes when an event is published', async () => {
      const c = await consumer({ name: 'waiter' });
      const pending = fetch(c);
      await sleep(30);
      await transport.publish([item({ id: 'wake' })]);
      expect(seqs(await pending)).toEqual(['wake']);
    });

    test('selects by topic pattern and content filter', async () => {
      await transport.publish([
        item({ id: 'x1', topic: 'project.tasks', type: 'APIDesignCompleted' }),
        item({ id: 'x2', topic: 'project.tasks', type: 'Other' }),
        item({ id: 'x3', topic: 'elsewhere.tasks', type: 'APIDesignCompleted' }),
      ]);
      const c = await consumer({
        name: 'filtered',
        topic: 'project.*',
        matchEvent: (e) => e.envelope.event.type === 'APIDesignCompleted',
      });
      expect(seqs(await fetch(c))).toEqual(['x1']);
    });

    test('is durable by name: a new member resumes after what was acknowledged', async () => {
      await transport.publish(items(4));
      const c1 = await consumer({ name: 'durable' });
      const got = await fetch(c1, 2);
      for (const d of got) await d.ack();
      await c1.close();
      const c2 = await consumer({ name: 'durable' });
      const rest = await fetch(c2);
      expect(rest.map((d) => (d.event.envelope.payload as { n: number }).n)).toEqual([2, 3]);
    });

    test('members sharing a name split the events, none given to two at once', async () => {
      await transport.publish(items(20));
      const a = await consumer({ name: 'group' });
      const b = await consumer({ name: 'group' });
      const fromA = await fetch(a, 10);
      const fromB = await fetch(b, 100);
      const all = [...seqs(fromA), ...seqs(fromB)];
      expect(fromA.length).toBeGreaterThan(0);
      expect(fromB.length).toBeGreaterThan(0);
      expect(new Set(all).size).toBe(20);
      expect(all).toHaveLength(20);
    });

    test('nak with a delay redelivers after the delay, never before, with the next attempt', async () => {
      await transport.publish([item({ id: 'retry-me' })]);
      const c = await consumer({ name: 'nak' });
      const [d] = await fetch(c);
      const nakedAt = Date.now();
      await d?.nak(200, failure);
      const [again] = await fetch(c);
      expect(Date.now() - nakedAt).toBeGreaterThanOrEqual(195);
      expect(again?.event.envelope.event.id).toBe('retry-me');
      expect(again?.attempt).toBe(2);
    });

    test('term ends the delivery: it is not redelivered', async () => {
      await transport.publish([item({ id: 'poison' }), item({ id: 'fine' })]);
      const c = await consumer({ name: 'term' });
      const [poison, fine] = await fetch(c);
      await poison?.term({ reason: 'invalid_payload', message: 'cannot parse' });
      await fine?.ack();
      await transport.publish([item({ id: 'later' })]);
      expect(seqs(await fetch(c))).toEqual(['later']);
    });

    test('redelivers to another member after the lease lapses and refuses the stale ack', async () => {
      await transport.publish([item({ id: 'slow' })]);
      const a = await consumer({ name: 'lease', leaseMs: 100 });
      const b = await consumer({ name: 'lease', leaseMs: 100 });
      const [fromA] = await fetch(a);
      await sleep(150);
      const [fromB] = await fetch(b);
      expect(fromB?.event.envelope.event.id).toBe('slow');
      expect(fromB?.attempt).toBe(2);
      const stale = await fromA?.ack({ publish: [item({ id: 'stale-effect' })] }).catch((e: unknown) => e);
      expect(isAgentbusError(stale, 'LEASE_LOST')).toBe(true);
      await fromB?.ack();
      expect(await store.get('stale-effect')).toBeUndefined();
    });

    test('counts handler failures apart from deliveries: a lapsed lease costs no failure, a nak one', async () => {
      await transport.publish([item({ id: 'budget' })]);
      const a = await consumer({ name: 'budget', leaseMs: 80 });
      const [first] = await fetch(a);
      expect(first?.failures).toBe(0);
      await sleep(120);
      const b = await consumer({ name: 'budget' });
      const [again] = await fetch(b);
      expect([again?.attempt, again?.failures]).toEqual([2, 0]);
      await again?.nak(0, failure);
      const [third] = await fetch(b);
      expect([third?.attempt, third?.failures]).toEqual([3, 1]);
      await third?.ack();
    });

    test('working() extends the lease so no other member gets the delivery', async () => {
      await transport.publish([item({ id: 'long' })]);
      const a = await consumer({ name: 'work', leaseMs: 100 });
      const b = await consumer({ name: 'work', leaseMs: 100 });
      const [d] = await fetch(a);
      if (!d) throw new Error('no delivery');
      const stolen: Delivery[] = [];
      const abort = new AbortController();
      const thief = b.fetch(10, { signal: abort.signal }).then((ds) => stolen.push(...ds));
      for (let i = 0; i < 6; i++) {
        await sleep(40);
        await a.working([d]);
      }
      abort.abort();
      await thief;
      expect(stolen).toEqual([]);
      await d.ack();
    });

    test('working() reports a lease another member took over', async () => {
      await transport.publish([item({ id: 'taken' })]);
      const a = await consumer({ name: 'taken', leaseMs: 60 });
      const [d] = await fetch(a);
      if (!d) throw new Error('no delivery');
      await sleep(100);
      const b = await consumer({ name: 'taken' });
      expect((await fetch(b)).map((x) => x.attempt)).toEqual([2]);
      expect(d.leaseLost).toBe(false);
      await a.working([d]);
      expect(d.leaseLost).toBe(true);
    });

    test('released deliveries go to another member without counting an attempt', async () => {
      await transport.publish(items(2));
      const a = await consumer({ name: 'release' });
      const got = await fetch(a);
      await a.release(got);
      await a.close();
      const b = await consumer({ name: 'release' });
      const again = await fetch(b);
      expect(again.map((d) => d.attempt)).toEqual([1, 1]);
    });

    test("ack with publish appends the handler's events", async () => {
      await transport.publish([item({ id: 'cause' })]);
      const c = await consumer({ name: 'outbox' });
      const [d] = await fetch(c);
      const [published] = (await d?.ack({ publish: [item({ id: 'effect', causationId: 'cause' })] })) ?? [];
      expect(published?.envelope.event.id).toBe('effect');
      expect((await store.get('effect'))?.envelope.event.causation_id).toBe('cause');
    });

    test('settling twice is refused', async () => {
      await transport.publish([item({ id: 'once' })]);
      const c = await consumer({ name: 'twice' });
      const [d] = await fetch(c);
      await d?.ack();
      expect(isAgentbusError(await d?.ack().catch((e: unknown) => e), 'LEASE_LOST')).toBe(true);
    });

    test('keeps every failed attempt (time, reason, message cut, delay) and carries them into the dead letter', async () => {
      await transport.publish([item({ id: 'flaky' })]);
      const c = await consumer({ name: 'attempts' });
      const long = `timed out ${'z'.repeat(2 * ATTEMPT_ERROR_MAX)}`;
      const [first] = await fetch(c);
      const before = Date.now();
      await first?.nak(20, { reason: 'temporary_failure', message: 'agent unavailable' });
      const [second] = await fetch(c);
      await second?.nak(40, { reason: 'timeout', message: long });
      const [third] = await fetch(c);
      expect([third?.attempt, third?.failures]).toEqual([3, 2]);
      await third?.term({ reason: 'temporary_failure', message: 'gave up' });
      const after = Date.now();
      const [dead] = await store.deliveries.listDeadLetters({ consumer: 'attempts' });
      expect(dead?.retries).toBe(2);
      expect(dead?.attempts.map(({ at: _, ...rest }) => rest)).toEqual([
        { attempt: 1, reason: 'temporary_failure', error: 'agent unavailable', delayMs: 20 },
        { attempt: 2, reason: 'timeout', error: `${long.slice(0, ATTEMPT_ERROR_MAX - 1)}…`, delayMs: 40 },
        { attempt: 3, reason: 'temporary_failure', error: 'gave up' },
      ]);
      const times = dead?.attempts.map((a) => a.at) ?? [];
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(times[0]).toBe(dead?.firstFailedAt);
      expect(times.at(-1)).toBe(dead?.lastFailedAt);
      // Clocks of the test and the store may differ by a rounding, never by more.
      expect(times[0]).toBeGreaterThanOrEqual(before - 1_000);
      expect(times.at(-1)).toBeLessThanOrEqual(after + 1_000);
    });

    test('an event handled after failing keeps its failed attempts and the attempt handled; a plain ack keeps none', async () => {
      await transport.publish([
        item({ id: 'recovers', correlationId: 'flow-recovered' }),
        item({ id: 'plain', correlationId: 'flow-recovered' }),
      ]);
      const c = await consumer({ name: 'recovers' });
      const got = await fetch(c);
      expect(seqs(got)).toEqual(['recovers', 'plain']);
      const before = Date.now();
      await got[0]?.nak(20, { reason: 'timeout', message: 'handler timed out' });
      await got[1]?.ack();
      const [second] = await fetch(c);
      await second?.nak(40, { reason: 'temporary_failure', message: 'agent unavailable' });
      const [third] = await fetch(c);
      expect([third?.event.envelope.event.id, third?.attempt, third?.failures]).toEqual(['recovers', 3, 2]);
      await third?.ack();
      const after = Date.now();
      const [recovered, ...more] = await store.deliveries.recovered.list({ correlationId: 'flow-recovered' });
      expect(more).toEqual([]);
      expect(recovered?.event.envelope.event.id).toBe('recovers');
      expect(recovered).toMatchObject({ consumer: 'recovers', retries: 2, handledAttempt: 3 });
      expect(recovered?.attempts.map(({ at: _, ...rest }) => rest)).toEqual([
        { attempt: 1, reason: 'timeout', error: 'handler timed out', delayMs: 20 },
        { attempt: 2, reason: 'temporary_failure', error: 'agent unavailable', delayMs: 40 },
      ]);
      const times = [...(recovered?.attempts.map((a) => a.at) ?? []), recovered?.handledAt as number];
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(times[0]).toBe(recovered?.firstFailedAt);
      // Clocks of the test and the store may differ by a rounding, never by more.
      expect(times[0]).toBeGreaterThanOrEqual(before - 1_000);
      expect(times.at(-1)).toBeLessThanOrEqual(after + 1_000);
    });

    test(`keeps only the last ${ATTEMPTS_KEPT} attempts of an event that keeps failing`, async () => {
      await transport.publish([item({ id: 'poison' })]);
      const c = await consumer({ name: 'poison' });
      const naks = ATTEMPTS_KEPT + 1;
      for (let i = 0; i < naks; i++) {
        const [d] = await fetch(c);
        await d?.nak(0, { reason: 'temporary_failure', message: `failure ${i + 1}` });
      }
      const [last] = await fetch(c);
      expect(last?.attempt).toBe(naks + 1);
      await last?.term({ reason: 'temporary_failure', message: 'gave up' });
      const [dead] = await store.deliveries.listDeadLetters({ consumer: 'poison' });
      expect(dead?.retries).toBe(naks);
      expect(dead?.attempts).toHaveLength(ATTEMPTS_KEPT);
      expect(dead?.attempts[0]).toMatchObject({
        attempt: naks + 2 - ATTEMPTS_KEPT,
        error: `failure ${naks + 2 - ATTEMPTS_KEPT}`,
      });
      expect(dead?.attempts.at(-1)).toMatchObject({ attempt: naks + 1, error: 'gave up' });
    });

    test('counts what handlers acknowledged per subscription: not events its filter skips, failures or dead letters', async () => {
      await transport.publish([
        item({ id: 'w1', type: 'Wanted' }),
        item({ id: 's1', type: 'Skipped' }),
        item({ id: 'w2', type: 'Wanted' }),
        item({ id: 'w3', type: 'Wanted' }),
        item({ id: 's2', type: 'Skipped' }),
      ]);
      const c = await consumer({ name: 'handled', matchEvent: (e) => e.envelope.event.type === 'Wanted' });
      const got = await fetch(c);
      expect(seqs(got)).toEqual(['w1', 'w2', 'w3']);
      const [w1, w2, w3] = got;
      await w1?.ack();
      await w2?.nak(0, failure);
      await w3?.term({ reason: 'invalid_payload', message: 'bad' });
      const [again] = await fetch(c);
      expect(again?.event.envelope.event.id).toBe('w2');
      await again?.ack();
      // Counted with the ack's commit (on NATS with the next write of the member's counts).
      const counted = async (): Promise<HandledCount[]> => (await store.counts.handled()).filter((h) => h.consumer === 'handled');
      for (let i = 0; i < 200 && (await counted())[0]?.count !== 2; i++) await sleep(25);
      expect(await counted()).toEqual([{ consumer: 'handled', count: 2 }]);
    });

    test('fetch resolves with nothing when its signal aborts', async () => {
      const c = await consumer({ name: 'abort' });
      const abort = new AbortController();
      const pending = c.fetch(10, { signal: abort.signal });
      await sleep(20);
      abort.abort();
      expect(await within(pending, 2_000, 'aborted fetch')).toEqual([]);
    });
  });
}
