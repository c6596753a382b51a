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

/** What to replay: ids, or every open dead letter (of one subscription). */
export type ReplaySelection = readonly number[] | { readonly all: true; readonly subscription?: string };

/** Options of a replay. */
export interface ReplayOptions {
  /** A corrected payload: publishes a new event (causation: the dead one) for that subscription only. */
  readonly payload?: JsonValue;
  /** Called after each replayed dead letter. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Dead-letter operations. */
export interface DeadLetterAdmin {
  list(filter?: { subscription?: string; status?: DeadLetter['status']; limit?: number }): Promise<DeadLetter[]>;
  /** Open dead letters grouped by error fingerprint, largest group first. */
  groups(filter?: { subscription?: string }): Promise<DeadLetterGroup[]>;
  get(id: number): Promise<DeadLetter | undefined>;
  /** Redelivers to the dead letter's subscription only; returns what was replayed. */
  replay(selection: ReplaySelection, options?: ReplayOptions): Promise<DeadLetter[]>;
  archive(id: number, note: string): Promise<DeadLetter>;
  /** Deletes replayed and archived dead letters (or those of `status`, or `all`). */
  purge(filter?: { subscription?: string; status?: DeadLetter['status'] | 'all' }): Promise<number>;
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
 * The dead-letter admin over `deliveries`. With `redeliver` (a transport that delivers outside
 * the store, such as NATS) a replay redelivers through it first and then only marks the dead
 * letter replayed in the store.
 */
export function createDeadLetterAdmin(
  deliveries: DeliveryState,
  createEnvelope: (input: PublishInput) => EnvelopeWithText,
  redeliver?: (dead: DeadLetter, replacement?: AppendItem) => Promise<void>,
): DeadLetterAdmin {
  const page = async (filter: { subscription?: string; status?: DeadLetter['status'] }): Promise<DeadLetter[]> => {
    const out: DeadLetter[] = [];
    let afterId = 0;
    for (;;) {
      const rows = await deliveries.listDeadLetters({
        ...(filter.subscription ? { consumer: filter.subscription } : {}),
        ...(filter.status ? { status: filter.status } : {}),
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
    async list(filter = {}) {
      return deliveries.listDeadLetters({
        ...(filter.subscription ? { consumer: filter.subscription } : {}),
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.limit ? { limit: filter.limit } : {}),
      });
    },

    async groups(filter = {}) {
      const groups = new Map<string, DeadLetterGroup & { ids: number[] }>();
      for (const dead of await page({ ...filter, status: 'open' })) {
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

    get: (id) => deliveries.getDeadLetter(id),

    async replay(selection, options = {}) {
      const targets = Array.isArray(selection)
        ? await Promise.all(
            (selection as readonly number[]).map(async (id) => {
              if (!Number.isInteger(id) || id < 1) throw invalidField('OPTIONS_INVALID', 'id', `${id} is not a dead-letter id`);
              const dead = await deliveries.getDeadLetter(id);
              if (!dead) throw new AgentbusError('NOT_FOUND', `dead letter ${id} does not exist`, { id });
              return dead;
            }),
          )
        : await page({
            status: 'open',
            ...('subscription' in selection && selection.subscription ? { subscription: selection.subscription } : {}),
          });
      // Validate every corrected copy before writing any.
      const copies = targets.map((dead) => (options.payload === undefined ? undefined : corrected(dead, options.payload)));
      const replayed: DeadLetter[] = [];
      for (const [index, dead] of targets.entries()) {
        if (dead.status !== 'open') continue;
        const copy = copies[index];
        if (redeliver) await redeliver(dead, copy);
        replayed.push(await deliveries.replayDeadLetter(dead.id, copy, redeliver ? { redelivered: true } : undefined));
        options.onProgress?.(replayed.length, targets.length);
      }
      return replayed;
    },

    archive(id, note) {
      if (typeof note !== 'string' || note.trim() === '') {
        return Promise.reject(invalidField('OPTIONS_INVALID', 'note', 'an archived dead letter needs a note saying why'));
      }
      return deliveries.archiveDeadLetter(id, note);
    },

    purge: (filter = {}) =>
      deliveries.purgeDeadLetters({
        ...(filter.subscription ? { consumer: filter.subscription } : {}),
        ...(filter.status ? { status: filter.status } : {}),
      }),
  };
}
