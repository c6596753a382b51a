/**
 * The dead-letter queue as users work it: investigate (list, group by error fingerprint,
 * show), fix and replay, archive with a note, purge. A bulk replay is resumable: each dead
 * letter turns `replayed` in the same commit as its redelivery, so a crash in the middle
 * neither loses nor duplicates, and running it again finishes the rest.
 */
import { createHash } from 'node:crypto';
import type { JsonValue, PublishInput } from '../envelope/envelope.js';
import type { EnvelopeWithText } from '../envelope/validate.js';
import { AgentbusError, invalidField } from '../errors.js';
import type { AppendItem, DeadLetter, DeliveryState } from '../store/event-store.js';
import { validateCorrelationId } from '../store/history-query.js';
import { validateSubscriptionName } from './options.js';

/** Dead letters sharing one cause: same subscription, reason, message shape and throw site. */
export interface DeadLetterGroup {
  readonly fingerprint: string;
  readonly subscription: string;
  readonly reason: string;
  /** The first member's error message. */
  readonly message: string;
  readonly count: number;
  readonly ids: number[];
  readonly firstFailedAt: number;
  readonly lastFailedAt: number;
}

/**
 * What to replay: ids (as an array or `{ ids }`), or every open dead letter (of one
 * subscription). Ids are checked all before any is replayed: each exists, is open and is
 * named once.
 */
export type ReplaySelection =
  | readonly number[]
  | { readonly ids: readonly number[] }
  | { readonly all: true; readonly subscription?: string };

/** Options of a replay. */
export interface ReplayOptions {
  /** A corrected payload: publishes a new event (causation: the dead one) for that subscription only. */
  readonly payload?: JsonValue;
  /** Called after each replayed dead letter. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * Ids already replayed are left out instead of refused, so that the same replay run again
   * after a crash finishes the rest. Missing and archived ids are still refused.
   * @default false
   */
  readonly skipReplayed?: boolean;
}

/** Which dead letters {@link DeadLetterAdmin.list} returns, by id. */
export interface DeadLetterListFilter {
  /** Only this subscription's. */
  readonly subscription?: string;
  /** Only those in this status. @default every status */
  readonly status?: DeadLetter['status'];
  /**
   * Only those of events with this correlation id: one flow's dead letters, found from its
   * events through an index, whatever the length of the queue.
   */
  readonly correlationId?: string;
  /** At most this many. @default no limit */
  readonly limit?: number;
}

/**
 * Dead-letter operations. Each refuses bad input with `OPTIONS_INVALID` naming the field
 * (`subscription`, `status`, `correlationId`, `limit`, `ids[1]`, `note`) before touching the store.
 */
export interface DeadLetterAdmin {
  /**
   * Dead letters by id, oldest first.
   * @example await bus.deadLetters.list({ correlationId: 'project-xyz-feature-123', status: 'open' })
   */
  list(filter?: DeadLetterListFilter): Promise<DeadLetter[]>;
  /** Open dead letters grouped by error fingerprint, largest group first. */
  groups(filter?: { subscription?: string }): Promise<DeadLetterGroup[]>;
  get(id: number): Promise<DeadLetter | undefined>;
  /**
   * Redelivers to the dead letter's subscription only; returns what was replayed.
   * @throws AgentbusError `NOT_FOUND` or `CONCURRENCY_CONFLICT` (not open) naming `ids[i]`,
   *   `OPTIONS_INVALID` for a repeated id or a bad selection; nothing is replayed then.
   */
  replay(selection: ReplaySelection, options?: ReplayOptions): Promise<DeadLetter[]>;
  /** @throws AgentbusError `OPTIONS_INVALID` naming `note` when it is blank or holds a NUL. */
  archive(id: number, note: string): Promise<DeadLetter>;
  /** Deletes replayed and archived dead letters (or those of `status`, or `all`). */
  purge(filter?: { subscription?: string; status?: DeadLetter['status'] | 'all' }): Promise<number>;
}

const STATUSES: readonly string[] = ['open', 'replayed', 'archived'];

/**
 * Checks a list, group or purge filter: a subscription name, a status of `statuses`, a limit,
 * and a correlation id where `correlation` says the operation takes one (elsewhere it is
 * refused: dropping it would widen a purge).
 */
