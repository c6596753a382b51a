/**
 * The HTTP API refuses bad admin and history input with a 4xx problem naming the field, and
 * writes nothing when it does: dead-letter replay, archive and purge, subscription reset,
 * history and stream parameters, NUL bytes in any string (on SQLite and PostgreSQL alike),
 * and requests Node's parser refuses before the app sees them.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOnEachStore, openDeadLetters } from '../support/admin-buses.js';
import { type TestServer, json, startTestServer } from './helpers.js';

async function expectProblem(response: Response | Promise<Response>, status: number, field?: string) {
  const r = await response;
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toBe('application/problem+json');
  const body = (await json(r)) as Record<string, unknown>;
  expect(body.status).toBe(status);
  if (field !== undefined) expect(body.field).toBe(field);
  return body;
}

function describeAdminHttp(backend: string, start: () => Promise<{ t: TestServer; dispose: () => Promise<void> }>) {
  describe(`HTTP admin and history input on ${backend}`, () => {
    let t: TestServer;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ t, dispose } = await start());
    });
    afterAll(async () => {
      await dispose?.();
    });

    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${t.url}${path}`, { headers });
    const post = (path: string, body?: unknown) =>
      fetch(`${t.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const del = (path: string) => fetch(`${t.url}${path}`, { method: 'DELETE' });

    const deadLetters = (n: number) => openDeadLetters(t.bus, n);
    const statuses = (ids: number[]) => Promise.all(ids.map(async (id) => (await t.bus.deadLetters.get(id))?.status));

    it('POST /v1/dlq/replay checks every id before replaying any', async () => {
      const { ids } = await deadLetters(2);
      const [a, b] = ids as [number, number];
      await expectProblem(post('/v1/dlq/replay', { ids: [a, a] }), 400, 'body.ids[1]');
      await expectProblem(post('/v1/dlq/replay', { ids: [a, 99_999_999] }), 404, 'body.ids[1]');
      await expectProblem(post('/v1/dlq/replay', { all: true, ids: [a] }), 400, 'body.ids');
      await expectProblem(post('/v1/dlq/replay', { ids: [a], subscription: 'x' }), 400, 'body.subscription');
      await expectProblem(post('/v1/dlq/replay', { ids: [a], force: true }), 400, 'body.force');
      await expectProblem(post('/v1/dlq/replay', { ids: [2 ** 53] }), 400, 'body.ids[0]');
      expect(await statuses(ids)).toEqual(['open', 'open']);
      await t.bus.deadLetters.archive(b, 'resolved');
      await expectProblem(post('/v1/dlq/replay', { ids: [a, b] }), 409, 'body.ids[1]');
      expect(await statuses(ids)).toEqual(['open', 'archived']);
    });

    it('POST /v1/dlq/replay sent again with skip_replayed leaves out what the first request replayed', async () => {
      const { ids } = await deadLetters(2);
      const [a, b] = ids as [number, number];
      expect((await post('/v1/dlq/replay', { ids: [a] })).status).toBe(200);
      await expectProblem(post('/v1/dlq/replay', { ids: [a, b] }), 409, 'body.ids[0]');
      await expectProblem(post('/v1/dlq/replay', { ids: [a, b], skip_replayed: 'yes' }), 400, 'body.skip_replayed');
      const again = await post('/v1/dlq/replay', { ids: [a, b], skip_replayed: true });
      expect(again.status).toBe(200);
      expect(((await again.json()) as { replayed: Array<{ id: number }> }).replayed.map((d) => d.id)).toEqual([b]);
      expect(await statuses(ids)).toEqual(['replayed', 'replayed']);
    });

    it('an empty subscription is refused, never read as every subscription', async () => {
      const { name, ids } = await deadLetters(2);
      await t.bus.deadLetters.archive(ids[1] as number, 'resolved');
      await expectProblem(post('/v1/dlq/replay', { all: true, subscription: '' }), 400, 'body.subscription');
      await expectProblem(del('/v1/dlq?subscription='), 400, 'query.subscription');
      await expectProblem(get('/v1/dlq?subscription='), 400, 'query.subscription');
      expect(await statuses(ids)).toEqual(['open', 'archived']);
      expect(await t.bus.deadLetters.list({ subscription: name, status: 'archived' })).toHaveLength(1);
    });

    it('a misspelt query parameter is refused naming it, never dropped: a purge with ?subscripton= deletes nothing', async () => {
      const { name, ids } = await deadLetters(2);
      await t.bus.deadLetters.archive(ids[1] as number, 'resolved');
      const purge = await expectProblem(del(`/v1/dlq?subscripton=${encodeURIComponent(name)}`), 400, 'query.subscripton');
      expect(purge.detail).toMatch(/unknown parameter; this route takes subscription, status/);
      expect(await statuses(ids)).toEqual(['open', 'archived']);
      await expectProblem(get('/v1/events?correlationId=project-xyz-123'), 400, 'query.correlationId');
      await expectProblem(get('/v1/events/stream?topics=project.%3E'), 400, 'query.topics');
      await expectProblem(get('/v1/dlq?state=open'), 400, 'query.state');
      await expectProblem(get('/v1/dlq/groups?status=open'), 400, 'query.status');
      await expectProblem(get('/v1/status?windw=15m'), 400, 'query.windw');
      expect((await get('/v1/events?correlation_id=project-xyz-123&limit=5')).status).toBe(200);
    });

    it('GET /v1/dlq?correlation_id= lists the dead letters of that flow only, with the other filters', async () => {
      const flow = `flow-${randomBytes(3).toString('hex')}`;
      const other = await deadLetters(2);
      const own = await openDeadLetters(t.bus, 2, { correlationId: flow });
      type Listed = {
        dead_letters: Array<{ id: number; subscription: string; event: { envelope: { event: { correlation_id: string } } } }>;
      };
      const list = async (query: string) => ((await json(get(`/v1/dlq?${query}`))) as Listed).dead_letters;
      const listed = await list(`correlation_id=${flow}`);
      expect(listed.map((d) => d.id)).toEqual(own.ids);
      expect(listed.map((d) => d.event.envelope.event.correlation_id)).toEqual([flow, flow]);
      expect(await list(`correlation_id=${flow}&subscription=${encodeURIComponent(other.name)}`)).toEqual([]);
      await t.bus.deadLetters.archive(own.ids[0] as number, 'resolved');
      expect((await list(`correlation_id=${flow}`)).map((d) => d.id)).toEqual(own.ids.slice(1));
      expect((await list(`correlation_id=${flow}&status=all&limit=1`)).map((d) => d.id)).toEqual(own.ids.slice(0, 1));
      expect(await list('correlation_id=flow-nobody-has&status=all')).toEqual([]);
    });

    it('GET /v1/dlq refuses an empty, overlong or misspelt correlation filter, naming it', async () => {
      const empty = await expectProblem(get('/v1/dlq?correlation_id='), 400, 'query.correlation_id');
      expect(empty.code).toBe('OPTIONS_INVALID');
      expect(empty.detail).toMatch(/must not be empty/);
      const long = await expectProblem(get(`/v1/dlq?correlation_id=${'x'.repeat(256)}`), 400, 'query.correlation_id');
      expect(long.detail).toMatch(/1-255 characters/);
      for (const control of ['a%07b', 'a%00b']) {
        const problem = await expectProblem(get(`/v1/dlq?correlation_id=${control}`), 400, 'query.correlation_id');
        expect(problem.detail).toMatch(/control characters/);
      }
      await expectProblem(get('/v1/dlq?correlationId=flow-1'), 400, 'query.correlationId');
      // Purges and groups have no correlation filter: it is refused there, never dropped.
      await expectProblem(del('/v1/dlq?correlation_id=flow-1&status=all'), 400, 'query.correlation_id');
      await expectProblem(get('/v1/dlq/groups?correlation_id=flow-1'), 400, 'query.correlation_id');
    });

    it("the dashboard's DLQ page narrows its list to one flow with correlation_id", async () => {
      const flow = `flow-${randomBytes(3).toString('hex')}`;
      const other = await deadLetters(1);
      const own = await openDeadLetters(t.bus, 1, { correlationId: flow });
      const html = { accept: 'text/html' };
      const row = (id: number | undefined) => `data-dead-letter="${id}"`;
      const page = await get(`/dlq?status=all&correlation_id=${flow}`, html);
      expect(page.status).toBe(200);
      const text = await page.text();
      expect(text).toContain(row(own.ids[0]));
      expect(text).not.toContain(row(other.ids[0]));
      expect(text).toContain(`/ui/dlq?status=all&amp;correlation_id=${flow}`);
      const fragment = await (await get(`/ui/dlq?correlation_id=${flow}`, html)).text();
      expect(fragment).toContain(row(own.ids[0]));
      expect(fragment).not.toContain(row(other.ids[0]));
      // An empty field, as the form sends it, is no filter.
      expect(await (await get('/ui/dlq?correlation_id=', html)).text()).toContain(row(other.ids[0]));
      expect((await get('/ui/dlq?correlation_id=a%00b', html)).status).toBe(400);
    });

    it('POST /v1/dlq/{id}/replay and /archive refuse unknown body fields; ids are positive safe integers', async () => {
      const { ids } = await deadLetters(1);
      const id = ids[0] as number;
      await expectProblem(post(`/v1/dlq/${id}/replay`, { payload: {}, x: 1 }), 400, 'body.x');
      await expectProblem(post(`/v1/dlq/${id}/archive`, { note: 'n', x: 1 }), 400, 'body.x');
      await expectProblem(get('/v1/dlq/99999999999999999999'), 400, 'id');
      await expectProblem(get('/v1/dlq/0'), 400, 'id');
      expect(await statuses(ids)).toEqual(['open']);
    });

    it('POST /v1/subscriptions/{name}/reset needs "to" and no other field', async () => {
      const name = `reset-${randomBytes(3).toString('hex')}`;
      const sub = await t.bus.subscribe({ name, topic: 'admin.reset', start: 'earliest', handler: () => {} });
      await t.bus.publish({ topic: 'admin.reset', type: 'Tick' });
      await sub.idle();
      await sub.close();
      const before = await t.bus.subscriptions.get(name);
      const path = `/v1/subscriptions/${encodeURIComponent(name)}/reset`;
      await expectProblem(post(path), 400, 'body.to');
      await expectProblem(post(path, {}), 400, 'body.to');
      await expectProblem(post(path, { to: 'earliest', x: 1 }), 400, 'body.x');
      expect(await t.bus.subscriptions.get(name)).toEqual(before);
      expect((await post(path, { to: 'earliest' })).status).toBe(200);
    });

    it('GET /v1/events refuses an empty topic or type rather than reading everything', async () => {
      await expectProblem(get('/v1/events?topic='), 400, 'query.topic');
      await expectProblem(get('/v1/events?type='), 400, 'query.type');
    });

    it('the stream refuses positions beyond 2^53', async () => {
      await expectProblem(get('/v1/events/stream?from=9007199254740993'), 400, 'query.from');
      await expectProblem(get('/v1/events/stream', { 'last-event-id': '9007199254740993' }), 400, 'Last-Event-ID');
    });

    it.each([
      ['/v1/timeline/a%00b', 'correlation'],
      ['/v1/events?correlation_id=a%00b', 'query.correlation_id'],
      ['/v1/events?causation_id=a%00b', 'query.causation_id'],
      ['/v1/events?type=a%00b', 'query.type'],
      ['/v1/events/a%00b', 'id'],
      ['/v1/dlq?subscription=a%00b', 'query.subscription'],
      ['/v1/dlq/groups?subscription=a%00b', 'query.subscription'],
    ])('GET %s with a NUL byte is 400 naming %s', async (path, field) => {
      await expectProblem(get(path), 400, field);
    });

    it('a NUL byte in a DLQ body or purge filter is 400 and writes nothing', async () => {
      const { ids } = await deadLetters(1);
      const id = ids[0] as number;
      await expectProblem(post('/v1/dlq/replay', { all: true, subscription: 'a\u0000b' }), 400, 'body.subscription');
      await expectProblem(post(`/v1/dlq/${id}/archive`, { note: 'a\u0000b' }), 400, 'body.note');
      await expectProblem(del('/v1/dlq?subscription=a%00b'), 400, 'query.subscription');
      expect(await statuses(ids)).toEqual(['open']);
    });

    it('an id repeated within one publish is stored once; the later copy answers with the first', async () => {
      const id = `evt-twice-${randomBytes(4).toString('hex')}`;
      const envelope = (n: number) => ({ event: { id, type: 'Twice' }, payload: { n }, routing: { topic: 'admin.twice' } });
      const response = await post('/v1/events', [envelope(1), envelope(2)]);
      expect(response.status).toBe(201);
      const stored = (await json(response)) as Array<{ payload: unknown }>;
      expect(stored.map((e) => e.payload)).toEqual([{ n: 1 }, { n: 1 }]);
      const found = (await json(get(`/v1/events?type=Twice&topic=admin.twice`))).events as unknown[];
      expect(found).toHaveLength(1);
    });
  });
}

describeOnEachStore((backend, open) =>
  describeAdminHttp(backend, async () => {
    const { bus, dispose } = await open();
    const t = await startTestServer({ bus });
    return {
      t,
      dispose: async () => {
        await t.close();
        await dispose();
      },
    };
  }),
);

/**
 * Sends each request on one raw socket, the next once the server has answered the one
 * before, and resolves with everything the server answered when it closes the connection.
 */
