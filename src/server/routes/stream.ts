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
import { ANONYMOUS } from '../auth.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import { knownParams, stringParam } from '../query.js';
import { storedEventJson } from '../../bus/wire.js';

/** How often a client retries after a dropped connection, ms (the SSE `retry` field). */
export const SSE_RETRY_MS = 2000;

/** Adds the live stream route. */
export function registerStreamRoute(app: Hono<ServerEnv>, deps: ServerDeps): void {
  const { bus } = deps;
  const streams = createStreamCounts(deps);
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
    const release = streams.take(principal === ANONYMOUS ? undefined : principal.name, c.get('client'));
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
        release();
      }
    });
  });
}

/** Open streams in total, per token and per client; {@link take} refuses one over a limit. */
function createStreamCounts(deps: ServerDeps) {
  let total = 0;
  const perToken = new Map<string, number>();
  const perClient = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, by: number) => {
    const n = (map.get(key) ?? 0) + by;
    if (n <= 0) map.delete(key);
    else map.set(key, n);
  };
  return {
    /**
     * Counts one stream of `token` (undefined without tokens) from `client`, returning its
     * release. @throws AgentbusError `BACKPRESSURE`: 429 over a client's or token's limit, 503
     * over the total.
     */
    take(token: string | undefined, client: string): () => void {
      if ((perClient.get(client) ?? 0) >= deps.maxStreamsPerAddress) {
        throw tooMany(
          429,
          deps.maxStreamsPerAddress,
          'address',
          `too many live streams from this address (${deps.maxStreamsPerAddress} open, server.streams.perAddress); close one or retry later`,
        );
      }
      if (token !== undefined && (perToken.get(token) ?? 0) >= deps.maxStreamsPerToken) {
        throw tooMany(
          429,
          deps.maxStreamsPerToken,
          'token',
          `too many live streams of token "${token}" (${deps.maxStreamsPerToken} open, server.streams.perToken); close one or retry later`,
        );
      }
      if (total >= deps.maxStreams) {
        throw tooMany(
          503,
          deps.maxStreams,
          'server',
          `too many live streams (${deps.maxStreams} are open, server.streams.max); retry later`,
        );
      }
      total++;
      add(perClient, client, 1);
      if (token !== undefined) add(perToken, token, 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        total--;
        add(perClient, client, -1);
        if (token !== undefined) add(perToken, token, -1);
      };
    },
  };
}

function tooMany(status: 429 | 503, limit: number, scope: 'address' | 'token' | 'server', message: string): AgentbusError {
  return new AgentbusError('BACKPRESSURE', message, { status, limit, scope });
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
