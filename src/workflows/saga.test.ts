import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../envelope/envelope.js';
import { isAgentbusError } from '../errors.js';
import type { Effect } from './effects.js';
import { SAGA_TIMEOUT_EVENT, type SagaState, decideSaga, defineSaga, sagaJson } from './saga.js';

/** The seed's "Feature Deployment" saga. */
const DEPLOY = defineSaga({
  saga: 'deploy-feature',
  topic: 'deploy.commands',
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
});
const T0 = Date.UTC(2025, 11, 1, 9, 0);
const deps = { idFor: (key: string) => `id:${key}` };

function reply(type: string, payload: Record<string, unknown> = {}, id = `evt-${type}`): Envelope {
  return {
    event: {
      id,
      type,
      source: '/worker',
      timestamp: '2025-12-01T09:00:00Z',
      version: '1.0',
      correlation_id: 'deploy-feature-xyz',
      causation_id: null,
      kind: 'event',
    },
    payload,
    routing: { topic: 'deploy.commands', priority: 'normal' },
  } as Envelope;
}

function run(events: Envelope[]) {
  let state = decideSaga(
    DEPLOY,
    undefined,
    { kind: 'start', sagaId: 'deploy-feature-xyz', input: { feature: 'xyz' }, at: T0 },
    deps,
  );
  let current = state.state as SagaState;
  const effects: Effect[] = [...state.effects];
  events.forEach((envelope, i) => {
    state = decideSaga(DEPLOY, current, { kind: 'event', envelope, at: T0 + (i + 1) * 1000 }, deps);
    if (state.state) current = state.state;
    effects.push(...state.effects);
  });
  const published = effects.flatMap((e) => (e.kind === 'publish' ? [e.input.type] : []));
  return { state: current, effects, published };
}

