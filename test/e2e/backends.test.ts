/**
 * The CLI on PostgreSQL and on PostgreSQL + NATS, chosen with `--store`, `--nats`, their
 * environment variables, or a config file — exactly as a user runs it.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, testPostgres } from '../support/postgres.js';
import { runCli } from './run-cli.js';

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** Deletes a JetStream stream this test created. */
async function deleteStream(name: string): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: NATS_URL });
  try {
    await (await jetstreamManager(nc)).streams.delete(name);
  } finally {
    await nc.close();
  }
}
const pg = await testPostgres();

function publishArgs(topic: string, type: string): string[] {
  return ['publish', '--json', '--topic', topic, '--type', type, '--data', '{"n":1}'];
}

describe.skipIf(!pg.available)(`the CLI on PostgreSQL ${pg.skipReason}`, () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await pg.createDatabase('agentbus_cli');
    dir = mkdtempSync(join(tmpdir(), 'agentbus-cli-pg-'));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--store postgres://... publishes and reads history there, not in a SQLite file', async () => {
    const published = await runCli(['--store', db.url, ...publishArgs('cli.pg', 'CliChecked')], { cwd: dir });
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    const id = (JSON.parse(published.stdout) as { event: { id: string } }).event.id;
    const events = await runCli(['events', '--json', '--store', db.url], { cwd: dir });
    expect(events.code).toBe(0);
    expect(events.stdout).toContain(id);
    // Nothing was written to the default SQLite path.
    const local = await runCli(['events', '--json'], { cwd: dir });
    expect(local.code).not.toBe(0);
    expect(local.stderr).toMatch(/no agentbus database/);
  });

  it('AGENTBUS_STORE and a config file choose it too; --store wins over the config file', async () => {
    const env = { AGENTBUS_STORE: db.url };
    const viaEnv = await runCli(publishArgs('cli.env', 'CliEnvChecked'), { cwd: dir, env });
    expect(viaEnv.code).toBe(0);
    const config = join(dir, 'agentbus.yaml');
    writeFileSync(config, `store: ${db.url}\n`);
    const viaConfig = await runCli(['events', '--json', '--config', config, '--type', 'CliEnvChecked'], { cwd: dir });
    expect(viaConfig.stderr).toBe('');
    expect(viaConfig.stdout).toContain('CliEnvChecked');
    const sqlite = join(dir, 'other.db');
    const overridden = await runCli(['--config', config, '--store', sqlite, ...publishArgs('cli.sqlite', 'CliLocal')], {
      cwd: dir,
    });
    expect(overridden.code).toBe(0);
    const fromPg = await runCli(['events', '--json', '--config', config, '--type', 'CliLocal'], { cwd: dir });
    expect(fromPg.stdout).not.toContain('CliLocal');
  });

  it('a bad config file or --nats is refused naming the field, and writes nothing', async () => {
    const config = join(dir, 'bad.yaml');
    writeFileSync(config, 'store: 42\n');
    const bad = await runCli(['--config', config, ...publishArgs('cli.bad', 'CliBad')], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/store/);
    const badNats = await runCli(['--store', db.url, '--nats', ',', ...publishArgs('cli.bad', 'CliBad')], { cwd: dir });
    expect(badNats.code).toBe(2);
    expect(badNats.stderr).toMatch(/--nats/);
    const events = await runCli(['events', '--json', '--store', db.url, '--type', 'CliBad'], { cwd: dir });
    expect(events.stdout).not.toContain('CliBad');
  });

  it('--nats delivers through JetStream while history stays in PostgreSQL', async () => {
    const run = randomBytes(4).toString('hex');
    const config = join(dir, `nats-${run}.yaml`);
    writeFileSync(config, `store: ${db.url}\nnats: ${NATS_URL}\n`);
    const env = { AGENTBUS_NATS_STREAM: `AB_CLI_${run}`, AGENTBUS_NATS_PREFIX: `abcli-${run}` };
    const published = await runCli(['--config', config, ...publishArgs('cli.nats', 'CliNatsChecked')], { cwd: dir, env });
    expect(published.stderr).toBe('');
    expect(published.code).toBe(0);
    const id = (JSON.parse(published.stdout) as { event: { id: string } }).event.id;
    let found = false;
    for (let i = 0; i < 50 && !found; i++) {
      const events = await runCli(['events', '--json', '--store', db.url, '--nats', NATS_URL, '--type', 'CliNatsChecked'], {
        cwd: dir,
        env,
      });
      found = events.stdout.includes(id);
      if (!found) await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toBe(true);
    await deleteStream(`AB_CLI_${run}`);
  });
});
