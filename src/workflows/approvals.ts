/**
 * Human in the loop: an approval request is a record in the state area (namespace
 * `approvals`, keyed by its id) plus a durable timer that publishes `ApprovalTimedOut`.
 * Granting or rejecting it cancels that timer and publishes `ApprovalGranted` /
 * `ApprovalRejected` in one transaction, with compare-and-set on the record: exactly one
 * outcome is ever published, and a late answer is refused with nothing written.
 */
import { randomUUID } from 'node:crypto';
import type { Bus } from '../bus/bus.js';
import { cancelTimer, setTimer } from '../bus/timers.js';
import type { Envelope, JsonObject, JsonValue } from '../envelope/envelope.js';
import { AgentbusError, invalidField } from '../errors.js';
import { isValidTopic } from '../routing/index.js';
import type { AppendItem, EventStore } from '../store/event-store.js';
import { MAX_DURATION_MS, positiveDuration } from '../time.js';
import { idFor } from './commit.js';

/** State-area namespace of approval requests (key: the approval id). */
export const APPROVALS_NAMESPACE = 'approvals';
/** Published when an approval is requested. */
export const APPROVAL_REQUESTED = 'ApprovalRequested';
/** Published when a person grants it (`agentbus approve ID`). */
export const APPROVAL_GRANTED = 'ApprovalGranted';
/** Published when a person rejects it (`agentbus reject ID`). */
export const APPROVAL_REJECTED = 'ApprovalRejected';
/** Published by the durable timer when nobody answered in time. */
export const APPROVAL_TIMED_OUT = 'ApprovalTimedOut';
/** The outcome events, in one list (for filters). */
export const APPROVAL_OUTCOMES = [APPROVAL_GRANTED, APPROVAL_REJECTED, APPROVAL_TIMED_OUT] as const;

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,199}$/;
/** `event.source` of what the approval gate publishes. */
export const APPROVALS_SOURCE = '/approvals';
const SOURCE = APPROVALS_SOURCE;

/** Where an approval stands. `timed_out` is derived from the deadline (the timer publishes the event). */
export type ApprovalStatus = 'pending' | 'granted' | 'rejected' | 'timed_out';

/** An approval request as stored. */
export interface ApprovalRecord {
  readonly approval_id: string;
  readonly title: string;
  readonly status: ApprovalStatus;
  /** Topic of the request and of its outcome event. */
  readonly topic: string;
  readonly correlation_id: string;
  /** Id of the `ApprovalRequested` event: the causation of the outcome. */
  readonly request_event_id: string;
  /** The request's data, shown to the approver. */
  readonly data: JsonValue;
  /** The workflow gate that asked, if any. */
  readonly gate?: string;
  readonly requested_at: string;
  readonly timeout_at: string;
  /** Key of the durable timer that publishes `ApprovalTimedOut`. */
  readonly timer_key: string;
  readonly resolved_at?: string;
  /** What the approver added (`--data`). */
  readonly response?: JsonValue;
  /** Why it was rejected (`--reason`). */
  readonly reason?: string;
}

/** Input of {@link requestApproval}. */
export interface ApprovalRequestInput {
  /** The approval id. @default derived from `cause` (one request per causing event), else random */
  readonly id?: string;
  /** What the person is asked, one line. */
  readonly title: string;
  /** How long to wait: `"1h"`, `"30s"`, or milliseconds. */
  readonly timeout: string | number;
  /** Shown to the approver and carried in the events. @default {} */
  readonly data?: JsonValue;
  /** The event that asks (a handler's envelope): correlation, causation and topic follow it. */
  readonly cause?: Envelope;
  /** @default the cause's topic, else "approvals" */
  readonly topic?: string;
  /** @default the cause's correlation id, else the approval id */
  readonly correlationId?: string;
  /** Name of the workflow gate asking (carried in the payloads). */
  readonly gate?: string;
}

/** How a person answers, for {@link resolveApproval}. */
export interface ApprovalAnswer {
  readonly decision: 'grant' | 'reject';
  /** Data given with a grant. */
  readonly data?: JsonValue;
  /** Reason given with a rejection. */
  readonly reason?: string;
}

/** Refuses an approval id that is not 1-200 characters of `A-Za-z0-9_.:/@-`. */
export function validateApprovalId(id: unknown, field = 'id'): string {
  if (typeof id !== 'string' || !ID.test(id)) {
    throw invalidField(
      'OPTIONS_INVALID',
      field,
      'must be 1-200 characters: a letter or digit, then letters, digits, _ . : / @ -',
    );
  }
  return id;
}

