/**
 * What a token may read beyond the event routes: a saga's input only for a token that may
 * read the saga's command topic (or admin), others see its status (ADR 0024); an aggregator's
 * collected events only on topics the token may read; a publish that repeats the id of an
 * event the token may not read never answers with that event; the inspector lists only
 * readable effects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningSaga, startAggregator, startSaga } from '../../src/workflows/index.js';
import { DEPLOY } from '../workflows/deploy-saga.js';
import { until } from '../workflows/helpers.js';
import { type TestServer, json, startTestServer, token } from './helpers.js';

const DEPLOYER = 'tok-deployer-0123456789abcdef';
const OTHER = 'tok-other-0123456789abcdef';
const ADMIN = 'tok-admin-0123456789abcdef';
const WRITER = 'tok-writer-0123456789abcdef';
const SAGA_SECRET = 'saga-input-secret-7f3a';
const HR_SECRET = 'hr-payload-secret-91bd';

let t: TestServer;
let saga: RunningSaga;
beforeAll(async () => {
  t = await startTestServer({
    tokens: [
      token('deployer', DEPLOYER, { subscribe: ['deploy.>'], publish: ['deploy.>'] }),
      token('other', OTHER, { subscribe: ['other.>'], publish: ['other.>'] }),
      token('writer', WRITER, { publish: ['drop.>'] }),
      // Admin without any subscribe rule: the admin scope alone shows a saga's input.
      token('admin', ADMIN, { admin: true }),
    ],
  });
  saga = await startSaga(t.bus, DEPLOY);
  await saga.start('xyz', { feature: 'xyz', secret: SAGA_SECRET });
  await startAggregator(t.bus, {
    aggregator_id: 'hr-join',
    topic: 'hr.>',
    wait_for: [{ type: 'ReviewDone' }, { type: 'PayDone' }],
    on_complete: 'HrJoined',
  });
  await t.bus.publish({ topic: 'hr.reviews', type: 'ReviewDone', correlationId: 'emp-1', payload: { note: HR_SECRET } });
  await until(async () => (await json(get('/v1/aggregators', ADMIN))).aggregators.length === 1, 'aggregator instance');
});
afterAll(async () => {
  await t?.close();
});

function get(path: string, secret: string) {
  return fetch(`${t.url}${path}`, { headers: { authorization: `Bearer ${secret}` } });
}

describe('sagas (ADR 0024)', () => {
  it('shows a saga’s input to a token that may read its command topic, and to admin', async () => {
    for (const secret of [DEPLOYER, ADMIN]) {
      const one = await json(get('/v1/sagas/deploy-feature/xyz', secret));
      expect(one).toMatchObject({ saga_id: 'xyz', status: 'in_progress', input: { feature: 'xyz', secret: SAGA_SECRET } });
      const list = await json(get('/v1/sagas', secret));
      expect(list.sagas).toHaveLength(1);
      expect(list.sagas[0]).toMatchObject({ saga_id: 'xyz', input: { secret: SAGA_SECRET } });
    }
  });

  it('shows other tokens the status only: no input, in the list and for one instance', async () => {
    const one = await get('/v1/sagas/deploy-feature/xyz', OTHER);
    expect(one.status).toBe(200);
    const text = await one.text();
    expect(text).not.toContain(SAGA_SECRET);
    const body = JSON.parse(text);
    expect(body).toMatchObject({ saga_id: 'xyz', saga: 'deploy-feature', status: 'in_progress', current_step: 1 });
    expect(body).not.toHaveProperty('input');
    const list = await get('/v1/sagas', OTHER);
    const listText = await list.text();
    expect(listText).not.toContain(SAGA_SECRET);
    expect(JSON.parse(listText).sagas[0]).toMatchObject({ saga_id: 'xyz', status: 'in_progress' });
  });

  it('never shows the runner’s own fields (timer key, run), to anyone', async () => {
    const list = await json(get('/v1/sagas', ADMIN));
    expect(list.sagas[0]).not.toHaveProperty('timer');
    expect(list.sagas[0]).not.toHaveProperty('run');
  });

  it('applies the same rule to a saga source given by an integration', async () => {
    const s = await startTestServer({
      tokens: [token('other', OTHER, { subscribe: ['other.>'] }), token('deployer', DEPLOYER, { subscribe: ['deploy.>'] })],
      bus: t.bus,
      integrations: {
        sagas: async () => ({
          sagas: [{ saga: 'deploy-feature', saga_id: 'xyz', status: 'in_progress', input: { secret: SAGA_SECRET } }],
        }),
      },
    });
    try {
      const text = await (await fetch(`${s.url}/v1/sagas`, { headers: { authorization: `Bearer ${OTHER}` } })).text();
      expect(text).not.toContain(SAGA_SECRET);
      expect(JSON.parse(text).sagas[0]).toMatchObject({ saga_id: 'xyz', status: 'in_progress' });
      const allowed = await json(fetch(`${s.url}/v1/sagas`, { headers: { authorization: `Bearer ${DEPLOYER}` } }));
      expect(allowed.sagas[0].input).toEqual({ secret: SAGA_SECRET });
    } finally {
      await s.server.close();
    }
  });
});

describe('aggregators', () => {
  it('shows collected events only on topics the token may read; the status line to every token', async () => {
    const response = await get('/v1/aggregators', OTHER);
    const text = await response.text();
    expect(text).not.toContain(HR_SECRET);
    const [instance] = JSON.parse(text).aggregators;
    expect(instance).toMatchObject({ aggregator_id: 'hr-join', correlation_id: 'emp-1', status: 'waiting' });
    expect(instance.status_line).toContain('1/2');
    expect(instance.received).toHaveLength(1);
    expect(instance.received[0]).toMatchObject({ type: 'ReviewDone' });
    expect(instance.received[0]).not.toHaveProperty('envelope');
    // Admin reads every dead letter and timer already, so it reads these too.
    const admin = await json(get('/v1/aggregators', ADMIN));
    expect(admin.aggregators[0].received[0].envelope.payload).toEqual({ note: HR_SECRET });
    const hr = await startTestServer({ bus: t.bus, tokens: [token('hr', DEPLOYER, { subscribe: ['hr.>'] })] });
    try {
      const readable = await json(fetch(`${hr.url}/v1/aggregators`, { headers: { authorization: `Bearer ${DEPLOYER}` } }));
      expect(readable.aggregators[0].received[0].envelope.payload).toEqual({ note: HR_SECRET });
    } finally {
      await hr.server.close();
    }
  });
});

describe('publishing an id that exists', () => {
  it('refuses to answer with an event of a topic the token may not read, writing nothing', async () => {
    const hidden = await t.bus.publish({ topic: 'hr.reviews', type: 'ReviewDone', payload: { note: HR_SECRET } });
    const head = await t.bus.store.head();
    const response = await fetch(`${t.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OTHER}`, 'content-type': 'application/json' },
      body: JSON.stringify([
        { event: { type: 'Fresh' }, payload: {}, routing: { topic: 'other.news' } },
        { event: { id: hidden.event.id, type: 'Probe' }, payload: {}, routing: { topic: 'other.news' } },
      ]),
    });
    expect(response.status).toBe(409);
    const text = await response.text();
    expect(text).not.toContain(HR_SECRET);
    expect(text).not.toContain('hr.reviews');
    expect(text).not.toContain('ReviewDone');
    expect(JSON.parse(text)).toMatchObject({
      code: 'CONCURRENCY_CONFLICT',
      field: '[1].event.id',
      detail: `[1].event.id: id ${hidden.event.id} is taken by another event; publish this one with a new id (nothing was published)`,
    });
    expect(await t.bus.store.head()).toBe(head);
  });

  it('still answers a repeated publish of one’s own event with the first copy, readable or not', async () => {
    // `writer` may publish to drop.> but read nothing; `deployer` may publish and read deploy.>.
    for (const [secret, topic] of [
      [WRITER, 'drop.pings'],
      [DEPLOYER, 'deploy.pings'],
    ]) {
      const envelope = {
        event: { id: `evt-own-repeat-${topic}`, type: 'Ping', timestamp: '2025-11-29T14:30:00Z' },
        payload: { n: 1 },
        routing: { topic },
      };
      const send = () =>
        fetch(`${t.url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body: JSON.stringify(envelope),
        });
      const first = await send();
      expect(first.status).toBe(201);
      const again = await send();
      expect(again.status).toBe(201);
      expect(await json(again)).toEqual(await json(first));
    }
  });
});

describe('the event inspector', () => {
  it('lists only the events a token may read among those an event caused', async () => {
    const cause = await t.bus.publish({ topic: 'other.root', type: 'RootEvent', payload: {} });
    await t.bus.publish({ topic: 'other.child', type: 'VisibleChild', causationId: cause.event.id, payload: {} });
    await t.bus.publish({ topic: 'hr.child', type: 'HiddenChild', causationId: cause.event.id, payload: {} });
    const page = await (await get(`/events/${cause.event.id}`, OTHER)).text();
    expect(page).toContain('VisibleChild');
    expect(page).not.toContain('HiddenChild');
  });
});
