/**
 * What a token may see beyond the log's own reads (ADR 0024): a saga's input, an aggregator's
 * collected events, single events and subscriptions. The rule is the log's own: a token sees
 * such data when it may read the topic it travels on, or when it has the admin scope (which
 * already shows every dead letter and timer, whatever their topic). Everything else about a
 * workflow instance (status, step, counts, times) is shown to every token. An event or a
 * subscription the token may not read is answered as one that does not exist.
 */
import type { Bus } from '../bus/index.js';
import type { JsonValue } from '../envelope/index.js';
import { AgentbusError } from '../errors.js';
import type { EventStore, StoredEvent } from '../store/event-store.js';
import { type SagaState, getSagaRunner, sagaStateJson } from '../workflows/index.js';
import type { Principal } from './auth.js';

type JsonRecord = { readonly [key: string]: JsonValue };

const isRecord = (value: unknown): value is JsonRecord => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Whether `principal` may see the input of the sagas named: admin, or a reader of the topic
 * the saga's commands (which carry its input) go to, as its runner recorded it. A saga whose
 * runner left no record shows its input to admin only. Looked up once per saga name.
 */
export function sagaInputReader(store: EventStore, principal: Principal): (saga: unknown) => Promise<boolean> {
  const seen = new Map<string, Promise<boolean>>();
  return (saga) => {
    if (principal.admin) return Promise.resolve(true);
    if (typeof saga !== 'string') return Promise.resolve(false);
    let answer = seen.get(saga);
    if (answer === undefined) {
      answer = getSagaRunner(store, saga).then((runner) => runner !== undefined && principal.canSubscribe(runner.topic));
      seen.set(saga, answer);
    }
    return answer;
  };
}

/**
 * A stored saga instance as the API shows it (`sagaStateJson`), with its `input` when
 * `mayRead`, else without the cancel reason (`failure.message`) either.
 */
export function sagaInstanceJson(state: SagaState, mayRead: boolean) {
  const json = sagaStateJson(state);
  if (mayRead) return { ...json, input: state.input };
  if (json.failure?.message === undefined) return json;
  const { message: _message, ...failure } = json.failure;
  return { ...json, failure };
}

/**
 * A saga instance as `mayRead` allows: whole, or without `input` and the cancel reason
 * (`failure.message`), which travel in events of the saga's topics.
 */
export function sagaView(instance: JsonRecord, mayRead: boolean): JsonRecord {
  if (mayRead) return instance;
  const { input: _input, ...rest } = instance;
  const failure = rest.failure;
  if (!isRecord(failure) || failure.message === undefined) return rest;
  const { message: _message, ...kept } = failure;
  return { ...rest, failure: kept };
}

/** `{ sagas: [...] }` (a store's or an integration's) with each instance as {@link sagaView} shows it. */
export async function readableSagas(answer: JsonValue, mayRead: (saga: unknown) => Promise<boolean>): Promise<JsonValue> {
  if (!isRecord(answer) || !Array.isArray(answer.sagas)) return answer;
  const sagas = await Promise.all(answer.sagas.map(async (s) => (isRecord(s) ? sagaView(s, await mayRead(s.saga)) : s)));
  return { ...answer, sagas };
}

/**
 * `{ aggregators: [...] }` (a store's or an integration's) without the envelopes of collected
 * events (`received[].envelope`) on topics `principal` may not read, unless it is admin.
 */
export function readableAggregators(answer: JsonValue, principal: Principal): JsonValue {
  if (principal.admin || !isRecord(answer) || !Array.isArray(answer.aggregators)) return answer;
  const aggregators = answer.aggregators.map((instance) => {
    if (!isRecord(instance) || !Array.isArray(instance.received)) return instance;
    const received = instance.received.map((r) => {
      if (!isRecord(r) || r.envelope === undefined) return r;
      const routing = isRecord(r.envelope) ? r.envelope.routing : undefined;
      const topic = isRecord(routing) ? routing.topic : undefined;
      if (typeof topic === 'string' && principal.canSubscribe(topic)) return r;
      const { envelope: _envelope, ...rest } = r;
      return rest;
    });
    return { ...instance, received };
  });
  return { ...answer, aggregators };
}

/**
 * The event `id` when `principal` may read its topic, else undefined, as for an id that does
 * not exist: a token learns nothing of events it may not read, not even that they exist.
 */
export async function readableEvent(bus: Bus, principal: Principal, id: string): Promise<StoredEvent | undefined> {
  const event = await bus.getEvent(id);
  return event && principal.canSubscribe(event.envelope.routing.topic) ? event : undefined;
}

/** The 404 of an event that does not exist or that the token may not read: the same answer. */
export function eventNotFound(id: string): AgentbusError {
  return new AgentbusError('NOT_FOUND', `event ${id} does not exist`, { id });
}

/**
 * Whether `principal` may see a subscription of `pattern` (its topic, filter, position and
 * counts): admin, which manages every subscription, or a token that may read every topic the
 * pattern matches ({@link Principal.canSubscribePattern}). Others are not told it exists.
 */
export function maySeeSubscription(principal: Principal, pattern: string): boolean {
  return principal.admin || principal.canSubscribePattern(pattern);
}

/**
 * `{ agents: [...] }` (the store's or an integration's) with each agent's `subscriptions`
 * (topic, filter) only where `principal` may see them ({@link maySeeSubscription}). The agents
 * themselves, their state and counts stay: they are the system's shape.
 */
export function readableAgents(answer: JsonValue, principal: Principal): JsonValue {
  if (principal.admin || !isRecord(answer) || !Array.isArray(answer.agents)) return answer;
  const agents = answer.agents.map((agent) => {
    if (!isRecord(agent) || !Array.isArray(agent.subscriptions)) return agent;
    const subscriptions = agent.subscriptions.filter((s) => {
      const topic = isRecord(s) ? s.topic : undefined;
      return typeof topic === 'string' && maySeeSubscription(principal, topic);
    });
    return { ...agent, subscriptions };
  });
  return { ...answer, agents };
}
