/**
 * Runs a saga orchestrator on the bus: a durable subscription to the steps' success and
 * failure events (and the saga's trigger and timeout events); each instance in the state
 * area, every transition committed with the commands it publishes and its timers in one
 * transaction, so a crash at any point resumes exactly where the committed state says.
 */
import type { Bus, Subscription } from '../bus/bus.js';
import type { Envelope, JsonObject } from '../envelope/envelope.js';
import { invalidField } from '../errors.js';
import { commitDecision, idFor } from './commit.js';
import {
  SAGA_TIMEOUT_EVENT,
  type SagaDefinition,
  type SagaInput,
  type SagaState,
  decideSaga,
  defineSaga,
  sagaEventTypes,
  sagaSource,
  sagaSubscription,
} from './saga.js';
import { InstancePruner } from './retention.js';
import { type CancelSagaOptions, type SagaCancelRequest, cancelSaga } from './saga-cancel.js';
import { SAGAS_NAMESPACE, getSaga, recordSagaRunner } from './saga-instances.js';
import type { SagaConfig } from './schemas.js';

/** A running saga orchestrator. */
export interface RunningSaga {
  readonly definition: SagaDefinition;
  /** The durable subscription's name: `saga:<saga>`. */
  readonly subscription: string;
  /**
   * Starts an instance: publishes the first step's action. Starting a `sagaId` that exists
   * changes nothing and resolves with its state.
   * @throws AgentbusError `OPTIONS_INVALID` for a bad `sagaId` or `input`.
   */
  start(sagaId: string, input?: JsonObject): Promise<SagaState>;
  /** One instance's state. */
  get(sagaId: string): Promise<SagaState | undefined>;
  /**
   * Asks a running instance to stop and compensate: `cancelSaga` for this saga. The
   * request is handled like any event, by whichever process runs this saga.
   * @throws AgentbusError `OPTIONS_INVALID`, `NOT_FOUND`, `CONCURRENCY_CONFLICT` (not running)
   */
  cancel(sagaId: string, options?: CancelSagaOptions): Promise<SagaCancelRequest>;
  /** Resolves when this process holds no deliveries (tests). */
  idle(): Promise<void>;
  /** Deletes the finished instances older than `retention` now; resolves with how many. */
  prune(): Promise<number>;
  /** Stops the subscription; instances and timers stay in the store. */
  close(): Promise<void>;
}

/** Options of {@link startSaga}. */
export interface StartSagaOptions {
  /** Where a new subscription starts. @default "latest" */
  readonly start?: 'earliest' | 'latest';
  /** Handlers running at once (instances are independent). @default 1 */
  readonly concurrency?: number;
  /**
   * How long an instance is kept after it ended (completed, compensated or failed; a
   * duration); older ones are deleted, at most once an hour. @default "7d"
   */
  readonly retention?: string | number;
}

/**
 * Starts a saga orchestrator.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field.
 * @example
 * const deploy = await startSaga(bus, { saga: 'deploy-feature', topic: 'deploy.commands', steps })
 * await deploy.start('deploy-feature-xyz', { feature: 'xyz' })
 */
export async function startSaga(
  bus: Bus,
  config: SagaConfig | SagaDefinition,
  options: StartSagaOptions = {},
): Promise<RunningSaga> {
  const definition = typeof config === 'object' && config !== null && 'eventsTopic' in config ? config : defineSaga(config);
  const name = sagaSubscription(definition.name);
  const pruner = new InstancePruner<SagaState>(
    bus,
    SAGAS_NAMESPACE,
    `${definition.name}/`,
    options.retention,
    // Names may contain '/': the prefix alone could take another saga's instances.
    (state) => state.saga === definition.name && state.status !== 'in_progress',
  );
  const subscription: Subscription = await bus.subscribe({
    name,
    topic: definition.eventsTopic,
    filter: { event: { type: sagaEventTypes(definition) } },
    start: options.start ?? 'latest',
    concurrency: options.concurrency ?? 1,
    source: sagaSource(definition.name),
    handler: async (envelope) => {
      await handleSagaEvent(bus, definition, envelope);
      pruner.maybePrune();
    },
  });
  // After the subscription exists (with cancel requests in its filter): from now on a cancel is heard.
  await recordSagaRunner(bus.store, definition, bus.timers.clock.now());
  return {
    definition,
    subscription: name,
    async start(sagaId, input = {}) {
      if (typeof sagaId !== 'string' || sagaId === '' || sagaId.length > 255) {
        throw invalidField('OPTIONS_INVALID', 'sagaId', 'must be a non-empty string of at most 255 characters');
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw invalidField('OPTIONS_INVALID', 'input', 'must be a JSON object');
      }
      await transition(bus, definition, sagaId, { kind: 'start', sagaId, input, at: bus.timers.clock.now() });
      return (await getSaga(bus.store, definition.name, sagaId)) as SagaState;
    },
    get: (sagaId) => getSaga(bus.store, definition.name, sagaId),
    cancel: (sagaId, cancelOptions) => cancelSaga(bus, definition.name, sagaId, cancelOptions),
    idle: () => subscription.idle(),
    prune: () => pruner.prune(),
    close: async () => {
      await subscription.close();
      await pruner.close();
    },
  };
}

function transition(bus: Bus, definition: SagaDefinition, sagaId: string, input: SagaInput) {
  return commitDecision<SagaState>(bus, SAGAS_NAMESPACE, `${definition.name}/${sagaId}`, (state) =>
    decideSaga(definition, state, input, { idFor }),
  );
}

async function handleSagaEvent(bus: Bus, definition: SagaDefinition, envelope: Envelope): Promise<void> {
  const at = bus.timers.clock.now();
  const { type, correlation_id: sagaId } = envelope.event;
  if (type === SAGA_TIMEOUT_EVENT && (envelope.payload as { saga?: unknown }).saga !== definition.name) return;
  if (definition.trigger === type) {
    const payload = envelope.payload;
    const input = typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? payload : { value: payload };
    await transition(bus, definition, sagaId, { kind: 'start', sagaId, input, cause: envelope, at });
    return;
  }
  await transition(bus, definition, sagaId, { kind: 'event', envelope, at });
}
