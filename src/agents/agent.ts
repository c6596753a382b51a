/**
 * `defineAgent`: an agent is a name plus subscriptions, each with a handler, a runner
 * (webhook, subprocess) or an action (`pause`, `resume`, `forward`). Validated here, once,
 * before anything is written.
 */
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { AgentbusError, invalidField, refuseUnknownKeys } from '../errors.js';
import { type StartInput, resolveSubscribeOptions } from '../bus/options.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicyInput } from '../bus/retry-policy.js';
import { parseFilter, validateTopic, validateTopicPattern } from '../routing/index.js';
import type { EventPattern } from '../routing/index.js';
import type { AgentContext } from './context.js';
import { type GuardOptions, resolveGuardOverrides } from './guards.js';
import { type AgentRunner, type RunnerSpec, isAgentRunner, validateRunnerSpec } from './runners/runner.js';

/**
 * An in-process handler: the bus's handler with the agent's context. Throwing means failure.
 * @typeParam P - What the payload holds: a promise the agent makes, not checked at run time
 *   (see {@link Envelope}). @default JsonValue
 */
export type AgentHandler<P = JsonValue> = (event: Envelope<P>, ctx: AgentContext) => unknown;

/**
 * What a subscription does besides running a handler:
 * - `pause`: the seed's "pause and assess": the agent pauses its other subscriptions (they
 *   keep their position and catch up on `resume`);
 * - `resume`: resumes them;
 * - `forward`: republishes the event to `to` (a topic or an agent), keeping its correlation,
 *   with causation = the event.
 */
export type AgentAction = 'pause' | 'resume' | 'forward';

/** Where `forward` (and routes) send an event: a topic, or an agent (its addressed subscription). */
export type ForwardTarget = { readonly topic: string } | { readonly agent: string; readonly topic?: string };

/** Delivery settings, per subscription or as the agent's defaults; passed to `bus.subscribe`. */
export interface AgentDeliveryOptions {
  /** Handlers running at once in this process. @default 1 */
  concurrency?: number;
  /** Where a new subscription starts. @default "latest" */
  start?: StartInput;
  /** Retry policy, the seed's JSON. @default the bus's policy */
  retry?: RetryPolicyInput;
  /** Handler timeout: the signal aborts, a subprocess is killed, a webhook call is cancelled. @default none (runners apply their own, 60 s) */
  timeout?: string | number;
  /** Lease of a delivery whose holder stopped renewing it. @default "30s" */
  ackWait?: string | number;
  /** FIFO per partition key. @default false */
  ordered?: boolean;
}

/** One row of the seed's subscription table: topic, filter, and what to do. */
export interface AgentSubscriptionInput<P = JsonValue> extends AgentDeliveryOptions {
  /** Names the durable subscription `<agent>:<key>`; give one to keep the position when rows are reordered. */
  key?: string;
  /** Topic pattern (NATS wildcards). */
  topic: string;
  /** Compact filter (`type=APIDesignCompleted`) or an EventBridge pattern. */
  filter?: string | EventPattern;
  /** An in-process handler. Exactly one of handler, runner, action (or the agent's default). */
  handler?: AgentHandler<P>;
  /** A webhook or subprocess runner (or a custom {@link AgentRunner}). */
  runner?: RunnerSpec | AgentRunner;
  action?: AgentAction;
  /** Target of `forward`. */
  to?: ForwardTarget;
}

/**
 * What {@link defineAgent} takes.
 * @typeParam P - What the payloads of its handlers hold (a union when they differ). @default JsonValue
 */
export interface AgentInput<P = JsonValue> extends AgentDeliveryOptions {
  /** The agent's name, the seed's style: `/frontend-specialist`. Also the `source` of what it publishes. */
  name: string;
  description?: string;
  subscriptions: AgentSubscriptionInput<P>[];
  /**
   * Default handler: runs subscriptions without their own, and events addressed to the agent
   * (`deliver_to`, routes and forwards `{ agent }`, handoffs) through its inbox subscription.
   */
  handler?: AgentHandler<P>;
  /** Default runner, like `handler`. */
  runner?: RunnerSpec | AgentRunner;
  /** Chain-reaction guard limits for this agent (over the runtime's). */
  guards?: GuardOptions;
}

