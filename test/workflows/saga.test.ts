/**
 * The saga orchestrator on a SQLite bus: the seed's deployment saga driven by workers that
 * answer its commands; compensation in reverse order; step timeouts on durable timers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/index.js';
import { createManualClock, createTestBus } from '../../src/testing.js';
import { type SagaConfig, listSagas, sagaJson, startSaga } from '../../src/workflows/index.js';
import { eventsOfType, until } from './helpers.js';

const DEPLOY: SagaConfig = {
  saga: 'deploy-feature',
  topic: 'deploy.commands',
  trigger: 'DeployFeatureRequested',
  step_timeout: '10m',
  steps: [
    { action: 'BuildArtifact', success: 'ArtifactBuilt', failure: 'BuildFailed' },
    { action: 'RunTests', success: 'TestsPassed', failure: 'TestsFailed' },
    { action: 'DeployToStaging', success: 'StagingDeployed', failure: 'StagingFailed', compensation: 'RemoveFromStaging' },
    { action: 'RunE2ETests', success: 'E2EPassed', failure: 'E2EFailed', compensation: 'RemoveStaging' },
    {
      action: 'DeployToProduction',
      success: 'ProductionDeployed',
      failure: 'ProductionFailed',
      compensation: 'RollbackProduction',
    },
  ],
};
const SUCCESS: Record<string, [string, string]> = {
  BuildArtifact: ['ArtifactBuilt', 'BuildFailed'],
  RunTests: ['TestsPassed', 'TestsFailed'],
  DeployToStaging: ['StagingDeployed', 'StagingFailed'],
  RunE2ETests: ['E2EPassed', 'E2EFailed'],
  DeployToProduction: ['ProductionDeployed', 'ProductionFailed'],
};

const buses: Array<Bus & { dispose(): Promise<void> }> = [];
afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.dispose();
});

/** A worker answering every command; `fail` names the action that fails, `silent` one that never answers. */
async function worker(bus: Bus, options: { fail?: string; silent?: string } = {}) {
  const handled: string[] = [];
  const sub = await bus.subscribe({
    name: '/deployer',
    topic: 'deploy.commands',
    filter: { event: { type: [...Object.keys(SUCCESS), 'RemoveFromStaging', 'RemoveStaging', 'RollbackProduction'] } },
    start: 'earliest',
    ordered: true,
    handler: async (event, ctx) => {
      handled.push(event.event.type);
      const answers = SUCCESS[event.event.type];
      if (!answers || event.event.type === options.silent) return;
      await ctx.publish(event.event.type === options.fail ? answers[1] : answers[0], {
        step: (event.payload as { step: number }).step,
      });
    },
  });
  return { handled, sub };
}

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
