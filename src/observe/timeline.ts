/**
 * The correlation timeline (the seed's `| Time | Event | Agent | Correlation ID |`) and the
 * causation tree of one correlation id: its events from history, with the failures of their
 * deliveries (each failed attempt, as the seed's Retry Timeline reads, then the dead letter, or
 * the attempt that was handled at last) and compensations marked.
 */
import type { Envelope } from '../envelope/envelope.js';
import { SYSTEM_EVENTS } from '../envelope/taxonomy.js';
import type { DeadLetter, EventStore, FailedAttempt, RecoveredDelivery } from '../store/event-store.js';
import type { StoreSource } from './status.js';

/**
 * What a timeline entry records: an event (`event`, `compensation`, `error`), or what happened
 * to one subscription's deliveries of it: a failed attempt that was retried (`retry`), the dead
 * letter (`dead_letter`), or the attempt handled after failures (`handled`).
 */
export type TimelineKind = 'event' | 'compensation' | 'error' | 'retry' | 'dead_letter' | 'handled';

/** One row of the timeline. */
export interface TimelineEntry {
  /** RFC 3339: the event's timestamp, or the failure's time. */
  readonly time: string;
  readonly kind: TimelineKind;
  /** The event type (for failures: the type of the event that failed). */
  readonly event: string;
  /** The event's `source`; for failures, the subscription whose handler failed. */
  readonly agent: string;
  readonly correlationId: string;
  /** The event's id (for failures: the id of the event that failed). */
  readonly eventId: string;
  readonly causationId: string | null;
  readonly topic: string;
  /** Position in the log (events only). */
  readonly seq?: number;
  /**
   * Deliveries (retries, dead letters, handled): the subscription; failures: the reason and
   * message; dead letters and handled: the retries made; dead letters: their status.
   */
  readonly subscription?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly retries?: number;
  /**
   * Which delivery attempt failed (1 for the first), or was handled (`handled`). Absent on
   * failures written before attempts were kept, whose one `retry` entry stands for all the
   * failures before the last.
   */
  readonly attempt?: number;
  /** A `retry` entry's delay before the next attempt (ms), as the retry policy chose it. */
  readonly delayMs?: number;
  readonly status?: DeadLetter['status'];
  /** Dead letters replayed with a corrected copy: the copy's id. */
  readonly replayedAs?: string;
}

/** A node of the causation tree: an event, its failures, and the events it caused. */
export interface CausationNode {
  readonly entry: TimelineEntry;
  /** Retries, dead letters and handled-after-failing entries of this event's deliveries, in time order. */
  readonly failures: readonly TimelineEntry[];
  readonly children: readonly CausationNode[];
}

/** Options of {@link timeline}. */
export interface TimelineOptions {
  /**
   * Decides which events are compensations. @default a saga's compensations (payload
   * `compensation: true`), the compensation coordinator's (source `/agentbus/compensations`),
   * types starting with Compensate, Rollback or Undo, and events with an
   * `event.compensation` or `event.compensates` extension
   */
  readonly isCompensation?: (envelope: Envelope) => boolean;
  /** At most this many events are read. @default 10000 */
  readonly limit?: number;
}

const DLQ_PAGE = 500;
const COMPENSATION_TYPE = /^(compensate|rollback|undo)/i;
/** The source of compensations run by the choreographed-compensation coordinator (src/workflows). */
const COMPENSATION_SOURCE = '/agentbus/compensations';

/** Whether `entry` tells of one subscription's deliveries of an event (it hangs on that event), not of an event. */
export function isDeliveryEntry(entry: TimelineEntry): boolean {
  return entry.kind === 'retry' || entry.kind === 'dead_letter' || entry.kind === 'handled';
}

/** The default compensation test (see {@link TimelineOptions.isCompensation}). */
export function isCompensationEvent(envelope: Envelope): boolean {
  const { event, payload } = envelope;
  const marked = typeof payload === 'object' && payload !== null && !Array.isArray(payload) && payload.compensation === true;
  return (
    marked ||
    COMPENSATION_TYPE.test(event.type) ||
    event.source === COMPENSATION_SOURCE ||
    event.compensation !== undefined ||
    event.compensates !== undefined
  );
}

function storeOf(source: StoreSource): EventStore {
  return 'deliveries' in source ? source : source.store;
}

/**
 * All entries of a correlation in time order (events by position where times tie): its
 * events; per subscription whose deliveries of one failed, a `retry` entry for each attempt
 * that failed and was retried (one entry at the first failure for rows older than their
 * attempts), then its dead letter or the `handled` entry of the attempt that succeeded; and
 * compensations marked. An empty array when nothing has that id.
 *
 * @example
 * for (const e of await timeline(store, 'project-xyz-feature-123')) console.log(e.time, e.event, e.agent)
 */
export async function timeline(
  source: StoreSource,
  correlationId: string,
  options: TimelineOptions = {},
): Promise<TimelineEntry[]> {
  const store = storeOf(source);
  const isCompensation = options.isCompensation ?? isCompensationEvent;
  const entries: TimelineEntry[] = [];
  const ids = new Set<string>();
  for await (const { seq, envelope } of store.read({ correlationId, limit: options.limit ?? 10_000 })) {
    const { event, routing } = envelope;
    ids.add(event.id);
    const kind: TimelineKind =
      event.type === SYSTEM_EVENTS.ErrorOccurred ? 'error' : isCompensation(envelope) ? 'compensation' : 'event';
    entries.push({
      time: event.timestamp,
      kind,
      event: event.type,
      agent: event.source,
      correlationId: event.correlation_id,
      eventId: event.id,
      causationId: event.causation_id,
      topic: routing.topic,
      seq,
    });
  }
  if (ids.size > 0) entries.push(...(await failures(store, correlationId)), ...(await recoveries(store, correlationId)));
  return entries
    .map((entry, index) => ({ entry, index, at: Date.parse(entry.time) }))
    .sort((a, b) => a.at - b.at || a.index - b.index)
    .map(({ entry }) => entry);
}

