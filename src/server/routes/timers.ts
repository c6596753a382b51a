/**
 * `/v1/timers`: the durable timers not fired yet (delayed events and the timeouts of
 * aggregators, saga steps and approvals), earliest first, and cancelling one. Timer ids
 * contain `/`: they travel percent-encoded (`/v1/timers/001764428400000%2Fevt-...`). Every
 * route needs the admin scope: a timer holds an event of any topic.
 */
import type { Hono } from 'hono';
import { validateTimerKey } from '../../bus/index.js';
import { AgentbusError } from '../../errors.js';
import { DEFAULT_TIMER_LIMIT, cancelTimers, listTimers, timerJson } from '../../workflows/index.js';
import { requireAdmin } from '../auth.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import { enumParam, intParam, knownParams } from '../query.js';

/** Most timers one page returns. */
const MAX_LIMIT = 1000;

/** Adds the timer routes. */
export function registerTimerRoutes(app: Hono<ServerEnv>, deps: ServerDeps): void {
  for (const path of ['/v1/timers', '/v1/timers/*']) {
    app.use(path, async (c, next) => {
      requireAdmin(c.get('principal'), 'read and cancel timers');
      await next();
    });
  }

  app.get('/v1/timers', async (c) => {
    const q = c.req.query();
    knownParams(q, ['limit']);
    const limit = intParam(q, 'limit', 1, MAX_LIMIT, DEFAULT_TIMER_LIMIT);
    const { timers, more } = await listTimers(deps.bus, limit === undefined ? {} : { limit });
    return c.json({ timers: timers.map(timerJson), more });
  });

  app.delete('/v1/timers/:id', async (c) => {
    const q = c.req.query();
    knownParams(q, ['force']);
    const force = enumParam(q, 'force', ['true', 'false'] as const, 'false') === 'true';
    const key = validateTimerKey(c.req.param('id'), 'id');
    try {
      await cancelTimers(deps.bus, [key], { force, forceHint: 'force=true' });
    } catch (error) {
      // The library names its list (`keys[0]`); this route has one id.
      if (error instanceof AgentbusError) throw new AgentbusError(error.code, error.message, { ...error.details, field: 'id' });
      throw error;
    }
    return c.body(null, 204);
  });
}
