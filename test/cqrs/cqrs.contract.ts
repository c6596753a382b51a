/**
 * The CQRS suite, over any EventStore: command bus, query bus, event-sourced streams and
 * projections, through the public `createBus`.
 *   describeCqrsContract('sqlite', () => openStoreForTest())
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentBus, createBus } from '../../src/agentbus.js';
import { defineProjection } from '../../src/cqrs/index.js';
import type { Envelope } from '../../src/envelope/index.js';
import { AgentbusError, NonRetryableError, isAgentbusError } from '../../src/errors.js';
import type { EventStore } from '../../src/store/index.js';
import { collect, sleep, within } from '../conformance/fixtures.js';

/**
 * Opens a fresh, empty store. `open` opens another connection to the same database, as a
 * second process would; `dispose` closes everything and removes what it created.
 */
export type CqrsStoreFactory = () => Promise<{
  store: EventStore;
  open: () => Promise<EventStore>;
  dispose: () => Promise<void>;
}>;

const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error & { code?: string; details?: Record<string, unknown> },
  );

type User = { id: string; name: string };

export function describeCqrsContract(name: string, factory: CqrsStoreFactory): void {
  describe(`CQRS: ${name}`, () => {
    let store: EventStore;
    let open: () => Promise<EventStore>;
    let dispose: () => Promise<void>;
    const buses: AgentBus[] = [];
    const extraStores: EventStore[] = [];
    let bus: AgentBus;
    const newBus = async (on?: EventStore) => {
      const b = await createBus({ store: on ?? store });
      buses.push(b);
      return b;
    };
    /** A bus on a second connection to the same database, as another process has. */
    const otherBus = async () => {
      const s = await open();
      extraStores.push(s);
      return newBus(s);
    };
    beforeEach(async () => {
      ({ store, open, dispose } = await factory());
      bus = await newBus();
    });
    afterEach(async () => {
      await Promise.all(buses.splice(0).map((b) => b.close()));
      await Promise.all(extraStores.splice(0).map((s) => s.close()));
      await dispose();
    });

    describe('commands', () => {
      it("resolves with the handler's result; the command and its reply are kept in history", async () => {
        await bus.commands.register<User>('CreateUserCommand', async (cmd) => ({ created: cmd.payload.id }));
        const result = await bus.commands.send('CreateUserCommand', { id: 'u1', name: 'Ada' }, { timeout: '10s' });
        expect(result).toEqual({ created: 'u1' });
        const [command] = await collect(store.read({ type: 'CreateUserCommand' }));
        expect(command?.envelope.event.kind).toBe('command');
        expect(command?.envelope.payload).toEqual({ id: 'u1', name: 'Ada' });
        const replies = await collect(store.read({ causationId: command?.envelope.event.id }));
        expect(replies.map((r) => r.envelope.event.type)).toEqual(['CommandSucceeded']);
        expect(replies[0]?.envelope.event.correlation_id).toBe(command?.envelope.event.correlation_id);
      });

      it('refuses a second handler for the same command type', async () => {
        await bus.commands.register('CreateUserCommand', () => 1);
        const error = await errorOf(bus.commands.register('CreateUserCommand', () => 2));
        expect(isAgentbusError(error, 'OPTIONS_INVALID')).toBe(true);
        expect(error.details?.field).toBe('commandType');
      });

      it('answers NO_HANDLER at the timeout when nobody handles the type', async () => {
        const error = await errorOf(bus.commands.send('UnknownCommand', {}, { timeout: 300 }));
        expect(isAgentbusError(error, 'NO_HANDLER')).toBe(true);
        expect(error.details?.commandType).toBe('UnknownCommand');
      });

      it('answers TIMEOUT when the handler took the command and did not answer in time', async () => {
        let release: () => void = () => {};
        const gate = new Promise<void>((r) => {
          release = r;
        });
        let started = false;
        await bus.commands.register('SlowCommand', async () => {
          started = true;
          await gate;
          return 'late';
        });
        const error = await errorOf(bus.commands.send('SlowCommand', {}, { timeout: 500 }));
        release();
        expect(started).toBe(true);
        expect(isAgentbusError(error, 'TIMEOUT')).toBe(true);
      });

      it("returns a handler's failure as a typed error with the same code", async () => {
        await bus.commands.register('FindCommand', async (cmd) => {
          const mode = (cmd.payload as { mode: string }).mode;
          if (mode === 'agentbus') throw new AgentbusError('NOT_FOUND', 'no such user', { id: 'u9' });
          if (mode === 'non-retryable') throw new NonRetryableError('bad email', { code: 'invalid_email' });
          throw new TypeError('boom');
        });
        const notFound = await errorOf(bus.commands.send('FindCommand', { mode: 'agentbus' }, { timeout: '10s' }));
        expect(isAgentbusError(notFound, 'NOT_FOUND')).toBe(true);
        expect(notFound.message).toContain('no such user');
        expect(notFound.details).toMatchObject({ id: 'u9', commandType: 'FindCommand' });
        const bad = await errorOf(bus.commands.send('FindCommand', { mode: 'non-retryable' }, { timeout: '10s' }));
        expect(bad).toBeInstanceOf(NonRetryableError);
        expect(bad.code).toBe('invalid_email');
        const plain = await errorOf(bus.commands.send('FindCommand', { mode: 'plain' }, { timeout: '10s' }));
        expect(isAgentbusError(plain, 'HANDLER_FAILED')).toBe(true);
        expect(plain.details?.errorName).toBe('TypeError');
        // Failures are replies, not dead letters.
        expect(await store.deliveries.listDeadLetters()).toEqual([]);
      });

      it('commits the events a handler published only when it succeeds, caused by the command', async () => {
        await bus.commands.register('MaybeCommand', async (cmd, ctx) => {
          await ctx.publish('UserCreatedEvent', { id: 'u1' }, { topic: 'users' });
          if ((cmd.payload as { fail: boolean }).fail) throw new AgentbusError('CONCURRENCY_CONFLICT', 'taken');
          return 'ok';
        });
        await errorOf(bus.commands.send('MaybeCommand', { fail: true }, { timeout: '10s' }));
        expect(await collect(store.read({ topic: 'users' }))).toEqual([]);
        await bus.commands.send('MaybeCommand', { fail: false }, { timeout: '10s' });
        const [command] = await collect(store.read({ type: 'MaybeCommand', direction: 'backward', limit: 1 }));
        const published = await collect(store.read({ topic: 'users' }));
        expect(published.map((e) => e.envelope.event.causation_id)).toEqual([command?.envelope.event.id]);
      });

      it('handlers of one type on two connections split the commands, each handled once', async () => {
        const other = await otherBus();
        const handled: string[] = [];
        const handler = (who: string) => async (cmd: Envelope) => {
          handled.push(`${who}:${(cmd.payload as { n: number }).n}`);
          return (cmd.payload as { n: number }).n * 2;
        };
        await bus.commands.register('DoubleCommand', handler('a'));
        await other.commands.register('DoubleCommand', handler('b'));
        const results = await within(
          Promise.all(Array.from({ length: 20 }, (_, n) => bus.commands.send('DoubleCommand', { n }, { timeout: '30s' }))),
          45_000,
          'twenty commands',
        );
        expect(results).toEqual(Array.from({ length: 20 }, (_, n) => n * 2));
        expect(handled.map((h) => Number(h.split(':')[1])).sort((x, y) => x - y)).toEqual(
          Array.from({ length: 20 }, (_, n) => n),
        );
      });

      it('a reply written on another connection reaches the sender', async () => {
        const other = await otherBus();
        await other.commands.register('PingCommand', async () => 'pong');
        expect(await bus.commands.send('PingCommand', {}, { timeout: '20s' })).toBe('pong');
      });

      it('refuses bad input without writing', async () => {
        expect(isAgentbusError(await errorOf(bus.commands.send('bad type!', {})), 'OPTIONS_INVALID')).toBe(true);
        const timeout = await errorOf(bus.commands.send('OkCommand', {}, { timeout: 'soon' }));
        expect(timeout.details?.field).toBe('timeout');
        expect(await store.head()).toBe(0);
      });
    });

    describe('queries', () => {
      it('answers from a local handler and writes no event', async () => {
        await bus.queries.register<{ id: string }>('GetUserQuery', ({ id }) => ({ id, name: 'Ada' }));
        expect(await bus.queries.ask('GetUserQuery', { id: 'u1' })).toEqual({ id: 'u1', name: 'Ada' });
        expect(await store.head()).toBe(0);
      });

      it('answers across connections through short-lived state, writing no event', async () => {
        const other = await otherBus();
        await other.queries.register<{ id: string }>('GetUserQuery', async ({ id }) => ({ id, from: 'other' }));
        expect(await bus.queries.ask('GetUserQuery', { id: 'u2' }, { timeout: '20s' })).toEqual({ id: 'u2', from: 'other' });
        const failing = await other.queries.register('FailingQuery', () => {
          throw new AgentbusError('UNAUTHORIZED', 'not yours');
        });
        expect(isAgentbusError(await errorOf(bus.queries.ask('FailingQuery', {}, { timeout: '20s' })), 'UNAUTHORIZED')).toBe(
          true,
        );
        await failing.close();
        expect(await store.head()).toBe(0);
        expect(await collect(store.state.list('agentbus.queries'))).toEqual([]);
      });

      it('answers NO_HANDLER at the timeout and leaves nothing behind', async () => {
        const error = await errorOf(bus.queries.ask('NobodyQuery', {}, { timeout: 300 }));
        expect(isAgentbusError(error, 'NO_HANDLER')).toBe(true);
        expect(await store.head()).toBe(0);
        expect(await collect(store.state.list('agentbus.queries'))).toEqual([]);
      });

      it('refuses a second local handler and returns handler failures with their code', async () => {
        await bus.queries.register('GetQuery', () => {
          throw new AgentbusError('NOT_FOUND', 'missing');
        });
        expect(isAgentbusError(await errorOf(bus.queries.register('GetQuery', () => 1)), 'OPTIONS_INVALID')).toBe(true);
        expect(isAgentbusError(await errorOf(bus.queries.ask('GetQuery', {})), 'NOT_FOUND')).toBe(true);
      });

      it('answers TIMEOUT when the handler is too slow', async () => {
        await bus.queries.register('SlowQuery', () => sleep(2_000).then(() => 1));
        expect(isAgentbusError(await errorOf(bus.queries.ask('SlowQuery', {}, { timeout: 200 })), 'TIMEOUT')).toBe(true);
      });
    });

    describe('streams', () => {
      type Account = { balance: number; open: boolean };
      const evolve = (state: Account, event: Envelope): Account => {
        const amount = (event.payload as { amount?: number }).amount ?? 0;
        switch (event.event.type) {
          case 'AccountOpened':
            return { ...state, open: true };
          case 'Deposited':
            return { ...state, balance: state.balance + amount };
          default:
            return state;
        }
      };
      const init = (): Account => ({ balance: 0, open: false });

      it('appends with expected versions and loads state and version by folding', async () => {
        expect(await bus.streams.append('account-1', [{ type: 'AccountOpened' }], { expectedVersion: 'no_stream' })).toBe(1);
        expect(
          await bus.streams.append(
            'account-1',
            [
              { type: 'Deposited', payload: { amount: 5 } },
              { type: 'Deposited', payload: { amount: 7 } },
            ],
            { expectedVersion: 1 },
          ),
        ).toBe(3);
        const conflict = await errorOf(bus.streams.append('account-1', [{ type: 'Deposited' }], { expectedVersion: 1 }));
        expect(isAgentbusError(conflict, 'CONCURRENCY_CONFLICT')).toBe(true);
        expect(conflict.details).toMatchObject({ stream: 'account-1', expected: 1, actual: 3 });
        expect(await bus.streams.load('account-1', { init, evolve })).toEqual({ state: { balance: 12, open: true }, version: 3 });
        expect(await bus.streams.load('account-2', { init, evolve })).toEqual({ state: init(), version: 0 });
        const [first] = await collect(bus.streams.read('account-1'));
        expect(first?.envelope.routing).toMatchObject({ topic: 'streams.account', partition_key: 'account-1' });
      });

      it('uses snapshots transparently: load folds only the events after the snapshot', async () => {
        const b = await createBus({ store, cqrs: { snapshotEvery: 3 } });
        buses.push(b);
        await b.streams.append(
          'account-9',
          Array.from({ length: 7 }, () => ({ type: 'Deposited', payload: { amount: 1 } })),
        );
        let calls = 0;
        const counting = (s: Account, e: Envelope) => {
          calls++;
          return evolve(s, e);
        };
        expect((await b.streams.load('account-9', { init, evolve: counting })).state.balance).toBe(7);
        expect(calls).toBe(7);
        const [snapshot] = await collect(store.state.list<{ version: number }>('agentbus.snapshots'));
        expect(snapshot?.value.version).toBe(7);
        await b.streams.append('account-9', [{ type: 'Deposited', payload: { amount: 10 } }]);
        calls = 0;
        expect(await b.streams.load('account-9', { init, evolve: counting })).toEqual({
          state: { balance: 17, open: false },
          version: 8,
        });
        expect(calls).toBe(1);
        // A different fold (changed code) does not trust the old snapshot.
        const other = (s: Account, e: Envelope) => ({ ...evolve(s, e), open: true });
        expect((await b.streams.load('account-9', { init, evolve: other })).state).toEqual({ balance: 17, open: true });
      });

      it('eight concurrent writers: contiguous versions, successes + conflicts = attempts', async () => {
        let successes = 0;
        let conflicts = 0;
        const writer = async (w: number) => {
          for (let r = 0; r < 10; r++) {
            const { state, version } = await bus.streams.load('account-hot', { init, evolve, snapshotEvery: 0 });
            try {
              await bus.streams.append('account-hot', [{ type: 'Deposited', payload: { amount: state.balance + 1, w } }], {
                expectedVersion: version,
              });
              successes++;
            } catch (error) {
              if (!isAgentbusError(error, 'CONCURRENCY_CONFLICT')) throw error;
              conflicts++;
            }
          }
        };
        await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
        expect(successes + conflicts).toBe(80);
        const events = await collect(bus.streams.read('account-hot'));
        expect(events.map((e) => e.version)).toEqual(Array.from({ length: successes }, (_, i) => i + 1));
        expect((await bus.streams.load('account-hot', { init, evolve })).version).toBe(successes);
      });

      it('eight writers on separate connections: contiguous versions, successes + conflicts = attempts', async () => {
        const writers = [bus, ...(await Promise.all(Array.from({ length: 7 }, () => otherBus())))];
        let successes = 0;
        let conflicts = 0;
        await Promise.all(
          writers.map(async (b) => {
            for (let r = 0; r < 8; r++) {
              const version = await b.streams.version('account-multi');
              try {
                await b.streams.append('account-multi', [{ type: 'Deposited', payload: { amount: 1 } }], {
                  expectedVersion: version,
                });
                successes++;
              } catch (error) {
                if (!isAgentbusError(error, 'CONCURRENCY_CONFLICT')) throw error;
                conflicts++;
              }
            }
          }),
        );
        expect(successes + conflicts).toBe(64);
        const versions = (await collect(bus.streams.read('account-multi'))).map((e) => e.version);
        expect(versions).toEqual(Array.from({ length: successes }, (_, i) => i + 1));
      });

      it('refuses bad events and options naming the field, writing nothing', async () => {
        const missingType = await errorOf(bus.streams.append('account-1', [{ payload: {} } as never]));
        expect(isAgentbusError(missingType, 'ENVELOPE_INVALID')).toBe(true);
        expect(missingType.details?.field).toBe('events[0].event.type');
        const badVersion = await errorOf(bus.streams.append('account-1', [{ type: 'X' }], { expectedVersion: 'later' as never }));
        expect(badVersion.details?.field).toBe('expectedVersion');
        expect((await errorOf(bus.streams.append('', [{ type: 'X' }]))).details?.field).toBe('stream');
        expect(await store.head()).toBe(0);
      });
    });

    describe('projections', () => {
      type Users = Record<string, { name: string; renamed: number }>;
      const usersProjection = () =>
        defineProjection<Users>({
          name: 'users',
          topics: ['streams.user'],
          init: {},
          batchSize: 7,
          apply: (users, e) => {
            const p = e.payload as { id: string; name: string };
            if (e.event.type === 'UserCreatedEvent') return { ...users, [p.id]: { name: p.name, renamed: 0 } };
            if (e.event.type === 'UserRenamedEvent') {
              const before = users[p.id] ?? { name: '', renamed: 0 };
              return { ...users, [p.id]: { name: p.name, renamed: before.renamed + 1 } };
            }
            return users;
          },
        });
      const createUsers = async (b: AgentBus, from: number, to: number) => {
        for (let i = from; i < to; i++) {
          await b.streams.append(`user-${i}`, [{ type: 'UserCreatedEvent', payload: { id: `u${i}`, name: `n${i}` } }]);
          await b.publish({ topic: 'other.topic', type: 'Noise', payload: { i } });
          if (i % 3 === 0)
            await b.streams.append(`user-${i}`, [{ type: 'UserRenamedEvent', payload: { id: `u${i}`, name: `r${i}` } }]);
        }
      };

      it('follows its topics live, checkpointed, with lag visible', async () => {
        await createUsers(bus, 0, 10);
        const users = await bus.projections.start(usersProjection());
        await within(users.caughtUp(), 30_000, 'catch up');
        expect(Object.keys(await users.state())).toHaveLength(10);
        await createUsers(bus, 10, 20);
        await within(users.caughtUp(), 30_000, 'follow');
        const state = await users.state();
        expect(Object.keys(state)).toHaveLength(20);
        expect(state.u9).toEqual({ name: 'r9', renamed: 1 });
        const [info] = await bus.projections.list();
        expect(info).toMatchObject({ name: 'users', topics: ['streams.user'], lag: 0, applied: 27 });
        expect(info?.position).toBe(await store.head());
        await users.close();
        await bus.publish({ topic: 'other.topic', type: 'Noise' });
        expect((await bus.projections.get('users'))?.lag).toBe(1);
      });

      it('a rebuilt projection equals the live one', async () => {
        await createUsers(bus, 0, 15);
        const users = await bus.projections.start(usersProjection());
        await createUsers(bus, 15, 30);
        await within(users.caughtUp(), 30_000, 'catch up');
        const live = await users.state();
        const progress: Array<[number, number]> = [];
        const rebuilt = await bus.projections.rebuild('users', { onProgress: (p, h) => progress.push([p, h]) });
        expect(rebuilt.state).toEqual(live);
        expect(await users.state()).toEqual(live);
        expect(progress.at(-1)).toEqual([await store.head(), await store.head()]);
        expect(rebuilt.applied).toBe((await bus.projections.get('users'))?.applied);
      });

      it('a reset makes the running projection rebuild from the start', async () => {
        await createUsers(bus, 0, 9);
        const users = await bus.projections.start(usersProjection());
        await within(users.caughtUp(), 30_000, 'catch up');
        const before = await users.state();
        const other = await otherBus();
        await other.projections.reset('users');
        await within(users.caughtUp(), 30_000, 'rebuild after reset');
        expect(await users.state()).toEqual(before);
        expect((await bus.projections.get('users'))?.applied).toBe(12);
        expect(isAgentbusError(await errorOf(bus.projections.reset('nope')), 'NOT_FOUND')).toBe(true);
      });

      it('delete forgets a projection: it no longer holds retention back, and a runner still on it starts over', async () => {
        await createUsers(bus, 0, 6);
        const users = await bus.projections.start(usersProjection());
        await within(users.caughtUp(), 30_000, 'catch up');
        const before = await users.state();
        await users.close();
        expect((await store.retention.info()).holds).toContainEqual(
          expect.objectContaining({ kind: 'projection', name: 'users' }),
        );
        await bus.projections.delete('users');
        expect(await bus.projections.get('users')).toBeUndefined();
        expect(await bus.projections.state('users')).toBeUndefined();
        expect((await store.retention.info()).holds).not.toContainEqual(expect.objectContaining({ kind: 'projection' }));
        expect(isAgentbusError(await errorOf(bus.projections.delete('users')), 'NOT_FOUND')).toBe(true);
        expect(isAgentbusError(await errorOf(bus.projections.delete('no spaces')), 'OPTIONS_INVALID')).toBe(true);

        const again = await bus.projections.start(usersProjection());
        await within(again.caughtUp(), 30_000, 'rebuild after delete');
        expect(await again.state()).toEqual(before);
        const running = await otherBus();
        await running.projections.delete('users');
        await createUsers(bus, 6, 9);
        await within(again.caughtUp(), 30_000, 'start over after a delete by another process');
        expect((await bus.projections.get('users'))?.position).toBe(await store.head());
        expect(Object.keys((await again.state()) as object)).toHaveLength(Object.keys(before as object).length + 3);
      });

      it('two runners of one projection apply each event exactly once', async () => {
        const seen = defineProjection<{ seqs: number[] }>({
          name: 'seqs',
          topics: ['streams.user'],
          init: { seqs: [] },
          batchSize: 3,
          apply: (s, _e, info) => ({ seqs: [...s.seqs, info.seq] }),
        });
        // Two buses on one connection: two connections in one process would make SQLite's
        // blocking lock wait stall the event loop; separate processes are covered in projection-crash.
        const other = await newBus();
        const a = await bus.projections.start(seen);
        const b = await other.projections.start(seen);
        await createUsers(bus, 0, 12);
        await within(Promise.all([a.caughtUp(), b.caughtUp()]), 30_000, 'both caught up');
        const seqs = (await a.state()).seqs;
        const expected = (await collect(store.read({ topic: 'streams.user' }))).map((e) => e.seq);
        expect(seqs).toEqual(expected);
      });

      it('records a failing apply without moving the checkpoint', async () => {
        await bus.streams.append('user-1', [{ type: 'UserCreatedEvent', payload: { id: 'u1', name: 'a' } }]);
        const failing = defineProjection({
          name: 'failing',
          topics: 'streams.user',
          init: 0,
          apply: () => {
            throw new Error('cannot fold');
          },
        });
        const running = await bus.projections.start(failing);
        const error = await errorOf(within(running.caughtUp(), 30_000, 'failure'));
        expect(error.message).toBe('cannot fold');
        expect(await bus.projections.get('failing')).toMatchObject({ position: 0, error: { seq: 1, message: 'cannot fold' } });
      });

      it('refuses bad definitions naming the field', () => {
        expect(() => defineProjection({ name: 'bad name', topics: ['a'], init: 0, apply: (s) => s })).toThrow(/name/);
        expect(() => defineProjection({ name: 'p', topics: ['a..b'], init: 0, apply: (s) => s })).toThrow(/topics\[0\]/);
        expect(() => defineProjection({ name: 'p', topics: [], init: 0, apply: (s) => s })).toThrow(/topics/);
      });
    });
  });
}