describe('decideSaga', () => {
  it("matches the seed's coordinator JSON while step 3 runs", () => {
    const { state, published } = run([reply('ArtifactBuilt'), reply('TestsPassed')]);
    expect(sagaJson(state)).toEqual({
      saga_id: 'deploy-feature-xyz',
      current_step: 3,
      status: 'in_progress',
      completed_steps: [
        { step: 1, event: 'ArtifactBuilt' },
        { step: 2, event: 'TestsPassed' },
      ],
      compensation_stack: [{ step: 3, compensate: 'RemoveFromStaging' }],
    });
    expect(published).toEqual(['BuildArtifact', 'RunTests', 'DeployToStaging']);
  });

  it('runs every step and completes', () => {
    const { state, published } = run(
      ['ArtifactBuilt', 'TestsPassed', 'StagingDeployed', 'E2EPassed', 'ProductionDeployed'].map((t) => reply(t)),
    );
    expect(state.status).toBe('completed');
    expect(state.completed_steps).toHaveLength(5);
    expect(published).toEqual(['BuildArtifact', 'RunTests', 'DeployToStaging', 'RunE2ETests', 'DeployToProduction']);
  });

  it('compensates in reverse order when step 5 fails', () => {
    const { state, published } = run(
      ['ArtifactBuilt', 'TestsPassed', 'StagingDeployed', 'E2EPassed', 'ProductionFailed'].map((t) => reply(t)),
    );
    expect(state.status).toBe('compensated');
    expect(published.slice(5)).toEqual(['RollbackProduction', 'RemoveStaging', 'RemoveFromStaging']);
    expect(state.compensation_stack).toEqual([]);
    expect(state.failure).toMatchObject({ step: 5, reason: 'ProductionFailed' });
  });

  it('ends as failed, with nothing to roll back, when step 1 fails', () => {
    const { state, published } = run([reply('BuildFailed')]);
    expect(state.status).toBe('failed');
    expect(published).toEqual(['BuildArtifact']);
  });

  it('fails the current step on its timeout, and ignores a stale one', () => {
    const stale = run([reply('ArtifactBuilt'), reply(SAGA_TIMEOUT_EVENT, { saga: 'deploy-feature', step: 1 })]);
    expect(stale.state.status).toBe('in_progress');
    const timedOut = run(
      ['ArtifactBuilt', 'TestsPassed']
        .map((t) => reply(t))
        .concat(reply(SAGA_TIMEOUT_EVENT, { saga: 'deploy-feature', step: 3 })),
    );
    expect(timedOut.state.status).toBe('compensated');
    expect(timedOut.state.failure).toMatchObject({ step: 3, reason: 'timeout' });
    expect(timedOut.published.at(-1)).toBe('RemoveFromStaging');
  });

  it('sets a timeout per step and cancels it when the step ends', () => {
    const { effects } = run([reply('ArtifactBuilt')]);
    expect(effects.map((e) => e.kind)).toEqual(['publish', 'schedule', 'cancel', 'publish', 'schedule']);
    const first = effects[1] as Extract<Effect, { kind: 'schedule' }>;
    expect(first.dueAt).toBe(T0 + 600_000);
  });

  it('refuses steps sharing a success or failure type', () => {
    let error: unknown;
    try {
      defineSaga({
        saga: 's',
        topic: 't.c',
        steps: [
          { action: 'A', success: 'Done', failure: 'AFailed' },
          { action: 'B', success: 'Done', failure: 'BFailed' },
        ],
      });
    } catch (e) {
      error = e;
    }
    expect(isAgentbusError(error, 'OPTIONS_INVALID')).toBe(true);
    expect((error as { details: { field: string } }).details.field).toBe('steps[1].success');
  });

  it('refuses a step whose success, failure or compensation is its own action', () => {
    for (const [step, field] of [
      [{ action: 'Build', success: 'Build', failure: 'BuildFailed' }, 'steps[0].success'],
      [{ action: 'Build', success: 'Built', failure: 'Build' }, 'steps[0].failure'],
      [{ action: 'Build', success: 'Built', failure: 'BuildFailed', compensation: 'Build' }, 'steps[0].compensation'],
    ] as const) {
      let error: unknown;
      try {
        defineSaga({ saga: 's', topic: 't.c', steps: [step] });
      } catch (e) {
        error = e;
      }
      expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field, String(error)).toBe(field);
    }
  });

  it('refuses an events_topic pattern that would not hear the step timeouts', () => {
    const steps = [{ action: 'A', success: 'B', failure: 'C' }];
    expect(defineSaga({ saga: 's', topic: 'deploy.commands', events_topic: 'deploy.*', steps }).eventsTopic).toBe('deploy.*');
    expect(defineSaga({ saga: 's', topic: 'deploy.commands', events_topic: 'deploy.events', steps }).eventsTopic).toBe(
      'deploy.events',
    );
    expect(() => defineSaga({ saga: 's', topic: 'deploy.commands', events_topic: 'other.>', steps })).toThrow(
      /^events_topic: a pattern must match the saga's topic deploy.commands$/,
    );
  });

  it('never starts a step after compensation began, and compensates each step once (property)', () => {
    const types = [
      'ArtifactBuilt',
      'TestsPassed',
      'StagingDeployed',
      'E2EPassed',
      'ProductionDeployed',
      'BuildFailed',
      'StagingFailed',
      'E2EFailed',
      'ProductionFailed',
      'TestsFailed',
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...types), { maxLength: 15 }), (sequence) => {
        const { state, published } = run(sequence.map((t, i) => reply(t, {}, `evt-${i}`)));
        const actions = new Set(DEPLOY.steps.map((s) => s.action));
        const firstCompensation = published.findIndex((t) => !actions.has(t));
        if (firstCompensation >= 0) {
          expect(published.slice(firstCompensation).every((t) => !actions.has(t))).toBe(true);
          expect(['compensated']).toContain(state.status);
        }
        const compensations = state.compensated.map((c) => c.step);
        expect(new Set(compensations).size).toBe(compensations.length);
        expect([...compensations].sort((a, b) => b - a)).toEqual(compensations);
      }),
    );
  });
});
