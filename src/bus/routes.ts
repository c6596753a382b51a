/**
 * Conditional routing rules: `{ name, topic?, match?, to, select?, type? }` republishes every
 * event matching the topic pattern and the filter to another topic or to one subscription
 * (an agent), keeping the correlation, with causation = the matched event.
 *
 * Each rule is a durable subscription `route:<name>`. The copy is published with
 * `ctx.publish`, so it commits in the same transaction as the acknowledgement: a
 * redelivered source event never publishes twice.
 */
import type { Envelope, JsonObject, JsonValue } from '../envelope/envelope.js';
import { AgentbusError, NonRetryableError, invalidField, refuseUnknownKeys } from '../errors.js';
import { type EventPattern, parseFilter, validateTopic, validateTopicPattern } from '../routing/index.js';
import type { Bus, Subscription } from './bus.js';
import { type StartInput, validateSubscriptionName } from './options.js';
import type { RetryPolicyInput } from './retry-policy.js';

/** The envelope extension counting causation hops from the correlation's root (`0` or absent for a root). */
export const CHAIN_DEPTH_EXTENSION = 'chain_depth';
/** The envelope extension naming the rule that routed an event; a rule never routes its own output. */
export const ROUTED_BY_EXTENSION = 'routed_by';
/** Reason of a dead letter refused by a route's depth limit. */
export const ROUTE_DEPTH_REASON = 'chain_depth_exceeded';

/** How many causation hops an event is from its root: its `chain_depth`, else 0 for a root and 1 otherwise. */
export function chainDepth(envelope: Envelope): number {
  const depth = envelope.event[CHAIN_DEPTH_EXTENSION];
  if (typeof depth === 'number' && Number.isInteger(depth) && depth >= 0) return depth;
  return envelope.event.causation_id === null ? 0 : 1;
}

/** Where a rule sends its copy: a topic, or one subscription (an agent) by name. */
export type RouteTarget = { readonly topic: string } | { readonly agent: string; readonly topic?: string };

/** One routing rule. */
export interface RouteRule {
  /** Names the rule's durable subscription `route:<name>`. */
  name: string;
  /** Topic pattern the rule listens to (NATS wildcards). @default ">" */
  topic?: string;
  /** Compact filter (`type=TaskFailedEvent and severity in (high,critical)`) or an EventBridge pattern. @default every event */
  match?: string | EventPattern;
  /**
   * `{ topic }` republishes on that topic; `{ agent }` addresses the copy to the subscription
   * named after the agent (`routing.deliver_to`), on `topic` or the event's own topic.
   */
  to: RouteTarget;
  /** The copy's payload: a path into the payload (`result.endpoints`), or a function of the event. @default the whole payload */
  select?: string | ((event: Envelope) => JsonValue);
  /** The copy's type. @default the event's type */
  type?: string;
}

/** Options of {@link startRoutes}. */
export interface RouteOptions {
  /** Where new rule subscriptions start. @default "latest" */
  start?: StartInput;
  /** Retry policy of the rule subscriptions. @default the bus's policy */
  retry?: RetryPolicyInput;
  /** Events deeper than this (causation hops) are dead-lettered instead of routed, so rules cannot loop forever. @default 64 */
  maxDepth?: number;
}

/** Running rules. */
export interface Routes {
  /** The durable subscription of each rule, `route:<name>`. */
  readonly subscriptions: readonly string[];
  /** Resolves when no rule holds a delivery. */
  idle(): Promise<void>;
  /** Stops the rules; their durable subscriptions remain. */
  close(): Promise<void>;
}

/** A rule after validation. */
export interface ResolvedRouteRule {
  readonly name: string;
  readonly subscription: string;
  readonly topic: string;
  readonly match: EventPattern | undefined;
  readonly to: RouteTarget;
  readonly select: ((event: Envelope) => JsonValue) | undefined;
  readonly type: string | undefined;
}