function validateRequest(input: ApprovalRequestInput): { id: string; topic: string; correlationId: string; ms: number } {
  if (typeof input !== 'object' || input === null) throw invalidField('OPTIONS_INVALID', '(root)', 'must be an object');
  if (typeof input.title !== 'string' || input.title.trim() === '' || input.title.length > 500) {
    throw invalidField('OPTIONS_INVALID', 'title', 'must be a non-empty string of at most 500 characters');
  }
  if (input.timeout === undefined) throw invalidField('OPTIONS_INVALID', 'timeout', 'is required: a duration like "1h"');
  const ms = positiveDuration(input.timeout, 'timeout', 0, MAX_DURATION_MS); // a durable timer: up to 100 years
  if (input.cause !== undefined) {
    const cause = input.cause as { event?: { id?: unknown }; routing?: { topic?: unknown } } | null;
    if (typeof cause?.event?.id !== 'string' || typeof cause.routing?.topic !== 'string') {
      throw invalidField('OPTIONS_INVALID', 'cause', 'must be the envelope that asks for the approval');
    }
  }
  const derived = input.cause ? `req-${input.cause.event.id}`.slice(0, 200) : `apr-${randomUUID()}`;
  const id = validateApprovalId(input.id ?? derived);
  const topic = input.topic ?? input.cause?.routing.topic ?? 'approvals';
  if (typeof topic !== 'string' || !isValidTopic(topic)) {
    throw invalidField('OPTIONS_INVALID', 'topic', 'must be a topic: dot-separated tokens of A-Z a-z 0-9 _ -');
  }
  const correlationId = input.correlationId ?? input.cause?.event.correlation_id ?? id;
  if (typeof correlationId !== 'string' || correlationId === '') {
    throw invalidField('OPTIONS_INVALID', 'correlationId', 'must be a non-empty string');
  }
  if (input.gate !== undefined && (typeof input.gate !== 'string' || input.gate === '')) {
    throw invalidField('OPTIONS_INVALID', 'gate', 'must be a non-empty string');
  }
  return { id, topic, correlationId, ms };
}

function basePayload(record: ApprovalRecord): JsonObject {
  return { approval_id: record.approval_id, title: record.title, ...(record.gate ? { gate: record.gate } : {}) };
}

/**
 * Requests an approval: stores the request, publishes `ApprovalRequested` and sets the timer
 * of `ApprovalTimedOut`, in one transaction. Requesting an id that exists changes nothing
 * and resolves with the stored request (a redelivered handler asks once).
 * @throws AgentbusError `OPTIONS_INVALID` naming the field; nothing is written then.
 * @example
 * await requestApproval(bus, { id: 'deploy-xyz', title: 'Deploy xyz to production?', timeout: '1h', cause: envelope })
 */
export async function requestApproval(bus: Bus, input: ApprovalRequestInput): Promise<ApprovalRecord> {
  const { id, topic, correlationId, ms } = validateRequest(input);
  const now = bus.timers.clock.now();
  const dueAt = now + ms;
  const record0 = {
    approval_id: id,
    title: input.title,
    status: 'pending' as const,
    topic,
    correlation_id: correlationId,
    data: input.data ?? {},
    ...(input.gate ? { gate: input.gate } : {}),
    requested_at: new Date(now).toISOString(),
    timeout_at: new Date(dueAt).toISOString(),
  };
  const common = { topic, correlationId, source: SOURCE, partitionKey: correlationId };
  const requested = bus.timers.prepare({
    ...common,
    id: idFor(`approval/${id}/requested`),
    type: APPROVAL_REQUESTED,
    causationId: input.cause?.event.id ?? null,
    payload: { ...basePayload(record0 as ApprovalRecord), data: record0.data, timeout_at: record0.timeout_at },
  });
  const timedOut = bus.timers.prepare({
    ...common,
    id: idFor(`approval/${id}/timed_out`),
    type: APPROVAL_TIMED_OUT,
    causationId: requested.envelope.event.id,
    timestamp: record0.timeout_at,
    payload: { ...basePayload(record0 as ApprovalRecord), timeout_at: record0.timeout_at },
  });
  let appended: AppendItem[] = [];
  const record = await bus.store.transaction(async (tx) => {
    const existing = await tx.state.get<ApprovalRecord>(APPROVALS_NAMESPACE, id);
    if (existing) return existing.value;
    const timer_key = await setTimer(tx.state, { dueAt, item: timedOut });
    const value: ApprovalRecord = { ...record0, request_event_id: requested.envelope.event.id, timer_key };
    await tx.state.put(APPROVALS_NAMESPACE, id, value, 'absent');
    await bus.timers.append(tx, [requested]);
    appended = [requested];
    return value;
  });
  if (appended.length > 0) {
    await bus.timers.relay(appended);
    bus.timers.start();
    bus.timers.wake();
  }
  return record;
}

