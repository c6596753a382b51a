/**
 * The aggregator as a pure state machine: wait for several events of one correlation, then
 * emit `on_complete` with the collected events, or `on_timeout` naming what is missing.
 *
 * `decideAggregator(definition, state, input, deps)` returns the new state and the effects
 * (publish, schedule, cancel) as data; the runner (`aggregator-runner.ts`) performs them.
 * Pure: no I/O, no clock (the time comes with the input).
 */
import { timerKey } from '../bus/timers.js';
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { aggregatorConfigSchema, parseConfig } from './schemas.js';
import type { AggregatorConfig } from './schemas.js';
import type { Decision, Effect, IdFor } from './effects.js';

/** The type of the timer event that ends an aggregator instance's wait. */
export const AGGREGATOR_TIMEOUT_EVENT = 'AggregatorTimedOut';

/** One expected event: its type, and optionally the agent (`event.source`) it must come from. */
export interface WaitFor {
  readonly type: string;
  readonly from?: string;
}

/** A validated aggregator definition. */
export interface AggregatorDefinition {
  readonly id: string;
  readonly waitFor: readonly WaitFor[];
  /** Events needed to complete: all of `waitFor` unless `count` said fewer (N of M; 1 = any of). */
  readonly count: number;
  readonly timeoutMs: number | undefined;
  readonly onComplete: string;
  readonly onTimeout: string | undefined;
  /** Topic pattern the aggregator listens on. */
  readonly topic: string;
  /** Topic of the events it publishes; undefined: the topic of the event that ended the wait. */
  readonly publishTopic: string | undefined;
}

/** A received event as the instance keeps it. */
export interface ReceivedEvent {
  /** Index into `wait_for`. */
  readonly index: number;
  readonly type: string;
  readonly from: string;
  readonly event_id: string;
  /** RFC 3339 time it was received. */
  readonly received_at: string;
  readonly envelope: Envelope;
}

/** One aggregator instance (one per correlation id), as the state area keeps it. */
export interface AggregatorInstance {
  readonly aggregator_id: string;
  readonly correlation_id: string;
  readonly status: 'waiting' | 'completed' | 'timed_out';
  readonly wait_for: readonly WaitFor[];
  readonly count: number;
  readonly received: readonly ReceivedEvent[];
  readonly started_at: string;
  readonly updated_at: string;
  /** When the wait ends (RFC 3339), if it has a timeout. */
  readonly deadline?: string;
  /** Key of the pending timeout timer. */
  readonly timer?: string;
  /** Topic of the first event, where the timeout is announced. */
  readonly topic: string;
  /**
   * Tells this run of the correlation from an earlier one (the id of its first event), in the
   * ids of what it publishes: a correlation collected again after its finished instance was
   * deleted must not derive the first run's ids, which the log would take as repeats. Absent
   * on instances started before it was kept (their ids stay as they were).
   */
  readonly run?: string;
}

/** What the aggregator reacts to. */
export type AggregatorInput =
  | { readonly kind: 'event'; readonly envelope: Envelope; readonly at: number }
  | { readonly kind: 'timeout'; readonly envelope: Envelope; readonly at: number };

/**
 * Validates the seed's aggregator JSON.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field.
 * @example
 * defineAggregator({ aggregator_id: 'phase1-complete', timeout: '2h',
 *   wait_for: [{ type: 'APIDesignCompleted', from: '/backend-architect' }],
 *   on_complete: 'Phase1CompletedEvent', on_timeout: 'Phase1TimeoutEvent' })
 */
export function defineAggregator(config: AggregatorConfig, field = ''): AggregatorDefinition {
  const c = parseConfig(aggregatorConfigSchema, config, field);
  return {
    id: c.aggregator_id,
    waitFor: c.wait_for.map((w) => (w.from === undefined ? { type: w.type } : { type: w.type, from: w.from })),
    count: c.count ?? c.wait_for.length,
    timeoutMs: c.timeout,
    onComplete: c.on_complete,
    onTimeout: c.on_timeout,
    topic: c.topic,
    publishTopic: c.publish_topic,
  };
}

/** Index of the first not-yet-received `wait_for` entry this event satisfies, or -1. */
function slotFor(waitFor: readonly WaitFor[], received: readonly ReceivedEvent[], envelope: Envelope): number {
  const taken = new Set(received.map((r) => r.index));
  return waitFor.findIndex(
    (w, i) => !taken.has(i) && w.type === envelope.event.type && (w.from === undefined || w.from === envelope.event.source),
  );
}

/** True when `envelope` is one the definition waits for (any entry, received or not). */
export function isAwaited(definition: AggregatorDefinition, envelope: Envelope): boolean {
  return definition.waitFor.some(
    (w) => w.type === envelope.event.type && (w.from === undefined || w.from === envelope.event.source),
  );
}

/** The `wait_for` entries not received yet. */
export function missing(instance: Pick<AggregatorInstance, 'wait_for' | 'received'>): WaitFor[] {
  const taken = new Set(instance.received.map((r) => r.index));
  return instance.wait_for.filter((_, i) => !taken.has(i));
}

