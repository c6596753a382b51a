/**
 * Where sagas live in the state area: one record per instance (namespace `sagas`, key
 * `<saga>/<saga_id>`), and one per saga definition whose runner has started (namespace
 * `saga-runners`, key `<saga>`), which tells a process without the definition where that
 * saga hears its cancel requests.
 */
import { invalidField } from '../errors.js';
import type { EventStore } from '../store/event-store.js';
import type { SagaDefinition, SagaState, SagaStatus } from './saga.js';
import { sagaControlTopic, sagaSubscription } from './saga.js';

/** State-area namespace of saga instances (key `<saga>/<saga_id>`). */
export const SAGAS_NAMESPACE = 'sagas';

/** State-area namespace of the saga definitions whose runner started (key `<saga>`). */
export const SAGA_RUNNERS_NAMESPACE = 'saga-runners';

/** Every saga status, in the order a saga may reach them. */
export const SAGA_STATUSES: readonly SagaStatus[] = ['in_progress', 'completed', 'compensated', 'failed'];

/**
 * What a saga runner records when it starts: enough for another process (the CLI, the HTTP
 * server) to address the saga without its definition. Written by every `startSaga`; a saga
 * without one has never run on a version of agentbus that hears cancel requests.
 */
export interface SagaRunnerRecord {
  readonly saga: string;
  /** Where its commands go. */
  readonly topic: string;
  /** Where it reads its steps' events (a topic or a pattern). */
  readonly events_topic: string;
  /** Where its timeouts and cancel requests are published (see `sagaControlTopic`). */
  readonly control_topic: string;
  /** Its durable subscription: `saga:<saga>`. */
  readonly subscription: string;
  /** When a runner last started. */
  readonly started_at: string;
}

/** Which saga instances {@link listSagas} returns. Every field narrows the result. */
export interface SagaListFilter {
  /** The definition's name. */
  readonly saga?: string;
  readonly sagaId?: string;
  readonly status?: SagaStatus;
}

/** True when `value` is a saga status. */
export function isSagaStatus(value: unknown): value is SagaStatus {
  return (SAGA_STATUSES as readonly unknown[]).includes(value);
}

/** One saga instance from the store. */
export async function getSaga(store: EventStore, saga: string, sagaId: string): Promise<SagaState | undefined> {
  return (await store.state.get<SagaState>(SAGAS_NAMESPACE, `${saga}/${sagaId}`))?.value;
}

/**
 * Saga instances from the store: all, or those `filter` selects.
 * @throws AgentbusError `OPTIONS_INVALID` naming `status` when it is not a saga status.
 * @example await listSagas(bus.store, { status: 'in_progress' })
 */
export async function listSagas(store: EventStore, filter: SagaListFilter = {}): Promise<SagaState[]> {
  if (filter.status !== undefined && !isSagaStatus(filter.status)) {
    throw invalidField('OPTIONS_INVALID', 'status', `must be one of ${SAGA_STATUSES.join(', ')}`);
  }
  const out: SagaState[] = [];
  const prefix = filter.saga === undefined ? undefined : `${filter.saga}/`;
  for await (const record of store.state.list<SagaState>(SAGAS_NAMESPACE, prefix ? { prefix } : {})) {
    const s = record.value;
    // Names may contain '/': the prefix alone could take another saga's instances.
    if (filter.saga !== undefined && s.saga !== filter.saga) continue;
    if (filter.sagaId !== undefined && s.saga_id !== filter.sagaId) continue;
    if (filter.status !== undefined && s.status !== filter.status) continue;
    out.push(s);
  }
  return out;
}

/** Records that a runner of `definition` started (see {@link SagaRunnerRecord}). */
export async function recordSagaRunner(store: EventStore, definition: SagaDefinition, at: number): Promise<void> {
  const record: SagaRunnerRecord = {
    saga: definition.name,
    topic: definition.topic,
    events_topic: definition.eventsTopic,
    control_topic: sagaControlTopic(definition),
    subscription: sagaSubscription(definition.name),
    started_at: new Date(at).toISOString(),
  };
  await store.state.put(SAGA_RUNNERS_NAMESPACE, definition.name, record, 'any');
}

/** What the last runner of `saga` to start recorded, if one did. */
export async function getSagaRunner(store: EventStore, saga: string): Promise<SagaRunnerRecord | undefined> {
  return (await store.state.get<SagaRunnerRecord>(SAGA_RUNNERS_NAMESPACE, saga))?.value;
}
