/**
 * `/v1/dlq`: the dead-letter queue, worked the seed's way: list and group (investigate),
 * show, replay (optionally with a corrected payload: fix and replay), archive with a note,
 * purge. Every route needs the admin scope.
 */
import type { Hono } from 'hono';
import type { JsonValue } from '../../envelope/index.js';
import { AgentbusError, invalidField } from '../../errors.js';
import type { DeadLetter } from '../../store/event-store.js';
import { requireAdmin } from '../auth.js';
import { jsonObject } from '../body.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import { enumParam, intParam, stringParam } from '../query.js';
import { deadLetterGroupJson, deadLetterJson } from '../../bus/wire.js';

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
    const subscription = stringParam(q, 'subscription');
    const status = enumParam(q, 'status', [...STATUSES, 'all'] as const, 'open');
    const limit = intParam(q, 'limit', 1, 10_000, 500);
    const letters = await dlq.list({
      ...(subscription ? { subscription } : {}),
      ...(status !== 'all' && status ? { status } : {}),
      ...(limit ? { limit } : {}),
    });
    return c.json({ dead_letters: letters.map(deadLetterJson) });
  });

  app.get('/v1/dlq/groups', async (c) => {
    const subscription = stringParam(c.req.query(), 'subscription');
    const groups = await dlq.groups(subscription ? { subscription } : {});
    return c.json({ groups: groups.map(deadLetterGroupJson) });
  });

  app.get('/v1/dlq/:id', async (c) => c.json(deadLetterJson(await getDead(deps, c.req.param('id')))));

  app.post('/v1/dlq/:id/replay', async (c) => {
    const dead = await getDead(deps, c.req.param('id'));
    const body = await jsonObject(c);
    const payload = body.payload as JsonValue | undefined;
    if (dead.status !== 'open') {
      throw new AgentbusError('CONCURRENCY_CONFLICT', `dead letter ${dead.id} is ${dead.status}, not open`, { id: dead.id });
    }
    const [replayed] = await dlq.replay([dead.id], payload === undefined ? {} : { payload });
    return c.json(deadLetterJson(replayed ?? dead));
  });

  app.post('/v1/dlq/replay', async (c) => {
    const body = await jsonObject(c);
    if (body.all === true) {
      const subscription = body.subscription;
      if (subscription !== undefined && typeof subscription !== 'string') {
        throw invalidField('OPTIONS_INVALID', 'body.subscription', 'must be a subscription name');
      }
      const replayed = await dlq.replay({ all: true, ...(subscription ? { subscription } : {}) });
      return c.json({ replayed: replayed.map(deadLetterJson) });
    }
    const ids = body.ids;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => Number.isInteger(id) && id >= 1)) {
      throw invalidField('OPTIONS_INVALID', 'body.ids', 'give an array of dead-letter ids, or "all": true');
    }
    const replayed = await dlq.replay(ids as number[]);
    return c.json({ replayed: replayed.map(deadLetterJson) });
  });

  app.post('/v1/dlq/:id/archive', async (c) => {
    const dead = await getDead(deps, c.req.param('id'));
    const { note } = await jsonObject(c);
    if (typeof note !== 'string' || note.trim() === '') {
      throw invalidField('OPTIONS_INVALID', 'body.note', 'an archived dead letter needs a note saying why');
    }
    return c.json(deadLetterJson(await dlq.archive(dead.id, note)));
  });

  app.delete('/v1/dlq', async (c) => {
    const q = c.req.query();
    const subscription = stringParam(q, 'subscription');
    const status = enumParam(q, 'status', [...STATUSES, 'all'] as const);
    const purged = await dlq.purge({ ...(subscription ? { subscription } : {}), ...(status ? { status } : {}) });
    return c.json({ purged });
  });
}

async function getDead(deps: ServerDeps, raw: string): Promise<DeadLetter> {
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw invalidField('OPTIONS_INVALID', 'id', 'must be a dead-letter id (1, 2, ...)');
  const dead = await deps.bus.deadLetters.get(Number(raw));
  if (!dead) throw new AgentbusError('NOT_FOUND', `dead letter ${raw} does not exist`, { id: Number(raw) });
  return dead;
}
