/**
 * The library's admin and history entry points refuse bad input by field, the same way on
 * SQLite and PostgreSQL, and write nothing when they refuse: dead-letter replay, list,
 * purge and archive; history queries; single-event lookups; timelines; state keys.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/index.js';
import { AgentbusError } from '../../src/errors.js';
import { timeline } from '../../src/observe/index.js';
import { collect } from '../conformance/fixtures.js';
import { type OpenBus, describeOnEachStore, openDeadLetters } from '../support/admin-buses.js';

/** The error `fn` throws or rejects with (synchronously or not), which must be an AgentbusError. */
async function refusal(fn: () => unknown): Promise<AgentbusError> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(AgentbusError);
  return error as AgentbusError;
}

async function expectRefused(fn: () => unknown, code: string, field: string): Promise<void> {
  const error = await refusal(fn);
  expect({ code: error.code, field: error.details.field }).toEqual({ code, field });
}

function describeAdminInput(backend: string, open: OpenBus) {
  describe(`admin and history input on ${backend}`, () => {
    let bus: Bus;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ bus, dispose } = await open());
    });
    afterAll(async () => {
      await dispose?.();
    });

    const deadLetters = (n: number) => openDeadLetters(bus, n);
    const statuses = async (ids: number[]) => Promise.all(ids.map(async (id) => (await bus.deadLetters.get(id))?.status));

    it('replay with a repeated id refuses the whole request and replays nothing', async () => {
      const { ids } = await deadLetters(2);
      const [a, b] = ids as [number, number];
      await expectRefused(() => bus.deadLetters.replay([a, b, a]), 'OPTIONS_INVALID', 'ids[2]');
      await expectRefused(() => bus.deadLetters.replay({ ids: [b, b] }), 'OPTIONS_INVALID', 'ids[1]');
      expect(await statuses(ids)).toEqual(['open', 'open']);
    });

    it('replay of a missing or resolved dead letter refuses the whole request, naming it', async () => {
      const { ids } = await deadLetters(2);
      const [a, b] = ids as [number, number];
      await expectRefused(() => bus.deadLetters.replay({ ids: [999_999] }), 'NOT_FOUND', 'ids[0]');
      await expectRefused(() => bus.deadLetters.replay([a, 999_999]), 'NOT_FOUND', 'ids[1]');
      await bus.deadLetters.archive(b, 'not needed');
      await expectRefused(() => bus.deadLetters.replay([a, b]), 'CONCURRENCY_CONFLICT', 'ids[1]');
      expect(await statuses(ids)).toEqual(['open', 'archived']);
      expect((await bus.deadLetters.replay([a])).map((d) => d.status)).toEqual(['replayed']);
      await expectRefused(() => bus.deadLetters.replay([a]), 'CONCURRENCY_CONFLICT', 'ids[0]');
    });

    it('replay with skipReplayed leaves out replayed ids, still refuses archived ones, and checks the flag', async () => {
      const { ids } = await deadLetters(3);
      const [a, b, c] = ids as [number, number, number];
      await bus.deadLetters.replay([a]);
      await bus.deadLetters.archive(c, 'not needed');
      await expectRefused(() => bus.deadLetters.replay([a, b, c], { skipReplayed: true }), 'CONCURRENCY_CONFLICT', 'ids[2]');
      await expectRefused(() => bus.deadLetters.replay([b], { skipReplayed: 'yes' as never }), 'OPTIONS_INVALID', 'skipReplayed');
      expect(await statuses(ids)).toEqual(['replayed', 'open', 'archived']);
      expect((await bus.deadLetters.replay([a, b], { skipReplayed: true })).map((d) => d.id)).toEqual([b]);
      expect(await bus.deadLetters.replay([a, b], { skipReplayed: true })).toEqual([]);
    });

    it('replay refuses selections that are not ids or all', async () => {
      const { ids } = await deadLetters(1);
      await expectRefused(() => bus.deadLetters.replay('x' as never), 'OPTIONS_INVALID', 'selection');
      await expectRefused(() => bus.deadLetters.replay({} as never), 'OPTIONS_INVALID', 'selection');
      await expectRefused(() => bus.deadLetters.replay([0]), 'OPTIONS_INVALID', 'ids[0]');
      await expectRefused(() => bus.deadLetters.replay(['1'] as never), 'OPTIONS_INVALID', 'ids[0]');
      await expectRefused(() => bus.deadLetters.replay({ all: true, ids } as never), 'OPTIONS_INVALID', 'ids');
      expect(await statuses(ids)).toEqual(['open']);
    });

    it('an empty or NUL subscription name is refused, never read as every subscription', async () => {
      const { name, ids } = await deadLetters(1);
      await bus.deadLetters.archive(ids[0] as number, 'resolved');
      for (const subscription of ['', 'a\0b']) {
        await expectRefused(() => bus.deadLetters.replay({ all: true, subscription }), 'OPTIONS_INVALID', 'subscription');
        await expectRefused(() => bus.deadLetters.purge({ subscription }), 'OPTIONS_INVALID', 'subscription');
        await expectRefused(() => bus.deadLetters.list({ subscription }), 'OPTIONS_INVALID', 'subscription');
        await expectRefused(() => bus.deadLetters.groups({ subscription }), 'OPTIONS_INVALID', 'subscription');
      }
      expect((await bus.deadLetters.list({ subscription: name, status: 'archived' })).map((d) => d.id)).toEqual(ids);
    });

    it('list and purge refuse an unknown status or a bad limit', async () => {
      const { name, ids } = await deadLetters(1);
      await bus.deadLetters.archive(ids[0] as number, 'resolved');
      await expectRefused(() => bus.deadLetters.list({ status: 'bogus' as never }), 'OPTIONS_INVALID', 'status');
      await expectRefused(() => bus.deadLetters.purge({ status: 'bogus' as never }), 'OPTIONS_INVALID', 'status');
      await expectRefused(() => bus.deadLetters.list({ limit: 0 }), 'OPTIONS_INVALID', 'limit');
      expect(await bus.deadLetters.list({ subscription: name, status: 'archived' })).toHaveLength(1);
    });

    it("list takes a correlation id to the store and returns that flow's dead letters; a bad one is refused naming correlationId", async () => {
      const flow = `flow-${randomBytes(3).toString('hex')}`;
      const other = await deadLetters(2);
      const own = await openDeadLetters(bus, 2, { correlationId: flow });
      expect((await bus.deadLetters.list({ correlationId: flow })).map((d) => d.id)).toEqual(own.ids);
      expect(await bus.deadLetters.list({ correlationId: flow, subscription: other.name })).toEqual([]);
      await bus.deadLetters.archive(own.ids[0] as number, 'resolved');
      expect((await bus.deadLetters.list({ correlationId: flow, status: 'open' })).map((d) => d.id)).toEqual(own.ids.slice(1));
      for (const correlationId of ['', 'a\0b', 'x'.repeat(256), 7]) {
        await expectRefused(
          () => bus.deadLetters.list({ correlationId: correlationId as string }),
          'OPTIONS_INVALID',
          'correlationId',
        );
      }
      // A purge or a grouping has no correlation filter: one given is refused, never dropped (it would widen them).
      await expectRefused(() => bus.deadLetters.purge({ correlationId: flow } as never), 'OPTIONS_INVALID', 'correlationId');
      await expectRefused(() => bus.deadLetters.groups({ correlationId: flow } as never), 'OPTIONS_INVALID', 'correlationId');
      expect((await bus.deadLetters.list({ subscription: own.name, status: 'archived' })).map((d) => d.id)).toEqual([own.ids[0]]);
    });

    it('an archive note may hold anything but a NUL', async () => {
      const { ids } = await deadLetters(1);
      const id = ids[0] as number;
      await expectRefused(() => bus.deadLetters.archive(id, 'a\0b'), 'OPTIONS_INVALID', 'note');
      expect(await statuses(ids)).toEqual(['open']);
      expect((await bus.deadLetters.archive(id, 'ünïcode\ttab 🚀')).note).toBe('ünïcode\ttab 🚀');
    });

    it.each([
      [{ limit: -1 }, 'limit'],
      [{ limit: 0 }, 'limit'],
      [{ limit: 'x' }, 'limit'],
      [{ limit: 1.5 }, 'limit'],
      [{ fromSeq: 'x' }, 'fromSeq'],
      [{ toSeq: -1 }, 'toSeq'],
      [{ since: 'garbage' }, 'since'],
      [{ since: new Date('x') }, 'since'],
      [{ until: Number.NaN }, 'until'],
      [{ direction: 'sideways' }, 'direction'],
      [{ correlationId: 'a\0b' }, 'correlationId'],
      [{ causationId: '' }, 'causationId'],
      [{ type: 'a\0b' }, 'type'],
      [{ type: '' }, 'type'],
      [{ sequence: 1 }, 'sequence'],
      [null, 'query'],
      ['x', 'query'],
    ])('events(%j) is refused naming %s', async (query, field) => {
      await expectRefused(() => collect(bus.events(query as never)), 'OPTIONS_INVALID', field);
      await expectRefused(() => collect(bus.store.read(query as never)), 'OPTIONS_INVALID', field);
    });

    it('a topic pattern that is empty or holds a NUL is refused naming topic', async () => {
      for (const topic of ['', 'a\0b']) await expectRefused(() => collect(bus.events({ topic })), 'TOPIC_INVALID', 'topic');
    });

    it('a valid history query still reads', async () => {
      const sent = await bus.publish({ topic: 'admin.read', type: 'Read', correlationId: 'corr-read' });
      const found = await collect(bus.events({ correlationId: 'corr-read', since: 0, limit: 5, direction: 'backward' }));
      expect(found.map((e) => e.envelope.event.id)).toEqual([sent.event.id]);
    });

    it('a lookup by an id, or a timeline of a correlation, holding a NUL is refused', async () => {
      await expectRefused(() => bus.getEvent('a\0b'), 'OPTIONS_INVALID', 'id');
      await expectRefused(() => bus.store.get('a\0b'), 'OPTIONS_INVALID', 'id');
      await expectRefused(() => timeline(bus.store, 'a\0b'), 'OPTIONS_INVALID', 'correlationId');
    });

    it('a state namespace, key or prefix holding a NUL is refused and nothing is written', async () => {
      const { state } = bus.store;
      await expectRefused(() => state.put('admin', 'a\0b', 1), 'OPTIONS_INVALID', 'key');
      await expectRefused(() => state.put('ad\0min', 'k', 1), 'OPTIONS_INVALID', 'namespace');
      await expectRefused(() => state.get('admin', 'a\0b'), 'OPTIONS_INVALID', 'key');
      await expectRefused(() => state.delete('admin', 'a\0b'), 'OPTIONS_INVALID', 'key');
      await expectRefused(() => collect(state.list('admin', { prefix: 'a\0' })), 'OPTIONS_INVALID', 'prefix');
      expect(await collect(state.list('admin'))).toEqual([]);
      expect(await state.put('admin', 'a b/ü', 1, 'absent')).toBe(1);
    });
  });
}

describeOnEachStore(describeAdminInput);
