/**
 * The saga orchestrator on a SQLite bus: the seed's deployment saga driven by workers that
 * answer its commands; compensation in reverse order; step timeouts on durable timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/index.js';
import { createManualClock, createTestBus } from '../../src/testing.js';
import { listSagas, sagaJson, startSaga } from '../../src/workflows/index.js';
import { DEPLOY, worker } from './deploy-saga.js';
import { eventsOfType, until } from './helpers.js';

const buses: Array<Bus & { dispose(): Promise<void> }> = [];
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.dispose();
});

describe('saga orchestrator', () => {
  it('runs every step and completes', async () => {
    const bus = await createTestBus();
    buses.push(bus);
    const saga = await startSaga(bus, DEPLOY);
    const { handled } = await worker(bus);
    const started = await saga.start('deploy-feature-xyz', { feature: 'xyz' });
    expect(sagaJson(started)).toEqual({
      saga_id: 'deploy-feature-xyz',
      current_step: 1,
      status: 'in_progress',
      completed_steps: [],
      compensation_stack: [],
    });
    const state = await until(async () => {
      const s = await saga.get('deploy-feature-xyz');
      return s?.status === 'completed' ? s : undefined;
    }, 'saga completed');
    expect(state.completed_steps.map((c) => c.event)).toEqual([
      'ArtifactBuilt',
      'TestsPassed',
      'StagingDeployed',
      'E2EPassed',
      'ProductionDeployed',
    ]);
    expect(handled).toEqual(['BuildArtifact', 'RunTests', 'DeployToStaging', 'RunE2ETests', 'DeployToProduction']);
    const [command] = await eventsOfType(bus, 'RunTests');
    expect(command?.envelope.event.correlation_id).toBe('deploy-feature-xyz');
    expect(command?.envelope.payload).toMatchObject({ feature: 'xyz', saga_id: 'deploy-feature-xyz', step: 2 });
    // Every step's timeout was cancelled.
    const timers = [];
    for await (const t of bus.timers.list()) timers.push(t);
    expect(timers).toEqual([]);
    // Starting it again changes nothing.
    expect((await saga.start('deploy-feature-xyz')).status).toBe('completed');
  });

  it('compensates the stacked steps in reverse order when step 5 fails', async () => {
    const bus = await createTestBus();
    buses.push(bus);
    await startSaga(bus, DEPLOY);
    const { handled } = await worker(bus, { fail: 'DeployToProduction' });
    await bus.publish({
      topic: 'deploy.commands',
      type: 'DeployFeatureRequested',
      correlationId: 'feature-123',
      payload: { feature: '123' },
    });
    await until(async () => handled.length === 8, 'compensations handled');
    expect(handled.slice(5)).toEqual(['RollbackProduction', 'RemoveStaging', 'RemoveFromStaging']);
    const [state] = await listSagas(bus.store, { sagaId: 'feature-123' });
    expect(state?.status).toBe('compensated');
    expect(state?.failure).toMatchObject({ step: 5, reason: 'ProductionFailed' });
  });

  it('fails a step that does not answer within its timeout, and compensates it', async () => {
    const clock = createManualClock(Date.now());
    const bus = await createTestBus({ clock });
    buses.push(bus);
    const saga = await startSaga(bus, DEPLOY);
    const { handled } = await worker(bus, { silent: 'DeployToStaging' });
    await saga.start('slow-1');
    await until(async () => handled.includes('DeployToStaging'), 'staging command handled');
    clock.advance(10 * 60_000 - 1);
    expect(await bus.timers.fireDue()).toBe(0);
    clock.advance(1);
    expect(await bus.timers.fireDue()).toBe(1);
    const state = await until(async () => {
      const s = await saga.get('slow-1');
      return s?.status === 'compensated' ? s : undefined;
    }, 'compensated after timeout');
    expect(state.failure).toMatchObject({ step: 3, reason: 'timeout' });
    await until(async () => handled.includes('RemoveFromStaging'), 'compensation handled');
    expect(handled.filter((t) => t === 'RunE2ETests')).toEqual([]);
  });

  it('resumes after the orchestrator restarts mid-saga', async () => {
    const first = await createTestBus();
    buses.push(first);
    const saga = await startSaga(first, DEPLOY);
    await saga.start('resume-1');
    await saga.close();
    // Steps answered while no orchestrator runs.
    const { createBus } = await import('../../src/bus/index.js');
    await worker(first);
    await until(async () => (await eventsOfType(first, 'ArtifactBuilt')).length === 1, 'step 1 answered');
    const second = await createBus({ path: first.dbPath });
    try {
      const again = await startSaga(second, DEPLOY);
      await until(async () => (await again.get('resume-1'))?.status === 'completed', 'completed after restart');
    } finally {
      await second.close();
    }
  });
});

describe('saga retention (soak)', () => {
  it('deletes instances that ended longer than `retention` ago as it handles events', async () => {
    const clock = createManualClock(Date.now());
    const bus = await createTestBus({ clock });
    buses.push(bus);
    const saga = await startSaga(bus, DEPLOY, { retention: '1h' });
    await worker(bus);
    for (let i = 0; i < 5; i++) await saga.start(`old-${i}`);
    await until(async () => ((await listSagas(bus.store)).every((s) => s.status === 'completed') ? true : undefined), 'done');
    expect(await listSagas(bus.store)).toHaveLength(5);
    clock.advance(2 * 3_600_000);
    await saga.start('new');
    await until(async () => ((await listSagas(bus.store)).length === 1 ? true : undefined), 'the ended sagas pruned');
    expect((await listSagas(bus.store))[0]?.saga_id).toBe('new');
  });
});
