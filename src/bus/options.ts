/**
 * Validation of the bus's public options. Every refusal names the field and the reason,
 * before anything is written.
 */
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { parseTimestamp } from '../envelope/timestamp.js';
import { SOURCE_RULE, isEventSource } from '../envelope/validate.js';
import { AgentbusError, invalidField, refuseUnknownKeys } from '../errors.js';
import { type EventPattern, compilePattern, parseFilter, validateTopicPattern } from '../routing/index.js';
import type { StartPosition, StoredEvent } from '../store/event-store.js';
import { positiveDuration } from '../time.js';
import type { Handler } from './dispatcher.js';
import { type RetryPolicy, type RetryPolicyInput, parseRetryPolicy } from './retry-policy.js';

/** Where a new subscription starts: a keyword, a position, a time. */
export type StartInput = 'earliest' | 'latest' | number | Date | { seq: number } | { time: number | Date | string };

/**
 * Options of `bus.subscribe`.
 * @typeParam P - What the handler's payload holds (`bus.subscribe<TaskCompleted>(...)`): a
 *   promise the subscriber makes, not a validation (see {@link Envelope}). @default JsonValue
 */
export interface SubscribeOptions<P = JsonValue> {
  /** Durable name: a restarted subscriber resumes here; members sharing it split the events. */
  name: string;
  /** Topic pattern with NATS wildcards: `project.tasks`, `project.*`, `project.>`. */
  topic: string;
  /** Content filter: compact syntax (`type=APIDesignCompleted and severity in (high,critical)`) or an EventBridge pattern. */
  filter?: string | EventPattern;
  /** Runs once per delivery; returning acknowledges, throwing fails the attempt. */
  handler: Handler<P>;
  /** Handlers running at once in this process. @default 1 */
  concurrency?: number;
  /** Most deliveries held in memory (running plus waiting); bounds memory, and the events one claim may take. @default max(2048, 2 × concurrency) */
  window?: number;
  /** Where a new subscription starts. Ignored when it exists. @default "latest" */
  start?: StartInput;
  /** Retry policy, the seed's JSON. @default the bus's policy */
  retry?: RetryPolicyInput;
  /** Handler timeout (`"30s"` or ms): the handler's signal aborts and the attempt fails as `timeout`. */
  timeout?: string | number;
  /** How long a delivery stays leased to a member that stopped renewing it (crashed, stalled). @default "30s" */
  ackWait?: string | number;
  /** `source` of the events the handler publishes. @default the name when it starts with "/", else the bus's source */
  source?: string;
  /** Most events published for this subscription and not yet handled before publishers feel backpressure. */
  maxLag?: number;
  /** At `maxLag`, publishers wait (`block`, up to the bus's block timeout) or fail at once (`reject`). @default "block" */
  onFull?: 'block' | 'reject';
  /**
   * FIFO per `partition_key`, through retries: a failing event holds back only its own key.
   * One member of the group is active at a time; different keys run in parallel up to
   * `concurrency`. @default false
   */
  ordered?: boolean;
}

/** Subscribe options after validation. */
export interface ResolvedSubscribeOptions {
  readonly name: string;
  readonly topic: string;
  readonly filter: EventPattern | undefined;
  readonly matchEvent: ((event: StoredEvent) => boolean) | undefined;
  readonly handler: Handler;
  readonly concurrency: number;
  readonly window: number;
  readonly start: StartPosition;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number | undefined;
  readonly leaseMs: number;
  readonly source: string;
  readonly maxLag: number | undefined;
  readonly onFull: 'block' | 'reject';
  readonly ordered: boolean;
}

const NAME = /^[A-Za-z0-9_.:/-]{1,200}$/;
/**
 * Default `window`: twice the 1,000-event group commit of a busy publisher, so a consumer in
 * the publisher's process takes a whole commit per claim and still catches up after a
 * hiccup (a claim per flush is its pace), staying on the in-memory tail. See docs/adr/0012.
 */
const DEFAULT_WINDOW = 2048;

/** Validates a subscription (consumer group) name. */
export function validateSubscriptionName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw invalidField('OPTIONS_INVALID', field, 'must be 1 to 200 characters of letters, digits, _ . : / -');
  }
  return name;
}

function positiveInt(value: unknown, field: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw invalidField('OPTIONS_INVALID', field, `must be a whole number from 1 to ${max}`);
  }
  return value;
}

