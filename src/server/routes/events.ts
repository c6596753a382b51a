/**
 * `/v1/events`: publish (seed envelopes, CloudEvents structured, batch and binary), history
 * queries, and one event by id. Reads return only events of topics the token may subscribe to;
 * one event of another topic is 404, as one that does not exist.
 */
import type { Hono } from 'hono';
import { isDeepStrictEqual } from 'node:util';
import type { Envelope } from '../../envelope/index.js';
import { AgentbusError } from '../../errors.js';
import type { HistoryQuery, StoredEvent } from '../../store/event-store.js';
import { validateHistoryQuery } from '../../store/history-query.js';
import { ANONYMOUS, type Principal, forbidden } from '../auth.js';
import { eventNotFound, readableEvent } from '../read-rules.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import { enumParam, intParam, knownParams, stringParam, timeParam } from '../query.js';
import { storedEventJson } from '../../bus/wire.js';
import { readPublishRequest } from './publish.js';
import { bodyText } from '../body.js';

/**
 * Default and largest `limit` of a history query, and the most events one query reads: a
 * token allowed few of the topics asked for would otherwise have the store read the whole
 * log to fill a page. A page cut short by `scan` carries the position to go on from.
 */
export const HISTORY_LIMIT = { default: 100, max: 1000, scan: 10_000 } as const;

/** Adds the event routes. */
export function registerEventRoutes(app: Hono<ServerEnv>, deps: ServerDeps): void {
  const { bus } = deps;

  app.post('/v1/events', async (c) => {
    const principal = c.get('principal');
    const request = readPublishRequest(Object.fromEntries(c.req.raw.headers), await bodyText(c));
    for (const envelope of request.envelopes) {
      if (!principal.canPublish(envelope.routing.topic)) throw forbidden(principal, `publish to ${envelope.routing.topic}`);
    }
    // An id already taken answers with the first copy: never one the token may not read.
    const fieldOf = (index: number) => (request.single ? 'event.id' : `[${index}].event.id`);
    // Without tokens every topic is readable: nothing to look up.
    const firstCopies = principal === ANONYMOUS ? [] : await Promise.all(request.envelopes.map((e) => bus.getEvent(e.event.id)));
    firstCopies.forEach((first, index) => {
      const sent = request.envelopes[index];
      if (first && sent && !mayAnswerWith(principal, first.envelope, sent)) {
        throw idTaken(sent, fieldOf(index), 'nothing was published');
      }
    });
    // All or nothing: one append of every envelope.
    const stored = await bus.publishEnvelopes(request.envelopes);
    // The same check on what came back, for an id taken between the look-up and the append.
    stored.forEach((first, index) => {
      const sent = request.envelopes[index];
      if (sent && !mayAnswerWith(principal, first, sent)) {
        throw idTaken(sent, fieldOf(index), "the request's other events were stored");
      }
    });
    if (request.single) {
      const [first] = stored;
      c.header('location', `/v1/events/${encodeURIComponent(first?.event.id ?? '')}`);
      return c.json(first, 201);
    }
    return c.json(stored, 201);
  });

  app.get('/v1/events', async (c) => {
    const principal = c.get('principal');
    const q = c.req.query();
    knownParams(q, HISTORY_PARAMS);
    const limit = intParam(q, 'limit', 1, HISTORY_LIMIT.max, HISTORY_LIMIT.default) as number;
    const query = validateHistoryQuery(
      {
        topic: stringParam(q, 'topic'),
        type: stringParam(q, 'type'),
        correlationId: stringParam(q, 'correlation_id'),
        causationId: stringParam(q, 'causation_id'),
        since: timeParam(q, 'since'),
        until: timeParam(q, 'until'),
        fromSeq: intParam(q, 'from_seq', 1, Number.MAX_SAFE_INTEGER),
        toSeq: intParam(q, 'to_seq', 1, Number.MAX_SAFE_INTEGER),
        direction: enumParam(q, 'direction', ['forward', 'backward'] as const, 'forward'),
      },
      (key) => `query.${QUERY_NAMES[key] ?? key}`,
    );
    const events: StoredEvent[] = [];
    let more = false;
    let scanned = 0;
    // The last event read and settled (returned or skipped as unreadable): the next page starts after it.
    let cursor: StoredEvent | undefined;
    for await (const event of bus.events(query)) {
      if (scanned === HISTORY_LIMIT.scan) {
        more = true;
        break;
      }
      scanned++;
      if (principal.canSubscribe(event.envelope.routing.topic)) {
        if (events.length === limit) {
          more = true;
          break;
        }
        events.push(event);
      }
      cursor = event;
    }
    const next =
      more && cursor
        ? query.direction === 'backward'
          ? { next_to_seq: cursor.seq - 1 }
          : { next_from_seq: cursor.seq + 1 }
        : {};
    return c.json({ events: events.map(storedEventJson), ...next });
  });

  app.get('/v1/events/:id', async (c) => {
    const id = c.req.param('id');
    const event = await readableEvent(bus, c.get('principal'), id);
    if (!event) throw eventNotFound(id);
    return c.json(storedEventJson(event));
  });
}

/** The parameters of `GET /v1/events`. */
const HISTORY_PARAMS = [
  'topic',
  'type',
  'correlation_id',
  'causation_id',
  'since',
  'until',
  'from_seq',
  'to_seq',
  'limit',
  'direction',
] as const;

/** Query parameter names of the history fields that differ from the library's. */
const QUERY_NAMES: Partial<Record<keyof HistoryQuery, string>> = {
  correlationId: 'correlation_id',
  causationId: 'causation_id',
  fromSeq: 'from_seq',
  toSeq: 'to_seq',
};

/**
 * Whether a publish of `sent` may be answered with `first`, the copy stored under its id: when
 * the token may read its topic, or when it is the same event (topic, type, payload), as when
 * a publisher that may not read its own topic sends again after a timeout.
 */
function mayAnswerWith(principal: Principal, first: Envelope, sent: Envelope): boolean {
  if (first === sent || principal.canSubscribe(first.routing.topic)) return true;
  return (
    first.routing.topic === sent.routing.topic &&
    first.event.type === sent.event.type &&
    isDeepStrictEqual(first.payload, sent.payload)
  );
}

/**
 * The 409 of a publish whose id belongs to another event the token may not read (ADR 0024,
 * amendment): it says that the id is taken, as a shared id space must, and nothing of the
 * event (topic, type, time) nor of which token may read it.
 */
function idTaken(sent: Envelope, field: string, outcome: string): AgentbusError {
  return new AgentbusError(
    'CONCURRENCY_CONFLICT',
    `${field}: id ${sent.event.id} is taken by another event; publish this one with a new id (${outcome})`,
    { field, id: sent.event.id },
  );
}