/**
 * Decides what an input does to an instance. An event already counted (same id, or a second
 * event for an entry already received) changes nothing, as does anything after the end.
 */
export function decideAggregator(
  definition: AggregatorDefinition,
  state: AggregatorInstance | undefined,
  input: AggregatorInput,
  deps: { idFor: IdFor },
): Decision<AggregatorInstance> {
  const now = new Date(input.at).toISOString();
  if (input.kind === 'timeout') {
    if (state?.status !== 'waiting') return { effects: [] };
    const effects: Effect[] = [];
    if (definition.onTimeout) {
      const payload = {
        aggregator_id: state.aggregator_id,
        correlation_id: state.correlation_id,
        received: state.received.map((r) => r.type),
        missing: missing(state).map((w) => w.type),
        missing_from: missing(state).map((w) => ({ type: w.type, ...(w.from ? { from: w.from } : {}) })),
      };
      effects.push(publishEffect(definition, state, definition.onTimeout, payload, input.envelope, deps, 'timeout'));
    }
    const { timer: _timer, ...rest } = state;
    return { state: { ...rest, status: 'timed_out', updated_at: now }, effects };
  }
  const { envelope } = input;
  if (state && state.status !== 'waiting') return { effects: [] };
  const received = state?.received ?? [];
  if (received.some((r) => r.event_id === envelope.event.id)) return { effects: [] };
  const index = slotFor(definition.waitFor, received, envelope);
  if (index < 0) return { effects: [] };
  const effects: Effect[] = [];
  let base: AggregatorInstance;
  if (state) {
    base = state;
  } else {
    base = {
      aggregator_id: definition.id,
      correlation_id: envelope.event.correlation_id,
      status: 'waiting',
      wait_for: definition.waitFor,
      count: definition.count,
      received: [],
      started_at: now,
      updated_at: now,
      topic: envelope.routing.topic,
      run: envelope.event.id,
    };
    if (definition.timeoutMs !== undefined && definition.count > 1) {
      const dueAt = input.at + definition.timeoutMs;
      const id = deps.idFor(`${runKey(definition, base)}/timer`);
      const schedule: Effect = {
        kind: 'schedule',
        dueAt,
        input: {
          id,
          topic: envelope.routing.topic,
          type: AGGREGATOR_TIMEOUT_EVENT,
          source: aggregatorSource(definition.id),
          correlationId: base.correlation_id,
          causationId: envelope.event.id,
          payload: { aggregator_id: definition.id, correlation_id: base.correlation_id },
        },
      };
      effects.push(schedule);
      base = { ...base, deadline: new Date(dueAt).toISOString(), timer: timerKey(dueAt, id) };
    }
  }
  const entry: ReceivedEvent = {
    index,
    type: envelope.event.type,
    from: envelope.event.source,
    event_id: envelope.event.id,
    received_at: now,
    envelope,
  };
  const next: AggregatorInstance = { ...base, received: [...received, entry], updated_at: now };
  if (next.received.length < definition.count) return { state: next, effects };
  // Complete: announce it with the collected events, and drop the timeout.
  const done: Effect[] = effects.filter((e) => e.kind !== 'schedule');
  if (next.timer) done.push({ kind: 'cancel', key: next.timer });
  const payload = {
    aggregator_id: next.aggregator_id,
    correlation_id: next.correlation_id,
    events: next.received.map((r) => r.envelope) as unknown as JsonValue[],
  };
  done.push(publishEffect(definition, next, definition.onComplete, payload, envelope, deps, 'complete'));
  const { timer: _timer, ...rest } = next;
  return { state: { ...rest, status: 'completed' }, effects: done };
}

/** Prefix of an aggregator's durable subscription name: `aggregator:<aggregator_id>`. */
export const AGGREGATOR_SUBSCRIPTION_PREFIX = 'aggregator:';

/** The durable subscription an aggregator's runners share. */
export function aggregatorSubscription(id: string): string {
  return `${AGGREGATOR_SUBSCRIPTION_PREFIX}${id}`;
}

/** `event.source` of what an aggregator publishes. */
export function aggregatorSource(id: string): string {
  return `/agentbus/aggregators/${id.replace(/[^A-Za-z0-9_.:/-]/g, '-')}`;
}

/** The key this run's effect ids derive from (see {@link AggregatorInstance.run}). */
function runKey(definition: AggregatorDefinition, state: AggregatorInstance): string {
  const key = `aggregator/${definition.id}/${state.correlation_id}`;
  return state.run === undefined ? key : `${key}/${state.run}`;
}

function publishEffect(
  definition: AggregatorDefinition,
  state: AggregatorInstance,
  type: string,
  payload: { [key: string]: JsonValue },
  cause: Envelope,
  deps: { idFor: IdFor },
  what: string,
): Effect {
  return {
    kind: 'publish',
    input: {
      id: deps.idFor(`${runKey(definition, state)}/${what}`),
      topic: definition.publishTopic ?? cause.routing.topic,
      type,
      source: aggregatorSource(definition.id),
      correlationId: state.correlation_id,
      causationId: cause.event.id,
      payload,
    },
  };
}