/** A validated subscription of an agent. */
export interface AgentSubscription extends Readonly<AgentDeliveryOptions> {
  /** The durable subscription name: `<agent>`, `<agent>:<key>` or `<agent>:<index>`. */
  readonly name: string;
  readonly topic: string;
  readonly filter: EventPattern | undefined;
  /** The filter as given (compact text or pattern), for display. */
  readonly filterText: string | undefined;
  readonly run:
    | { readonly kind: 'handler'; readonly handler: AgentHandler }
    | { readonly kind: 'runner'; readonly runner: RunnerSpec | AgentRunner }
    | { readonly kind: 'action'; readonly action: AgentAction; readonly to?: ForwardTarget };
  /** True for the inbox: events addressed to the agent. */
  readonly inbox: boolean;
}

/** A validated agent, ready for `runtime.start`. */
export interface AgentDefinition {
  readonly name: string;
  readonly description: string | undefined;
  readonly subscriptions: readonly AgentSubscription[];
  readonly guards: GuardOptions;
}

const AGENT_NAME = /^\/[A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*$/;
const KEY = /^[A-Za-z0-9_-]{1,40}$/;
const ACTIONS: readonly AgentAction[] = ['pause', 'resume', 'forward'];
const DELIVERY_KEYS = ['concurrency', 'start', 'retry', 'timeout', 'ackWait', 'ordered'];
const AGENT_KEYS: ReadonlySet<string> = new Set([
  'name',
  'description',
  'subscriptions',
  'handler',
  'runner',
  'guards',
  ...DELIVERY_KEYS,
]);
const SUBSCRIPTION_KEYS: ReadonlySet<string> = new Set([
  'key',
  'topic',
  'filter',
  'handler',
  'runner',
  'action',
  'to',
  ...DELIVERY_KEYS,
]);
const TARGET_KEYS: ReadonlySet<string> = new Set(['topic', 'agent']);

/** The topic of an agent's inbox: `/frontend-specialist` -> `agents.frontend-specialist`. */
export function inboxTopic(agent: string): string {
  return `agents.${agent.slice(1).split('/').join('.')}`;
}

/** Validates an agent name (`/frontend-specialist`). @throws AgentbusError `OPTIONS_INVALID` */
export function validateAgentName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || name.length > 150 || !AGENT_NAME.test(name)) {
    throw invalidField(
      'OPTIONS_INVALID',
      field,
      'must be "/" then letters, digits, _ or - (segments joined by "/"), at most 150 characters, e.g. /frontend-specialist',
    );
  }
  return name;
}

/**
 * Validates an agent: its name, every subscription's topic, filter and handler, runner or
 * action. Nothing runs until `runtime.start(agent)`.
 *
 * @typeParam P - What the payloads of its handlers hold (`defineAgent<TaskCompleted>`; a union
 *   when they differ), so they read them without a cast. A promise the agent makes, not a
 *   validation: filters (`type=APIDesignCompleted`) choose what reaches each handler.
 *   @default JsonValue
 * @throws AgentbusError `OPTIONS_INVALID` or `FILTER_SYNTAX` naming the field.
 * @example
 * const frontend = defineAgent({
 *   name: '/frontend-specialist',
 *   subscriptions: [
 *     { key: 'tasks', topic: 'project.tasks', filter: 'type=APIDesignCompleted',
 *       handler: async (event, ctx) => { await ctx.publish('UIImplementationStarted', {}) } },
 *     { key: 'reviews', topic: 'project.reviews', filter: 'target=frontend',
 *       runner: { type: 'webhook', url: 'http://localhost:8080/review', secret: 's3cret' } },
 *     { key: 'alerts', topic: 'project.alerts', filter: 'severity=high', action: 'pause' },
 *   ],
 * })
 */
