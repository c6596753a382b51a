/**
 * `agentbus serve` as a user runs it (the built CLI): start-up line, the config file's
 * tokens, refusing a public address without tokens, a clean stop on SIGTERM.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDb, removeFreshDbs, runCli, startCli } from '../e2e/run-cli.js';

afterAll(removeFreshDbs);

const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
const SECRET = 'serve-cli-secret-0123456789';

describe('agentbus serve', () => {
  it('serves on a free port, logs requests without tokens, and stops cleanly on SIGTERM', async () => {
    const db = freshDb();
    const config = join(dirname(db), 'agentbus.yaml');
    writeFileSync(
      config,
      `server:\n  tokens:\n    - name: ci\n      token_env: SERVE_TOKEN\n      publish: { allow: ["project.>"] }\n      subscribe: { allow: [">"] }\n`,
    );
    const cli = startCli(['serve', '--port', '0', '--db', db, '--config', config], { env: { SERVE_TOKEN: SECRET } });
    await cli.waitFor(({ stderr }) => LISTENING.test(stderr), 30_000);
    const url = LISTENING.exec(cli.stderr())?.[1] as string;
    expect(cli.stderr()).toContain('1 token');

    expect((await fetch(`${url}/healthz`)).status).toBe(401);
    const published = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` },
      body: JSON.stringify({ event: { type: 'ServedEvent' }, payload: {}, routing: { topic: 'project.served' } }),
    });
    expect(published.status).toBe(201);
    await cli.waitFor(({ stderr }) => stderr.includes('POST /v1/events 201'), 10_000);

    const ended = await cli.stop('SIGTERM');
    expect(ended.code).toBe(0);
    expect(ended.stderr).toContain('stopping');
    expect(ended.stderr).not.toContain(SECRET);

    // The event is in the database the server used.
    const events = await runCli(['events', '--db', db, '--json']);
    expect(JSON.parse(events.stdout).map((e: { envelope: { event: { type: string } } }) => e.envelope.event.type)).toEqual([
      'ServedEvent',
    ]);
  });

  it('applies the sign-in limit and stream caps of the config file', async () => {
    const db = freshDb();
    const config = join(dirname(db), 'limits.yaml');
    writeFileSync(
      config,
      `server:\n  signInLimit: { maxFailures: 2, lockout: 90s }\n  streams: { perAddress: 1 }\n` +
        `  tokens:\n    - name: ci\n      token: ${SECRET}\n      subscribe: { allow: [">"] }\n`,
    );
    const cli = startCli(['serve', '--port', '0', '--db', db, '--config', config]);
    try {
      await cli.waitFor(({ stderr }) => LISTENING.test(stderr), 30_000);
      const url = LISTENING.exec(cli.stderr())?.[1] as string;
      const as = (secret: string) => ({ authorization: `Bearer ${secret}` });
      const stream = await fetch(`${url}/v1/events/stream`, { headers: as(SECRET) });
      expect(stream.status).toBe(200);
      const second = await fetch(`${url}/v1/events/stream`, { headers: as(SECRET) });
      expect(second.status).toBe(429);
      expect(await second.json()).toMatchObject({ limit: 1, scope: 'address' });
      await stream.body?.cancel();
      for (let i = 0; i < 2; i++)
        expect((await fetch(`${url}/healthz`, { headers: as('not-a-token-0123456789') })).status).toBe(401);
      const locked = await fetch(`${url}/healthz`, { headers: as(SECRET) });
      expect(locked.status).toBe(429);
      expect(locked.headers.get('retry-after')).toBe('90');
    } finally {
      expect((await cli.stop('SIGTERM')).code).toBe(0);
    }
  });

  it('fires the delayed events other processes scheduled', async () => {
    const db = freshDb();
    const scheduled = await runCli(['publish', '--db', db, '--topic', 'project.later', '--type', 'ReminderDue', '--delay', '1s']);
    expect(scheduled.code).toBe(0);
    expect((await runCli(['events', '--db', db, '--json'])).stdout.trim()).toBe('[]');
    const cli = startCli(['serve', '--port', '0', '--db', db]);
    await cli.waitFor(({ stderr }) => LISTENING.test(stderr), 30_000);
    const url = LISTENING.exec(cli.stderr())?.[1] as string;
    let types: string[] = [];
    for (let tries = 0; tries < 100 && types.length === 0; tries++) {
      const body = (await (await fetch(`${url}/v1/events`)).json()) as {
        events: Array<{ envelope: { event: { type: string } } }>;
      };
      types = body.events.map((e) => e.envelope.event.type);
      if (types.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(types).toEqual(['ReminderDue']);
    expect((await cli.stop('SIGTERM')).code).toBe(0);
  });

  it('refuses a non-loopback address without tokens (exit 2, naming server.host)', async () => {
    const result = await runCli(['serve', '--host', '0.0.0.0', '--port', '0', '--db', freshDb()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^agentbus: server\.host: refusing to bind 0\.0\.0\.0 without tokens/);
  });

  it('refuses a config file that is not there (exit 2, naming --config)', async () => {
    const db = freshDb();
    const result = await runCli(['events', '--db', db, '--config', join(dirname(db), 'missing.yaml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^agentbus: --config: no config file at .*missing\.yaml/);
  });

  it('refuses a config file with a bad field (exit 2, naming its path)', async () => {
    const db = freshDb();
    const config = join(dirname(db), 'bad.yaml');
    writeFileSync(config, 'server:\n  port: 99999\n');
    const result = await runCli(['serve', '--db', db, '--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('server.port');
  });
});