function checkFilter(
  filter: unknown,
  statuses: readonly string[],
  correlation = false,
): { subscription?: string; status?: string; correlationId?: string; limit?: number } {
  if (filter === undefined) return {};
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw invalidField('OPTIONS_INVALID', 'filter', 'must be an object');
  }
  const { subscription, status, correlationId, limit } = filter as Record<string, unknown>;
  if (correlationId !== undefined && !correlation) {
    throw invalidField('OPTIONS_INVALID', 'correlationId', 'only a list narrows dead letters by correlation');
  }
  if (status !== undefined && !statuses.includes(status as string)) {
    throw invalidField('OPTIONS_INVALID', 'status', `must be one of ${statuses.join(', ')}`);
  }
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)) {
    throw invalidField('OPTIONS_INVALID', 'limit', 'must be a whole number of at least 1');
  }
  return {
    ...(subscription === undefined ? {} : { subscription: validateSubscriptionName(subscription, 'subscription') }),
    ...(status === undefined ? {} : { status: status as string }),
    ...(correlationId === undefined ? {} : { correlationId: validateCorrelationId(correlationId) }),
    ...(limit === undefined ? {} : { limit: limit as number }),
  };
}

/** A dead-letter id: a positive safe integer. */
function checkId(id: unknown, field: string): number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw invalidField('OPTIONS_INVALID', field, `${String(id)} is not a dead-letter id (1, 2, ...)`);
  }
  return id;
}

/** The ids of an id selection, or the subscription of `{ all: true }`. */
function checkSkipReplayed(value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidField('OPTIONS_INVALID', 'skipReplayed', 'must be true or false');
  return value;
}

function checkSelection(selection: unknown): { ids: number[] } | { all: true; subscription?: string } {
  const ids = Array.isArray(selection)
    ? selection
    : typeof selection === 'object' && selection !== null && 'ids' in selection
      ? (selection as { ids: unknown }).ids
      : undefined;
  if (typeof selection === 'object' && selection !== null && (selection as { all?: unknown }).all === true) {
    if (ids !== undefined) throw invalidField('OPTIONS_INVALID', 'ids', 'give ids or all, not both');
    const { subscription } = selection as { subscription?: unknown };
    return subscription === undefined
      ? { all: true }
      : { all: true, subscription: validateSubscriptionName(subscription, 'subscription') };
  }
  if (!Array.isArray(ids)) {
    throw invalidField(
      'OPTIONS_INVALID',
      ids === undefined ? 'selection' : 'ids',
      'give an array of dead-letter ids, { ids }, or { all: true }',
    );
  }
  const seen = new Set<number>();
  return {
    ids: ids.map((raw: unknown, index) => {
      const id = checkId(raw, `ids[${index}]`);
      if (seen.has(id)) throw invalidField('OPTIONS_INVALID', `ids[${index}]`, `dead letter ${id} is named twice`);
      seen.add(id);
      return id;
    }),
  };
}

const PAGE = 200;

/**
 * A stable fingerprint of a failure: numbers, hex and quoted values in the message are
 * blanked and the first stack frame's location is kept, so "timeout after 5003 ms" and
 * "timeout after 5011 ms" from the same line group together.
 */
export function fingerprint(dead: Pick<DeadLetter, 'consumer' | 'reason' | 'error' | 'stack'>): string {
  const message = dead.error
    .replace(/"[^"]*"|'[^']*'/g, '"…"')
    .replace(/\b(0x)?[0-9a-f]{8,}\b/gi, '#')
    .replace(/\d+/g, '#');
  const frame = dead.stack?.split('\n').find((line) => line.trim().startsWith('at '));
  const site = frame?.replace(/:\d+\)?$/, '').trim() ?? '';
  return createHash('sha1').update(`${dead.consumer}\n${dead.reason}\n${message}\n${site}`).digest('hex').slice(0, 12);
}

/**
 * The seed's DLQ "Action" column: what to do next with a dead letter. As in the seed's
 * table: an invalid payload is fixed and replayed; a temporary failure ("Agent unavailable")
 * or a lapsed lease is retried later; anything else, a handler timeout included (it failed
 * every retry: the handler is slow or stuck), is investigated first.
 */
export function deadLetterAction(dead: Pick<DeadLetter, 'status' | 'reason'>): string {
  if (dead.status === 'replayed') return 'Replayed';
  if (dead.status === 'archived') return 'Archived';
  if (dead.reason === 'invalid_payload') return 'Fix and replay';
  if (dead.reason === 'temporary_failure' || dead.reason === 'lease_expired') return 'Retry later';
  return 'Investigate';
}

/**
 * The dead-letter admin over `deliveries`. With `redeliver` (a transport that delivers outside
 * the store, such as NATS) a replay redelivers through it first and then only marks the dead
 * letter replayed in the store.
 */
