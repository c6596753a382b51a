/**
 * The NATS JetStream transport against the real server (127.0.0.1:4222, or NATS_URL): the
 * shared Transport contract, then what only NATS has (recorder, dead letters and their
 * replay, dedup, subscription admin). Every transport gets a stream and subject prefix of
 * its own, deleted afterwards; its store is a SQLite file in a temp dir.
 * With CI=true a server that is down fails the run; elsewhere the suite is skipped.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import { OUTBOX_NAMESPACE } from '../../src/bus/outbox.js';
import { NonRetryableError, isAgentbusError } from '../../src/errors.js';
import type { EventStore } from '../../src/store/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { AckBatch } from '../../src/transport/nats/ack-batch.js';
import { type NatsTransport, createNatsTransport } from '../../src/transport/nats/index.js';
import { collect, item, items, within } from './fixtures.js';
import { describeTransportContract } from './transport.contract.js';
import { NATS_URL, natsForSuite } from '../support/nats.js';

const up = await natsForSuite('the NATS suite');

/** A transport on a stream and prefix of its own, with a SQLite store in a temp dir. */
async function openNats(
  extra: Partial<Parameters<typeof createNatsTransport>[0]> = {},
): Promise<{ transport: NatsTransport; store: EventStore; dispose: () => Promise<void> }> {
  const run = randomBytes(5).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-nats-'));
  const store = await openSqliteStore({ path: join(dir, 'history.db') });
  const transport = await createNatsTransport({
    servers: NATS_URL,
    store,
    stream: `AB_TEST_${run}`,
    subjectPrefix: `abtest-${run}`,
    storage: 'memory',
    ...extra,
  });
  return {
    transport,
    store,
    dispose: async () => {
      await transport.destroy();
      await transport.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.skipIf(!up)(`NATS JetStream at ${NATS_URL}`, () => {
  describeTransportContract('nats', openNats);

  describe('NATS transport', () => {
    let transport: NatsTransport;
    let store: EventStore;
    let dispose: () => Promise<void>;
    beforeEach(async () => {
      ({ transport, store, dispose } = await openNats());
    });
    afterEach(async () => {
      await dispose();
    });

    it('records every published event into the store for history and correlation queries', async () => {
      const root = item({ id: 'root', topic: 'project.tasks' });
      const child = item({ id: 'child', topic: 'project.reviews', correlationId: 'root', causationId: 'root' });
      await transport.publish([root, child, item({ id: 'other', topic: 'elsewhere.x' })]);
      await transport.waitForHistory(10_000);
      expect((await collect(store.read())).map((e) => e.envelope.event.id)).toEqual(['root', 'child', 'other']);
      expect((await collect(store.read({ correlationId: 'root' }))).map((e) => e.envelope.event.id)).toEqual(['root', 'child']);
    });

    it('records what it published as published, even if the caller changes the envelope it got back', async () => {
      const published = item({ id: 'mine', topic: 'project.tasks', correlationId: 'c1' });
      const [stored] = await transport.publish([published]);
      if (!stored) throw new Error('nothing published');
      stored.envelope.routing.topic = 'changed.after';
      stored.envelope.event.correlation_id = 'changed';
      await transport.waitForHistory(10_000);
      const recorded = await store.get('mine');
      expect(recorded?.envelope.routing.topic).toBe('project.tasks');
      expect((await collect(store.read({ correlationId: 'c1' }))).map((e) => e.envelope.event.id)).toEqual(['mine']);
    });

    it('records events published by another process (parsed from the stream)', async () => {
      const other = await createNatsTransport({
        servers: NATS_URL,
        store,
        stream: transport.stream,
        subjectPrefix: transport.subjectPrefix,
        recorder: false,
      });
      try {
        await other.publish([item({ id: 'from-elsewhere', topic: 'project.reviews' })]);
      } finally {
        await other.close();
      }
      await transport.waitForHistory(10_000);
      expect((await store.get('from-elsewhere'))?.envelope.routing.topic).toBe('project.reviews');
    });

    it('a member closing gives back at once what was on its way, without counting an attempt', async () => {
      // ack_wait of a minute: a message stranded at the closing member would come back only then.
      const a = await transport.consumer({ name: 'closing', topic: 'project.>', start: 'earliest', leaseMs: 60_000 });
      const abort = new AbortController();
      const waiting = a.fetch(10, { signal: abort.signal });
      await new Promise((resolve) => setTimeout(resolve, 200)); // a's long poll now waits at the server
      abort.abort();
      expect(await waiting).toEqual([]);
      // Published while a still has its pull request outstanding, then a closes at once.
      await transport.publish([item({ id: 'in-transit' })]);
      await a.close();
      const b = await transport.consumer({ name: 'closing', topic: 'project.>', start: 'earliest', leaseMs: 60_000 });
      try {
        const got = await within(b.fetch(10), 20_000, 'the event given back by the closed member');
        expect(got.map((d) => [d.event.envelope.event.id, d.attempt])).toEqual([['in-transit', 1]]);
        await got[0]?.ack();
      } finally {
        await b.close();
      }
    });

    it('drops a repeated id inside the dedup window and resolves with the first copy', async () => {
      const first = item({ id: 'same', payload: { copy: 1 } });
      const second = item({ id: 'same', payload: { copy: 2 } });
      const [a] = await transport.publish([first]);
      const [b] = await transport.publish([second]);
      expect(b?.duplicate).toBe(true);
      expect(b?.seq).toBe(a?.seq);
      expect(b?.envelope.payload).toEqual({ copy: 1 });
    });

    it('term records a dead letter in the store; replay redelivers to that subscription only', async () => {
      await transport.publish([item({ id: 'poison' })]);
      const target = await transport.consumer({ name: '/target', topic: 'project.>', start: 'earliest' });
      const bystander = await transport.consumer({ name: 'bystander', topic: 'project.>', start: 'earliest' });
      const [d] = await within(target.fetch(10), 5_000, 'fetch');
      for (const seen of await within(bystander.fetch(10), 5_000, 'bystander fetch')) await seen.ack();
      await d?.term({ reason: 'invalid_payload', message: 'cannot parse' });
      const [dead] = await store.deliveries.listDeadLetters({ consumer: '/target' });
      expect(dead).toMatchObject({ consumer: '/target', reason: 'invalid_payload', error: 'cannot parse', status: 'open' });
      expect(dead?.event.envelope.event.id).toBe('poison');

      const bus = await createBus({ store, transport });
      try {
        const [replayed] = await bus.deadLetters.replay([dead?.id as number]);
        expect(replayed?.status).toBe('replayed');
      } finally {
        await bus.close();
      }
      const [again] = await within(target.fetch(10), 5_000, 'replayed fetch');
      expect([again?.event.envelope.event.id, again?.attempt, again?.failures]).toEqual(['poison', 1, 0]);
      await again?.ack();
      // The bystander skips the addressed copy: a later event is the next thing it gets.
      await transport.publish([item({ id: 'later' })]);
      expect((await within(bystander.fetch(10), 5_000, 'bystander')).map((x) => x.event.envelope.event.id)).toEqual(['later']);
      await Promise.all([target.close(), bystander.close()]);
    });

    it('a fired timer whose publish fails stays in the outbox and reaches JetStream on the retry', async () => {
      const bus = await createBus({ store, transport });
      const statuses: string[] = [];
      bus.onStatus((status) => statuses.push(status.type));
      const publish = transport.publish.bind(transport);
      let failures = 1;
      // The transport refuses the first publish after the commit (NATS down at that instant).
      Object.assign(transport, {
        publish: async (items: Parameters<NatsTransport['publish']>[0]) => {
          if (failures-- > 0) throw new Error('NATS unavailable (test)');
          return publish(items);
        },
      });
      try {
        const got: string[] = [];
        let arrived: () => void = () => {};
        const done = new Promise<void>((resolve) => {
          arrived = resolve;
        });
        await bus.subscribe({
          name: 'outbox-reader',
          topic: 'project.>',
          start: 'earliest',
          handler: (event) => {
            got.push(event.event.id);
            arrived();
          },
        });
        await bus.publish({ id: 'due-later', topic: 'project.tasks', type: 'ReminderDue', payload: {}, delay: 20 });
        await within(done, 20_000, 'the delayed event, relayed from the outbox');
        expect(got).toEqual(['due-later']);
        expect(statuses).toContain('outbox_retry');
        expect((await store.get('due-later'))?.envelope.event.type).toBe('ReminderDue');
        await vi.waitFor(async () => expect(await collect(store.state.list(OUTBOX_NAMESPACE))).toEqual([]), { timeout: 5_000 });
      } finally {
        await bus.close();
      }
    });

    it('events a crashed process committed but never published are published by the next one to start', async () => {
      const orphan = item({ id: 'committed-not-published', topic: 'project.tasks' });
      // What a crash between the commit and the publish leaves: the event in history, its
      // outbox record beside it, nothing in JetStream.
      await store.transaction(async (tx) => {
        await tx.append([orphan]);
        await tx.state.put(OUTBOX_NAMESPACE, 'committed-not-published', { at: Date.now() - 60_000 }, 'absent');
      });
      const bus = await createBus({ store, transport });
      try {
        let arrived: (id: string) => void = () => {};
        const done = new Promise<string>((resolve) => {
          arrived = resolve;
        });
        await bus.subscribe({ name: 'after-crash', topic: 'project.>', start: 'earliest', handler: (e) => arrived(e.event.id) });
        expect(await within(done, 20_000, 'the orphaned event')).toBe('committed-not-published');
        await vi.waitFor(async () => expect(await collect(store.state.list(OUTBOX_NAMESPACE))).toEqual([]), { timeout: 5_000 });
      } finally {
        await bus.close();
      }
    });

    it('lists and deletes subscriptions as JetStream consumers and refuses what 2.9 cannot do', async () => {
      const bus = await createBus({ store, transport });
      try {
        const sub = await bus.subscribe({ name: '/frontend-specialist', topic: 'project.*', handler: () => {} });
        const [info] = await bus.subscriptions.list();
        expect(info).toMatchObject({ name: '/frontend-specialist', topic: 'project.*', paused: false });
        expect(await bus.subscriptions.get('/frontend-specialist')).toMatchObject({ name: '/frontend-specialist' });
        const refused = await bus.subscriptions.pause('/frontend-specialist').catch((e: unknown) => e);
        expect(isAgentbusError(refused, 'OPTIONS_INVALID') && refused.message).toMatch(/2\.9 cannot pause/);
        expect(isAgentbusError(await bus.subscriptions.reset('/frontend-specialist', 'earliest').catch((e: unknown) => e))).toBe(
          true,
        );
        await sub.close();
        expect(await bus.subscriptions.delete('/frontend-specialist')).toBe(true);
        expect(await bus.subscriptions.get('/frontend-specialist')).toBeUndefined();
      } finally {
        await bus.close();
      }
    });

    it('refuses ordered subscriptions, lag limits and a changed topic, naming the field', async () => {
      const field = async (p: Promise<unknown>) => {
        const e = await p.catch((x: unknown) => x);
        return isAgentbusError(e, 'OPTIONS_INVALID') ? e.details.field : e;
      };
      expect(await field(transport.consumer({ name: 'o', topic: 'a.b', ordered: true }))).toBe('ordered');
      expect(await field(transport.consumer({ name: 'l', topic: 'a.b', maxLag: 10 }))).toBe('maxLag');
      await (await transport.consumer({ name: 't', topic: 'a.b' })).close();
      expect(await field(transport.consumer({ name: 't', topic: 'a.c' }))).toBe('topic');
    });

    it('describes a subscription joined again with another content filter by its new filter', async () => {
      const filter = (type: string) => ({ event: { type: [type] } });
      await (await transport.consumer({ name: '/reviewer', topic: 'project.tasks', filter: filter('Old') })).close();
      expect((await transport.subscriptions.get('/reviewer'))?.filter).toEqual(filter('Old'));
      const member = await transport.consumer({ name: '/reviewer', topic: 'project.tasks', filter: filter('New') });
      try {
        expect((await transport.subscriptions.get('/reviewer'))?.filter).toEqual(filter('New'));
        expect((await transport.subscriptions.list()).find((s) => s.name === '/reviewer')?.filter).toEqual(filter('New'));
      } finally {
        await member.close();
      }
      // Without a filter the description says so too.
      await (await transport.consumer({ name: '/reviewer', topic: 'project.tasks' })).close();
      expect((await transport.subscriptions.get('/reviewer'))?.filter).toBeNull();
    });

    it("counts its members' settlements in the store's recent activity: acks, naks, dead letters once", async () => {
      const bus = await createBus({ store, transport });
      const failedOnce = new Set<string>();
      try {
        await bus.subscribe({
          name: '/activity',
          topic: 'project.>',
          start: 'earliest',
          retry: { max_retries: 2, initial_delay: '10ms', max_delay: '20ms' },
          handler: (event) => {
            const mode = (event.payload as { mode?: string }).mode;
            if (mode === 'bad') throw new NonRetryableError('cannot be handled');
            if (mode === 'flaky' && !failedOnce.has(event.event.id)) {
              failedOnce.add(event.event.id);
              throw new Error('fails once');
            }
          },
        });
        await bus.publishBatch([
          ...Array.from({ length: 3 }, () => ({ topic: 'project.tasks', type: 'TaskCompletedEvent', payload: {} })),
          { topic: 'project.tasks', type: 'TaskCompletedEvent', payload: { mode: 'flaky' } },
          { topic: 'project.reviews', type: 'ReviewRequestedEvent', payload: { mode: 'bad' } },
        ]);
        await transport.waitForHistory(10_000);
        const project = async () =>
          (await store.counts.recent(0)).filter((c) => c.topic.startsWith('project.')).map((c) => [c.topic, c.kind, c.count]);
        const expected = [
          ['project.reviews', 'dead_lettered', 1],
          ['project.reviews', 'published', 1],
          ['project.tasks', 'consumed', 4],
          ['project.tasks', 'published', 4],
          ['project.tasks', 'retried', 1],
        ];
        for (let i = 0; i < 200 && JSON.stringify(await project()) !== JSON.stringify(expected); i++) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(await project()).toEqual(expected);
      } finally {
        await bus.close();
      }
    });

    it('runs a bus end to end: handlers publish effects that reach other subscriptions and history', async () => {
      const bus = await createBus({ store, transport });
      try {
        const seen: string[] = [];
        await bus.subscribe({
          name: 'designer',
          topic: 'project.tasks',
          start: 'earliest',
          handler: async (_event, ctx) => {
            await ctx.publish('UIImplementationStarted', { ok: true }, { topic: 'project.ui' });
          },
        });
        const done = new Promise<void>((resolve) => {
          void bus.subscribe({
            name: 'ui',
            topic: 'project.ui',
            start: 'earliest',
            handler: (event) => {
              seen.push(event.event.type);
              resolve();
            },
          });
        });
        const root = await bus.publish({ topic: 'project.tasks', type: 'APIDesignCompleted', payload: { endpoints: 12 } });
        await within(done, 10_000, 'the effect to arrive');
        expect(seen).toEqual(['UIImplementationStarted']);
        await transport.waitForHistory(10_000);
        const chain = await collect(bus.events({ correlationId: root.event.id }));
        expect(chain.map((e) => e.envelope.event.type)).toEqual(['APIDesignCompleted', 'UIImplementationStarted']);
      } finally {
        await bus.close();
      }
    });
  });

  describe('effects published before the ack', () => {
    let transport: NatsTransport;
    let store: EventStore;
    let dispose: () => Promise<void>;
    const ack = AckBatch.prototype.ack;
    beforeEach(async () => {
      ({ transport, store, dispose } = await openNats());
    });
    afterEach(async () => {
      AckBatch.prototype.ack = ack;
      await dispose();
    });

    it('a handler redelivered after its ack was lost publishes the same ids, kept once', async () => {
      // The first ack of the writer's delivery never leaves the process: what a crash between
      // the publish of its effects and the ack looks like to the server.
      let lost = 0;
      AckBatch.prototype.ack = function (this: AckBatch, msg, urgent) {
        if (lost === 0 && msg.reply?.split('.')[3] === 'writer') {
          lost++;
          return;
        }
        ack.call(this, msg, urgent);
      };
      const bus = await createBus({ store, transport });
      try {
        const attempts: number[] = [];
        let redelivered: () => void = () => {};
        const second = new Promise<void>((resolve) => {
          redelivered = resolve;
        });
        const writer = await bus.subscribe({
          name: 'writer',
          topic: 'project.tasks',
          start: 'earliest',
          ackWait: '1s',
          handler: async (event, ctx) => {
            attempts.push(event.event.id === 'task-1' ? attempts.length + 1 : -1);
            await ctx.publish('DraftWritten', { attempt: attempts.length }, { topic: 'project.out' });
            await ctx.publish('ReviewRequested', { attempt: attempts.length }, { topic: 'project.out' });
            if (attempts.length === 2) redelivered();
          },
        });
        const seen: string[] = [];
        const reader = await bus.subscribe({
          name: 'reader',
          topic: 'project.out',
          start: 'earliest',
          handler: (event) => {
            seen.push(event.event.id);
          },
        });
        await bus.publish({ id: 'task-1', topic: 'project.tasks', type: 'TaskAssigned', payload: {} });
        await within(second, 20_000, 'the redelivery after the lost ack');
        await writer.idle();
        await transport.waitForHistory(10_000);
        await reader.idle();
        expect(lost).toBe(1);
        expect(attempts).toEqual([1, 2]);
        const out = await collect(bus.events({ topic: 'project.out' }));
        expect(out.map((e) => e.envelope.event.type)).toEqual(['DraftWritten', 'ReviewRequested']);
        // The first attempt's events are the ones kept; the second attempt's were duplicates.
        expect(out.map((e) => (e.envelope.payload as { attempt: number }).attempt)).toEqual([1, 1]);
        expect(seen).toEqual(out.map((e) => e.envelope.event.id));
        for (const e of out) expect(e.envelope.event.causation_id).toBe('task-1');
      } finally {
        await bus.close();
      }
    });
  });

  it('refuses bad options before connecting, naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-nats-'));
    const store = await openSqliteStore({ path: join(dir, 'h.db') });
    try {
      for (const [options, field] of [
        [{ servers: [] }, 'servers'],
        [{ servers: NATS_URL, stream: 'a.b' }, 'stream'],
        [{ servers: NATS_URL, subjectPrefix: 'a.>' }, 'subjectPrefix'],
        [{ servers: NATS_URL, maxDeliver: 1 }, 'maxDeliver'],
        [{ servers: NATS_URL, recorder: { name: 'has space' } }, 'recorder.name'],
      ] as const) {
        const error = await createNatsTransport({ store, ...options } as Parameters<typeof createNatsTransport>[0]).catch(
          (e: unknown) => e,
        );
        expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field).toBe(field);
      }
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

if (!up) {
  describe('NATS JetStream', () => {
    it.skip(`skipped: no NATS server at ${NATS_URL} (set CI=true to make this a failure)`, () => {});
  });
}

export { items };
