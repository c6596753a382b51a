/**
 * The saga orchestrator as a pure state machine. State is the seed's saga JSON (`saga_id`,
 * `current_step`, `status`, `completed_steps`, `compensation_stack`) plus a few fields the
 * runner needs; every transition returns the new state and its effects as data.
 *
 * - A step starts by publishing its action (a command event with the saga's correlation);
 *   if it has a compensation, that goes on the compensation stack as the step starts (the
 *   seed: "Step 3: DeployToStaging ... Failure → Compensate: RemoveFromStaging").
 * - Its success event completes it and starts the next step; the last one completes the saga.
 * - Its failure event, or its timeout, ends the steps: the stacked compensations are
 *   published at once, top of the stack first (reverse order of the steps), each once, and
 *   the status becomes `compensated` (or `failed` when there was nothing to undo).
 * - A cancel request (`SagaCancelRequested` naming the saga, in its correlation) ends the
 *   steps the same way, with `failure.reason` `cancelled`. Once a saga has ended, nothing
 *   changes it: a late success, failure, timeout or cancel is ignored.
 *
 * Pure: no I/O, no clock.
 */
import { timerKey } from '../bus/timers.js';
import type { Envelope, JsonObject, JsonValue } from '../envelope/envelope.js';
import type { Decision, Effect, IdFor } from './effects.js';
import { type SagaConfig, parseConfig, sagaConfigSchema } from './schemas.js';

/** The type of the timer event that fails a step that took too long. */
export const SAGA_TIMEOUT_EVENT = 'SagaStepTimedOut';

/**
 * The type of the event that asks a running saga to stop and compensate. Its payload names
 * the saga (`{ saga, saga_id, reason? }`); its correlation id is the saga_id.
 */
export const SAGA_CANCEL_EVENT = 'SagaCancelRequested';

/** `failure.reason` of a saga ended by a cancel request. */
export const SAGA_CANCELLED = 'cancelled';

/** The longest cancel reason kept (`failure.message`); longer ones are cut. */
export const MAX_CANCEL_REASON = 2000;

/** A validated saga step. */
export interface SagaStep {
  readonly name: string;
  readonly action: string;
  readonly success: string;
  readonly failure: string;
  readonly compensation: string | undefined;
  readonly timeoutMs: number | undefined;
}

/** A validated saga definition. */
export interface SagaDefinition {
  readonly name: string;
  readonly topic: string;
  readonly eventsTopic: string;
  readonly trigger: string | undefined;
  readonly steps: readonly SagaStep[];
}

/** The seed's saga status values, plus `failed` (a failure with nothing to compensate). */
export type SagaStatus = 'in_progress' | 'completed' | 'compensated' | 'failed';

/** One saga instance: the seed's JSON and the runner's fields. */
export interface SagaState {
  readonly saga_id: string;
  readonly current_step: number;
  readonly status: SagaStatus;
  readonly completed_steps: ReadonlyArray<{ readonly step: number; readonly event: string }>;
  readonly compensation_stack: ReadonlyArray<{ readonly step: number; readonly compensate: string }>;
  /** The saga definition's name. */
  readonly saga: string;
  /** Compensations published, in the order they were (top of the stack first). */
  readonly compensated: ReadonlyArray<{ readonly step: number; readonly compensate: string }>;
  /** Why the steps ended early. */
  readonly failure?: SagaFailure;
  /** The payload the saga started with; every command carries it. */
  readonly input: JsonObject;
  readonly started_at: string;
  readonly updated_at: string;
  /** Key of the current step's timeout timer. */
  readonly timer?: string;
  /**
   * Tells this run of the saga id from an earlier one (its start time), in the ids of its
   * commands and timeouts: a saga id started again after its finished instance was deleted
   * must not derive the ids of the first run's events, which the log would take as repeats.
   * Absent on instances started before it was kept (their ids stay as they were).
   */
  readonly run?: string;
}

/** Why a saga's steps ended early. */
export interface SagaFailure {
  /** The step that was running. */
  readonly step: number;
  /** The step's failure event type, `timeout`, or `cancelled`. */
  readonly reason: string;
  /** The event that ended it (the failure, the timer's, or the cancel request). */
  readonly event_id?: string;
  /** The reason given with a cancel request, if any. */
  readonly message?: string;
}

/** What a saga reacts to. */
export type SagaInput =
  | {
      readonly kind: 'start';
      readonly sagaId: string;
      readonly input: JsonObject;
      readonly cause?: Envelope;
      readonly at: number;
    }
  | { readonly kind: 'event'; readonly envelope: Envelope; readonly at: number };