export function defineAgent<P = JsonValue>(typed: AgentInput<P>): AgentDefinition {
  // The payload type is the caller's promise: the runtime hands handlers payloads as stored.
  const input = typed as AgentInput;
  if (typeof input !== 'object' || input === null) throw invalidField('OPTIONS_INVALID', 'agent', 'must be an object');
  refuseUnknownKeys(input, AGENT_KEYS, '');
  const name = validateAgentName(input.name);
  if (input.description !== undefined && typeof input.description !== 'string') {
    throw invalidField('OPTIONS_INVALID', 'description', 'must be a string');
  }
  if (!Array.isArray(input.subscriptions)) throw invalidField('OPTIONS_INVALID', 'subscriptions', 'must be an array');
  const fallback = defaultRun(input);
  if (input.subscriptions.length === 0 && !fallback) {
    throw invalidField(
      'OPTIONS_INVALID',
      'subscriptions',
      'an agent needs at least one subscription, or a handler or runner for its inbox',
    );
  }
  const inbox = fallback !== undefined;
  const single = !inbox && input.subscriptions.length === 1;
  const names = new Set<string>();
  const subscriptions: AgentSubscription[] = input.subscriptions.map((s, index) => {
    const sub = subscription(name, s, index, { single, fallback, defaults: input });
    if (names.has(sub.name))
      throw invalidField('OPTIONS_INVALID', `subscriptions[${index}].key`, `duplicate subscription name ${sub.name}`);
    names.add(sub.name);
    return sub;
  });
  if (fallback) {
    checkDelivery(deliveryOptions(input), name, inboxTopic(name), 'agent');
    subscriptions.push({
      ...deliveryOptions(input),
      name,
      topic: inboxTopic(name),
      filter: undefined,
      filterText: undefined,
      run: fallback,
      inbox: true,
    });
  }
  return Object.freeze({
    name,
    description: input.description,
    subscriptions: Object.freeze(subscriptions),
    guards: resolveGuardOverrides(input.guards, 'guards'),
  });
}

function defaultRun(input: AgentInput): AgentSubscription['run'] | undefined {
  if (input.handler !== undefined && input.runner !== undefined) {
    throw invalidField('OPTIONS_INVALID', 'runner', 'give a handler or a runner, not both');
  }
  if (input.handler !== undefined) {
    if (typeof input.handler !== 'function') throw invalidField('OPTIONS_INVALID', 'handler', 'must be a function');
    return { kind: 'handler', handler: input.handler };
  }
  if (input.runner !== undefined) return { kind: 'runner', runner: runnerOf(input.runner, 'runner') };
  return undefined;
}

function runnerOf(runner: RunnerSpec | AgentRunner, field: string): RunnerSpec | AgentRunner {
  return isAgentRunner(runner) ? runner : validateRunnerSpec(runner, field);
}

