/**
 * `/v1/topics`: the seed's Pub/Sub Configuration as JSON, the figures of `agentbus topics`
 * and the dashboard's Topics page (src/observe's topicsOverview): per topic the caller may
 * read, its events in the window (`?window=15m`, default the last hour), its publishers,
 * the subscriptions whose pattern matches it and the lag of the furthest behind.
 */
import type { Hono } from 'hono';
import { topicsOverview } from '../../observe/index.js';
import { toSnakeCase } from '../../observe/json.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import { enumParam, knownParams, windowParam } from '../query.js';

/** Adds the topics route. */
export function registerTopicRoutes(app: Hono<ServerEnv>, deps: ServerDeps): void {
  app.get('/v1/topics', async (c) => {
    const principal = c.get('principal');
    const q = c.req.query();
    knownParams(q, ['window', 'include_system']);
    const windowMs = windowParam(q);
    const includeSystem = enumParam(q, 'include_system', ['true', 'false'], 'false') === 'true';
    const overview = await topicsOverview(deps.bus, { includeSystem, ...(windowMs === undefined ? {} : { window: windowMs }) });
    const topics = overview.topics.filter((t) => principal.canSubscribe(t.topic));
    return c.json(toSnakeCase({ ...overview, topics }));
  });
}