/**
 * Validates a saga definition.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field (`steps[2].success`).
 * @example
 * defineSaga({ saga: 'deploy-feature', topic: 'deploy.commands', steps: [
 *   { action: 'BuildArtifact', success: 'ArtifactBuilt', failure: 'BuildFailed' },
 *   { action: 'DeployToStaging', success: 'StagingDeployed', failure: 'StagingFailed',
 *     compensation: 'RemoveFromStaging', timeout: '10m' } ] })
 */
export function defineSaga(config: SagaConfig, field = ''): SagaDefinition {
  const c = parseConfig(sagaConfigSchema, config, field);
  return {
    name: c.saga,
    topic: c.topic,
    eventsTopic: c.events_topic ?? c.topic,
    trigger: c.trigger,
    steps: c.steps.map((s) => ({
      name: s.name ?? s.action,
      action: s.action,
      success: s.success,
      failure: s.failure,
      compensation: s.compensation,
      timeoutMs: s.timeout ?? c.step_timeout,
    })),
  };
}

/** Every event type a saga reacts to. */
export function sagaEventTypes(definition: SagaDefinition): string[] {
  const types = definition.steps.flatMap((s) => [s.success, s.failure]);
  if (definition.trigger) types.push(definition.trigger);
  return [...new Set([...types, SAGA_TIMEOUT_EVENT, SAGA_CANCEL_EVENT])];
}

/**
 * The topic where a saga hears its own timeouts and cancel requests: `events_topic`, or
 * `topic` when `events_topic` is a pattern (the schema checks that it matches `topic`).
 */
export function sagaControlTopic(definition: Pick<SagaDefinition, 'topic' | 'eventsTopic'>): string {
  return /[*>]/.test(definition.eventsTopic) ? definition.topic : definition.eventsTopic;
}

/** Prefix of a saga's durable subscription name: `saga:<saga>`. */
export const SAGA_SUBSCRIPTION_PREFIX = 'saga:';

/** The durable subscription a saga's runners share. */
export function sagaSubscription(name: string): string {
  return `${SAGA_SUBSCRIPTION_PREFIX}${name}`;
}

/** `event.source` of what a saga publishes. */
export function sagaSource(name: string): string {
  return `/agentbus/sagas/${name}`;
}

type Deps = { readonly idFor: IdFor };

/** Decides what an input does to a saga instance. Inputs that do not apply change nothing. */
export function decideSaga(
  definition: SagaDefinition,
  state: SagaState | undefined,
  input: SagaInput,
  deps: Deps,
): Decision<SagaState> {
  const now = new Date(input.at).toISOString();
  if (input.kind === 'start') {
    if (state) return { effects: [] };
    const fresh: SagaState = {
      saga_id: input.sagaId,
      current_step: 0,
      status: 'in_progress',
      completed_steps: [],
      compensation_stack: [],
      saga: definition.name,
      compensated: [],
      input: input.input,
      started_at: now,
      updated_at: now,
      run: now,
    };
    return startStep(definition, fresh, 1, input.cause, input.at, deps);
  }
  if (state?.status !== 'in_progress') return { effects: [] };
  const { envelope } = input;
  const step = definition.steps[state.current_step - 1];
  if (!step) return { effects: [] };
  const type = envelope.event.type;
  if (type === SAGA_CANCEL_EVENT) {
    const payload = envelope.payload as { saga?: unknown; reason?: unknown };
    // Several sagas may share a topic and a correlation id: a request names its saga.
    if (payload?.saga !== definition.name) return { effects: [] };
    const message = typeof payload.reason === 'string' && payload.reason !== '' ? payload.reason : undefined;
    return compensate(
      definition,
      state,
      {
        step: state.current_step,
        reason: SAGA_CANCELLED,
        event_id: envelope.event.id,
        ...(message === undefined ? {} : { message: message.slice(0, MAX_CANCEL_REASON) }),
      },
      envelope,
      now,
      deps,
    );
  }
  if (type === SAGA_TIMEOUT_EVENT) {
    const payload = envelope.payload as { step?: unknown };
    if (payload.step !== state.current_step) return { effects: [] };
    return compensate(
      definition,
      state,
      { step: state.current_step, reason: 'timeout', event_id: envelope.event.id },
      envelope,
      now,
      deps,
    );
  }
  if (type === step.failure) {
    return compensate(
      definition,
      state,
      { step: state.current_step, reason: type, event_id: envelope.event.id },
      envelope,
      now,
      deps,
    );
  }
  if (type !== step.success) return { effects: [] };
  const cancel: Effect[] = state.timer ? [{ kind: 'cancel', key: state.timer }] : [];
  const { timer: _timer, ...rest } = state;
  const done: SagaState = {
    ...rest,
    completed_steps: [...state.completed_steps, { step: state.current_step, event: type }],
    updated_at: now,
  };
  if (state.current_step === definition.steps.length) {
    return { state: { ...done, status: 'completed' }, effects: cancel };
  }
  const next = startStep(definition, done, state.current_step + 1, envelope, input.at, deps);
  return { state: next.state as SagaState, effects: [...cancel, ...next.effects] };
}

