/**
 * `/v1/sagas`: saga instances (filtered by `status`, `saga`, `saga_id`), one instance as
 * the seed's saga coordinator JSON plus `compensated`, `failure` and, for a token that may
 * read the saga's command topic or an admin one, `input` (ADR 0024), and cancelling a
 * running one (admin). A saga name or saga_id holding `/` travels percent-encoded
 * (`/v1/sagas/deploy%2Fprod/xyz`).
 */
import type { Hono } from 'hono';
import { AgentbusError, invalidField } from '../../errors.js';
import {
  SAGA_STATUSES,
  type SagaListFilter,
  cancelSaga,
  getSaga,
  isSagaStatus,
  sagaStateJson,
  listSagas,
  validateSagaInput,
} from '../../workflows/index.js';
import { requireAdmin } from '../auth.js';
import { readableSagas, sagaInputReader, sagaInstanceJson } from '../read-rules.js';
import { jsonObject, knownKeys } from '../body.js';
import type { ServerDeps, ServerEnv } from '../env.js';
import { type Query, knownParams, stringParam } from '../query.js';

const PATH_NAMES = { saga: 'saga', sagaId: 'id', reason: 'body.reason' } as const;

/** The list's filter from `?status=&saga=&saga_id=`; a bad or empty value is 400 naming it. */
function listFilter(q: Query): SagaListFilter {
  knownParams(q, ['status', 'saga', 'saga_id']);
  const status = stringParam(q, 'status');
  if (status !== undefined && !isSagaStatus(status)) {
    throw invalidField('OPTIONS_INVALID', 'query.status', `must be one of ${SAGA_STATUSES.join(', ')}`);
  }
  const saga = stringParam(q, 'saga');
  const sagaId = stringParam(q, 'saga_id');
  validateSagaInput(
    { ...(saga === undefined ? {} : { saga }), ...(sagaId === undefined ? {} : { sagaId }) },
    { saga: 'query.saga', sagaId: 'query.saga_id', reason: 'query.reason' },
  );
  return {
    ...(status === undefined ? {} : { status }),
    ...(saga === undefined ? {} : { saga }),
    ...(sagaId === undefined ? {} : { sagaId }),
  };
}

/** Adds the saga routes. */
export function registerSagaRoutes(app: Hono<ServerEnv>, deps: ServerDeps): void {
  const { bus } = deps;
  const source = deps.integrations.sagas;

  // A saga's input only to readers of its topics or admin; others see its status (ADR 0024).
  app.get('/v1/sagas', async (c) => {
    const filter = listFilter(c.req.query());
    const mayRead = sagaInputReader(bus.store, c.get('principal'));
    if (source) return c.json(await readableSagas(await source(filter), mayRead));
    const sagas = await listSagas(bus.store, filter);
    return c.json({ sagas: await Promise.all(sagas.map(async (s) => sagaInstanceJson(s, await mayRead(s.saga)))) });
  });

  app.get('/v1/sagas/:saga/:id', async (c) => {
    const saga = c.req.param('saga');
    const sagaId = c.req.param('id');
    validateSagaInput({ saga, sagaId }, PATH_NAMES);
    const state = await getSaga(bus.store, saga, sagaId);
    if (!state) throw new AgentbusError('NOT_FOUND', `no saga ${saga}/${sagaId}`, { field: 'id' });
    return c.json(sagaInstanceJson(state, await sagaInputReader(bus.store, c.get('principal'))(saga)));
  });

  app.post('/v1/sagas/:saga/:id/cancel', async (c) => {
    requireAdmin(c.get('principal'), 'cancel sagas');
    const saga = c.req.param('saga');
    const sagaId = c.req.param('id');
    const { reason } = knownKeys(await jsonObject(c), ['reason']);
    validateSagaInput({ saga, sagaId, reason }, PATH_NAMES);
    const asked = await cancelSaga(bus, saga, sagaId, reason === undefined ? {} : { reason: reason as string });
    return c.json({ instance: sagaStateJson(asked.instance), request: asked.request, repeated: asked.repeated }, 202);
  });
}
