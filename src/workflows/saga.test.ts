import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../envelope/envelope.js';
import { isAgentbusError } from '../errors.js';
import type { Effect } from './effects.js';
import {
  SAGA_CANCEL_EVENT,
  SAGA_TIMEOUT_EVENT,
  type SagaState,
  decideSaga,
  defineSaga,
  sagaEventTypes,
  sagaJson,
} from './saga.js';

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
/** Every event type the deployment saga reacts to (the timeout aside). */
const TYPES = [
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
  SAGA_CANCEL_EVENT,
];
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

  it('a saga id started again (its finished instance deleted) derives new ids; an instance kept from before keeps its own', () => {
    const start = (at: number) =>
      decideSaga(DEPLOY, undefined, { kind: 'start', sagaId: 'deploy-feature-xyz', input: {}, at }, deps);
    const ids = (d: ReturnType<typeof start>) => d.effects.flatMap((e) => (e.kind === 'publish' ? [e.input.id] : []));
    const first = start(T0);
    const again = start(T0 + 8 * 86_400_000);
    // The log keeps the first run's events: the same ids would be taken as repeats, and the
    // second run would never send its first command.
    expect(ids(again)).not.toEqual(ids(first));
    expect((again.state as SagaState).run).toBe(new Date(T0 + 8 * 86_400_000).toISOString());
    // An instance started before runs were kept (no `run`) goes on with the ids it had.
    const { run: _run, ...legacy } = first.state as SagaState;
    const next = decideSaga(DEPLOY, legacy as SagaState, { kind: 'event', envelope: reply('ArtifactBuilt'), at: T0 + 1 }, deps);
    expect(ids(next)).toEqual(['id:saga/deploy-feature/deploy-feature-xyz/step/2/action']);
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

  it('compensates the stacked steps, top first, when a cancel is requested during step 4', () => {
    const cancel = reply(SAGA_CANCEL_EVENT, { saga: 'deploy-feature', saga_id: 'deploy-feature-xyz', reason: 'wrong branch' });
    const { state, published, effects } = run(
      ['ArtifactBuilt', 'TestsPassed', 'StagingDeployed'].map((t) => reply(t)).concat(cancel),
    );
    expect(state.status).toBe('compensated');
    expect(published.slice(4)).toEqual(['RemoveStaging', 'RemoveFromStaging']);
    expect(state.compensation_stack).toEqual([]);
    expect(state.compensated).toEqual([
      { step: 4, compensate: 'RemoveStaging' },
      { step: 3, compensate: 'RemoveFromStaging' },
    ]);
    expect(state.failure).toEqual({ step: 4, reason: 'cancelled', event_id: cancel.event.id, message: 'wrong branch' });
    // The running step's timeout is cancelled with it.
    expect(effects.at(-3)?.kind).toBe('cancel');
    const compensation = effects.at(-1) as Extract<Effect, { kind: 'publish' }>;
    expect(compensation.input).toMatchObject({
      topic: 'deploy.commands',
      correlationId: 'deploy-feature-xyz',
      causationId: cancel.event.id,
      payload: { feature: 'xyz', step: 3, compensation: true },
    });
  });

  it('ends as failed, with nothing to roll back, when cancelled before a step with a compensation', () => {
    const { state, published } = run([
      reply('ArtifactBuilt'),
      reply(SAGA_CANCEL_EVENT, { saga: 'deploy-feature', saga_id: 'deploy-feature-xyz' }),
    ]);
    expect(state.status).toBe('failed');
    expect(state.failure).toMatchObject({ step: 2, reason: 'cancelled' });
    expect(state.failure).not.toHaveProperty('message');
    expect(published).toEqual(['BuildArtifact', 'RunTests']);
  });

  it('ignores a cancel that arrives after the saga ended, and a second cancel', () => {
    const cancel = reply(SAGA_CANCEL_EVENT, { saga: 'deploy-feature' }, 'evt-cancel');
    const completed = run(
      ['ArtifactBuilt', 'TestsPassed', 'StagingDeployed', 'E2EPassed', 'ProductionDeployed'].map((t) => reply(t)).concat(cancel),
    );
    expect(completed.state.status).toBe('completed');
    expect(completed.state.failure).toBeUndefined();
    expect(completed.published).toHaveLength(5);
    const failed = run([reply('ArtifactBuilt'), reply('TestsPassed'), reply('StagingFailed'), cancel]);
    expect(failed.state.failure).toMatchObject({ reason: 'StagingFailed' });
    expect(failed.published.filter((t) => t === 'RemoveFromStaging')).toHaveLength(1);
    const twice = run([
      reply('ArtifactBuilt'),
      reply('TestsPassed'),
      cancel,
      { ...cancel, event: { ...cancel.event, id: 'evt-2' } },
    ]);
    expect(twice.state.failure).toMatchObject({ event_id: 'evt-cancel' });
    expect(twice.published.filter((t) => t === 'RemoveFromStaging')).toHaveLength(1);
  });

  it("ignores a cancel addressed to another saga, and one without the saga's name", () => {
    for (const payload of [{ saga: 'other-saga' }, {}, { saga: 7 }]) {
      const { state, published } = run([reply('ArtifactBuilt'), reply(SAGA_CANCEL_EVENT, payload)]);
      expect(state.status).toBe('in_progress');
      expect(published).toEqual(['BuildArtifact', 'RunTests']);
    }
  });

  it('keeps only the text of a cancel reason, at most 2000 characters', () => {
    const long = run([reply(SAGA_CANCEL_EVENT, { saga: 'deploy-feature', reason: 'x'.repeat(5000) })]);
    expect(long.state.failure?.message).toHaveLength(2000);
    const notText = run([reply(SAGA_CANCEL_EVENT, { saga: 'deploy-feature', reason: { why: 1 } })]);
    expect(notText.state.status).toBe('failed');
    expect(notText.state.failure).not.toHaveProperty('message');
  });

  it('listens for cancel requests', () => {
    expect(sagaEventTypes(DEPLOY)).toContain(SAGA_CANCEL_EVENT);
  });

  it('never starts a step after compensation began, and compensates each step once (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TYPES), { maxLength: 15 }), (sequence) => {
        const { state, published } = run(sequence.map((t, i) => reply(t, { saga: 'deploy-feature' }, `evt-${i}`)));
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

  it('an ended saga decides nothing more: no event, cancel or timeout changes it (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TYPES), { maxLength: 15 }), (sequence) => {
        const { state } = run(sequence.map((t, i) => reply(t, { saga: 'deploy-feature' }, `evt-${i}`)));
        if (state.status === 'in_progress') return;
        for (const type of [...TYPES, SAGA_TIMEOUT_EVENT]) {
          const envelope = reply(type, { saga: 'deploy-feature', step: state.current_step }, 'evt-late');
          expect(decideSaga(DEPLOY, state, { kind: 'event', envelope, at: T0 }, deps)).toEqual({ effects: [] });
        }
      }),
    );
  });
});
