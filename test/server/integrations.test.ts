/**
 * What `agentbus serve` wires in: Prometheus metrics and the status overview (src/observe),
 * webhook subscriptions run by src/agents (durable across restarts), agents, sagas and
 * aggregators.
 */
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServer, json, startTestServer } from './helpers.js';

/** A webhook receiver recording every POSTed envelope and its headers. */
let receiver: Server;
let receiverUrl: string;
const received: { body: { event: { type: string } }; headers: IncomingMessage['headers'] }[] = [];
let t: TestServer;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({ body: JSON.parse(body), headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  t = await startTestServer({ integrations: 'default' });
});
afterAll(async () => {
  await t?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

const post = (path: string, body: unknown) =>
  fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function until<T>(read: () => Promise<T> | T, done: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const value = await read();
    if (done(value)) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('webhook subscriptions', () => {
  it('creates a subscription that POSTs matching events to the URL, signed, and lists it without secrets', async () => {
    const secret = 'whsec-0123456789abcdef';
    const created = await post('/v1/subscriptions', {
      name: '/http-hook',
      topic: 'hooks.>',
      filter: 'type=HookWanted',
      webhook: { url: receiverUrl, secret, headers: { 'x-api-key': 'receiver-key-123' } },
    });
    expect(created.status).toBe(201);
    const body = await json(created);
    expect(body).toMatchObject({
      name: '/http-hook',
      topic: 'hooks.>',
      webhook: { url: receiverUrl, headers: ['x-api-key'], signed: true },
    });
    expect(JSON.stringify(body)).not.toContain(secret);
    expect(JSON.stringify(body)).not.toContain('receiver-key-123');

    await post('/v1/events', [
      { event: { type: 'HookUnwanted' }, payload: {}, routing: { topic: 'hooks.a' } },
      { event: { type: 'HookWanted' }, payload: { n: 1 }, routing: { topic: 'hooks.a' } },
    ]);
    await until(
      () => received.length,
      (n) => n >= 1,
      'the webhook call',
    );
    expect(received.map((r) => r.body.event.type)).toEqual(['HookWanted']);
    expect(received[0]?.headers['x-api-key']).toBe('receiver-key-123');
    expect(Object.keys(received[0]?.headers ?? {}).some((h) => h.includes('signature'))).toBe(true);

    const list = await json(fetch(`${t.url}/v1/subscriptions`));
    const hook = list.subscriptions.find((s: { name: string }) => s.name === '/http-hook');
    expect(hook.webhook).toMatchObject({ url: receiverUrl });
    expect(JSON.stringify(list)).not.toContain(secret);
  });

  it('refuses a second subscription of the same name and a bad URL, naming the field', async () => {
    const again = await post('/v1/subscriptions', { name: '/http-hook', topic: 'hooks.>', webhook: { url: receiverUrl } });
    expect(again.status).toBe(409);
    const bad = await post('/v1/subscriptions', { name: '/other-hook', topic: 'hooks.>', webhook: { url: 'ftp://x' } });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ code: 'OPTIONS_INVALID', field: 'body.webhook.url' });
    const badName = await post('/v1/subscriptions', { name: 'no-slash', topic: 'hooks.>', webhook: { url: receiverUrl } });
    expect(await json(badName)).toMatchObject({ code: 'OPTIONS_INVALID', field: 'body.name' });
    // The webhook runner's own checks: a header that would fail every call is refused now.
    const badHeader = await post('/v1/subscriptions', {
      name: '/header-hook',
      topic: 'hooks.>',
      webhook: { url: receiverUrl, headers: { 'x-ok': 'line\nbreak' } },
    });
    expect(badHeader.status).toBe(400);
    expect(await json(badHeader)).toMatchObject({ code: 'OPTIONS_INVALID', field: 'body.webhook.headers.x-ok' });
    expect((await fetch(`${t.url}/v1/subscriptions/${encodeURIComponent('/header-hook')}`)).status).toBe(404);
    const badRetry = await post('/v1/subscriptions', {
      name: '/retry-hook',
      topic: 'hooks.>',
      retry: { max_retries: 'three' },
      webhook: { url: receiverUrl },
    });
    expect(badRetry.status).toBe(400);
    expect(await json(badRetry)).toMatchObject({ code: 'OPTIONS_INVALID', field: 'body.retry.max_retries' });
    expect((await fetch(`${t.url}/v1/subscriptions/${encodeURIComponent('/retry-hook')}`)).status).toBe(404);
  });

  it('deletes a webhook subscription: no more calls', async () => {
    const deleted = await fetch(`${t.url}/v1/subscriptions/${encodeURIComponent('/http-hook')}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    const before = received.length;
    await post('/v1/events', { event: { type: 'HookWanted' }, payload: {}, routing: { topic: 'hooks.b' } });
    // Another subscription on the same topic proves the event was delivered somewhere by now.
    const sub = await t.bus.subscribe({ name: '/witness', topic: 'hooks.>', start: 'earliest', handler: () => {} });
    const head = await t.bus.store.head();
    await until(
      async () => (await t.bus.subscriptions.get('/witness'))?.ackFloor ?? 0,
      (n) => n >= head,
      'the witness',
    );
    // The webhook agent, were it still running, would have had the same time to deliver.
    await new Promise((r) => setTimeout(r, 300));
    await sub.close();
    expect(received.length).toBe(before);
  });
});

describe('observability', () => {
  it('serves Prometheus metrics and the status overview', async () => {
    const metrics = await fetch(`${t.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toContain('agentbus_');
    const status = await json(fetch(`${t.url}/v1/status`));
    expect(status).toMatchObject({
      head: expect.any(Number),
      throughput: { published: expect.any(Number) },
      health: { bus: expect.any(String) },
    });
  });

  it('counts the status throughput over the window asked for (default the last hour), refusing a bad one', async () => {
    await post('/v1/events', { event: { type: 'WindowedEvent' }, payload: {}, routing: { topic: 'window.http' } });
    const hour = await json(fetch(`${t.url}/v1/status`));
    expect(hour.throughput).toMatchObject({ window_ms: 3_600_000, published: expect.any(Number) });
    expect(hour.throughput.published).toBeGreaterThan(0);
    const quarter = await json(fetch(`${t.url}/v1/status?window=15m`));
    expect(quarter.throughput).toMatchObject({ window_ms: 900_000, published: hour.throughput.published });
    for (const value of ['soon', '0m', '25h', '90s']) {
      const bad = await fetch(`${t.url}/v1/status?window=${value}`);
      expect(bad.status, value).toBe(400);
      expect(await json(bad), value).toMatchObject({ code: 'OPTIONS_INVALID', field: 'query.window' });
    }
    const doc = await json(fetch(`${t.url}/openapi.json`));
    expect(doc.paths['/v1/status'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['window']);
    expect(doc.paths['/'].get.parameters.map((p: { name: string }) => p.name)).toEqual(['window']);
  });

  it('lists agents, sagas and aggregators', async () => {
    const agents = await json(fetch(`${t.url}/v1/agents`));
    expect(JSON.stringify(agents)).toContain('/http-hook');
    expect(await json(fetch(`${t.url}/v1/sagas`))).toEqual({ sagas: [] });
    expect(await json(fetch(`${t.url}/v1/aggregators`))).toEqual({ aggregators: [] });
  });
});
