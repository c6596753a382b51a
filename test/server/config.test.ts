/**
 * The config file of `agentbus serve`: YAML or JSON, validated, tokens resolved from the
 * file, the environment or a token file; errors name the field's path and never a token.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_BODY_LIMIT, loadConfig, parseByteSize, parseConfig } from '../../src/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const SECRET = 'cfg-secret-0123456789abcdef';

describe('loading', () => {
  it('reads YAML with defaults, resolving tokens from the file, the environment and a token file', async () => {
    file('ops.token', `${SECRET}-file\n`);
    const path = file(
      'agentbus.yaml',
      `store: data/agentbus.db
nats: nats://127.0.0.1:4222
server:
  port: 8088
  bodyLimit: 2MiB
  tokens:
    - name: ci
      token: ${SECRET}
      publish: { allow: ["project.>"], deny: ["project.secret.>"] }
    - name: reader
      token_env: READER_TOKEN
      subscribe: { allow: [">"] }
      metrics: true
    - name: ops
      token_file: ops.token
      admin: true
`,
    );
    const config = await loadConfig(path, { env: { READER_TOKEN: `${SECRET}-env` } });
    expect(config.store).toBe('data/agentbus.db');
    expect(config.nats).toBe('nats://127.0.0.1:4222');
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8088, bodyLimit: 2 * 1024 * 1024 });
    expect(config.server.tokens).toEqual([
      {
        name: 'ci',
        token: SECRET,
        publish: { allow: ['project.>'], deny: ['project.secret.>'] },
        subscribe: { allow: [], deny: [] },
        admin: false,
        metrics: false,
      },
      {
        name: 'reader',
        token: `${SECRET}-env`,
        publish: { allow: [], deny: [] },
        subscribe: { allow: ['>'], deny: [] },
        admin: false,
        metrics: true,
      },
      {
        name: 'ops',
        token: `${SECRET}-file`,
        publish: { allow: [], deny: [] },
        subscribe: { allow: [], deny: [] },
        admin: true,
        metrics: false,
      },
    ]);
  });

  it('reads JSON, and an empty config is all defaults', async () => {
    const path = file('agentbus.json', JSON.stringify({ server: { host: '0.0.0.0', port: 0 } }));
    expect((await loadConfig(path)).server).toEqual({ host: '0.0.0.0', port: 0, bodyLimit: DEFAULT_BODY_LIMIT, tokens: [] });
    expect((await parseConfig({})).server).toEqual({ host: '127.0.0.1', port: 7070, bodyLimit: DEFAULT_BODY_LIMIT, tokens: [] });
  });

  it('refuses a missing file and broken YAML as OPTIONS_INVALID', async () => {
    await expect(loadConfig(join(dir, 'absent.yaml'))).rejects.toMatchObject({
      code: 'OPTIONS_INVALID',
      details: { field: '--config' },
    });
    await expect(loadConfig(file('broken.yaml', 'server: [unclosed'))).rejects.toMatchObject({ code: 'OPTIONS_INVALID' });
  });
});

describe('validation', () => {
  const refusal = async (value: unknown, env: Record<string, string> = {}) => {
    try {
      await parseConfig(value, { env, file: 'agentbus.yaml' });
    } catch (error) {
      return error as { code: string; message: string; details: { field: string } };
    }
    throw new Error('accepted');
  };

  it('names the path of the refused field', async () => {
    const bad = await refusal({ server: { tokens: [{ name: 'ci', token: SECRET, publish: { allow: ['project.>', 'a..b'] } }] } });
    expect(bad.code).toBe('OPTIONS_INVALID');
    expect(bad.details.field).toBe('server.tokens[0].publish.allow[1]');
    expect(bad.message).toMatch(/^agentbus\.yaml: server\.tokens\[0\]\.publish\.allow\[1\]: /);
    expect((await refusal({ server: { port: 70000 } })).details.field).toBe('server.port');
    expect((await refusal({ server: { webhookDeny: ['10.0.0.0/8', '169.254.169.254'] } })).details.field).toBe(
      'server.webhookDeny[1]',
    );
    expect((await parseConfig({ server: { webhookDeny: ['10.0.0.0/8', 'fd00::/8'] } })).server.webhookDeny).toEqual([
      '10.0.0.0/8',
      'fd00::/8',
    ]);
    expect((await refusal({ server: { bodyLimit: '12 parsecs' } })).details.field).toBe('server.bodyLimit');
    expect((await refusal({ server: { tokns: [] } })).details.field).toBe('server.tokns');
    expect((await refusal({ sever: {} })).details.field).toBe('sever');
  });

  it('refuses weak, duplicate, missing or doubly given tokens without printing them', async () => {
    const short = await refusal({ server: { tokens: [{ name: 'ci', token: 'short-secret' }] } });
    expect(short.details.field).toBe('server.tokens[0]');
    expect(short.message).not.toContain('short-secret');
    const twice = await refusal({
      server: {
        tokens: [
          { name: 'a', token: SECRET },
          { name: 'b', token: SECRET },
        ],
      },
    });
    expect(twice.details.field).toBe('server.tokens[1]');
    expect(twice.message).not.toContain(SECRET);
    expect(
      (
        await refusal({
          server: {
            tokens: [
              { name: 'a', token: SECRET },
              { name: 'a', token: `${SECRET}x` },
            ],
          },
        })
      ).details.field,
    ).toBe('server.tokens[1].name');
    expect((await refusal({ server: { tokens: [{ name: 'a', token_env: 'UNSET_TOKEN' }] } })).details.field).toBe(
      'server.tokens[0].token_env',
    );
    const both = await refusal({ server: { tokens: [{ name: 'a', token: SECRET, token_env: 'X' }] } });
    expect(both.details.field).toBe('server.tokens[0]');
    expect(both.message).toContain('exactly one of token, token_env, token_file');
  });

  it('reads the sign-in limit and the stream caps, durations in ms, refusing a bad value by name', async () => {
    const config = await parseConfig({
      server: {
        signInLimit: { maxFailures: 5, window: '2m', lockout: '15m' },
        streams: { max: 100, perToken: 20, perAddress: 10 },
        clientAddressHeader: 'x-forwarded-for',
      },
    });
    expect(config.server).toMatchObject({
      signInLimit: { maxFailures: 5, windowMs: 120_000, lockoutMs: 900_000 },
      streams: { max: 100, perToken: 20, perAddress: 10 },
      clientAddressHeader: 'x-forwarded-for',
    });
    expect((await parseConfig({ server: { signInLimit: { enabled: false } } })).server.signInLimit).toEqual({ enabled: false });
    const window = await refusal({ server: { signInLimit: { window: 'soon' } } });
    expect(window.details.field).toBe('server.signInLimit.window');
    expect(window.message).toContain('is not a duration');
    expect((await refusal({ server: { signInLimit: { lockout: 0 } } })).details.field).toBe('server.signInLimit.lockout');
    expect((await refusal({ server: { signInLimit: { maxFailures: 0 } } })).details.field).toBe('server.signInLimit.maxFailures');
    expect((await refusal({ server: { signInLimit: { maxFailure: 3 } } })).details.field).toBe('server.signInLimit.maxFailure');
    expect((await refusal({ server: { streams: { perAddress: 1.5 } } })).details.field).toBe('server.streams.perAddress');
    expect((await refusal({ server: { clientAddressHeader: 'x forwarded' } })).details.field).toBe('server.clientAddressHeader');
  });

  it('parses sizes', () => {
    expect(parseByteSize('1MiB')).toBe(1048576);
    expect(parseByteSize('512KiB')).toBe(524288);
    expect(parseByteSize('2MB')).toBe(2_000_000);
    expect(parseByteSize(4096)).toBe(4096);
    expect(parseByteSize('0')).toBeUndefined();
    expect(parseByteSize('-1')).toBeUndefined();
    expect(parseByteSize('1 furlong')).toBeUndefined();
  });
});
