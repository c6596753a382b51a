/**
 * Health, metrics and the status of what runs on the bus: `/healthz`, `/metrics`,
 * `/v1/status` (the overview; `?window=15m` for its throughput), `/v1/agents`,
 * `/v1/aggregators`, and `/v1/timeline/:correlation` (`/v1/sagas` is in sagas.ts).
 */
import type { Hono } from 'hono';
import { AgentbusError, invalidField } from '../../errors.js';
import { type JsonValue, textProblem } from '../../envelope/index.js';
import { type Principal, requireMetrics } from '../auth.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import type { Integrations } from '../integrations.js';
import { maySeeSubscription, readableAgents, readableAggregators } from '../read-rules.js';
import { knownParams, windowParam } from '../query.js';
import { listAgents } from '../../agents/index.js';
import { statusSnapshot, timeline, timelineJson, toSnakeCase } from '../../observe/index.js';
import { aggregatorStatusLine, listAggregatorInstances } from '../../workflows/index.js';

/** A 501 for a source this build does not have. */
export function notImplemented(what: string): AgentbusError {
  return new AgentbusError('NOT_FOUND', `${what} is not available in this build`, { status: 501 });
}

/** The entries of `list` without those whose `topic` is not `visible`. */
function visibleEntries(list: readonly JsonValue[], visible: (topic: string) => boolean): JsonValue[] {
  return list.filter((entry) => {
    const topic = typeof entry === 'object' && entry !== null && !Array.isArray(entry) ? entry.topic : undefined;
    return typeof topic !== 'string' || visible(topic);
  });
}

/**
 * The overview without the per-topic rows of topics the caller may not read, nor the
 * subscriptions it may not see (ADR 0024), as `/v1/topics` and `/v1/subscriptions` show them.
 */
function readableStatus(value: JsonValue, principal: Principal): JsonValue {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const { topics, subscriptions } = value;
  return {
    ...value,
    ...(Array.isArray(topics) ? { topics: visibleEntries(topics, (t) => principal.canSubscribe(t)) } : {}),
    ...(Array.isArray(subscriptions)
      ? { subscriptions: visibleEntries(subscriptions, (t) => maySeeSubscription(principal, t)) }
      : {}),
  };
}

/** Adds the status routes. */
export function registerStatusRoutes(app: Hono<ServerEnv>, deps: ServerDeps): void {
  const sources: Integrations = deps.integrations;

  app.get('/healthz', async (c) => {
    try {
      const head = await deps.bus.store.head();
      return c.json({ status: 'ok', head });
    } catch (error) {
      deps.log(`healthz: store unavailable: ${error instanceof Error ? error.message : String(error)}`);
      return c.json({ status: 'unavailable' }, 503);
    }
  });

  // Its series name every topic and subscription: for the metrics (or admin) scope only (ADR 0024).
  app.get('/metrics', async (c) => {
    requireMetrics(c.get('principal'));
    if (!sources.metrics) throw notImplemented('metrics (src/observe)');
    const { contentType, text } = await sources.metrics();
    return new Response(text, { headers: { 'content-type': contentType } });
  });

  const status = sources.status ?? (async (options = {}) => toSnakeCase(await statusSnapshot(deps.bus, options)) as JsonValue);
  app.get('/v1/status', async (c) => {
    const principal = c.get('principal');
    const q = c.req.query();
    knownParams(q, ['window']);
    const windowMs = windowParam(q);
    const answer = await status(windowMs === undefined ? {} : { window: windowMs });
    return c.json(readableStatus(answer, principal));
  });
  const store = deps.bus.store;
  const agents = sources.agents ?? (async () => ({ agents: toSnakeCase(await listAgents(store)) }));
  // An agent's subscriptions (topic, filter) only where the token may see them (ADR 0024).
  app.get('/v1/agents', async (c) => c.json(readableAgents((await agents()) as JsonValue, c.get('principal'))));
  const aggregators =
    sources.aggregators ??
    (async () => ({
      aggregators: (await listAggregatorInstances(store)).map((i) => ({ ...i, status_line: aggregatorStatusLine(i) })),
    }));
  // Collected events only on topics the token may read (ADR 0024).
  app.get('/v1/aggregators', async (c) => c.json(readableAggregators((await aggregators()) as JsonValue, c.get('principal'))));

  app.get('/v1/timeline/:correlation', async (c) => {
    const principal = c.get('principal');
    const correlation = c.req.param('correlation');
    const problem = textProblem(correlation, 255);
    if (problem !== undefined) throw invalidField('OPTIONS_INVALID', 'correlation', problem);
    const canRead = (topic: string) => principal.canSubscribe(topic);
    if (sources.timeline) return c.json(await sources.timeline(correlation, canRead));
    const entries = await timeline(deps.bus.store, correlation);
    return c.json(
      timelineJson(
        correlation,
        entries.filter((e) => canRead(e.topic)),
      ),
    );
  });
}
