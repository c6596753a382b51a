/**
 * `GET /v1/events/stream`: a live tail as server-sent events. Each event's SSE `id` is its
 * position, so a reconnecting client (`Last-Event-ID`) resumes right after the last event
 * it received. The log is read at the client's pace: a slow client holds a position, not a
 * buffer, and one that takes longer than `slowClientMs` to accept an event is disconnected
 * (it resumes from its Last-Event-ID).
 */
import type { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { followEvents } from '../../bus/follow.js';
import { AgentbusError, invalidField } from '../../errors.js';
import { compilePattern, parseFilter, validateTopicPattern } from '../../routing/index.js';
import type { StoredEvent } from '../../store/event-store.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import { knownParams, stringParam } from '../query.js';
import { storedEventJson } from '../../bus/wire.js';

/** How often a client retries after a dropped connection, ms (the SSE `retry` field). */
export const SSE_RETRY_MS = 2000;

/** Adds the live stream route. */
export function registerStreamRoute(app: Hono<ServerEnv>, deps: ServerDeps): void {
  const { bus } = deps;
  let open = 0;
  app.get('/v1/events/stream', async (c) => {
    const principal = c.get('principal');
    const q = c.req.query();
    knownParams(q, ['topic', 'filter', 'from']);
    const topic = validateTopicPattern(stringParam(q, 'topic') ?? '>', 'query.topic');
    const filter = stringParam(q, 'filter', 4096);
    const matcher = filter === undefined ? undefined : compilePattern(queryFilter(filter));
    const fromSeq = await startPosition(c.req.header('last-event-id'), stringParam(q, 'from') ?? 'latest', () =>
      bus.store.head(),
    );
    const match = (event: StoredEvent) =>
      principal.canSubscribe(event.envelope.routing.topic) && (matcher === undefined || matcher(event.envelope));

    // Counted from here to the stream's end: every open stream reads the log on each append.
    if (open >= deps.maxStreams) {
      throw new AgentbusError('BACKPRESSURE', `too many live streams (${deps.maxStreams} are open); retry later`, {
        status: 503,
        limit: deps.maxStreams,
      });
    }
    open++;
    return streamSSE(c, async (stream) => {
      const stop = new AbortController();
      stream.onAbort(() => stop.abort());
      const heartbeat = setInterval(() => {
        stream.write(': heartbeat\n\n').catch(() => stop.abort());
      }, deps.heartbeatMs);
      try {
        await followEvents(bus, {
          fromSeq,
          topic,
          match,
          signal: stop.signal,
          onReady: (nextSeq) => {
            void stream.writeSSE({ event: 'ready', data: JSON.stringify({ next_seq: nextSeq }), retry: SSE_RETRY_MS });
          },
          onEvent: async (event) => {
            const written = stream.writeSSE({ id: String(event.seq), data: JSON.stringify(storedEventJson(event)) });
            if (!(await settlesWithin(written, deps.slowClientMs))) {
              deps.log(`sse: disconnecting a slow client of ${principal.name} at position ${event.seq}`);
              stop.abort();
              await stream.abort();
            }
          },
        });
      } finally {
        clearInterval(heartbeat);
        open--;
      }
    });
  });
}

/**
 * The first position to send: after `Last-Event-ID` when the client resumes, else per
 * `from` (`earliest`, `latest`, or a position).
 */
async function startPosition(lastEventId: string | undefined, from: string, head: () => Promise<number>): Promise<number> {
  if (lastEventId !== undefined && lastEventId !== '') {
    if (!/^\d+$/.test(lastEventId) || !Number.isSafeInteger(Number(lastEventId) + 1))
      throw invalidField('OPTIONS_INVALID', 'Last-Event-ID', 'must be an event position (a whole number below 2^53 - 1)');
    return Number(lastEventId) + 1;
  }
  if (from === 'earliest') return 1;
  if (from === 'latest') return (await head()) + 1;
  if (/^\d+$/.test(from) && Number.isSafeInteger(Number(from)) && Number(from) >= 1) return Number(from);
  throw invalidField('OPTIONS_INVALID', 'query.from', 'must be earliest, latest or a position (1, 2, ... up to 2^53 - 1)');
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The `filter` parameter compiled; a refusal names `query.filter`, like the other parameters. */
function queryFilter(filter: string) {
  try {
    return parseFilter(filter);
  } catch (error) {
    if (!(error instanceof AgentbusError) || error.details.field !== 'filter') throw error;
    throw new AgentbusError(error.code, `query.${error.message}`, { ...error.details, field: 'query.filter' });
  }
}