export function createDeadLetterAdmin(
  deliveries: DeliveryState,
  createEnvelope: (input: PublishInput) => EnvelopeWithText,
  redeliver?: (dead: DeadLetter, replacement?: AppendItem) => Promise<void>,
): DeadLetterAdmin {
  const page = async (filter: { subscription?: string; status?: string }): Promise<DeadLetter[]> => {
    const out: DeadLetter[] = [];
    let afterId = 0;
    for (;;) {
      const rows = await deliveries.listDeadLetters({
        ...(filter.subscription ? { consumer: filter.subscription } : {}),
        ...(filter.status ? { status: filter.status as DeadLetter['status'] } : {}),
        afterId,
        limit: PAGE,
      });
      out.push(...rows);
      if (rows.length < PAGE) return out;
      afterId = (rows[rows.length - 1] as DeadLetter).id;
    }
  };

  const corrected = (dead: DeadLetter, payload: JsonValue): EnvelopeWithText => {
    const { event, routing } = dead.event.envelope;
    return createEnvelope({
      topic: routing.topic,
      type: event.type,
      payload,
      source: event.source,
      kind: event.kind,
      version: event.version,
      correlationId: event.correlation_id,
      causationId: event.id,
      ...(routing.partition_key !== undefined ? { partitionKey: routing.partition_key } : {}),
      priority: routing.priority,
      deliverTo: dead.consumer,
      ...(event.traceparent ? { traceparent: event.traceparent } : {}),
    });
  };

  return {
    async list(input) {
      const filter = checkFilter(input, STATUSES, true);
      return deliveries.listDeadLetters({
        ...(filter.subscription ? { consumer: filter.subscription } : {}),
        ...(filter.status ? { status: filter.status as DeadLetter['status'] } : {}),
        ...(filter.correlationId ? { correlationId: filter.correlationId } : {}),
        ...(filter.limit ? { limit: filter.limit } : {}),
      });
    },

    async groups(input) {
      const { subscription } = checkFilter(input, []);
      const groups = new Map<string, DeadLetterGroup & { ids: number[] }>();
      for (const dead of await page({ ...(subscription ? { subscription } : {}), status: 'open' })) {
        const key = fingerprint(dead);
        const group = groups.get(key);
        if (group) {
          group.ids.push(dead.id);
          groups.set(key, {
            ...group,
            count: group.count + 1,
            firstFailedAt: Math.min(group.firstFailedAt, dead.firstFailedAt),
            lastFailedAt: Math.max(group.lastFailedAt, dead.lastFailedAt),
          });
        } else {
          groups.set(key, {
            fingerprint: key,
            subscription: dead.consumer,
            reason: dead.reason,
            message: dead.error,
            count: 1,
            ids: [dead.id],
            firstFailedAt: dead.firstFailedAt,
            lastFailedAt: dead.lastFailedAt,
          });
        }
      }
      return [...groups.values()].sort((a, b) => b.count - a.count || a.lastFailedAt - b.lastFailedAt);
    },

    get: async (id) => deliveries.getDeadLetter(checkId(id, 'id')),

    async replay(selection, options = {}) {
      const chosen = checkSelection(selection);
      const skipReplayed = checkSkipReplayed(options.skipReplayed);
      const targets =
        'ids' in chosen
          ? (
              await Promise.all(
                chosen.ids.map(async (id, index) => {
                  const dead = await deliveries.getDeadLetter(id);
                  if (!dead)
                    throw new AgentbusError('NOT_FOUND', `dead letter ${id} does not exist`, { id, field: `ids[${index}]` });
                  if (dead.status === 'replayed' && skipReplayed) return undefined;
                  if (dead.status !== 'open') {
                    throw new AgentbusError('CONCURRENCY_CONFLICT', `dead letter ${id} is ${dead.status}, not open`, {
                      id,
                      field: `ids[${index}]`,
                    });
                  }
                  return dead;
                }),
              )
            ).filter((dead) => dead !== undefined)
          : await page({ status: 'open', ...(chosen.subscription ? { subscription: chosen.subscription } : {}) });
      // Validate every corrected copy before writing any.
      const copies = targets.map((dead) => (options.payload === undefined ? undefined : corrected(dead, options.payload)));
      const replayed: DeadLetter[] = [];
      for (const [index, dead] of targets.entries()) {
        const copy = copies[index];
        if (redeliver) await redeliver(dead, copy);
        replayed.push(await deliveries.replayDeadLetter(dead.id, copy, redeliver ? { redelivered: true } : undefined));
        options.onProgress?.(replayed.length, targets.length);
      }
      return replayed;
    },

    async archive(id, note) {
      checkId(id, 'id');
      if (typeof note !== 'string' || note.trim() === '') {
        throw invalidField('OPTIONS_INVALID', 'note', 'an archived dead letter needs a note saying why');
      }
      // Free text, but PostgreSQL cannot store a NUL, so no backend does.
      if (note.includes('\0')) throw invalidField('OPTIONS_INVALID', 'note', 'must not contain NUL characters');
      return deliveries.archiveDeadLetter(id, note);
    },

    async purge(input) {
      const filter = checkFilter(input, [...STATUSES, 'all']);
      return deliveries.purgeDeadLetters({
        ...(filter.subscription ? { consumer: filter.subscription } : {}),
        ...(filter.status ? { status: filter.status as DeadLetter['status'] | 'all' } : {}),
      });
    },
  };
}