/** The key this run's effect ids derive from (see {@link SagaState.run}). */
function runKey(definition: SagaDefinition, state: SagaState): string {
  const key = `saga/${definition.name}/${state.saga_id}`;
  return state.run === undefined ? key : `${key}/${state.run}`;
}

/** Starts step `n` (1-based): stack its compensation, publish its action, set its timeout. */
function startStep(
  definition: SagaDefinition,
  state: SagaState,
  n: number,
  cause: Envelope | undefined,
  at: number,
  deps: Deps,
): Decision<SagaState> {
  const step = definition.steps[n - 1] as SagaStep;
  const base = `${runKey(definition, state)}/step/${n}`;
  const effects: Effect[] = [
    {
      kind: 'publish',
      input: command(definition, state, step.action, { step: n }, cause, deps.idFor(`${base}/action`)),
    },
  ];
  let next: SagaState = {
    ...state,
    current_step: n,
    compensation_stack: step.compensation
      ? [...state.compensation_stack, { step: n, compensate: step.compensation }]
      : state.compensation_stack,
  };
  if (step.timeoutMs !== undefined) {
    const id = deps.idFor(`${base}/timeout`);
    const dueAt = at + step.timeoutMs;
    effects.push({
      kind: 'schedule',
      dueAt,
      input: {
        id,
        topic: sagaControlTopic(definition),
        type: SAGA_TIMEOUT_EVENT,
        source: sagaSource(definition.name),
        correlationId: state.saga_id,
        ...(cause ? { causationId: cause.event.id } : {}),
        partitionKey: state.saga_id,
        payload: { saga: definition.name, saga_id: state.saga_id, step: n },
      },
    });
    next = { ...next, timer: timerKey(dueAt, id) };
  }
  return { state: next, effects };
}

/** Ends the steps: publishes the stacked compensations, top first, each once. */
function compensate(
  definition: SagaDefinition,
  state: SagaState,
  failure: SagaFailure,
  cause: Envelope,
  now: string,
  deps: Deps,
): Decision<SagaState> {
  const effects: Effect[] = state.timer ? [{ kind: 'cancel', key: state.timer }] : [];
  const order = [...state.compensation_stack].reverse();
  for (const entry of order) {
    const id = deps.idFor(`${runKey(definition, state)}/compensate/${entry.step}`);
    effects.push({
      kind: 'publish',
      input: command(definition, state, entry.compensate, { step: entry.step, compensation: true }, cause, id),
    });
  }
  const { timer: _timer, ...rest } = state;
  return {
    state: {
      ...rest,
      status: order.length > 0 ? 'compensated' : 'failed',
      compensation_stack: [],
      compensated: order,
      failure,
      updated_at: now,
    },
    effects,
  };
}

function command(
  definition: SagaDefinition,
  state: SagaState,
  type: string,
  extra: { [key: string]: JsonValue },
  cause: Envelope | undefined,
  id: string,
) {
  return {
    id,
    topic: definition.topic,
    type,
    source: sagaSource(definition.name),
    correlationId: state.saga_id,
    ...(cause ? { causationId: cause.event.id } : {}),
    // One key per saga: an ordered worker sees its commands (and compensations) in order.
    partitionKey: state.saga_id,
    payload: { ...state.input, saga: definition.name, saga_id: state.saga_id, ...extra },
  };
}

/** The seed's saga JSON of an instance: exactly its five fields. */
export function sagaJson(
  state: SagaState,
): Pick<SagaState, 'saga_id' | 'current_step' | 'status' | 'completed_steps' | 'compensation_stack'> {
  return {
    saga_id: state.saga_id,
    current_step: state.current_step,
    status: state.status,
    completed_steps: state.completed_steps,
    compensation_stack: state.compensation_stack,
  };
}

/**
 * An instance as the CLI's `--json` and the HTTP API show it: the seed's five fields first,
 * then `saga`, `compensated`, `failure` (when it ended early), `started_at`, `updated_at`.
 */
export function sagaStateJson(state: SagaState) {
  return {
    ...sagaJson(state),
    saga: state.saga,
    compensated: state.compensated,
    ...(state.failure ? { failure: state.failure } : {}),
    started_at: state.started_at,
    updated_at: state.updated_at,
  };
}
