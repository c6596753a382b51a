/**
 * Runs an aggregator on the bus: a durable subscription to the awaited event types (and the
 * aggregator's own timeout events), one instance per correlation id in the state area, each
 * change committed with its events and timers in one transaction.
 */
import type { Bus, Subscription } from '../bus/bus.js';
import type { Envelope } from '../envelope/envelope.js';
import type { EventStore } from '../store/event-store.js';
import {
  AGGREGATOR_TIMEOUT_EVENT,
  type AggregatorDefinition,
  type AggregatorInput,
  type AggregatorInstance,
  aggregatorSource,
  aggregatorSubscription,
  decideAggregator,
  defineAggregator,
  isAwaited,
} from './aggregator.js';
import { commitDecision, idFor } from './commit.js';
import { InstancePruner } from './retention.js';
import type { AggregatorConfig } from './schemas.js';

/** State-area namespace of aggregator instances (key `<aggregator_id>/<correlation_id>`). */
export const AGGREGATORS_NAMESPACE = 'aggregators';

/** A running aggregator. */
export interface RunningAggregator {
  readonly definition: AggregatorDefinition;
  /** The durable subscription's name: `aggregator:<aggregator_id>`. */
  readonly subscription: string;
  /** The instance of one correlation id. */
  instance(correlationId: string): Promise<AggregatorInstance | undefined>;
  /** Resolves when this process holds no deliveries (tests). */
  idle(): Promise<void>;
  /** Deletes the finished instances older than `retention` now; resolves with how many. */
  prune(): Promise<number>;
  /** Stops the subscription; instances and timers stay in the store. */
  close(): Promise<void>;
}

/** Options of {@link startAggregator}. */
export interface StartAggregatorOptions {
  /** Where a new subscription starts. @default "latest" */
  readonly start?: 'earliest' | 'latest';
  /**
   * How long an instance is kept after it completed or timed out (a duration); older ones
   * are deleted, at most once an hour. An event of a deleted instance's correlation starts
   * a new one. @default "7d"
   */
  readonly retention?: string | number;
}

/**
 * Starts an aggregator from the seed's JSON.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field.
 * @example
 * const agg = await startAggregator(bus, { aggregator_id: 'phase1-complete', timeout: '2h',
 *   wait_for: [{ type: 'APIDesignCompleted', from: '/backend-architect' }, { type: 'WireframeCompleted' }],
 *   on_complete: 'Phase1CompletedEvent', on_timeout: 'Phase1TimeoutEvent' })
 */
export async function startAggregator(
  bus: Bus,
  config: AggregatorConfig | AggregatorDefinition,
  options: StartAggregatorOptions = {},
): Promise<RunningAggregator> {
  const definition = typeof config === 'object' && config !== null && 'waitFor' in config ? config : defineAggregator(config);
  const types = [...new Set([...definition.waitFor.map((w) => w.type), AGGREGATOR_TIMEOUT_EVENT])];
  const name = aggregatorSubscription(definition.id);
  const pruner = new InstancePruner<AggregatorInstance>(
    bus,
    AGGREGATORS_NAMESPACE,
    `${definition.id}/`,
    options.retention,
    // Names may contain '/': the prefix alone could take another aggregator's instances.
    (instance) => instance.aggregator_id === definition.id && instance.status !== 'waiting',
  );
  const subscription: Subscription = await bus.subscribe({
    name,
    topic: definition.topic,
    filter: { event: { type: types } },
    start: options.start ?? 'latest',
    source: aggregatorSource(definition.id),
    handler: async (envelope) => {
      await handleAggregatorEvent(bus, definition, envelope);
      pruner.maybePrune();
    },
  });
  return {
    definition,
    subscription: name,
    instance: (correlationId) => getAggregatorInstance(bus.store, definition.id, correlationId),
    idle: () => subscription.idle(),
    prune: () => pruner.prune(),
    close: async () => {
      await subscription.close();
      await pruner.close();
    },
  };
}

/** Applies one delivered event to its instance. */
async function handleAggregatorEvent(bus: Bus, definition: AggregatorDefinition, envelope: Envelope): Promise<void> {
  const at = bus.timers.clock.now();
  let input: AggregatorInput;
  let correlationId: string;
  if (envelope.event.type === AGGREGATOR_TIMEOUT_EVENT) {
    const payload = envelope.payload as { aggregator_id?: unknown; correlation_id?: unknown };
    if (payload.aggregator_id !== definition.id || typeof payload.correlation_id !== 'string') return;
    correlationId = payload.correlation_id;
    input = { kind: 'timeout', envelope, at };
  } else {
    if (!isAwaited(definition, envelope)) return;
    correlationId = envelope.event.correlation_id;
    input = { kind: 'event', envelope, at };
  }
  await commitDecision<AggregatorInstance>(bus, AGGREGATORS_NAMESPACE, `${definition.id}/${correlationId}`, (state) =>
    decideAggregator(definition, state, input, { idFor }),
  );
}

/** One aggregator instance from the store. */
export async function getAggregatorInstance(
  store: EventStore,
  aggregatorId: string,
  correlationId: string,
): Promise<AggregatorInstance | undefined> {
  return (await store.state.get<AggregatorInstance>(AGGREGATORS_NAMESPACE, `${aggregatorId}/${correlationId}`))?.value;
}

/** Aggregator instances from the store, optionally of one aggregator and/or one correlation id. */
export async function listAggregatorInstances(
  store: EventStore,
  filter: { aggregatorId?: string; correlationId?: string } = {},
): Promise<AggregatorInstance[]> {
  if (filter.aggregatorId !== undefined && filter.correlationId !== undefined) {
    const one = await getAggregatorInstance(store, filter.aggregatorId, filter.correlationId);
    return one ? [one] : [];
  }
  const out: AggregatorInstance[] = [];
  const prefix = filter.aggregatorId === undefined ? undefined : `${filter.aggregatorId}/`;
  for await (const record of store.state.list<AggregatorInstance>(AGGREGATORS_NAMESPACE, prefix ? { prefix } : {})) {
    if (filter.correlationId !== undefined && record.value.correlation_id !== filter.correlationId) continue;
    out.push(record.value);
  }
  return out;
}
