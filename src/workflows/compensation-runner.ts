/**
 * Choreographed compensation on the bus: `registerCompensation(ctx, action)` inside an
 * agent's handler (committed with the handler's acknowledgement), and a coordinator that
 * keeps the registrations per correlation id in the state area and runs them on failure.
 */
import type { Bus, Subscription } from '../bus/bus.js';
import type { HandlerContext } from '../bus/handler-context.js';
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { invalidField } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import { commitDecision, idFor } from './commit.js';
import {
  COMPENSATIONS_TOPIC,
  COMPENSATION_REGISTERED,
  type CompensationAction,
  type CompensationInput,
  type CompensationState,
  decideCompensation,
  parseRegistration,
} from './compensations.js';
import { eventTypeSchema, parseConfig, topicSchema } from './schemas.js';

/** State-area namespace of the registrations (key: the correlation id). */
export const COMPENSATIONS_NAMESPACE = 'compensations';
const COORDINATOR_SOURCE = '/agentbus/compensations';

function validAction(action: CompensationAction): CompensationAction {
  if (typeof action !== 'object' || action === null)
    throw invalidField('OPTIONS_INVALID', 'action', 'must be { type, topic, payload? }');
  parseConfig(eventTypeSchema, action.type, 'action.type');
  parseConfig(topicSchema, action.topic, 'action.topic');
  return action;
}

/**
 * Registers, from inside a handler, the compensation of the work it just did: if the
 * handler's correlation later fails, `action` is published. The registration commits with
 * the handler's acknowledgement (nothing is registered if the handler fails).
 * @example
 * handler: async (event, ctx) => {
 *   await deployToStaging(event.payload)
 *   await registerCompensation(ctx, { type: 'RemoveFromStaging', topic: 'deploy.commands' })
 * }
 */
export async function registerCompensation(ctx: HandlerContext, action: CompensationAction): Promise<Envelope> {
  const a = validAction(action);
  return ctx.publish(COMPENSATION_REGISTERED, registrationPayload(a), { topic: COMPENSATIONS_TOPIC });
}

/** Registers a compensation for `correlationId` from outside a handler. */
export async function publishCompensation(
  bus: Bus,
  correlationId: string,
  action: CompensationAction,
  options: { source?: string } = {},
): Promise<Envelope> {
  const a = validAction(action);
  return bus.publish({
    topic: COMPENSATIONS_TOPIC,
    type: COMPENSATION_REGISTERED,
    correlationId,
    ...(options.source ? { source: options.source } : {}),
    payload: registrationPayload(a),
  });
}

function registrationPayload(a: CompensationAction): { [key: string]: JsonValue } {
  return { type: a.type, topic: a.topic, ...(a.payload === undefined ? {} : { payload: a.payload }) };
}

/** Options of {@link startCompensationCoordinator}. */
export interface CompensationCoordinatorOptions {
  /** Event types that mean "this correlation failed". @default ["TaskFailedEvent"] */
  readonly failureTypes?: readonly string[];
  /** Topic pattern the failure events arrive on. @default ">" */
  readonly topic?: string;
  /** Durable subscription name. @default "compensations" */
  readonly name?: string;
  /** Where a new subscription starts. @default "latest" */
  readonly start?: 'earliest' | 'latest';
}

/** A running compensation coordinator. */
export interface CompensationCoordinator {
  /** The registrations of one correlation id. */
  get(correlationId: string): Promise<CompensationState | undefined>;
  idle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the coordinator: it records registrations and, on a failure event, publishes the
 * registered compensations of that correlation in reverse order, each once.
 */
export async function startCompensationCoordinator(
  bus: Bus,
  options: CompensationCoordinatorOptions = {},
): Promise<CompensationCoordinator> {
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  const failureTypes = options.failureTypes ?? ['TaskFailedEvent'];
  if (!Array.isArray(failureTypes) || failureTypes.length === 0) {
    throw invalidField('OPTIONS_INVALID', 'failureTypes', 'must list at least one event type');
  }
  for (const [i, t] of failureTypes.entries()) parseConfig(eventTypeSchema, t, `failureTypes[${i}]`);
  const failures = new Set(failureTypes);
  const subscription: Subscription = await bus.subscribe({
    name: options.name ?? 'compensations',
    topic: options.topic ?? '>',
    filter: { event: { type: [COMPENSATION_REGISTERED, ...failures] } },
    start: options.start ?? 'latest',
    source: COORDINATOR_SOURCE,
    handler: async (envelope) => {
      const at = bus.timers.clock.now();
      let input: CompensationInput;
      if (envelope.event.type === COMPENSATION_REGISTERED) {
        const action = parseRegistration(envelope.payload);
        if (!action) return;
        input = { kind: 'registered', envelope, action, at };
      } else if (failures.has(envelope.event.type)) {
        input = { kind: 'failed', envelope, at };
      } else {
        return;
      }
      await commitDecision<CompensationState>(bus, COMPENSATIONS_NAMESPACE, envelope.event.correlation_id, (state) =>
        decideCompensation(state, input, { idFor, source: COORDINATOR_SOURCE }),
      );
    },
  });
  return {
    get: (correlationId) => getCompensations(bus.store, correlationId),
    idle: () => subscription.idle(),
    close: () => subscription.close(),
  };
}

/** The registrations of one correlation id, from the store. */
export async function getCompensations(store: EventStore, correlationId: string): Promise<CompensationState | undefined> {
  return (await store.state.get<CompensationState>(COMPENSATIONS_NAMESPACE, correlationId))?.value;
}
