/**
 * The HTTP API end to end over real HTTP: publishing in every mode, history, the live
 * stream and its resume, problem details, the dead-letter queue, subscriptions, OpenAPI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_EXAMPLE } from '../../src/envelope/index.js';
import { NonRetryableError } from '../../src/errors.js';
import { requestApproval } from '../../src/index.js';
import { createApp } from '../../src/server/index.js';
import { toOpenApiPath } from '../../src/server/openapi.js';
import { type TestServer, json, openSse, startTestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ heartbeatMs: 300, retry: { max_retries: 0 } });
});
afterAll(async () => {
  await t?.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const get = (path: string, headers: Record<string, string> = {}) => fetch(`${t.url}${path}`, { headers });

function envelope(topic: string, type: string, payload: unknown = {}, event: Record<string, unknown> = {}) {
  return { event: { type, ...event }, payload, routing: { topic } };
}

async function expectProblem(response: Response, status: number, code: string, field?: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json');
  const body = (await json(response)) as Record<string, unknown>;
  expect(body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  if (field !== undefined) expect(body.field).toBe(field);
  return body;
}

describe('publishing', () => {
  it('stores the seed envelope as given and serves it back by id with its position', async () => {
    const response = await post('/v1/events', { ...SEED_EXAMPLE, event: { ...SEED_EXAMPLE.event, id: 'evt-seed-http-1' } });
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe('/v1/events/evt-seed-http-1');
    const stored = await json(response);
    expect(stored.event).toMatchObject({ id: 'evt-seed-http-1', type: 'TaskCompletedEvent', correlation_id: 'project-xyz-123' });
    expect(stored.payload).toEqual(SEED_EXAMPLE.payload);
    const read = await json(get('/v1/events/evt-seed-http-1'));
    expect(read.seq).toBeGreaterThan(0);
    expect(read.envelope).toEqual(stored);
  });

  it('fills a missing id and timestamp, and publishes an array of envelopes in order', async () => {
    const response = await post('/v1/events', [
      envelope('http.array', 'FirstEvent', { n: 1 }),
      envelope('http.array', 'SecondEvent', { n: 2 }),
    ]);
    expect(response.status).toBe(201);
    const stored = await json(response);
    expect(stored.map((e: { event: { type: string } }) => e.event.type)).toEqual(['FirstEvent', 'SecondEvent']);
    expect(stored[0].event.id).toMatch(/^evt-\d{8}-\d{6}-/);
    const history = await json(get('/v1/events?topic=http.array'));
    expect(history.events.map((e: { envelope: { payload: { n: number } } }) => e.envelope.payload.n)).toEqual([1, 2]);
  });

  it('accepts CloudEvents in structured, batch and binary modes', async () => {
    const ce = (id: string, type: string) => ({
      specversion: '1.0',
      id,
      source: '/ce-agent',
      type,
      topic: 'http.cloudevents',
      datacontenttype: 'application/json',
      data: { via: type },
    });
    const structured = await post('/v1/events', ce('evt-ce-structured', 'StructuredEvent'), {
      'content-type': 'application/cloudevents+json',
    });
    expect(structured.status).toBe(201);
    expect((await json(structured)).event).toMatchObject({ id: 'evt-ce-structured', source: '/ce-agent' });

    const batch = await post('/v1/events', [ce('evt-ce-batch-1', 'BatchEvent'), ce('evt-ce-batch-2', 'BatchEvent')], {
      'content-type': 'application/cloudevents-batch+json',
    });
    expect(batch.status).toBe(201);
    expect((await json(batch)).length).toBe(2);

    const binary = await post(
      '/v1/events',
      { via: 'binary' },
      {
        'ce-specversion': '1.0',
        'ce-id': 'evt-ce-binary',
        'ce-source': '/ce-agent',
        'ce-type': 'BinaryEvent',
        'ce-topic': 'http.cloudevents',
      },
    );
    expect(binary.status).toBe(201);
    const history = await json(get('/v1/events?topic=http.cloudevents'));
    expect(history.events.map((e: { envelope: { event: { id: string } } }) => e.envelope.event.id)).toEqual([
      'evt-ce-structured',
      'evt-ce-batch-1',
      'evt-ce-batch-2',
      'evt-ce-binary',
    ]);
    expect(history.events[3].envelope.payload).toEqual({ via: 'binary' });
  });

  it('refuses an invalid envelope with problem details naming the field, writing nothing', async () => {
    const head = await t.bus.store.head();
    const bad = await expectProblem(
      await post('/v1/events', envelope('not a topic!', 'BadEvent')),
      422,
      'ENVELOPE_INVALID',
      'routing.topic',
    );
    expect(bad.reason).toContain('column 4');
    const array = await post('/v1/events', [
      envelope('http.ok', 'GoodEvent'),
      { event: { type: 'NoTopic' }, payload: {}, routing: {} },
    ]);
    await expectProblem(array, 422, 'ENVELOPE_INVALID', '[1].routing.topic');
    expect(await t.bus.store.head()).toBe(head);
  });

  it('answers 400 for malformed JSON and 415 for a content type it does not read', async () => {
    await expectProblem(await post('/v1/events', '{"event":'), 400, 'ENVELOPE_INVALID', 'body');
    await expectProblem(
      await post('/v1/events', 'hello', { 'content-type': 'text/plain' }),
      415,
      'ENVELOPE_INVALID',
      'content-type',
    );
  });
});

describe('history', () => {
  it('filters by type and correlation, pages with limit, and reads backward', async () => {
    await post(
      '/v1/events',
      [1, 2, 3, 4, 5].map((n) =>
        envelope('http.history', n % 2 ? 'OddEvent' : 'EvenEvent', { n }, { correlation_id: 'corr-history' }),
      ),
    );
    const odd = await json(get('/v1/events?topic=http.history&type=OddEvent'));
    expect(odd.events.map((e: { envelope: { payload: { n: number } } }) => e.envelope.payload.n)).toEqual([1, 3, 5]);

    const page1 = await json(get('/v1/events?correlation_id=corr-history&limit=2'));
    expect(page1.events).toHaveLength(2);
    expect(page1.next_from_seq).toBe(page1.events[1].seq + 1);
    const page2 = await json(get(`/v1/events?correlation_id=corr-history&limit=2&from_seq=${page1.next_from_seq}`));
    expect(page2.events.map((e: { envelope: { payload: { n: number } } }) => e.envelope.payload.n)).toEqual([3, 4]);

    const newest = await json(get('/v1/events?topic=http.history&direction=backward&limit=1'));
    expect(newest.events[0].envelope.payload).toEqual({ n: 5 });
  });

  it('refuses bad query parameters naming them', async () => {
    await expectProblem(await get('/v1/events?limit=0'), 400, 'OPTIONS_INVALID', 'query.limit');
    await expectProblem(await get('/v1/events?since=yesterday'), 400, 'OPTIONS_INVALID', 'query.since');
    await expectProblem(await get('/v1/events?topic=a..b'), 422, 'TOPIC_INVALID', 'query.topic');
    await expectProblem(await get('/v1/events/evt-does-not-exist'), 404, 'NOT_FOUND');
    await expectProblem(await get('/v1/no/such/route'), 404, 'NOT_FOUND');
  });
});

describe('live stream', () => {
  it('sends new events with their position as SSE id, and resumes after Last-Event-ID', async () => {
    const stream = await openSse(`${t.url}/v1/events/stream?topic=http.live`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    await stream.nextEvent('ready');
    await post(
      '/v1/events',
      [1, 2, 3].map((n) => envelope('http.live', 'LiveEvent', { n })),
    );
    await post('/v1/events', envelope('http.elsewhere', 'OtherEvent'));
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(await stream.nextEvent());
    stream.close();
    expect(seen.map((m) => JSON.parse(m.data ?? '{}').envelope.payload.n)).toEqual([1, 2, 3]);
    for (const m of seen) expect(Number(m.id)).toBe(JSON.parse(m.data ?? '{}').seq);

    await post(
      '/v1/events',
      [4, 5].map((n) => envelope('http.live', 'LiveEvent', { n })),
    );
    const resumed = await openSse(`${t.url}/v1/events/stream?topic=http.live`, { 'last-event-id': String(seen[2]?.id) });
    const after = [await resumed.nextEvent(), await resumed.nextEvent()];
    resumed.close();
    expect(after.map((m) => JSON.parse(m.data ?? '{}').envelope.payload.n)).toEqual([4, 5]);
  });

  it('applies a content filter and sends heartbeat comments', async () => {
    const stream = await openSse(
      `${t.url}/v1/events/stream?topic=http.filtered&filter=${encodeURIComponent('type=WantedEvent and payload.n>1')}`,
    );
    await stream.nextEvent('ready');
    await post('/v1/events', [
      envelope('http.filtered', 'WantedEvent', { n: 1 }),
      envelope('http.filtered', 'UnwantedEvent', { n: 5 }),
      envelope('http.filtered', 'WantedEvent', { n: 2 }),
    ]);
    const first = await stream.nextEvent();
    expect(JSON.parse(first.data ?? '{}').envelope.payload).toEqual({ n: 2 });
    let heartbeat: string | undefined;
    while (heartbeat === undefined) heartbeat = (await stream.next()).comment;
    expect(heartbeat).toBe('heartbeat');
    stream.close();
  });

  it('refuses a filter that does not parse before streaming', async () => {
    const response = await get(`/v1/events/stream?filter=${encodeURIComponent('type=')}`, { accept: 'text/event-stream' });
    const problem = await expectProblem(response, 400, 'FILTER_SYNTAX', 'query.filter');
    expect(problem.detail).toBe("query.filter: expected a value after '=' at column 6");
  });
});

describe('dead letters and subscriptions', () => {
  it('lists, groups, fixes and replays, archives and purges dead letters', async () => {
    const handled: unknown[] = [];
    const sub = await t.bus.subscribe({
      name: '/http-deployer',
      topic: 'http.deploy',
      handler: (event) => {
        const { version } = event.payload as { version: number };
        if (version < 2) throw new NonRetryableError(`manifest v${version} is invalid`);
        handled.push(event.payload);
      },
    });
    await post('/v1/events', [
      envelope('http.deploy', 'DeployCommand', { version: 1 }),
      envelope('http.deploy', 'DeployCommand', { version: 0 }),
    ]);
    let letters: { id: number; status: string }[] = [];
    for (let i = 0; i < 300 && letters.length < 2; i++) {
      letters = (await json(get('/v1/dlq?subscription=%2Fhttp-deployer'))).dead_letters;
      if (letters.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    expect(letters).toHaveLength(2);
    const groups = (await json(get('/v1/dlq/groups'))).groups;
    expect(groups[0]).toMatchObject({ subscription: '/http-deployer', count: 2, reason: 'invalid_payload' });

    const [first, second] = letters as unknown as [{ id: number }, { id: number }];
    const one = await json(get(`/v1/dlq/${first.id}`));
    expect(one.event.envelope.event.type).toBe('DeployCommand');
    // Its one failed attempt, dead-lettered at once (no delay); lists leave attempts out.
    expect(one.attempts).toEqual([
      {
        attempt: 1,
        at: one.last_failed_at,
        reason: 'invalid_payload',
        error: expect.stringMatching(/^manifest v[01] is invalid$/),
      },
    ]);
    expect(letters[0]).not.toHaveProperty('attempts');

    const replayed = await post(`/v1/dlq/${first.id}/replay`, { payload: { version: 7 } });
    expect(replayed.status).toBe(200);
    expect(await json(replayed)).toMatchObject({ status: 'replayed', replayed_as: expect.any(String) });
    for (let i = 0; i < 300 && handled.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(handled).toEqual([{ version: 7 }]);
    await expectProblem(await post(`/v1/dlq/${first.id}/replay`, {}), 409, 'CONCURRENCY_CONFLICT');

    await expectProblem(await post(`/v1/dlq/${second.id}/archive`, {}), 400, 'OPTIONS_INVALID', 'body.note');
    const archived = await post(`/v1/dlq/${second.id}/archive`, { note: 'v0 manifests are gone' });
    expect(await json(archived)).toMatchObject({ status: 'archived', note: 'v0 manifests are gone' });

    const purged = await fetch(`${t.url}/v1/dlq?subscription=%2Fhttp-deployer`, { method: 'DELETE' });
    expect(await json(purged)).toEqual({ purged: 2 });
    await expectProblem(await get('/v1/dlq/999999'), 404, 'NOT_FOUND');
    await sub.close();
  });

  it('shows, pauses, resumes, resets and deletes a subscription by its encoded name', async () => {
    const sub = await t.bus.subscribe({ name: '/http-watcher', topic: 'http.watch', handler: () => {} });
    await sub.close();
    const list = (await json(get('/v1/subscriptions'))).subscriptions;
    expect(list.map((s: { name: string }) => s.name)).toContain('/http-watcher');
    const path = `/v1/subscriptions/${encodeURIComponent('/http-watcher')}`;
    expect(await json(get(path))).toMatchObject({ name: '/http-watcher', topic: 'http.watch', paused: false, webhook: null });
    expect(await json(post(`${path}/pause`, {}))).toMatchObject({ paused: true });
    expect(await json(post(`${path}/resume`, {}))).toMatchObject({ paused: false });
    const head = await t.bus.store.head();
    expect(await json(post(`${path}/reset`, { to: 'earliest' }))).toMatchObject({ next_seq: 1 });
    await expectProblem(await post(`${path}/reset`, { to: 'yesterday' }), 400, 'OPTIONS_INVALID', 'body.to');
    expect(head).toBeGreaterThan(0);
    expect((await fetch(`${t.url}${path}`, { method: 'DELETE' })).status).toBe(204);
    await expectProblem(await get(path), 404, 'NOT_FOUND');
  });
});

describe('timers', () => {
  it('lists pending timers earliest first and cancels one by its encoded id', async () => {
    const late = await t.bus.publish({
      topic: 'http.reminders',
      type: 'HttpReminder',
      id: 'evt-http-late',
      deliverAt: '2099-01-02T00:00:00Z',
    });
    await t.bus.publish({
      topic: 'http.reminders',
      type: 'HttpReminder',
      id: 'evt-http-early',
      deliverAt: '2099-01-01T00:00:00Z',
    });
    const key = (id: string, at: string) => `${String(Date.parse(at)).padStart(15, '0')}/${id}`;
    const early = key('evt-http-early', '2099-01-01T00:00:00Z');
    const body = await json(get('/v1/timers'));
    const ours = body.timers.filter((timer: { topic: string }) => timer.topic === 'http.reminders');
    expect(ours.map((timer: { id: string }) => timer.id)).toEqual([early, key('evt-http-late', '2099-01-02T00:00:00Z')]);
    expect(ours[1]).toMatchObject({
      due_at: '2099-01-02T00:00:00.000Z',
      kind: 'delayed',
      event_id: 'evt-http-late',
      type: 'HttpReminder',
      correlation_id: late.event.correlation_id,
      source: '/agentbus',
      envelope: { event: { id: 'evt-http-late' } },
    });
    expect(body.more).toBe(false);
    const one = await json(get('/v1/timers?limit=1'));
    expect([one.timers.length, one.more]).toEqual([1, true]);
    const path = `/v1/timers/${encodeURIComponent(early)}`;
    expect((await fetch(`${t.url}${path}`, { method: 'DELETE' })).status).toBe(204);
    expect((await json(get('/v1/timers'))).timers.map((timer: { id: string }) => timer.id)).not.toContain(early);
    await expectProblem(await fetch(`${t.url}${path}`, { method: 'DELETE' }), 404, 'NOT_FOUND', 'id');
  });

  it("refuses bad ids and parameters naming them, and keeps a workflow's timeout unless force=true", async () => {
    await expectProblem(await get('/v1/timers?limit=0'), 400, 'OPTIONS_INVALID', 'query.limit');
    await expectProblem(await get('/v1/timers?lmit=5'), 400, 'OPTIONS_INVALID', 'query.lmit');
    const del = (path: string) => fetch(`${t.url}${path}`, { method: 'DELETE' });
    await expectProblem(await del('/v1/timers/evt-http-late'), 400, 'OPTIONS_INVALID', 'id');
    const approval = await requestApproval(t.bus, { id: 'http-deploy', title: 'Deploy?', timeout: '10d' });
    const path = `/v1/timers/${encodeURIComponent(approval.timer_key)}`;
    await expectProblem(await del(`${path}?force=yes`), 400, 'OPTIONS_INVALID', 'query.force');
    const kept = await expectProblem(await del(path), 409, 'CONCURRENCY_CONFLICT', 'id');
    expect(kept.detail).toContain('is the timeout of approval http-deploy');
    expect(kept.detail).toContain('give force=true to cancel it anyway');
    expect(await t.bus.timers.get(approval.timer_key)).toBeDefined();
    expect((await del(`${path}?force=true`)).status).toBe(204);
    expect(await t.bus.timers.get(approval.timer_key)).toBeUndefined();
  });
});

describe('status and description', () => {
  it('reports health and a correlation timeline with its causation tree', async () => {
    expect(await json(get('/healthz'))).toMatchObject({ status: 'ok', head: expect.any(Number) });
    const root = await json(
      post('/v1/events', envelope('http.flow', 'FeatureStarted', {}, { id: 'evt-flow-root', correlation_id: 'flow-1' })),
    );
    await post(
      '/v1/events',
      envelope('http.flow', 'DesignStarted', {}, { id: 'evt-flow-child', correlation_id: 'flow-1', causation_id: root.event.id }),
    );
    const timeline = await json(get('/v1/timeline/flow-1'));
    expect(JSON.stringify(timeline)).toContain('evt-flow-child');
    expect(JSON.stringify(timeline)).toContain('DesignStarted');
  });

  it('describes every registered route in /openapi.json', async () => {
    const doc = await json(get('/openapi.json'));
    expect(doc.openapi).toMatch(/^3\./);
    const app = createApp({ bus: t.bus });
    const routes = app.routes.filter((r) => r.method !== 'ALL');
    expect(routes.length).toBeGreaterThan(30);
    const missing = routes
      .filter((r) => !doc.paths[toOpenApiPath(r.path)]?.[r.method.toLowerCase()])
      .map((r) => `${r.method} ${r.path}`);
    expect(missing).toEqual([]);
  });

  it('sends a Content-Security-Policy without unsafe-inline on every page', async () => {
    const response = await get('/', { accept: 'text/html' });
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    const html = await response.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=/);
  });
});
