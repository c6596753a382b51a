/**
 * Cancelling a running saga on a SQLite bus: from the runner, and from another bus on the
 * same file that runs no saga (another process's view); refusals that publish nothing; a
 * cancel after completion; and an upgrade with sagas in flight, whose durable subscription
 * was created with the filter of a version without cancel requests (on PostgreSQL and NATS
 * JetStream too, when their test servers answer).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type Bus, createBus } from '../../src/bus/index.js';
import { isAgentbusError } from '../../src/errors.js';
import { createManualClock, createTestBus } from '../../src/testing.js';
import {
  SAGA_CANCEL_EVENT,
  SAGA_RUNNERS_NAMESPACE,
  cancelSaga,
  defineSaga,
  listSagas,
  sagaEventTypes,
  startSaga,
} from '../../src/workflows/index.js';
import { NATS_URL, natsForSuite } from '../support/nats.js';
import { testPostgres } from '../support/postgres.js';
import { DEPLOY, worker } from './deploy-saga.js';
import { eventsOfType, until } from './helpers.js';

const buses: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  // The extra buses first: the test bus's dispose removes the file under them.
  for (const bus of buses.splice(0).reverse()) await bus.close();
});

async function testBus(options: Parameters<typeof createTestBus>[0] = {}) {
  const bus = await createTestBus(options);
  buses.push({ close: () => bus.dispose() });
  return bus;
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    if (isAgentbusError(error)) return error as never;
    throw error;
  }
  throw new Error('expected a refusal');
}

/** Waits until the saga instance has `status`, and returns it. */
function ended(bus: Bus, sagaId: string, status: string) {
  return until(async () => {
    const [s] = await listSagas(bus.store, { sagaId });
    return s?.status === status ? s : undefined;
  }, `${sagaId} ${status}`);
}

