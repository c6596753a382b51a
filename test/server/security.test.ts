/**
 * Security of `agentbus serve`: bearer tokens with per-topic publish and subscribe rules
 * (deny wins, no rule denies), the admin scope, every route guarded, loopback-only without
 * tokens, the body limit, and tokens kept out of logs and error bodies.
 */
import { createServer, request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedAddress } from '../../src/agents/index.js';
import { DEFAULT_WEBHOOK_DENY, createApp, createWebhookTargetPolicy, isLoopback, startServer } from '../../src/server/index.js';
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

  it('sends a signed-in browser back only to a path of this site (no open redirect through tabs or backslashes)', async () => {
    const signIn = async (next: string) => {
      const response = await fetch(`${t.url}/login`, {
        method: 'POST',
        body: new URLSearchParams({ token: READER, next }),
        redirect: 'manual',
      });
      await response.body?.cancel();
      return response.headers.get('location');
    };
    for (const next of ['/\t/evil.example', '/\n/evil.example', '/\\evil.example', '//evil.example', 'https://evil.example']) {
      expect(await signIn(next), JSON.stringify(next)).toBe('/');
    }
    expect(await signIn('/dlq/1?status=all')).toBe('/dlq/1?status=all');
    const form = await (await fetch(`${t.url}/login?next=${encodeURIComponent('/\t/evil.example')}`)).text();
    expect(form).toContain('name="next" value="/"');
  });

  it('refuses a sign-in posted from another site (login CSRF), setting no cookie', async () => {
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { origin: 'https://evil.example' }] as Record<string, string>[]) {
      const response = await fetch(`${t.url}/login`, {
        method: 'POST',
        headers,
        body: new URLSearchParams({ token: READER }),
        redirect: 'manual',
      });
      expect(response.status).toBe(403);
      expect(response.headers.get('set-cookie')).toBeNull();
      await response.body?.cancel();
    }
  });

  it('forbids framing with frame-ancestors and X-Frame-Options: DENY', async () => {
    const response = await fetch(`${t.url}/login`);
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    await response.body?.cancel();
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
    // As for an id that does not exist: the token is not told the event exists (ADR 0024).
    expect((await fetch(`${t.url}/v1/events/${secret.event.id}`, { headers: auth(READER) })).status).toBe(404);

    const stream = await openSse(`${t.url}/v1/events/stream?topic=project.>`, auth(READER));
    await stream.nextEvent('ready');
    await publish(ADMIN, 'project.secret.keys', 'HiddenEvent');
    await publish(ADMIN, 'project.tasks', 'LiveVisibleEvent');
    const first = await stream.nextEvent();
    stream.close();
    expect(JSON.parse(first.data ?? '{}').envelope.event.type).toBe('LiveVisibleEvent');
  });

  it('needs the admin scope for dead letters, timers and subscription changes', async () => {
    const sub = await t.bus.subscribe({ name: '/guarded', topic: 'project.guarded', handler: () => {} });
    await sub.close();
    const pause = `${t.url}/v1/subscriptions/%2Fguarded/pause`;
    expect((await fetch(`${t.url}/v1/dlq`, { headers: auth(READER) })).status).toBe(403);
    expect((await fetch(`${t.url}/v1/timers`, { headers: auth(READER) })).status).toBe(403);
    expect((await fetch(`${t.url}/v1/timers/001/evt`, { method: 'DELETE', headers: auth(PUBLISHER) })).status).toBe(403);
    expect((await fetch(`${t.url}/v1/timers`, { headers: auth(ADMIN) })).status).toBe(200);
    expect((await fetch(pause, { method: 'POST', headers: auth(PUBLISHER) })).status).toBe(403);
    expect((await fetch(`${t.url}/v1/subscriptions`, { headers: auth(READER) })).status).toBe(200);
    expect((await fetch(`${t.url}/v1/dlq`, { headers: auth(ADMIN) })).status).toBe(200);
    expect((await fetch(pause, { method: 'POST', headers: auth(ADMIN) })).status).toBe(200);
  });

  it('reads at most 10,000 events for one history page, telling a narrow token where to go on', async () => {
    const from = (await t.bus.store.head()) + 1;
    for (let i = 0; i < 10; i++) {
      await t.bus.publishBatch(Array.from({ length: 1000 }, () => ({ topic: 'noise.unreadable', type: 'Noise' })));
    }
    await t.bus.publishBatch(Array.from({ length: 5 }, () => ({ topic: 'noise.unreadable', type: 'Noise' })));
    const wanted = await t.bus.publish({ topic: 'project.scanned', type: 'FoundAfterTheNoise' });
    const first = await json(fetch(`${t.url}/v1/events?from_seq=${from}`, { headers: auth(READER) }));
    expect(first.events).toEqual([]);
    expect(first.next_from_seq).toBe(from + 10_000);
    const second = await json(fetch(`${t.url}/v1/events?from_seq=${first.next_from_seq}`, { headers: auth(READER) }));
    expect(second.events.map((e: { envelope: { event: { id: string } } }) => e.envelope.event.id)).toEqual([wanted.event.id]);
    expect(second.next_from_seq).toBeUndefined();
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

  it('refuses a server.webhookDeny entry that is not a network, naming it, and a deny list beside a policy', async () => {
    const bus = await createTestBus();
    try {
      await expect(startServer({ bus, port: 0, webhookDeny: ['10.0.0.0/8', '169.254.169.254'] })).rejects.toMatchObject({
        code: 'OPTIONS_INVALID',
        details: { field: 'server.webhookDeny[1]' },
      });
      // One policy for creations and calls: given as a list or as a policy, not both.
      await expect(
        startServer({ bus, port: 0, webhookDeny: ['10.0.0.0/8'], webhookTargets: createWebhookTargetPolicy() }),
      ).rejects.toMatchObject({ code: 'OPTIONS_INVALID', details: { field: 'webhookTargets' } });
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

describe('without tokens (loopback only)', () => {
  let open: TestServer;
  beforeAll(async () => {
    open = await startTestServer({ maxStreams: 2, headersTimeoutMs: 1000, integrations: 'default' });
  });
  afterAll(async () => {
    await open?.close();
  });

  it('refuses writes a browser sends from another site, such as a no-cors webhook that would copy every event out', async () => {
    const create = (headers: Record<string, string>) =>
      fetch(`${open.url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', ...headers },
        body: JSON.stringify({ name: '/exfiltrate', topic: '>', webhook: { url: 'http://127.0.0.1:9/collect' } }),
      });
    const browsers: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'https://evil.example' },
    ];
    for (const headers of browsers) {
      const refused = await create(headers);
      expect(refused.status).toBe(403);
      expect(await json(refused)).toMatchObject({ code: 'UNAUTHORIZED' });
    }
    expect((await fetch(`${open.url}/v1/subscriptions/%2Fexfiltrate`)).status).toBe(404);
    // A client that is not a browser (curl, an SDK) sends neither header.
    const created = await create({});
    expect(created.status).toBe(201);
    expect((await fetch(`${open.url}/v1/subscriptions/%2Fexfiltrate`, { method: 'DELETE' })).status).toBe(204);
  });

  it('refuses a webhook URL with a password, and shows one without its query values in the API and the dashboard', async () => {
    const create = (url: string) =>
      fetch(`${open.url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: '/redacted-hook', topic: 'redacted.>', webhook: { url } }),
      });
    // A password in the URL is refused outright (fetch would refuse it on every call, quoting it).
    const withPassword = await create('http://bot:pw-secret-4711@127.0.0.1:9/collect');
    expect(withPassword.status).toBe(400);
    expect(await withPassword.text()).not.toContain('pw-secret-4711');
    const created = await create('http://127.0.0.1:9/collect?key=k-secret-4712&team=ops');
    expect(created.status).toBe(201);
    const shown = [
      await created.text(),
      await (await fetch(`${open.url}/v1/subscriptions`)).text(),
      await (await fetch(`${open.url}/v1/agents`)).text(),
      await (await fetch(`${open.url}/subscriptions`)).text(),
      await (await fetch(`${open.url}/agents`)).text(),
    ].join('\n');
    expect(shown).toContain('http://127.0.0.1:9/collect?key=…&team=…');
    expect(shown).not.toContain('pw-secret-4711');
    expect(shown).not.toContain('k-secret-4712');
    expect((await fetch(`${open.url}/v1/subscriptions/%2Fredacted-hook`, { method: 'DELETE' })).status).toBe(204);
  });

  it('refuses webhooks to cloud metadata and link-local addresses (SSRF), however the address is written', async () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://0xA9FEA9FE/latest/',
      'http://[::ffff:169.254.169.254]/',
      'http://[fe80::1]:8080/',
      'http://[fd00:ec2::254]/',
    ]) {
      const refused = await fetch(`${open.url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: '/metadata', topic: '>', webhook: { url } }),
      });
      expect(refused.status, url).toBe(400);
      expect(await json(refused)).toMatchObject({ code: 'OPTIONS_INVALID', field: 'body.webhook.url' });
    }
    expect((await fetch(`${open.url}/v1/subscriptions/%2Fmetadata`)).status).toBe(404);
  });

  it('refuses webhooks into the networks server.webhookDeny names, also through a host name that resolves there', async () => {
    const strict = await startTestServer({ integrations: 'default', webhookDeny: ['127.0.0.0/8', '::1/128'] });
    try {
      const refused = await fetch(`${strict.url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: '/internal', topic: '>', webhook: { url: 'http://localhost:5432/' } }),
      });
      expect(refused.status).toBe(400);
      expect(await json(refused)).toMatchObject({
        field: 'body.webhook.url',
        reason: expect.stringMatching(/^localhost resolves to (127\.0\.0\.1|::1), which is in a network/),
      });
    } finally {
      await strict.close();
    }
  });

  it('checks every webhook call on the address it connects to: a name rebound into a denied network after creation is refused, retried and dead-lettered, never reached', async () => {
    // hooks.rebind.test resolves to what `answer` holds: 127.0.0.1 (allowed) when the webhook
    // is created and first called, then 127.0.0.2 (denied); a receiver listens on each.
    let answer: ResolvedAddress[] = [{ address: '127.0.0.1', family: 4 }];
    const resolve = async (host: string) => {
      if (host !== 'hooks.rebind.test') throw new Error(`getaddrinfo ENOTFOUND ${host}`);
      return answer;
    };
    const calls = { allowed: 0, deniedConnections: 0 };
    const allowed = createServer((req, res) => {
      calls.allowed++;
      req.resume().on('end', () => res.writeHead(200, { connection: 'close' }).end());
    });
    await new Promise<void>((r) => allowed.listen(0, '127.0.0.1', r));
    const { port } = allowed.address() as AddressInfo;
    const denied = createServer((_req, res) => res.writeHead(200).end());
    denied.on('connection', () => calls.deniedConnections++);
    await new Promise<void>((r) => denied.listen(port, '127.0.0.2', r));
    const strict = await startTestServer({
      integrations: 'default',
      webhookDeny: [...DEFAULT_WEBHOOK_DENY, '127.0.0.2/32'],
      resolve,
    });
    try {
      const url = `http://hooks.rebind.test:${port}/hook`;
      const created = await fetch(`${strict.url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          name: '/rebound',
          topic: 'deploy.>',
          webhook: { url },
          retry: { max_retries: 2, backoff_type: 'fixed', initial_delay: '10ms' },
        }),
      });
      expect(created.status).toBe(201);
      await strict.bus.publish({ topic: 'deploy.prod', type: 'DeployRequested' });
      for (let i = 0; i < 200 && calls.allowed === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(calls.allowed).toBe(1);

      answer = [{ address: '127.0.0.2', family: 4 }];
      await strict.bus.publish({ topic: 'deploy.prod', type: 'DeployRequested' });
      let dead = await strict.bus.deadLetters.list({ subscription: '/rebound' });
      for (let i = 0; i < 200 && dead.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
        dead = await strict.bus.deadLetters.list({ subscription: '/rebound' });
      }
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({
        reason: 'temporary_failure',
        retries: 2,
        error: `webhook POST ${url} failed: hooks.rebind.test resolves to 127.0.0.2, which is in a network webhooks may not reach (server.webhookDeny: 127.0.0.2/32)`,
      });
      expect(calls).toEqual({ allowed: 1, deniedConnections: 0 });

      // Created now, the same name is refused at once.
      const refused = await fetch(`${strict.url}/v1/subscriptions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: '/rebound-2', topic: 'deploy.>', webhook: { url } }),
      });
      expect(refused.status).toBe(400);
      expect(await json(refused)).toMatchObject({
        field: 'body.webhook.url',
        reason:
          'hooks.rebind.test resolves to 127.0.0.2, which is in a network webhooks may not reach (server.webhookDeny: 127.0.0.2/32)',
      });
    } finally {
      await strict.close();
      allowed.closeAllConnections();
      denied.closeAllConnections();
      await new Promise((r) => allowed.close(r));
      await new Promise((r) => denied.close(r));
    }
  });

  it('answers only requests addressed to a loopback name, so a DNS-rebound page reads nothing', async () => {
    const { port } = new URL(open.url);
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/v1/events', headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get(`evil.example:${port}`)).toBe(403);
    expect(await get(`localhost:${port}`)).toBe(200);
    expect(await get(`127.0.0.1:${port}`)).toBe(200);
    expect(await get(`[::1]:${port}`)).toBe(200);
  });

  it('refuses a live stream over maxStreams with 503 and Retry-After, and takes one again when a stream ends', async () => {
    const first = await openSse(`${open.url}/v1/events/stream`);
    const second = await openSse(`${open.url}/v1/events/stream`);
    await first.nextEvent('ready');
    await second.nextEvent('ready');
    const refused = await fetch(`${open.url}/v1/events/stream`, { headers: { accept: 'text/event-stream' } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await json(refused)).toMatchObject({ code: 'BACKPRESSURE', limit: 2 });
    first.close();
    let again: Awaited<ReturnType<typeof openSse>> | undefined;
    for (let i = 0; i < 50 && again === undefined; i++) {
      const attempt = await openSse(`${open.url}/v1/events/stream`);
      if (attempt.status === 200) again = attempt;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(again?.status).toBe(200);
    again?.close();
    second.close();
  });

  it('answers 408 and closes a connection that trickles its headers (slow-loris) once headersTimeoutMs has passed', async () => {
    const { port } = new URL(open.url);
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    const started = Date.now();
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - started)));
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
    const trickle = setInterval(() => socket.write(`x-slow-${Date.now()}: 1\r\n`), 200);
    const after = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 8000))]);
    clearInterval(trickle);
    socket.destroy();
    expect(after).toBeGreaterThan(0);
    expect(after).toBeLessThan(4000);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  });
});
