/**
 * Pending timers as an operator sees them (`agentbus timers`, `/v1/timers`): what each is for
 * (a delayed event, or the timeout of an aggregator, a saga step or an approval), listing,
 * and cancelling several at once. A workflow's timeout is not cancelled without `force`:
 * without it the instance would wait for ever.
 */
import type { Bus } from '../bus/bus.js';
import { type PendingTimer, validateTimerKey } from '../bus/timers.js';
import type { Envelope } from '../envelope/envelope.js';
import { AgentbusError, invalidField } from '../errors.js';
import { AGGREGATOR_TIMEOUT_EVENT, aggregatorSource } from './aggregator.js';
import { APPROVALS_SOURCE, APPROVAL_TIMED_OUT } from './approvals.js';
import { SAGA_TIMEOUT_EVENT, sagaSource } from './saga.js';

/**
 * What a timer is for: `delayed`, an event published with a delay (or set with `putTimer`);
 * otherwise the timeout of an aggregator instance, a saga step or an approval request.
 */
export type TimerKind = 'delayed' | 'aggregator_timeout' | 'saga_timeout' | 'approval_timeout';

/** A pending timer and what it is for. */
export interface TimerInfo extends PendingTimer {
  readonly kind: TimerKind;
}

/** Options of {@link listTimers}. */
export interface ListTimersOptions {
  /** At most this many, earliest due first. @default 100 */
  readonly limit?: number;
}

/** Options of {@link cancelTimers}. */
export interface CancelTimersOptions {
  /** Cancel the timeouts of aggregators, sagas and approvals too. @default false */
  readonly force?: boolean;
  /** How the caller's user says "force", for the refusal's message. @default "force: true" */
  readonly forceHint?: string;
}

/** @default limit of {@link listTimers} */
export const DEFAULT_TIMER_LIMIT = 100;
/** Largest limit of {@link listTimers}. */
export const MAX_TIMER_LIMIT = 10_000;

/** What the timer of `envelope` is for, from the event it appends and who set it. */
export function timerKind(envelope: Envelope): TimerKind {
  const { type, source } = envelope.event;
  // The sources the runners publish their timeouts under: the same type from anyone else is a delayed event.
  if (type === AGGREGATOR_TIMEOUT_EVENT && source.startsWith(aggregatorSource(''))) return 'aggregator_timeout';
  if (type === SAGA_TIMEOUT_EVENT && source.startsWith(sagaSource(''))) return 'saga_timeout';
  if (type === APPROVAL_TIMED_OUT && source === APPROVALS_SOURCE) return 'approval_timeout';
  return 'delayed';
}

function withKind(timer: PendingTimer): TimerInfo {
  return { ...timer, kind: timerKind(timer.envelope) };
}

/**
 * The earliest pending timers (at most `limit`), and whether more are pending.
 * @throws AgentbusError `OPTIONS_INVALID` naming `limit`
 * @example const { timers, more } = await listTimers(bus, { limit: 20 })
 */
export async function listTimers(bus: Bus, options: ListTimersOptions = {}): Promise<{ timers: TimerInfo[]; more: boolean }> {
  const limit = options.limit ?? DEFAULT_TIMER_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_TIMER_LIMIT) {
    throw invalidField('OPTIONS_INVALID', 'limit', `must be a whole number from 1 to ${MAX_TIMER_LIMIT}`);
  }
  const timers: TimerInfo[] = [];
  for await (const timer of bus.timers.list()) {
    if (timers.length === limit) return { timers, more: true };
    timers.push(withKind(timer));
  }
  return { timers, more: false };
}

/** Why cancelling a workflow's timeout leaves it stuck, or undefined for a delayed event. */
function ownerOf(timer: TimerInfo): string | undefined {
  const payload = timer.envelope.payload;
  const field = (name: string): string =>
    typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? String(payload[name] ?? '?') : '?';
  switch (timer.kind) {
    case 'aggregator_timeout':
      return `the timeout of aggregator ${field('aggregator_id')} for ${timer.envelope.event.correlation_id}: without it the instance waits for ever`;
    case 'saga_timeout':
      return `the timeout of step ${field('step')} of saga ${field('saga_id')}: without it the saga waits for ever on that step`;
    case 'approval_timeout':
      return `the timeout of approval ${field('approval_id')}: without it the request never times out and can no longer be approved or rejected`;
    default:
      return undefined;
  }
}

/**
 * Cancels pending timers, all or none: every key is checked first (a timer key, given once,
 * pending), and the timeout of an aggregator, a saga step or an approval is refused unless
 * `force`. Then all are cancelled in one store transaction.
 * @returns the timers cancelled, in the order given.
 * @throws AgentbusError `OPTIONS_INVALID` naming `keys[i]`; `CONCURRENCY_CONFLICT` naming the
 *   key of a workflow's timeout (without `force`); `NOT_FOUND` naming every key that is not
 *   pending. Nothing is cancelled then.
 * @example await cancelTimers(bus, ['001764426600000/evt-1'])
 */
export async function cancelTimers(bus: Bus, keys: readonly string[], options: CancelTimersOptions = {}): Promise<TimerInfo[]> {
  if (!Array.isArray(keys) || keys.length === 0) throw invalidField('OPTIONS_INVALID', 'keys', 'give one or more timer keys');
  for (const [i, key] of keys.entries()) validateTimerKey(key, `keys[${i}]`);
  if (options.force !== true) {
    for (const [i, key] of keys.entries()) {
      const timer = await bus.timers.get(key);
      const info = timer && withKind(timer);
      const owner = info && ownerOf(info);
      if (!info || owner === undefined) continue;
      throw new AgentbusError(
        'CONCURRENCY_CONFLICT',
        `timer ${key} is ${owner}; give ${options.forceHint ?? 'force: true'} to cancel it anyway (nothing was cancelled)`,
        { field: `keys[${i}]`, key, kind: info.kind },
      );
    }
  }
  return (await bus.timers.cancelMany(keys)).map(withKind);
}

/** A pending timer as the CLI and the HTTP API print it: snake_case like the wire. */
export function timerJson(timer: TimerInfo) {
  const { event, routing } = timer.envelope;
  return {
    id: timer.key,
    due_at: new Date(timer.dueAt).toISOString(),
    kind: timer.kind,
    event_id: event.id,
    type: event.type,
    topic: routing.topic,
    correlation_id: event.correlation_id,
    source: event.source,
    envelope: timer.envelope,
  };
}