describe('cancelling a saga', () => {
  it('compensates the stacked steps, top first, when the runner is asked to cancel during step 4', async () => {
    const clock = createManualClock(Date.now());
    const bus = await testBus({ clock });
    const saga = await startSaga(bus, DEPLOY);
    const { handled } = await worker(bus, { silent: 'RunE2ETests' });
    await saga.start('xyz', { feature: 'xyz' });
    await until(async () => handled.includes('RunE2ETests'), 'step 4 started');
    const asked = await saga.cancel('xyz', { reason: 'wrong branch' });
    expect(asked.repeated).toBe(false);
    expect(asked.instance).toMatchObject({ status: 'in_progress', current_step: 4 });
    expect(asked.request).toMatchObject({
      event: { type: SAGA_CANCEL_EVENT, correlation_id: 'xyz', source: '/agentbus/sagas/deploy-feature' },
      payload: { saga: 'deploy-feature', saga_id: 'xyz', step: 4, reason: 'wrong branch' },
      routing: { topic: 'deploy.commands', partition_key: 'xyz' },
    });
    const state = await ended(bus, 'xyz', 'compensated');
    expect(state.failure).toEqual({ step: 4, reason: 'cancelled', event_id: asked.request.event.id, message: 'wrong branch' });
    expect(state.compensated).toEqual([
      { step: 4, compensate: 'RemoveStaging' },
      { step: 3, compensate: 'RemoveFromStaging' },
    ]);
    await until(async () => handled.includes('RemoveFromStaging'), 'compensations handled');
    expect(handled.slice(4)).toEqual(['RemoveStaging', 'RemoveFromStaging']);
    const [compensation] = await eventsOfType(bus, 'RemoveStaging');
    expect(compensation?.envelope.event.causation_id).toBe(asked.request.event.id);
    // The step's timeout went with it: advancing past it fires nothing.
    const timers = [];
    for await (const t of bus.timers.list()) timers.push(t);
    expect(timers).toEqual([]);
    clock.advance(11 * 60_000);
    expect(await bus.timers.fireDue()).toBe(0);
  });

  it('is heard from another bus on the same file that runs no saga, and ends failed with nothing to undo', async () => {
    const bus = await testBus();
    const saga = await startSaga(bus, DEPLOY);
    const { handled } = await worker(bus, { silent: 'RunTests' });
    await saga.start('early');
    await until(async () => handled.includes('RunTests'), 'step 2 started');
    const other = await createBus({ path: bus.dbPath });
    buses.push(other);
    const asked = await cancelSaga(other, 'deploy-feature', 'early', { reason: 'not needed' });
    expect(asked.request.routing.topic).toBe('deploy.commands');
    const state = await ended(bus, 'early', 'failed');
    expect(state.failure).toMatchObject({ step: 2, reason: 'cancelled', message: 'not needed' });
    expect(state.compensated).toEqual([]);
    expect(handled).toEqual(['BuildArtifact', 'RunTests']);
    // Asking again is refused: it has ended.
    const again = await refusal(cancelSaga(other, 'deploy-feature', 'early'));
    expect(again.code).toBe('CONCURRENCY_CONFLICT');
    expect(again.message).toBe(
      'saga deploy-feature/early is failed already: only an in_progress saga can be cancelled; nothing was published',
    );
    expect(again.details).toMatchObject({ saga: 'deploy-feature', sagaId: 'early', sagaStatus: 'failed' });
  });

  it('refuses an unknown or finished saga, and bad input, publishing nothing', async () => {
    const bus = await testBus();
    const saga = await startSaga(bus, DEPLOY);
    await worker(bus);
    await saga.start('done');
    await ended(bus, 'done', 'completed');
    const unknown = await refusal(cancelSaga(bus, 'deploy-feature', 'nope'));
    expect(unknown.code).toBe('NOT_FOUND');
    expect(unknown.message).toBe('no saga deploy-feature/nope; nothing was published');
    expect((await refusal(cancelSaga(bus, 'other-saga', 'done'))).code).toBe('NOT_FOUND');
    const finished = await refusal(saga.cancel('done'));
    expect(finished.code).toBe('CONCURRENCY_CONFLICT');
    expect(finished.details.sagaStatus).toBe('completed');
    for (const [call, field] of [
      [() => cancelSaga(bus, '', 'done'), 'saga'],
      [() => cancelSaga(bus, 'deploy feature', 'done'), 'saga'],
      [() => cancelSaga(bus, 'deploy-feature', ''), 'sagaId'],
      [() => cancelSaga(bus, 'deploy-feature', 'a\u0000b'), 'sagaId'],
      [() => cancelSaga(bus, 'deploy-feature', 'x'.repeat(256)), 'sagaId'],
      [() => cancelSaga(bus, 'deploy-feature', 'done', { reason: '' }), 'reason'],
      [() => cancelSaga(bus, 'deploy-feature', 'done', { reason: 'x'.repeat(2001) }), 'reason'],
      [() => cancelSaga(bus, 'deploy-feature', 'done', { reason: 7 as never }), 'reason'],
      [() => listSagas(bus.store, { status: 'cancelled' as never }), 'status'],
    ] as const) {
      const error = await refusal(call());
      expect([error.code, error.details.field], error.message).toEqual(['OPTIONS_INVALID', field]);
    }
    expect(await eventsOfType(bus, SAGA_CANCEL_EVENT)).toEqual([]);
  });

  it('ignores a cancel request that arrives after the saga completed', async () => {
    const bus = await testBus();
    const saga = await startSaga(bus, DEPLOY);
    const { handled } = await worker(bus);
    await saga.start('raced');
    const done = await ended(bus, 'raced', 'completed');
    // As if a request checked the saga just before it completed: published all the same.
    await bus.publish({
      topic: 'deploy.commands',
      type: SAGA_CANCEL_EVENT,
      correlationId: 'raced',
      payload: { saga: 'deploy-feature', saga_id: 'raced', step: 5 },
    });
    await saga.start('after');
    await ended(bus, 'after', 'completed');
    await saga.idle();
    expect(await saga.get('raced')).toEqual(done);
    expect(handled.filter((t) => t.startsWith('Remove') || t.startsWith('Rollback'))).toEqual([]);
  });

  it('returns the first request when asked twice before the runner handled it', async () => {
    const bus = await testBus();
    const saga = await startSaga(bus, DEPLOY);
    await saga.start('twice');
    await saga.close();
    const first = await cancelSaga(bus, 'deploy-feature', 'twice', { reason: 'first' });
    const second = await cancelSaga(bus, 'deploy-feature', 'twice', { reason: 'second' });
    expect(second.repeated).toBe(true);
    expect(second.request).toEqual(first.request);
    expect(await eventsOfType(bus, SAGA_CANCEL_EVENT)).toHaveLength(1);
    const again = await startSaga(bus, DEPLOY);
    await ended(bus, 'twice', 'failed');
    expect((await again.get('twice'))?.failure?.message).toBe('first');
  });
});