/** The record with its status as of `now`: a pending request past its deadline is `timed_out`. */
function effective(record: ApprovalRecord, now: number): ApprovalRecord {
  return record.status === 'pending' && Date.parse(record.timeout_at) <= now ? { ...record, status: 'timed_out' } : record;
}

/**
 * Grants or rejects a pending approval: publishes `ApprovalGranted` or `ApprovalRejected`
 * (same topic and correlation, caused by the request) and cancels its timeout, in one
 * transaction with compare-and-set on the record.
 * @throws AgentbusError `NOT_FOUND` for an unknown id; `CONCURRENCY_CONFLICT` when it was
 *   answered already or timed out (nothing is written); `OPTIONS_INVALID` for bad input.
 */
export async function resolveApproval(bus: Bus, id: string, answer: ApprovalAnswer): Promise<ApprovalRecord> {
  validateApprovalId(id);
  if (typeof answer !== 'object' || answer === null)
    throw invalidField('OPTIONS_INVALID', 'answer', 'must be { decision, reason? }');
  if (answer.decision !== 'grant' && answer.decision !== 'reject') {
    throw invalidField('OPTIONS_INVALID', 'decision', 'must be grant or reject');
  }
  if (answer.reason !== undefined && (typeof answer.reason !== 'string' || answer.reason.length > 2000)) {
    throw invalidField('OPTIONS_INVALID', 'reason', 'must be a string of at most 2000 characters');
  }
  let appended: AppendItem[] = [];
  const result = await bus.store.transaction(async (tx) => {
    const stored = await tx.state.get<ApprovalRecord>(APPROVALS_NAMESPACE, id);
    if (!stored) {
      throw new AgentbusError('NOT_FOUND', `no approval request ${id} (see agentbus approvals)`, { field: 'id', id });
    }
    const now = bus.timers.clock.now();
    const current = effective(stored.value, now);
    const refuse = (why: string) =>
      new AgentbusError('CONCURRENCY_CONFLICT', `approval ${id} ${why}; nothing was changed`, {
        field: 'id',
        id,
        status: current.status,
      });
    if (current.status === 'timed_out') throw refuse(`timed out at ${current.timeout_at}: too late to answer`);
    if (current.status !== 'pending') throw refuse(`was ${current.status} already at ${current.resolved_at}`);
    // The timer fired (in another process) just now: the timeout won.
    if (!(await cancelTimer(tx.state, current.timer_key))) throw refuse(`timed out at ${current.timeout_at}: too late to answer`);
    const granted = answer.decision === 'grant';
    const value: ApprovalRecord = {
      ...current,
      status: granted ? 'granted' : 'rejected',
      resolved_at: new Date(now).toISOString(),
      ...(granted ? { response: answer.data ?? {} } : { reason: answer.reason ?? '' }),
    };
    const item = bus.timers.prepare({
      topic: current.topic,
      correlationId: current.correlation_id,
      partitionKey: current.correlation_id,
      causationId: current.request_event_id,
      source: SOURCE,
      id: idFor(`approval/${id}/${value.status}`),
      type: granted ? APPROVAL_GRANTED : APPROVAL_REJECTED,
      payload: {
        ...basePayload(current),
        request_data: current.data,
        ...(granted ? { data: answer.data ?? {} } : { reason: answer.reason ?? '' }),
      },
    });
    await tx.state.put(APPROVALS_NAMESPACE, id, value, stored.version);
    await bus.timers.append(tx, [item]);
    appended = [item];
    return value;
  });
  await bus.timers.relay(appended);
  return result;
}

/** One approval request, with its status as of now (or `now`). */
export async function getApproval(store: EventStore, id: string, now = Date.now()): Promise<ApprovalRecord | undefined> {
  const record = await store.state.get<ApprovalRecord>(APPROVALS_NAMESPACE, id);
  return record ? effective(record.value, now) : undefined;
}

/** Approval requests (optionally of one status), in id order. */
export async function listApprovals(
  store: EventStore,
  filter: { status?: ApprovalStatus; now?: number } = {},
): Promise<ApprovalRecord[]> {
  const out: ApprovalRecord[] = [];
  const now = filter.now ?? Date.now();
  for await (const record of store.state.list<ApprovalRecord>(APPROVALS_NAMESPACE)) {
    const value = effective(record.value, now);
    if (filter.status === undefined || value.status === filter.status) out.push(value);
  }
  return out;
}