/**
 * Dead letters of the correlation's events, found from those events (an index), never by
 * reading the queue: the cost follows the correlation however many other dead letters wait.
 * Paged, so that a flow with very many dead letters is not read at once.
 */
async function failures(store: EventStore, correlationId: string): Promise<TimelineEntry[]> {
  const out: TimelineEntry[] = [];
  let afterId = 0;
  for (;;) {
    const page = await store.deliveries.listDeadLetters({ correlationId, afterId, limit: DLQ_PAGE });
    for (const d of page) {
      const { event, routing } = d.event.envelope;
      const base = {
        event: event.type,
        agent: d.consumer,
        correlationId,
        eventId: event.id,
        causationId: event.causation_id,
        topic: routing.topic,
        subscription: d.consumer,
        reason: d.reason,
        message: d.error,
        retries: d.retries,
      };
      out.push(...retriesOf(d, d.attempts.slice(0, -1), base));
      const last = d.attempts.at(-1);
      out.push({
        ...base,
        time: new Date(d.lastFailedAt).toISOString(),
        kind: 'dead_letter',
        ...(last ? { attempt: last.attempt } : {}),
        status: d.status,
        ...(d.replayedAs ? { replayedAs: d.replayedAs } : {}),
      });
    }
    if (page.length < DLQ_PAGE) return out;
    afterId = (page.at(-1) as DeadLetter).id;
  }
}

/**
 * Deliveries of the correlation's events that failed and were then handled: each failed
 * attempt as a `retry` entry, then a `handled` entry for the attempt that succeeded.
 */
async function recoveries(store: EventStore, correlationId: string): Promise<TimelineEntry[]> {
  const out: TimelineEntry[] = [];
  for (const r of await store.deliveries.recovered.list({ correlationId })) {
    const { event, routing } = r.event.envelope;
    const base = {
      event: event.type,
      agent: r.consumer,
      correlationId,
      eventId: event.id,
      causationId: event.causation_id,
      topic: routing.topic,
      subscription: r.consumer,
      retries: r.retries,
    };
    out.push(...retriesOf(r, r.attempts, base));
    out.push({ ...base, time: new Date(r.handledAt).toISOString(), kind: 'handled', attempt: r.handledAttempt });
  }
  return out;
}

/**
 * The `retry` entries of a dead letter (every attempt but the last) or a recovered delivery
 * (every attempt): one per failed attempt, with its own reason, message and the delay chosen;
 * before the attempts kept (the last 20, or none in an older row), one entry at the first failure.
 */
function retriesOf(
  d: DeadLetter | RecoveredDelivery,
  retried: readonly FailedAttempt[],
  base: Omit<TimelineEntry, 'time' | 'kind'>,
): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  const earliest = d.attempts[0];
  if (d.retries > 0 && (earliest === undefined || earliest.at > d.firstFailedAt)) {
    out.push({ ...base, time: new Date(d.firstFailedAt).toISOString(), kind: 'retry' });
  }
  for (const a of retried) {
    out.push({
      ...base,
      time: new Date(a.at).toISOString(),
      kind: 'retry',
      reason: a.reason,
      message: a.error,
      attempt: a.attempt,
      ...(a.delayMs !== undefined ? { delayMs: a.delayMs } : {}),
    });
  }
  return out;
}

/**
 * The causation tree of timeline entries: roots are events whose cause is not in the
 * correlation (or none); children in time order; failures hang on the event that failed.
 */
export function causationTree(entries: readonly TimelineEntry[]): CausationNode[] {
  const events = entries.filter((e) => !isDeliveryEntry(e));
  const nodes = new Map<string, { entry: TimelineEntry; failures: TimelineEntry[]; children: CausationNode[] }>();
  for (const entry of events) nodes.set(entry.eventId, { entry, failures: [], children: [] });
  for (const entry of entries) {
    if (isDeliveryEntry(entry)) nodes.get(entry.eventId)?.failures.push(entry);
  }
  const roots: CausationNode[] = [];
  for (const entry of events) {
    const node = nodes.get(entry.eventId) as CausationNode & { children: CausationNode[] };
    const parent = entry.causationId === null ? undefined : nodes.get(entry.causationId);
    if (parent && parent !== node) parent.children.push(node);
    else roots.push(node);
  }
  // Given ids can form a cycle of causes; its events become roots rather than vanish.
  const reached = new Set<CausationNode>();
  const visit = (n: CausationNode) => {
    if (reached.has(n)) return;
    reached.add(n);
    n.children.forEach(visit);
  };
  roots.forEach(visit);
  for (const node of nodes.values()) {
    if (reached.has(node)) continue;
    const { causationId } = node.entry;
    const parent = causationId === null ? undefined : nodes.get(causationId);
    if (parent) parent.children.splice(parent.children.indexOf(node), 1);
    roots.push(node);
    visit(node);
  }
  return roots;
}
