import { type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type HostResolver,
  type ResolvedAddress,
  WEBHOOK_HEADERS,
  createNetworkPolicy,
  defineAgent,
  signWebhook,
  verifyWebhookSignature,
  webhookRunner,
} from '../../src/agents/index.js';
import type { Envelope } from '../../src/envelope/index.js';
import { FAST_RETRY, type Harness, eventually, harness, history, waitForDeadLetter, waitForEvents } from './helpers.js';

const SECRET = 'test-secret-0123456789';

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly verified: boolean;
}

let h: Harness | undefined;
let server: Server | undefined;
afterEach(async () => {
  await h?.dispose();
  h = undefined;
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

/** A real HTTP server answering each request with `answer(request number, envelope)`. */
async function receiver(
  answer: (n: number, envelope: Envelope, res: ServerResponse) => void,
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const created = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      const verified = verifyWebhookSignature({
        secret: SECRET,
        body,
        timestamp: req.headers[WEBHOOK_HEADERS.timestamp] as string,
        signature: req.headers[WEBHOOK_HEADERS.signature] as string,
      });
      received.push({ headers: req.headers, body, verified });
      answer(received.length, JSON.parse(body) as Envelope, res);
    });
  });
  server = created;
  await new Promise<void>((resolve) => created.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(created.address() as AddressInfo).port}/agent`, received };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
}

async function startWebhookAgent(url: string, extra: { timeout?: string } = {}) {
  h = await harness();
  await h.runtime.start(
    defineAgent({
      name: '/code-reviewer',
      subscriptions: [
        {
          topic: 'project.reviews',
          filter: 'type=ReviewRequestedEvent',
          retry: FAST_RETRY,
          runner: { type: 'webhook', url, secret: SECRET, ...extra },
        },
      ],
    }),
  );
  return h.bus;
}

describe('webhook runner', () => {
  it('POSTs the signed envelope; a 2xx acknowledges and publishes the events in its body', async () => {
    const { url, received } = await receiver((_n, envelope, res) =>
      json(res, 200, {
        events: [
          { type: 'ReviewCompletedEvent', payload: { approved: true, of: envelope.event.id } },
          { type: 'Audit', topic: 'audit.reviews' },
        ],
      }),
    );
    const bus = await startWebhookAgent(url);
    const request = await bus.publish({
      topic: 'project.reviews',
      type: 'ReviewRequestedEvent',
      correlationId: 'c-1',
      payload: { pr: 7 },
    });
    const [done] = await waitForEvents(bus, 'ReviewCompletedEvent');
    expect(done?.payload).toEqual({ approved: true, of: request.event.id });
    expect(done?.event).toMatchObject({ source: '/code-reviewer', correlation_id: 'c-1', causation_id: request.event.id });
    expect(done?.routing.topic).toBe('project.reviews');
    expect((await history(bus, 'Audit'))[0]?.routing.topic).toBe('audit.reviews');
    expect(received).toHaveLength(1);
    const first = received[0] as Received;
    expect(first.verified).toBe(true);
    expect(JSON.parse(first.body)).toEqual(request);
    expect(first.headers[WEBHOOK_HEADERS.eventId]).toBe(request.event.id);
    expect(first.headers[WEBHOOK_HEADERS.attempt]).toBe('1');
    expect(first.headers[WEBHOOK_HEADERS.agent]).toBe('/code-reviewer');
    expect(first.headers['content-type']).toBe('application/json');
  });

  it('leaves nothing behind on the handler signal it shares with other deliveries, call after call (soak)', async () => {
    // Regression: AbortSignal.any([ctx.signal, timeout]) per call kept a WeakRef in ctx.signal
    // on Node 20; without a subscription timeout that signal is one for the whole process,
    // so a long-running `agentbus run` grew by every webhook call.
    const { url } = await receiver((_n, _e, res) => json(res, 200, [{ type: 'Reviewed' }]));
    const bus = await startWebhookAgent(url);
    let shared: AbortSignal | undefined;
    await bus.subscribe({
      name: 'peek',
      topic: 'peek',
      handler: (_e, ctx) => {
        shared = ctx.signal;
      },
    });
    await bus.publish({ topic: 'peek', type: 'Peek' });
    const signal = await eventually(() => shared, 'the peek handler');
    const calls = 40;
    for (let i = 0; i < calls; i++) await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    await waitForEvents(bus, 'Reviewed', calls);
    // Node keeps the signals derived from a signal under this internal symbol.
    const dependants = Object.getOwnPropertySymbols(signal).find((s) => s.description === 'kDependantSignals');
    const size = dependants ? ((signal as unknown as Record<symbol, Set<unknown>>)[dependants]?.size ?? 0) : 0;
    expect(size).toBeLessThan(calls / 4);
  });

  it('retries a 5xx and acknowledges the later 2xx (a bare array of events)', async () => {
    const { url, received } = await receiver((n, _e, res) =>
      n < 3 ? json(res, 503, { error: 'warming up' }) : json(res, 200, [{ type: 'Reviewed' }]),
    );
    const bus = await startWebhookAgent(url);
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    await waitForEvents(bus, 'Reviewed');
    expect(received.map((r) => r.headers[WEBHOOK_HEADERS.attempt])).toEqual(['1', '2', '3']);
    expect(await bus.deadLetters.list()).toEqual([]);
  });

  it('dead-letters a 4xx at once, without retrying, with the status and body in the error', async () => {
    const { url, received } = await receiver((_n, _e, res) => json(res, 422, { error: 'missing pr' }));
    const bus = await startWebhookAgent(url);
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('invalid_payload');
    expect(dead.error).toBe(`webhook POST ${url} answered 422: {"error":"missing pr"}`);
    expect(received).toHaveLength(1);
  });

  it('treats 401 as unauthorized and a timeout as retryable, dead-lettering after the last retry', async () => {
    const auth = await receiver((_n, _e, res) => json(res, 401, {}));
    let bus = await startWebhookAgent(auth.url);
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    expect((await waitForDeadLetter(bus)).reason).toBe('unauthorized');
    await h?.dispose();
    h = undefined;
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));

    // Never answers: every attempt times out.
    const slow = await receiver(() => {});
    bus = await startWebhookAgent(slow.url, { timeout: '150ms' });
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('timeout');
    expect(dead.error).toMatch(/timed out after 150 ms/);
    expect(dead.retries).toBeGreaterThanOrEqual(2);
    await eventually(() => slow.received.length === 3, 'three attempts');
  });

  it('dead-letters a 2xx whose events are malformed, publishing none of them', async () => {
    const { url } = await receiver((_n, _e, res) => json(res, 200, { events: [{ type: 'Fine' }, { payload: {} }] }));
    const bus = await startWebhookAgent(url);
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('invalid_output');
    expect(dead.error).toContain('events[1].type');
    expect(await history(bus, 'Fine')).toEqual([]);
  });
});

describe('webhook runner with a network policy', () => {
  /** A name this test controls: it resolves to whatever `answer` holds at the time. */
  const HOST = 'hooks.rebind.test';
  let answer: ResolvedAddress[] = [];
  const lookups: string[] = [];
  const resolve: HostResolver = async (host) => {
    lookups.push(host);
    if (host !== HOST) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answer;
  };
  const network = createNetworkPolicy(['169.254.0.0/16', '127.0.0.2/32'], { setting: 'webhookDeny', resolve });

  let denied: Server | undefined;
  afterEach(async () => {
    denied?.closeAllConnections();
    await new Promise((r) => denied?.close(r) ?? r(undefined));
    denied = undefined;
    answer = [];
    lookups.length = 0;
  });

  /**
   * The allowed receiver on 127.0.0.1 (closing each connection, so every call connects
   * afresh) and, on the same port, a denied one on 127.0.0.2 counting the connections it gets.
   */
  async function receivers() {
    const allowed = await receiver((_n, _e, res) => {
      res.setHeader('connection', 'close');
      json(res, 200, [{ type: 'Reviewed' }]);
    });
    const port = Number(new URL(allowed.url).port);
    const reached = { connections: 0, requests: 0 };
    const other = createServer((_req, res) => {
      reached.requests++;
      json(res, 200, [{ type: 'Reviewed' }]);
    });
    other.on('connection', () => reached.connections++);
    denied = other;
    await new Promise<void>((r) => other.listen(port, '127.0.0.2', r));
    return { allowed, port, reached };
  }

  async function startAgent(url: string) {
    h = await harness();
    await h.runtime.start(
      defineAgent({
        name: '/code-reviewer',
        subscriptions: [
          {
            topic: 'project.reviews',
            filter: 'type=ReviewRequestedEvent',
            retry: FAST_RETRY,
            runner: webhookRunner({ type: 'webhook', url, secret: SECRET }, { network }),
          },
        ],
      }),
    );
    return h.bus;
  }

  it('resolves the name on every new connection: once it resolves into a denied network, calls fail, are retried and dead-lettered, and never connect there', async () => {
    const { allowed, port, reached } = await receivers();
    answer = [{ address: '127.0.0.1', family: 4 }];
    const bus = await startAgent(`http://${HOST}:${port}/agent`);
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    await waitForEvents(bus, 'Reviewed');
    expect(allowed.received).toHaveLength(1);

    // DNS rebinding: the same name now answers with an address in 127.0.0.2/32.
    answer = [{ address: '127.0.0.2', family: 4 }];
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('temporary_failure');
    expect(dead.retries).toBe(FAST_RETRY.max_retries);
    expect(dead.error).toBe(
      `webhook POST http://${HOST}:${port}/agent failed: ${HOST} resolves to 127.0.0.2, which is in a network webhooks may not reach (webhookDeny: 127.0.0.2/32)`,
    );
    expect(reached).toEqual({ connections: 0, requests: 0 });
    expect(allowed.received).toHaveLength(1);
    expect(lookups.filter((host) => host === HOST).length).toBeGreaterThanOrEqual(1 + 1 + FAST_RETRY.max_retries);
  });

  it('refuses a name when any of its addresses is denied, an IPv4-mapped one too', async () => {
    const { allowed, port, reached } = await receivers();
    answer = [
      { address: '127.0.0.1', family: 4 },
      { address: '::ffff:169.254.169.254', family: 6 },
    ];
    const bus = await startAgent(`http://${HOST}:${port}/agent`);
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.error).toContain(
      `${HOST} resolves to ::ffff:169.254.169.254, which is in a network webhooks may not reach (webhookDeny: 169.254.0.0/16)`,
    );
    expect(allowed.received).toEqual([]);
    expect(reached.connections).toBe(0);
  });

  it('never follows a redirect, which could lead into a denied network', async () => {
    const { url, received } = await receiver((_n, _e, res) =>
      res.writeHead(307, { location: 'http://169.254.169.254/latest/meta-data/' }).end(),
    );
    const bus = await startAgent(url);
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.reason).toBe('temporary_failure');
    expect(dead.error).toBe(`webhook POST ${url} failed: unexpected redirect (307); webhooks do not follow redirects`);
    expect(received).toHaveLength(1 + FAST_RETRY.max_retries);
  });

  it('refuses an address in the URL itself without connecting, and calls allowed addresses as before', async () => {
    const { allowed, port, reached } = await receivers();
    const bus = await startAgent(`http://127.0.0.2:${port}/agent`);
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    const dead = await waitForDeadLetter(bus);
    expect(dead.error).toBe(
      `webhook POST http://127.0.0.2:${port}/agent failed: 127.0.0.2 is in a network webhooks may not reach (webhookDeny: 127.0.0.2/32)`,
    );
    expect(reached.connections).toBe(0);
    expect(lookups).toEqual([]);

    await h?.dispose();
    const again = await startAgent(allowed.url);
    await again.publish({ topic: 'project.reviews', type: 'ReviewRequestedEvent' });
    await waitForEvents(again, 'Reviewed');
    expect(allowed.received).toHaveLength(1);
  });
});

