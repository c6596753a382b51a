/**
 * `/v1/sagas` over HTTP: the list filtered by status, one instance as the seed's saga JSON
 * plus compensated and failure, and cancelling a running saga (admin scope), with the saga's
 * runner on the served bus. Refusals name the field and publish nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SAGA_CANCEL_EVENT, type RunningSaga, startSaga } from '../../src/workflows/index.js';
import { DEPLOY, worker } from '../workflows/deploy-saga.js';
import { eventsOfType, until } from '../workflows/helpers.js';
import { type TestServer, json, startTestServer, token } from './helpers.js';

const READER = 'tok-reader-0123456789abcdef';
const ADMIN = 'tok-admin-0123456789abcdef';

let t: TestServer;
let saga: RunningSaga;
let handled: string[];
beforeAll(async () => {
  t = await startTestServer({
    tokens: [
      token('reader', READER, { subscribe: ['>'] }),
      token('admin', ADMIN, { publish: ['>'], subscribe: ['>'], admin: true }),
    ],
  });
  saga = await startSaga(t.bus, DEPLOY);
  ({ handled } = await worker(t.bus, { silent: 'DeployToStaging' }));
  await startSaga(t.bus, { ...DEPLOY, saga: 'ops/hotfix', trigger: undefined });
  await saga.start('xyz', { feature: 'xyz' });
  await saga.start('done');
  await until(async () => (await saga.get('xyz'))?.current_step === 3, 'xyz at step 3');
});
afterAll(async () => {
  await t?.close();
});

const as = (secret: string) => ({ authorization: `Bearer ${secret}` });
const get = (path: string, secret = READER) => fetch(`${t.url}${path}`, { headers: as(secret) });
const cancel = (path: string, body?: unknown, secret = ADMIN) =>
  fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { ...as(secret), 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

async function expectProblem(response: Promise<Response>, status: number, field?: string) {
  const r = await response;
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/problem+json');
  const body = (await r.json()) as { detail: string; field?: string };
  if (field !== undefined) expect(body.field).toBe(field);
  return body;
}

describe('/v1/sagas', () => {
  it('GET one saga: the seed JSON plus saga, compensated, failure, and its input for a reader of its topic; 404 for an unknown one', async () => {
    const response = await get('/v1/sagas/deploy-feature/xyz');
    expect(response.status).toBe(200);
    const body = await json(response);
    expect(Object.keys(body)).toEqual([
      'saga_id',
      'current_step',
      'status',
      'completed_steps',
      'compensation_stack',
      'saga',
      'compensated',
      'started_at',
      'updated_at',
      'input',
    ]);
    expect(body).toMatchObject({
      input: { feature: 'xyz' },
      saga_id: 'xyz',
      current_step: 3,
      status: 'in_progress',
      compensation_stack: [{ step: 3, compensate: 'RemoveFromStaging' }],
      compensated: [],
    });
    const missing = await expectProblem(get('/v1/sagas/deploy-feature/nope'), 404, 'id');
    expect(missing.detail).toBe('no saga deploy-feature/nope');
    await expectProblem(get('/v1/sagas/ops%2Fhotfix/xyz'), 404);
    await expectProblem(get('/v1/sagas/no%20such/xyz'), 400, 'saga');
    await expectProblem(get('/v1/sagas/deploy-feature/a%00b'), 400, 'id');
  });

  it('filters the list by status, saga and saga_id, refusing an unknown or empty value by name', async () => {
    const all = await json(get('/v1/sagas'));
    expect(all.sagas.map((s: { saga_id: string }) => s.saga_id).sort()).toEqual(['done', 'xyz']);
    const running = await json(get('/v1/sagas?status=in_progress&saga=deploy-feature&saga_id=xyz'));
    expect(running.sagas.map((s: { saga_id: string }) => s.saga_id)).toEqual(['xyz']);
    expect(await json(get('/v1/sagas?status=compensated'))).toEqual({ sagas: [] });
    expect(await json(get('/v1/sagas?saga=ops/hotfix'))).toEqual({ sagas: [] });
    const bad = await expectProblem(get('/v1/sagas?status=cancelled'), 400, 'query.status');
    expect(bad.detail).toBe('query.status: must be one of in_progress, completed, compensated, failed');
    await expectProblem(get('/v1/sagas?status='), 400, 'query.status');
    await expectProblem(get('/v1/sagas?state=failed'), 400, 'query.state');
    await expectProblem(get('/v1/sagas?saga=no%20such'), 400, 'query.saga');
  });

  it('cancels a running saga with the admin scope only; its runner compensates', async () => {
    const body = { reason: 'wrong branch' };
    await expectProblem(cancel('/v1/sagas/deploy-feature/xyz/cancel', body, READER), 403);
    expect(await eventsOfType(t.bus, SAGA_CANCEL_EVENT)).toEqual([]);
    const response = await cancel('/v1/sagas/deploy-feature/xyz/cancel', body);
    expect(response.status).toBe(202);
    const answer = await json(response);
    expect(answer).toMatchObject({
      instance: { saga_id: 'xyz', status: 'in_progress', current_step: 3 },
      request: { event: { type: SAGA_CANCEL_EVENT, correlation_id: 'xyz' }, payload: { reason: 'wrong branch', step: 3 } },
      repeated: false,
    });
    const state = await until(async () => {
      const s = await json(get('/v1/sagas/deploy-feature/xyz'));
      return s.status === 'compensated' ? s : undefined;
    }, 'compensated');
    expect(state.failure).toEqual({ step: 3, reason: 'cancelled', event_id: answer.request.event.id, message: 'wrong branch' });
    expect(state.compensated).toEqual([{ step: 3, compensate: 'RemoveFromStaging' }]);
    await until(async () => handled.includes('RemoveFromStaging'), 'compensation handled');
    const ended = await json(get('/v1/sagas?status=compensated'));
    expect(ended.sagas.map((s: { saga_id: string }) => s.saga_id)).toEqual(['xyz']);
  });

  it('refuses an unknown or ended saga and bad input, publishing nothing', async () => {
    await until(async () => (await saga.get('xyz'))?.status === 'compensated' || undefined, 'xyz compensated');
    const before = await eventsOfType(t.bus, SAGA_CANCEL_EVENT);
    const ended = await expectProblem(cancel('/v1/sagas/deploy-feature/xyz/cancel'), 409);
    expect(ended.detail).toBe(
      'saga deploy-feature/xyz is compensated already: only an in_progress saga can be cancelled; nothing was published',
    );
    const unknown = await expectProblem(cancel('/v1/sagas/deploy-feature/nope/cancel'), 404);
    expect(unknown.detail).toBe('no saga deploy-feature/nope; nothing was published');
    await expectProblem(cancel('/v1/sagas/deploy-feature/done/cancel', { reason: '' }), 400, 'body.reason');
    await expectProblem(cancel('/v1/sagas/deploy-feature/done/cancel', { reason: 7 }), 400, 'body.reason');
    await expectProblem(cancel('/v1/sagas/deploy-feature/done/cancel', { why: 'x' }), 400, 'body.why');
    await expectProblem(cancel('/v1/sagas/deploy-feature/done/cancel', ['x']), 400, 'body');
    await expectProblem(cancel('/v1/sagas/no%20such/done/cancel'), 400, 'saga');
    expect(await eventsOfType(t.bus, SAGA_CANCEL_EVENT)).toEqual(before);
  });
});

describe('/v1/sagas from an integration source', () => {
  it('hands the validated filter to the source', async () => {
    const seen: unknown[] = [];
    const s = await startTestServer({
      integrations: {
        sagas: async (filter) => {
          seen.push(filter);
          return { sagas: [] };
        },
      },
    });
    try {
      expect(await json(fetch(`${s.url}/v1/sagas?status=failed&saga_id=x`))).toEqual({ sagas: [] });
      expect((await fetch(`${s.url}/v1/sagas?status=nope`)).status).toBe(400);
      expect(seen).toEqual([{ status: 'failed', sagaId: 'x' }]);
    } finally {
      await s.close();
    }
  });
});
