/**
 * Limits of `agentbus serve` against guessing and hogging: failed sign-ins per client address
 * (bearer tokens, cookies and the sign-in form; a lockout answered 429 with Retry-After, on a
 * sliding window read from an injected clock), and live streams capped in total, per token
 * and per address. Clients come from different loopback addresses (127.0.0.x) as from
 * different machines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ManualClock, createManualClock } from '../../src/testing.js';
import { type AnswerFrom, type TestServer, requestFrom, startTestServer, token } from './helpers.js';

const READER = 'tok-reader-0123456789abcdef';
const ADMIN = 'tok-admin-0123456789abcdef';
const WRONG = 'tok-wrong-0123456789abcdef';

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe('failed sign-ins per address', () => {
  let t: TestServer;
  let clock: ManualClock;
  beforeAll(async () => {
    clock = createManualClock();
    t = await startTestServer({
      clock,
      signInLimit: { maxFailures: 3, windowMs: 60_000, lockoutMs: 300_000 },
      tokens: [token('reader', READER, { subscribe: ['>'] }), token('admin', ADMIN, { subscribe: ['>'], admin: true })],
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = async (from: string, secret: string, path = '/v1/events') => {
    const answer = await requestFrom(from, `${t.url}${path}`, { headers: bearer(secret) });
    return { status: answer.status, headers: answer.headers, body: await answer.text() };
  };
  const signIn = async (from: string, secret: string, headers: Record<string, string> = {}) => {
    const answer = await requestFrom(from, `${t.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ token: secret, next: '/' }).toString(),
    });
    return { status: answer.status, headers: answer.headers, body: await answer.text() };
  };

  it('locks an address out after maxFailures wrong tokens: 429 with Retry-After, even for a correct token, until the lockout ends', async () => {
    const from = '127.0.0.11';
    for (let i = 0; i < 3; i++) expect((await get(from, WRONG)).status).toBe(401);
    const locked = await get(from, READER);
    expect(locked.status).toBe(429);
    expect(locked.headers['retry-after']).toBe('300');
    expect(locked.headers['content-type']).toBe('application/problem+json');
    const problem = JSON.parse(locked.body);
    expect(problem).toMatchObject({ status: 429, code: 'UNAUTHORIZED', limit: 3, retry_after: 300 });
    expect(problem.detail).toBe(
      'too many failed sign-ins from this address (3 within 60 s, server.signInLimit); try again in 300 s',
    );
    clock.advance(120_000);
    expect((await get(from, READER)).headers['retry-after']).toBe('180');
    clock.advance(180_000);
    expect((await get(from, READER)).status).toBe(200);
  });

  it('does not lock out a correct token from another address', async () => {
    for (let i = 0; i < 3; i++) await get('127.0.0.12', WRONG);
    expect((await get('127.0.0.12', ADMIN)).status).toBe(429);
    expect((await get('127.0.0.13', ADMIN)).status).toBe(200);
    // Wrong tokens from elsewhere count there, not here.
    expect((await get('127.0.0.13', WRONG)).status).toBe(401);
    expect((await get('127.0.0.13', READER)).status).toBe(200);
    clock.advance(300_000);
  });

  it('counts in a sliding window: failures further apart than the window never lock out', async () => {
    const from = '127.0.0.14';
    await get(from, WRONG);
    clock.advance(40_000);
    await get(from, WRONG);
    clock.advance(30_000);
    // The first failure is 70 s old now: two within the window.
    expect((await get(from, WRONG)).status).toBe(401);
    expect((await get(from, READER)).status).toBe(200);
    clock.advance(1_000);
    expect((await get(from, WRONG)).status).toBe(401);
    expect((await get(from, READER)).status).toBe(429);
    clock.advance(300_000);
  });

  it('does not clear the count on a valid token, so one low-privilege token buys no more guesses', async () => {
    const from = '127.0.0.15';
    await get(from, WRONG);
    await get(from, WRONG);
    expect((await get(from, READER)).status).toBe(200);
    expect((await get(from, WRONG)).status).toBe(401);
    expect((await get(from, ADMIN)).status).toBe(429);
    clock.advance(300_000);
  });

  it('limits the dashboard sign-in form the same way, setting no cookie, and counts it with bearer tokens', async () => {
    const from = '127.0.0.16';
    expect((await signIn(from, WRONG)).status).toBe(401);
    expect((await get(from, WRONG)).status).toBe(401);
    expect((await signIn(from, WRONG)).status).toBe(401);
    const locked = await signIn(from, ADMIN);
    expect(locked.status).toBe(429);
    expect(locked.headers['retry-after']).toBe('300');
    expect(locked.headers['set-cookie']).toBeUndefined();
    expect(locked.body).toContain('Too many failed sign-ins from this address. Try again in 300 s.');
    expect(locked.body).not.toContain(ADMIN);
    expect((await signIn('127.0.0.17', ADMIN)).status).toBe(303);
    clock.advance(300_000);
    expect((await signIn(from, ADMIN)).status).toBe(303);
  });

  it('clears a cookie that holds no valid token, so an open dashboard tab does not keep counting failures', async () => {
    const from = '127.0.0.18';
    const answer = await requestFrom(from, `${t.url}/ui/overview`, { headers: { cookie: `agentbus_token=${WRONG}` } });
    expect(answer.status).toBe(401);
    expect(String(answer.headers['set-cookie'])).toMatch(/^agentbus_token=;.*Max-Age=0/);
    await answer.text();
    const page = await requestFrom(from, `${t.url}/dlq`, {
      headers: { cookie: `agentbus_token=${WRONG}`, accept: 'text/html' },
    });
    expect(page.status).toBe(303);
    expect(String(page.headers['set-cookie'])).toMatch(/^agentbus_token=;.*Max-Age=0/);
    await page.text();
  });

  it('takes the client from clientAddressHeader behind a proxy: the last X-Forwarded-For address', async () => {
    const behind = await startTestServer({
      clock,
      clientAddressHeader: 'x-forwarded-for',
      signInLimit: { maxFailures: 2 },
      tokens: [token('reader', READER, { subscribe: ['>'] })],
    });
    try {
      const from = (forwarded: string, secret: string) =>
        fetch(`${behind.url}/healthz`, { headers: { ...bearer(secret), 'x-forwarded-for': forwarded } });
      // The client's own entries come first and are not trusted: the proxy appends the address it saw.
      expect((await from('10.9.9.9, 192.0.2.1', WRONG)).status).toBe(401);
      expect((await from('10.9.9.8, 192.0.2.1', WRONG)).status).toBe(401);
      expect((await from('192.0.2.1', READER)).status).toBe(429);
      expect((await from('192.0.2.2', READER)).status).toBe(200);
    } finally {
      await behind.close();
    }
  });

  it('can be turned off', async () => {
    const open = await startTestServer({
      signInLimit: { enabled: false },
      tokens: [token('reader', READER, { subscribe: ['>'] })],
    });
    try {
      for (let i = 0; i < 12; i++) await (await fetch(`${open.url}/healthz`, { headers: bearer(WRONG) })).body?.cancel();
      expect((await fetch(`${open.url}/healthz`, { headers: bearer(READER) })).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe('live streams per token and per address', () => {
  let t: TestServer;
  const opened: AnswerFrom[] = [];
  beforeAll(async () => {
    t = await startTestServer({
      maxStreams: 5,
      maxStreamsPerToken: 3,
      maxStreamsPerAddress: 2,
      tokens: [token('a', READER, { subscribe: ['>'] }), token('b', ADMIN, { subscribe: ['>'] })],
    });
  });
  afterAll(async () => {
    for (const s of opened) s.close();
    await t?.close();
  });

  const stream = async (from: string, secret: string) => {
    const answer = await requestFrom(from, `${t.url}/v1/events/stream`, {
      headers: { ...bearer(secret), accept: 'text/event-stream' },
    });
    opened.push(answer);
    return answer;
  };
  const refusal = async (answer: AnswerFrom) => ({
    status: answer.status,
    retry: answer.headers['retry-after'],
    body: JSON.parse(await answer.text()),
  });

  it('refuses a third stream from one address with 429 naming server.streams.perAddress; another address gets one', async () => {
    expect((await stream('127.0.0.21', READER)).status).toBe(200);
    expect((await stream('127.0.0.21', ADMIN)).status).toBe(200);
    const refused = await refusal(await stream('127.0.0.21', READER));
    expect(refused.status).toBe(429);
    expect(refused.retry).toBe('1');
    expect(refused.body).toMatchObject({ code: 'BACKPRESSURE', limit: 2, scope: 'address' });
    expect(refused.body.detail).toBe(
      'too many live streams from this address (2 open, server.streams.perAddress); close one or retry later',
    );
    expect((await stream('127.0.0.22', READER)).status).toBe(200);
  });

  it('refuses a fourth stream of one token with 429 naming server.streams.perToken; another token gets one', async () => {
    expect((await stream('127.0.0.23', READER)).status).toBe(200);
    const refused = await refusal(await stream('127.0.0.24', READER));
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'BACKPRESSURE', limit: 3, scope: 'token' });
    expect(refused.body.detail).toBe(
      'too many live streams of token "a" (3 open, server.streams.perToken); close one or retry later',
    );
    expect((await stream('127.0.0.24', ADMIN)).status).toBe(200);
  });

  it('refuses one more over the total with 503 naming server.streams.max, and takes one again when a stream ends', async () => {
    const refused = await refusal(await stream('127.0.0.25', ADMIN));
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({ code: 'BACKPRESSURE', limit: 5, scope: 'server' });
    expect(refused.body.detail).toBe('too many live streams (5 are open, server.streams.max); retry later');
    for (const s of opened.splice(0)) s.close();
    let again: AnswerFrom | undefined;
    for (let i = 0; i < 50 && again === undefined; i++) {
      const attempt = await stream('127.0.0.21', READER);
      if (attempt.status === 200) again = attempt;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(again?.status).toBe(200);
  });
});