const RULE_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
const TYPE = /^[A-Za-z][A-Za-z0-9_.:-]{0,199}$/;

function asOptions<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof AgentbusError && error.code === 'TOPIC_INVALID') {
      throw new AgentbusError('OPTIONS_INVALID', error.message, error.details);
    }
    throw error;
  }
}

function selector(select: unknown, field: string): ((event: Envelope) => JsonValue) | undefined {
  if (select === undefined) return undefined;
  if (typeof select === 'function') return select as (event: Envelope) => JsonValue;
  if (typeof select !== 'string' || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(select)) {
    throw invalidField('OPTIONS_INVALID', field, 'must be a dotted path into the payload (result.endpoints) or a function');
  }
  const path = select.startsWith('payload.') ? select.slice('payload.'.length).split('.') : select.split('.');
  return (event) => {
    let value: JsonValue | undefined = event.payload;
    for (const key of path) {
      value = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject)[key] : undefined;
      if (value === undefined) {
        throw new NonRetryableError(`select: the payload of ${event.event.type} ${event.event.id} has no ${select}`, {
          code: 'invalid_payload',
        });
      }
    }
    return value;
  };
}

const RULE_KEYS: ReadonlySet<string> = new Set(['name', 'topic', 'match', 'to', 'select', 'type']);
const TARGET_KEYS: ReadonlySet<string> = new Set(['topic', 'agent']);

/**
 * Validates routing rules: names unique, topic patterns, filters, targets, `select`.
 * @throws AgentbusError `OPTIONS_INVALID` or `FILTER_SYNTAX` naming the field, e.g. `routes[1].to.topic`.
 */
export function resolveRouteRules(rules: readonly RouteRule[], field = 'routes'): ResolvedRouteRule[] {
  if (!Array.isArray(rules)) throw invalidField('OPTIONS_INVALID', field, 'must be an array of rules');
  const names = new Set<string>();
  return rules.map((rule, index) => {
    const at = `${field}[${index}]`;
    if (typeof rule !== 'object' || rule === null) throw invalidField('OPTIONS_INVALID', at, 'must be an object');
    refuseUnknownKeys(rule, RULE_KEYS, `${at}.`);
    if (typeof rule.name !== 'string' || !RULE_NAME.test(rule.name)) {
      throw invalidField('OPTIONS_INVALID', `${at}.name`, 'must be 1 to 100 letters, digits, _ . -');
    }
    if (names.has(rule.name)) throw invalidField('OPTIONS_INVALID', `${at}.name`, `duplicate rule name ${rule.name}`);
    names.add(rule.name);
    const topic = asOptions(() => validateTopicPattern(rule.topic ?? '>', `${at}.topic`));
    let match: EventPattern | undefined;
    try {
      match = rule.match === undefined || rule.match === '' ? undefined : parseFilter(rule.match);
    } catch (error) {
      if (!(error instanceof AgentbusError)) throw error;
      const inner = typeof error.details.field === 'string' ? `.${error.details.field}` : '';
      throw new AgentbusError(error.code, `${at}.match${inner}: ${error.details.reason ?? error.message}`, {
        ...error.details,
        field: `${at}.match${inner}`,
      });
    }
    const to = target(rule.to, `${at}.to`);
    if (rule.type !== undefined && (typeof rule.type !== 'string' || !TYPE.test(rule.type))) {
      throw invalidField('OPTIONS_INVALID', `${at}.type`, 'must be an event type: a letter, then letters, digits, _ . : -');
    }
    return {
      name: rule.name,
      subscription: `route:${rule.name}`,
      topic,
      match,
      to,
      select: selector(rule.select, `${at}.select`),
      type: rule.type,
    };
  });
}

