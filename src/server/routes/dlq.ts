/**
 * `/v1/dlq`: the dead-letter queue, worked the seed's way: list and group (investigate),
 * show, replay (optionally with a corrected payload: fix and replay), archive with a note,
 * purge. Every route needs the admin scope.
 */
import type { Hono } from 'hono';
import type { JsonValue } from '../../envelope/index.js';
import { type ReplaySelection, validateSubscriptionName } from '../../bus/index.js';
import { AgentbusError, invalidField, prefixField } from '../../errors.js';
import type { DeadLetter } from '../../store/event-store.js';
import { validateCorrelationId } from '../../store/history-query.js';
import { requireAdmin } from '../auth.js';
import { jsonObject, knownKeys } from '../body.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import { type Query, enumParam, intParam, knownParams, stringParam } from '../query.js';
import { deadLetterDetailJson, deadLetterGroupJson, deadLetterJson } from '../../bus/wire.js';

const STATUSES = ['open', 'replayed', 'archived'] as const;

/** Adds the dead-letter routes. */
export function registerDlqRoutes(app: Hono<ServerEnv>, deps: ServerDeps): void {
  const dlq = deps.bus.deadLetters;
  app.use('/v1/dlq', async (c, next) => {
    requireAdmin(c.get('principal'), 'work the dead-letter queue');
    await next();
  });
  app.use('/v1/dlq/*', async (c, next) => {
    requireAdmin(c.get('principal'), 'work the dead-letter queue');
    await next();
  });

  app.get('/v1/dlq', async (c) => {
    const q = c.req.query();
    knownParams(q, ['subscription', 'status', 'correlation_id', 'limit']);
    const subscription = subscriptionParam(q);
    const status = enumParam(q, 'status', [...STATUSES, 'all'] as const, 'open');
    const correlationId = correlationParam(q);
    const limit = intParam(q, 'limit', 1, 10_000, 500);
    const letters = await dlq.list({
      ...(subscription ? { subscription } : {}),
      ...(status !== 'all' && status ? { status } : {}),
      ...(correlationId ? { correlationId } : {}),
      ...(limit ? { limit } : {}),
    });
    return c.json({ dead_letters: letters.map(deadLetterJson) });
  });

  app.get('/v1/dlq/groups', async (c) => {
    const q = c.req.query();
    knownParams(q, ['subscription']);
    const subscription = subscriptionParam(q);
    const groups = await dlq.groups(subscription ? { subscription } : {});
    return c.json({ groups: groups.map(deadLetterGroupJson) });
  });

  app.get('/v1/dlq/:id', async (c) => c.json(deadLetterDetailJson(await getDead(deps, c.req.param('id')))));

  app.post('/v1/dlq/:id/replay', async (c) => {
    const dead = await getDead(deps, c.req.param('id'));
    const body = knownKeys(await jsonObject(c), ['payload']);
    const payload = body.payload as JsonValue | undefined;
    if (dead.status !== 'open') {
      throw new AgentbusError('CONCURRENCY_CONFLICT', `dead letter ${dead.id} is ${dead.status}, not open`, { id: dead.id });
    }
    const [replayed] = await inBody(dlq.replay([dead.id], payload === undefined ? {} : { payload }));
    return c.json(deadLetterJson(replayed ?? dead));
  });

  app.post('/v1/dlq/replay', async (c) => {
    const body = knownKeys(await jsonObject(c), ['ids', 'all', 'subscription', 'skip_replayed']);
    if (body.skip_replayed !== undefined && typeof body.skip_replayed !== 'boolean') {
      throw invalidField('OPTIONS_INVALID', 'body.skip_replayed', 'must be true or false');
    }
    const skipReplayed = body.skip_replayed === true;
    if (body.all !== undefined && body.all !== true) throw invalidField('OPTIONS_INVALID', 'body.all', 'must be true when given');
    if (body.all === true) {
      if (body.ids !== undefined) throw invalidField('OPTIONS_INVALID', 'body.ids', 'give "ids" or "all": true, not both');
      const { subscription } = body;
      const replayed = await inBody(
        dlq.replay({ all: true, ...(subscription === undefined ? {} : { subscription }) } as ReplaySelection),
      );
      return c.json({ replayed: replayed.map(deadLetterJson) });
    }
    if (body.subscription !== undefined) {
      throw invalidField('OPTIONS_INVALID', 'body.subscription', 'narrows "all": true only; ids name their dead letters');
    }
    if (!Array.isArray(body.ids) || body.ids.length === 0) {
      throw invalidField('OPTIONS_INVALID', 'body.ids', 'give an array of dead-letter ids, or "all": true');
    }
    const replayed = await inBody(dlq.replay({ ids: body.ids } as ReplaySelection, { skipReplayed }));
    return c.json({ replayed: replayed.map(deadLetterJson) });
  });

  app.post('/v1/dlq/:id/archive', async (c) => {
    const dead = await getDead(deps, c.req.param('id'));
    const { note } = knownKeys(await jsonObject(c), ['note']);
    return c.json(deadLetterJson(await inBody(dlq.archive(dead.id, note as string))));
  });

  app.delete('/v1/dlq', async (c) => {
    const q = c.req.query();
    knownParams(q, ['subscription', 'status']);
    const subscription = subscriptionParam(q);
    const status = enumParam(q, 'status', [...STATUSES, 'all'] as const);
    const purged = await dlq.purge({ ...(subscription ? { subscription } : {}), ...(status ? { status } : {}) });
    return c.json({ purged });
  });
}

/** The `subscription` query parameter: absent, or a subscription name. */
function subscriptionParam(query: Query): string | undefined {
  const raw = stringParam(query, 'subscription');
  return raw === undefined ? undefined : validateSubscriptionName(raw, 'query.subscription');
}

/** The `correlation_id` query parameter: absent, or a correlation id (1-255 characters, no control characters). */
function correlationParam(query: Query): string | undefined {
  const raw = stringParam(query, 'correlation_id');
  return raw === undefined ? undefined : validateCorrelationId(raw, 'query.correlation_id');
}

/** The library's refusals name fields of the body it was given (`ids[1]` → `body.ids[1]`). */
async function inBody<T>(result: Promise<T>): Promise<T> {
  try {
    return await result;
  } catch (error) {
    throw prefixField(error, 'body');
  }
}

async function getDead(deps: ServerDeps, raw: string): Promise<DeadLetter> {
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) < 1) {
    throw invalidField('OPTIONS_INVALID', 'id', 'must be a dead-letter id (1, 2, ... up to 2^53 - 1)');
  }
  const dead = await deps.bus.deadLetters.get(Number(raw));
  if (!dead) throw new AgentbusError('NOT_FOUND', `dead letter ${raw} does not exist`, { id: Number(raw) });
  return dead;
}