function subscription(
  agent: string,
  s: AgentSubscriptionInput,
  index: number,
  context: { single: boolean; fallback: AgentSubscription['run'] | undefined; defaults: AgentDeliveryOptions },
): AgentSubscription {
  const at = `subscriptions[${index}]`;
  if (typeof s !== 'object' || s === null) throw invalidField('OPTIONS_INVALID', at, 'must be an object');
  refuseUnknownKeys(s, SUBSCRIPTION_KEYS, `${at}.`);
  if (s.key !== undefined && (typeof s.key !== 'string' || !KEY.test(s.key))) {
    throw invalidField('OPTIONS_INVALID', `${at}.key`, 'must be 1 to 40 letters, digits, _ or -');
  }
  const topic = rethrowAsOptions(() => validateTopicPattern(s.topic, `${at}.topic`));
  const filter =
    s.filter === undefined || s.filter === ''
      ? undefined
      : withField(() => parseFilter(s.filter as string | EventPattern), `${at}.filter`);
  const given = [s.handler !== undefined, s.runner !== undefined, s.action !== undefined].filter(Boolean).length;
  if (given > 1) throw invalidField('OPTIONS_INVALID', at, 'give one of handler, runner or action');
  let run: AgentSubscription['run'];
  if (s.handler !== undefined) {
    if (typeof s.handler !== 'function') throw invalidField('OPTIONS_INVALID', `${at}.handler`, 'must be a function');
    run = { kind: 'handler', handler: s.handler };
  } else if (s.runner !== undefined) {
    run = { kind: 'runner', runner: runnerOf(s.runner, `${at}.runner`) };
  } else if (s.action !== undefined) {
    if (!ACTIONS.includes(s.action)) throw invalidField('OPTIONS_INVALID', `${at}.action`, 'must be pause, resume or forward');
    if (s.action === 'forward') run = { kind: 'action', action: 'forward', to: validateTarget(s.to, `${at}.to`) };
    else run = { kind: 'action', action: s.action };
  } else if (context.fallback) {
    run = context.fallback;
  } else {
    throw invalidField('OPTIONS_INVALID', at, 'needs a handler, a runner or an action (or give the agent a handler or runner)');
  }
  if (s.to !== undefined && s.action !== 'forward') throw invalidField('OPTIONS_INVALID', `${at}.to`, 'only for action forward');
  const name = s.key !== undefined ? `${agent}:${s.key}` : context.single ? agent : `${agent}:${index}`;
  const delivery = { ...deliveryOptions(context.defaults), ...deliveryOptions(s) };
  checkDelivery(delivery, name, topic, at);
  return {
    ...delivery,
    name,
    topic,
    filter,
    filterText: typeof s.filter === 'string' ? s.filter : filter ? JSON.stringify(filter) : undefined,
    run,
    inbox: false,
  };
}

/** Validates a forward or route target: `{ topic }` or `{ agent, topic? }`. */
export function validateTarget(to: unknown, field: string): ForwardTarget {
  if (typeof to !== 'object' || to === null) throw invalidField('OPTIONS_INVALID', field, 'must be { topic } or { agent }');
  refuseUnknownKeys(to, TARGET_KEYS, `${field}.`);
  const t = to as { topic?: unknown; agent?: unknown };
  const topic = t.topic === undefined ? undefined : rethrowAsOptions(() => validateTopic(t.topic, `${field}.topic`));
  if (t.agent !== undefined) {
    const agent = validateAgentName(t.agent, `${field}.agent`);
    return topic === undefined ? { agent } : { agent, topic };
  }
  if (topic === undefined) throw invalidField('OPTIONS_INVALID', field, 'must be { topic } or { agent }');
  return { topic };
}

/** Refuses bad delivery options now, before any subscription of the agent is created. */
function checkDelivery(delivery: AgentDeliveryOptions, name: string, topic: string, at: string): void {
  withField(
    () =>
      resolveSubscribeOptions(
        { ...delivery, name, topic, handler: () => {} },
        { retry: DEFAULT_RETRY_POLICY, source: '/agentbus' },
      ),
    at,
  );
}

function deliveryOptions(o: AgentDeliveryOptions): AgentDeliveryOptions {
  const out: AgentDeliveryOptions = {};
  if (o.concurrency !== undefined) out.concurrency = o.concurrency;
  if (o.start !== undefined) out.start = o.start;
  if (o.retry !== undefined) out.retry = o.retry;
  if (o.timeout !== undefined) out.timeout = o.timeout;
  if (o.ackWait !== undefined) out.ackWait = o.ackWait;
  if (o.ordered !== undefined) out.ordered = o.ordered;
  return out;
}

function rethrowAsOptions<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof AgentbusError && error.code !== 'OPTIONS_INVALID') {
      throw new AgentbusError('OPTIONS_INVALID', error.message, error.details);
    }
    throw error;
  }
}

function withField<T>(fn: () => T, field: string): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof AgentbusError) {
      const inner = error.details.field;
      const path = typeof inner === 'string' && !field.endsWith(inner) ? `${field}.${inner}` : field;
      throw new AgentbusError(error.code, `${path}: ${error.details.reason ?? error.message}`, { ...error.details, field: path });
    }
    throw error;
  }
}
