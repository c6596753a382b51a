/**
 * Security of `agentbus serve`: bearer tokens with per-topic publish and subscribe rules
 * (deny wins, no rule denies), the admin scope, every route guarded, loopback-only without
 * tokens, the body limit, and tokens kept out of logs and error bodies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, isLoopback, startServer } from '../../src/server/index.js';
import { createTestBus } from '../../src/testing.js';
import { type TestServer, json, openSse, startTestServer, token } from './helpers.js';

const PUBLISHER = 'tok-publisher-0123456789abcdef';
const READER = 'tok-reader-0123456789abcdef';
const ADMIN = 'tok-admin-0123456789abcdef';
const WRONG = 'tok-wrong-0123456789abcdef';
const SECRETS = [PUBLISHER, READER, ADMIN, WRONG];

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({
    bodyLimit: 64 * 1024,
    tokens: [
      token('publisher', PUBLISHER, { publish: ['project.>', 'project.secret.exact'], publishDeny: ['project.secret.>'] }),
      token('reader', READER, { subscribe: ['project.>'], subscribeDeny: ['project.secret.>'] }),
      token('admin', ADMIN, { publish: ['>'], subscribe: ['>'], admin: true }),
    ],
  });
});
afterAll(async () => {
  await t?.close();
});

const auth = (secret: string) => ({ authorization: `Bearer ${secret}` });
const publish = (secret: string | undefined, topic: string, type = 'TaskCompletedEvent') =>
  fetch(`${t.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret ? auth(secret) : {}) },
    body: JSON.stringify({ event: { type }, payload: {}, routing: { topic } }),
  });

describe('authentication', () => {
  it('answers 401 with problem details and WWW-Authenticate without a valid token', async () => {
    for (const headers of [{}, auth(WRONG), { authorization: `Basic ${WRONG}` }]) {
      const response = await fetch(`${t.url}/v1/events`, { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      expect(response.headers.get('www-authenticate')).toContain('Bearer');
      const text = await response.text();
      expect(JSON.parse(text)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
      expect(text).not.toContain(WRONG);
    }
  });

  it('guards every route once tokens are configured, except sign-in and static assets', async () => {
    const app = createApp({ bus: t.bus, tokens: [token('x', ADMIN)] });
    const open: string[] = [];
    for (const route of app.routes.filter((r) => r.method !== 'ALL')) {
      const path = route.path.replace(/:[A-Za-z]+/g, '1');
      const response = await fetch(`${t.url}${path}`, { method: route.method, redirect: 'manual' });
      if (response.status !== 401) open.push(`${route.method} ${route.path} -> ${response.status}`);
      await response.body?.cancel();
    }
    // POST /login is public too, but refuses a missing token with 401 (and its form).
    expect(open.sort()).toEqual(['GET /assets/:name -> 404', 'GET /login -> 200', 'POST /logout -> 303'].sort());
  });

  it('sends a browser without a token to the sign-in page, and signs it in with an HttpOnly cookie', async () => {
    const page = await fetch(`${t.url}/dlq`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Fdlq');
    const refused = await fetch(`${t.url}/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: WRONG }),
      redirect: 'manual',
    });
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain(WRONG);
    const login = await fetch(`${t.url}/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: ADMIN, next: '/dlq' }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/dlq');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    const session = cookie.split(';')[0] ?? '';
    expect((await fetch(`${t.url}/dlq`, { headers: { cookie: session } })).status).toBe(200);
    // A write carried by the cookie alone must come from this origin.
    const crossSite = await fetch(`${t.url}/ui/dlq/replay`, {
      method: 'POST',
      headers: { cookie: session, 'sec-fetch-site': 'cross-site' },
      body: new URLSearchParams({ ids: '1' }),
    });
    expect(crossSite.status).toBe(403);
  });
});

describe('per-topic rules', () => {
  it('publishes only where an allow rule matches and no deny rule does (deny wins)', async () => {
    expect((await publish(PUBLISHER, 'project.tasks')).status).toBe(201);
    const denied = await publish(PUBLISHER, 'project.secret.exact');
    expect(denied.status).toBe(403);
    expect(await json(denied)).toMatchObject({ code: 'UNAUTHORIZED', status: 403 });
    expect((await publish(PUBLISHER, 'other.tasks')).status).toBe(403);
    // No publish rule at all: nothing may be published.
    expect((await publish(READER, 'project.tasks')).status).toBe(403);
  });

  it('refuses a whole batch when one event is denied, writing nothing', async () => {
    const head = await t.bus.store.head();
    const response = await fetch(`${t.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(PUBLISHER) },
      body: JSON.stringify([
        { event: { type: 'A' }, payload: {}, routing: { topic: 'project.tasks' } },
        { event: { type: 'B' }, payload: {}, routing: { topic: 'project.secret.keys' } },
      ]),
    });
    expect(response.status).toBe(403);
    expect(await t.bus.store.head()).toBe(head);
  });

  it('reads history, single events and the live stream only on allowed topics', async () => {
    await publish(ADMIN, 'project.reviews', 'VisibleEvent');
    const secret = await json(publish(ADMIN, 'project.secret.keys', 'HiddenEvent'));
    const history = await json(fetch(`${t.url}/v1/events?topic=project.>`, { headers: auth(READER) }));
    const types = history.events.map((e: { envelope: { event: { type: string } } }) => e.envelope.event.type);
    expect(types).toContain('VisibleEvent');
    expect(types).not.toContain('HiddenEvent');
    expect((await fetch(`${t.url}/v1/events/${secret.event.id}`, { headers: auth(READER) })).status).toBe(403);

    const stream = await openSse(`${t.url}/v1/events/stream?topic=project.>`, auth(READER));
    await stream.nextEvent('ready');
    await publish(ADMIN, 'project.secret.keys', 'HiddenEvent');
    await publish(ADMIN, 'project.tasks', 'LiveVisibleEvent');
    const first = await stream.nextEvent();
    stream.close();
    expect(JSON.parse(first.data ?? '{}').envelope.event.type).toBe('LiveVisibleEvent');
  });

  it('needs the admin scope for dead letters and subscription changes', async () => {
    const sub = await t.bus.subscribe({ name: '/guarded', topic: 'project.guarded', handler: () => {} });
    await sub.close();
    const pause = `${t.url}/v1/subscriptions/%2Fguarded/pause`;
    expect((await fetch(`${t.url}/v1/dlq`, { headers: auth(READER) })).status).toBe(403);
    expect((await fetch(pause, { method: 'POST', headers: auth(PUBLISHER) })).status).toBe(403);
    expect((await fetch(`${t.url}/v1/subscriptions`, { headers: auth(READER) })).status).toBe(200);
    expect((await fetch(`${t.url}/v1/dlq`, { headers: auth(ADMIN) })).status).toBe(200);
    expect((await fetch(pause, { method: 'POST', headers: auth(ADMIN) })).status).toBe(200);
  });

  it('never writes a token into the log', () => {
    const log = t.logs.join('\n');
    expect(t.logs.length).toBeGreaterThan(10);
    for (const secret of SECRETS) expect(log).not.toContain(secret);
    expect(log).toMatch(/ 403 \d+ms publisher/);
  });
});

describe('body limit', () => {
  it('answers 413 for a declared length over the limit, writing nothing', async () => {
    const head = await t.bus.store.head();
    const big = JSON.stringify({
      event: { type: 'Big' },
      payload: { blob: 'x'.repeat(70 * 1024) },
      routing: { topic: 'project.big' },
    });
    const response = await fetch(`${t.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(ADMIN) },
      body: big,
    });
    expect(response.status).toBe(413);
    expect(await json(response)).toMatchObject({ status: 413, field: 'body', limit: 64 * 1024 });
    expect(await t.bus.store.head()).toBe(head);
  });

  it('answers 413 for a chunked body once it passes the limit, without reading the rest', async () => {
    let pulled = 0;
    const chunk = new Uint8Array(16 * 1024).fill(0x20);
    // 64 MiB announced by nothing: the server must stop long before the end.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        if (pulled > 4096) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${t.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(ADMIN) },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(pulled).toBeLessThan(4096);
  });
});

describe('binding', () => {
  it('refuses a non-loopback address without tokens, and binds it with tokens', async () => {
    const bus = await createTestBus();
    try {
      await expect(startServer({ bus, host: '0.0.0.0', port: 0 })).rejects.toMatchObject({
        code: 'OPTIONS_INVALID',
        details: { field: 'server.host' },
      });
      const server = await startServer({ bus, host: '0.0.0.0', port: 0, tokens: [token('ops', ADMIN, { admin: true })] });
      expect(server.port).toBeGreaterThan(0);
      await server.close();
    } finally {
      await bus.dispose();
    }
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.8.9.1', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(isLoopback(host)).toBe(true);
    for (const host of ['0.0.0.0', '10.0.0.1', '::', 'example.com', '192.168.1.1']) expect(isLoopback(host)).toBe(false);
  });
});