function duration(value: unknown, field: string): number | undefined {
  return value === undefined ? undefined : positiveDuration(value, field, 0);
}

/**
 * Parses a start position: `earliest`, `latest`, a position (number), a Date, an RFC 3339
 * time, `{ seq }` or `{ time }`.
 */
export function parseStart(value: unknown, field = 'start'): StartPosition {
  if (value === undefined || value === 'latest') return 'latest';
  if (value === 'earliest') return 'earliest';
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return { seq: value };
  if (value instanceof Date && !Number.isNaN(value.getTime())) return { time: value.getTime() };
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) return { seq: Math.max(1, Number(value)) };
    const time = parseTimestamp(value);
    if (time !== undefined) return { time };
  }
  if (typeof value === 'object' && value !== null) {
    const v = value as { seq?: unknown; time?: unknown };
    if (typeof v.seq === 'number' && Number.isInteger(v.seq) && v.seq >= 1) return { seq: v.seq };
    if (v.time !== undefined)
      return parseStart(v.time instanceof Date ? v.time : typeof v.time === 'number' ? new Date(v.time) : v.time, field);
  }
  throw invalidField('OPTIONS_INVALID', field, 'must be earliest, latest, a position (1, 2, ...) or an RFC 3339 time');
}

function booleanOption(value: unknown, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidField('OPTIONS_INVALID', field, 'must be true or false');
  return value;
}

const SUBSCRIBE_OPTIONS: ReadonlySet<string> = new Set([
  'name',
  'topic',
  'filter',
  'handler',
  'concurrency',
  'window',
  'start',
  'retry',
  'timeout',
  'ackWait',
  'source',
  'maxLag',
  'onFull',
  'ordered',
]);

/**
 * Validates `bus.subscribe` options. The handler's payload type is the subscriber's promise
 * and is not checked: the dispatcher hands it every payload as it was stored.
 * @throws AgentbusError naming the field.
 */
export function resolveSubscribeOptions<P>(
  options: SubscribeOptions<P>,
  defaults: { retry: RetryPolicy; source: string },
): ResolvedSubscribeOptions {
  if (typeof options === 'object' && options !== null) refuseUnknownKeys(options, SUBSCRIBE_OPTIONS, '');
  if (typeof options !== 'object' || options === null) {
    throw invalidField('OPTIONS_INVALID', 'options', 'subscribe takes an options object');
  }
  const name = validateSubscriptionName(options.name);
  let topic: string;
  try {
    topic = validateTopicPattern(options.topic, 'topic');
  } catch (error) {
    if (error instanceof AgentbusError) throw new AgentbusError('OPTIONS_INVALID', error.message, error.details);
    throw error;
  }
  if (typeof options.handler !== 'function') throw invalidField('OPTIONS_INVALID', 'handler', 'must be a function');
  const filter = options.filter === undefined || options.filter === '' ? undefined : parseFilter(options.filter);
  const matcher = filter ? compilePattern(filter) : undefined;
  const concurrency = positiveInt(options.concurrency, 'concurrency', 1, 10_000);
  const window = positiveInt(options.window, 'window', Math.max(DEFAULT_WINDOW, 2 * concurrency), 100_000);
  if (window < concurrency) throw invalidField('OPTIONS_INVALID', 'window', `must be at least concurrency (${concurrency})`);
  const source = options.source ?? (name.startsWith('/') ? name : defaults.source);
  const maxLag = options.maxLag === undefined ? undefined : positiveInt(options.maxLag, 'maxLag', 1, Number.MAX_SAFE_INTEGER);
  if (options.onFull !== undefined && options.onFull !== 'block' && options.onFull !== 'reject') {
    throw invalidField('OPTIONS_INVALID', 'onFull', 'must be block or reject');
  }
  if (!isEventSource(source)) throw invalidField('OPTIONS_INVALID', 'source', `must be ${SOURCE_RULE}`);
  return {
    name,
    topic,
    filter,
    matchEvent: matcher ? (event) => matcher(event.envelope) : undefined,
    handler: options.handler as Handler,
    concurrency,
    window,
    start: parseStart(options.start),
    retry: parseRetryPolicy(options.retry, defaults.retry, 'retry'),
    timeoutMs: duration(options.timeout, 'timeout'),
    leaseMs: duration(options.ackWait, 'ackWait') ?? 30_000,
    source,
    maxLag,
    onFull: options.onFull ?? 'block',
    ordered: booleanOption(options.ordered, 'ordered'),
  };
}