function target(to: unknown, field: string): RouteTarget {
  if (typeof to !== 'object' || to === null) throw invalidField('OPTIONS_INVALID', field, 'must be { topic } or { agent }');
  refuseUnknownKeys(to, TARGET_KEYS, `${field}.`);
  const t = to as { topic?: unknown; agent?: unknown };
  const topic = t.topic === undefined ? undefined : asOptions(() => validateTopic(t.topic, `${field}.topic`));
  if (t.agent !== undefined) {
    const agent = validateSubscriptionName(t.agent, `${field}.agent`);
    return topic === undefined ? { agent } : { agent, topic };
  }
  if (topic === undefined) throw invalidField('OPTIONS_INVALID', field, 'must be { topic } or { agent }');
  return { topic };
}

/** Republishes `event` per `rule` through `publish` (the handler context's, committed with the ack). */
async function route(
  rule: ResolvedRouteRule,
  event: Envelope,
  publish: (type: string, payload: JsonValue, options: object) => Promise<unknown>,
  maxDepth: number,
): Promise<void> {
  // A rule never routes its own copies (a rule from `project.>` to `project.x` would loop).
  if (event.event[ROUTED_BY_EXTENSION] === rule.name) return;
  const depth = chainDepth(event);
  if (depth >= maxDepth) {
    throw new NonRetryableError(
      `${ROUTE_DEPTH_REASON}: route ${rule.name} refused ${event.event.type} ${event.event.id}: causation depth ${depth} in correlation ${event.event.correlation_id} reaches the limit of ${maxDepth} (maxDepth)`,
      { code: ROUTE_DEPTH_REASON },
    );
  }
  const { routing } = event;
  await publish(rule.type ?? event.event.type, rule.select ? rule.select(event) : event.payload, {
    topic: rule.to.topic ?? routing.topic,
    ...('agent' in rule.to ? { deliverTo: rule.to.agent } : {}),
    source: event.event.source,
    priority: routing.priority,
    ...(routing.partition_key !== undefined ? { partitionKey: routing.partition_key } : {}),
    ...(event.event.expires_at !== undefined ? { expiresAt: event.event.expires_at } : {}),
    extensions: { [CHAIN_DEPTH_EXTENSION]: depth + 1, [ROUTED_BY_EXTENSION]: rule.name },
  });
}

/**
 * Starts routing rules on `bus`: one durable subscription `route:<name>` per rule.
 * @throws AgentbusError `OPTIONS_INVALID` or `FILTER_SYNTAX` naming the field; no rule starts then.
 * @example
 * const routes = await startRoutes(bus, [
 *   { name: 'high-alerts', topic: 'project.alerts', match: 'severity in (high,critical)', to: { agent: '/incident-manager' } },
 *   { name: 'endpoints', topic: 'project.tasks', match: 'type=APIDesignCompleted', to: { topic: 'project.api' }, select: 'result' },
 * ])
 */
export async function startRoutes(bus: Bus, rules: readonly RouteRule[], options: RouteOptions = {}): Promise<Routes> {
  const resolved = resolveRouteRules(rules);
  const maxDepth = options.maxDepth ?? 64;
  if (!Number.isInteger(maxDepth) || maxDepth < 1)
    throw invalidField('OPTIONS_INVALID', 'maxDepth', 'must be a whole number of at least 1');
  const running: Subscription[] = [];
  try {
    for (const rule of resolved) {
      running.push(
        await bus.subscribe({
          name: rule.subscription,
          topic: rule.topic,
          ...(rule.match ? { filter: rule.match } : {}),
          ...(options.start !== undefined ? { start: options.start } : {}),
          ...(options.retry !== undefined ? { retry: options.retry } : {}),
          handler: (event, ctx) => route(rule, event, (type, payload, o) => ctx.publish(type, payload, o), maxDepth),
        }),
      );
    }
  } catch (error) {
    await Promise.all(running.map((s) => s.close()));
    throw error;
  }
  return {
    subscriptions: resolved.map((r) => r.subscription),
    idle: async () => {
      await Promise.all(running.map((s) => s.idle()));
    },
    close: async () => {
      await Promise.all(running.map((s) => s.close()));
    },
  };
}