function raw(url: string, ...requests: string[]): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const pending = [...requests];
    const socket = connect(Number(port), hostname, () => socket.write(pending.shift() ?? ''));
    let answer = '';
    let answered = 0;
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
      // The answer so far is complete when its body has the length its head announced.
      const current = answer.slice(answered);
      const [head, body] = current.split('\r\n\r\n', 2);
      const length = Number(/content-length: (\d+)/i.exec(head ?? '')?.[1]);
      if (body === undefined || Buffer.byteLength(body) < length) return;
      answered = answer.length;
      const next = pending.shift();
      if (next !== undefined) socket.write(next);
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe("requests Node's HTTP parser refuses", () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t?.close();
  });

  function problemOf(answer: string) {
    const [head = '', body = ''] = answer.split('\r\n\r\n');
    return { head, problem: JSON.parse(body) as Record<string, unknown> };
  }

  it('a URL over 16 KB is 431 with a problem naming the headers', async () => {
    const response = await fetch(`${t.url}/v1/events?${'x'.repeat(17_000)}`);
    expect(response.status).toBe(431);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(await json(response)).toMatchObject({ status: 431, code: 'OPTIONS_INVALID', field: 'headers' });
  });

  it('a malformed Content-Length is 400 with a problem naming it', async () => {
    const { head, problem } = problemOf(
      await raw(t.url, 'POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n{}'),
    );
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head.toLowerCase()).toContain('content-type: application/problem+json');
    expect(problem).toMatchObject({ status: 400, code: 'OPTIONS_INVALID', field: 'content-length' });
  });

  it('a body that is not UTF-8 is 400 naming the body, and nothing is stored', async () => {
    const envelope = Buffer.from(
      '{"event":{"type":"TaskCompletedEvent"},"payload":{"note":"\u00ff"},"routing":{"topic":"project.tasks"}}',
    );
    const bad = Buffer.concat([envelope.subarray(0, 60), Buffer.from([0xff, 0xfe]), envelope.subarray(60)]);
    const response = await fetch(`${t.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: bad,
    });
    expect(response.status).toBe(400);
    expect(await json(response)).toMatchObject({ field: 'body' });
    expect(await json(await fetch(`${t.url}/v1/events`))).toMatchObject({ events: [] });
  });

  it('after an answered request on a kept-alive connection, an oversized one still gets its problem', async () => {
    const first = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n';
    const second = `GET /v1/events?${'x'.repeat(17_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    const answer = await raw(t.url, first, second);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('HTTP/1.1 431 ');
    expect(answer).toContain('"field":"headers"');
  });
});
