/**
 * Typed payloads: a subscriber, an agent, a command handler, a projection or a stream fold
 * names the payload it expects (`bus.subscribe<TaskCompleted>`), so strict TypeScript reads
 * `event.payload.result.endpoints` without a cast. The type is a promise the caller makes:
 * nothing changes at run time, and the default stays `JsonValue`.
 *
 * The type checks run under `tsc -p tsconfig.json --noEmit` (this file is in the project);
 * each `@ts-expect-error` line fails the typecheck if it ever compiles.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  type AgentContext,
  type Envelope,
  type HandlerContext,
  type JsonValue,
  createAgentRuntime,
  defineAgent,
  defineProjection,
} from '../../src/index.js';
import { createTestBus } from '../../src/testing.js';
import { within } from '../conformance/fixtures.js';

/** The seed's TaskCompletedEvent payload, as a type alias. */
type TaskCompleted = {
  task_id: string;
  status: 'completed' | 'failed';
  result: { endpoints: number; schemas: number };
};

/** An interface works as well on the receiving side (it has no index signature, unlike an alias). */
interface ReviewRequested {
  pr: number;
  reviewer: string;
}

const SEED_PAYLOAD: TaskCompleted = { task_id: 'T1', status: 'completed', result: { endpoints: 12, schemas: 5 } };

const buses: Array<{ dispose(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.dispose()));
});
async function testBus() {
  const bus = await createTestBus();
  buses.push(bus);
  return bus;
}

/** A promise and the function that resolves it. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise: within(promise, 10_000, 'waiting for a handler'), resolve };
}

describe('typed payloads', () => {
  it('bus.subscribe<T> hands the handler Envelope<T>: the payload reads without a cast, unchanged at run time', async () => {
    const bus = await testBus();
    const seen = deferred<number>();
    await bus.subscribe<TaskCompleted>({
      name: '/dependency-manager',
      topic: 'project.tasks',
      handler: (event, ctx) => {
        expectTypeOf(event).toEqualTypeOf<Envelope<TaskCompleted>>();
        expectTypeOf(ctx).toEqualTypeOf<HandlerContext>();
        seen.resolve(event.payload.result.endpoints);
      },
    });
    const published = await bus.publish<TaskCompleted>({
      topic: 'project.tasks',
      type: 'TaskCompletedEvent',
      payload: SEED_PAYLOAD,
    });
    expectTypeOf(published.payload).toEqualTypeOf<TaskCompleted>();
    expect(await seen.promise).toBe(12);
  });

  it('infers the payload type from an annotated handler, interfaces included', async () => {
    const bus = await testBus();
    const seen = deferred<string>();
    await bus.subscribe({
      name: '/code-reviewer',
      topic: 'project.reviews',
      handler: (event: Envelope<ReviewRequested>) => seen.resolve(`${event.payload.reviewer}#${event.payload.pr}`),
    });
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent', payload: { pr: 42, reviewer: '/ada' } });
    expect(await seen.promise).toBe('/ada#42');
  });

  it('defineAgent<T> types its subscriptions’ handlers and its inbox handler', async () => {
    const bus = await testBus();
    const runtime = createAgentRuntime(bus);
    const seen = deferred<number>();
    const agent = defineAgent<TaskCompleted>({
      name: '/context-manager',
      subscriptions: [
        {
          topic: 'project.tasks',
          handler: async (event, ctx) => {
            expectTypeOf(event.payload).toEqualTypeOf<TaskCompleted>();
            expectTypeOf(ctx).toEqualTypeOf<AgentContext>();
            seen.resolve(event.payload.result.schemas);
          },
        },
        // Actions take no handler: the type parameter changes nothing for them.
        { topic: 'project.alerts', filter: 'severity=high', action: 'pause' },
      ],
    });
    await runtime.start(agent);
    try {
      await bus.publish<TaskCompleted>({ topic: 'project.tasks', type: 'TaskCompletedEvent', payload: SEED_PAYLOAD });
      expect(await seen.promise).toBe(5);
    } finally {
      await runtime.close();
    }
  });

  it('commands.register<T>, defineProjection<S, T> and streams.load<S, T> receive the payload type they name', async () => {
    const bus = await testBus();
    type CreateUser = { id: string; name: string };
    type Users = Record<string, string>;
    await bus.commands.register<CreateUser, { id: string }>('CreateUserCommand', async (command, ctx) => {
      await ctx.publish('UserCreatedEvent', command.payload, { topic: 'streams.user' });
      return { id: command.payload.id };
    });
    const created = await bus.commands.send<{ id: string }, CreateUser>('CreateUserCommand', { id: 'ada', name: 'Ada' });
    expect(created).toEqual({ id: 'ada' });

    const users = defineProjection<Users, CreateUser>({
      name: 'users',
      topics: ['streams.user'],
      init: {},
      apply: (state, event) => ({ ...state, [event.payload.id]: event.payload.name }),
    });
    const running = await bus.projections.start(users);
    await running.caughtUp();
    expect(await running.state()).toEqual({ ada: 'Ada' });

    await bus.streams.append('user-ada', [{ type: 'UserRenamed', payload: { id: 'ada', name: 'Ada L.' } }]);
    const { state } = await bus.streams.load<{ name: string }, CreateUser>('user-ada', {
      init: { name: '' },
      evolve: (user, event) => ({ ...user, name: event.payload.name }),
    });
    expect(state.name).toBe('Ada L.');
  });

  it('type level: JsonValue stays the default, and a payload type is not a licence to read fields it lacks', () => {
    // Never called: these bodies are here for the typecheck only.
    const checks = async (bus: Awaited<ReturnType<typeof testBus>>) => {
      await bus.subscribe({
        name: 'untyped',
        topic: 'project.tasks',
        handler: (event) => {
          expectTypeOf(event.payload).toEqualTypeOf<JsonValue>();
          // @ts-expect-error a JsonValue payload may be a number or null: say what it holds first.
          event.payload.result;
        },
      });
      await bus.subscribe<TaskCompleted>({
        name: 'typed',
        topic: 'project.tasks',
        handler: (event) => {
          // @ts-expect-error TaskCompleted has no `reviewer`.
          event.payload.reviewer;
        },
      });
      defineAgent({
        name: '/untyped',
        subscriptions: [{ topic: 'a', handler: (event) => expectTypeOf(event.payload).toEqualTypeOf<JsonValue>() }],
      });
      defineProjection({
        name: 'untyped',
        topics: 'a',
        init: 0,
        apply: (n, event) => {
          expectTypeOf(event.payload).toEqualTypeOf<JsonValue>();
          return n + 1;
        },
      });
      await bus.commands.register('UntypedCommand', (command) => {
        expectTypeOf(command.payload).toEqualTypeOf<JsonValue>();
      });
      await bus.publish({
        topic: 'a',
        type: 'T',
        // @ts-expect-error a payload is JSON: a Date is not (publish keeps its JsonValue constraint).
        payload: { at: new Date() },
      });
    };
    expectTypeOf(checks).toBeFunction();
  });
});