describe('verifyWebhookSignature', () => {
  const now = Date.UTC(2025, 10, 29, 14, 30);
  const timestamp = String(Math.floor(now / 1000));
  const body = '{"event":{}}';
  const signature = signWebhook(SECRET, timestamp, body);

  it('accepts the signature over "<timestamp>.<body>" within the tolerance', () => {
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp, signature, now })).toBe(true);
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp, signature, now: now + 299_000 })).toBe(true);
  });

  it('refuses another body, secret or timestamp, a stale timestamp, and missing headers', () => {
    expect(verifyWebhookSignature({ secret: SECRET, body: `${body} `, timestamp, signature, now })).toBe(false);
    expect(verifyWebhookSignature({ secret: 'other', body, timestamp, signature, now })).toBe(false);
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp: String(Number(timestamp) + 1), signature, now })).toBe(
      false,
    );
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp, signature, now: now + 301_000 })).toBe(false);
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp: undefined, signature, now })).toBe(false);
    expect(verifyWebhookSignature({ secret: SECRET, body, timestamp, signature: null, now })).toBe(false);
  });

  it("takes Node's request headers as they are typed, and refuses a header sent twice (an array)", () => {
    const headers: IncomingHttpHeaders = { 'x-agentbus-timestamp': timestamp, 'x-agentbus-signature': signature };
    const verify = (h: IncomingHttpHeaders) =>
      verifyWebhookSignature({
        secret: SECRET,
        body,
        timestamp: h[WEBHOOK_HEADERS.timestamp],
        signature: h[WEBHOOK_HEADERS.signature],
        now,
      });
    expect(verify(headers)).toBe(true);
    expect(verify({ ...headers, 'x-agentbus-signature': [signature, signature] })).toBe(false);
  });
});