/**
 * The upgrade, on one backend. `storesFilter`: the subscription's info shows the filter in
 * force (SQLite, PostgreSQL); on NATS the consumer keeps the description it was created with.
 */
function describeUpgrade(backend: string, open: () => Promise<Bus>, storesFilter: boolean) {
  describe(`upgrading with sagas in flight on ${backend}`, () => {
    it('widens the durable subscription of an older version to cancel requests, keeping its position', async () => {
      const bus = await open();
      const definition = defineSaga(DEPLOY);
      const oldTypes = sagaEventTypes(definition).filter((t) => t !== SAGA_CANCEL_EVENT);
      // The database as a version without cancel requests left it: an instance at step 1, the
      // subscription saga:deploy-feature with the old filter, and no runner record.
      const saga = await startSaga(bus, DEPLOY);
      await saga.start('in-flight');
      await saga.close();
      await bus.store.state.delete(SAGA_RUNNERS_NAMESPACE, 'deploy-feature');
      const old = await bus.subscribe({
        name: 'saga:deploy-feature',
        topic: 'deploy.commands',
        filter: { event: { type: oldTypes } },
        handler: async () => {
          throw new Error('the old runner is not running');
        },
      });
      await old.close();
      const before = await bus.subscriptions.get('saga:deploy-feature');
      if (storesFilter) expect(before?.filter).toEqual({ event: { type: oldTypes } });

      // Until a runner of this version started, a cancel is refused (nobody would hear it).
      const early = await refusal(cancelSaga(bus, 'deploy-feature', 'in-flight'));
      expect(early.code).toBe('CONCURRENCY_CONFLICT');
      expect(early.message).toMatch(/^saga deploy-feature\/in-flight cannot be cancelled yet: no runner of saga deploy-feature/);
      expect(await eventsOfType(bus, SAGA_CANCEL_EVENT)).toEqual([]);

      // Step 1 answered while no runner ran; then this version's runner starts.
      await bus.publish({ topic: 'deploy.commands', type: 'ArtifactBuilt', correlationId: 'in-flight' });
      const upgraded = await startSaga(bus, DEPLOY);
      const after = await bus.subscriptions.get('saga:deploy-feature');
      if (storesFilter) expect(after?.filter).toEqual({ event: { type: sagaEventTypes(definition) } });
      expect(after?.createdAt).toBe(before?.createdAt);
      // It resumed where the old one stopped: the answer given meanwhile was handled.
      await until(async () => (await upgraded.get('in-flight'))?.current_step === 2, 'step 2 started');
      await upgraded.cancel('in-flight');
      const state = await ended(bus, 'in-flight', 'failed');
      expect(state.failure).toMatchObject({ step: 2, reason: 'cancelled' });
      expect(state.completed_steps).toEqual([{ step: 1, event: 'ArtifactBuilt' }]);
    });
  });
}

describeUpgrade('SQLite', () => testBus(), true);

const pg = await testPostgres();
describe.skipIf(!pg.available)(`PostgreSQL ${pg.skipReason}`, () => {
  describeUpgrade(
    'PostgreSQL',
    async () => {
      const db = await pg.createDatabase('agentbus_saga_cancel');
      const bus = await createBus({ store: { postgres: db.url } });
      buses.push({
        close: async () => {
          await bus.close();
          await db.drop();
        },
      });
      return bus;
    },
    true,
  );
});

const natsUp = await natsForSuite('the saga upgrade on NATS');

/** Deletes a JetStream stream this test created. */
async function deleteStream(name: string): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: NATS_URL });
  try {
    await (await jetstreamManager(nc)).streams.delete(name);
  } finally {
    await nc.close();
  }
}
describe.skipIf(!natsUp)('NATS', () => {
  describeUpgrade(
    'SQLite + NATS JetStream',
    async () => {
      const stream = `AB_SAGA_${randomBytes(4).toString('hex')}`;
      const bus = await createTestBus({
        transport: { nats: NATS_URL, stream, subjectPrefix: stream.toLowerCase(), storage: 'memory' },
      });
      buses.push({
        close: async () => {
          // Closing the bus first stops its subscriptions (NatsTransport.destroy() under a running
          // one leaves its dispatcher spinning on a closed consumer).
          await bus.dispose();
          await deleteStream(stream);
        },
      });
      return bus;
    },
    false,
  );
});
