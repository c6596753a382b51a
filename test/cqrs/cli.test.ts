/**
 * `agentbus send` and `agentbus projections` as a user runs them, against a process (this
 * test) that registered the handlers and runs the projection on the same database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentBus, createBus } from '../../src/agentbus.js';
import { defineProjection } from '../../src/cqrs/index.js';
import { AgentbusError } from '../../src/errors.js';
import { within } from '../conformance/fixtures.js';
import { runCli } from '../e2e/run-cli.js';

const USERS_MODULE = fileURLToPath(new URL('../../examples/cqrs-users/users.mjs', import.meta.url));

let dir: string;
let db: string;
let bus: AgentBus;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentbus-cqrs-cli-'));
  db = join(dir, 'agentbus.db');
  bus = await createBus({ path: db });
});
afterEach(async () => {
  await bus.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('agentbus send', () => {
  it('prints the result of the handler running in another process', async () => {
    await bus.commands.register('CreateUserCommand', async (cmd) => ({ created: (cmd.payload as { id: string }).id }));
    const result = await runCli(['--db', db, '--json', 'send', 'CreateUserCommand', '--data', '{"id":"u7"}', '--timeout', '20s']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ created: 'u7' });
  });

  it("fails with the handler's error as one line, NO_HANDLER when nobody handles it, exit 2 for bad input", async () => {
    await bus.commands.register('FailCommand', () => {
      throw new AgentbusError('NOT_FOUND', 'no such user');
    });
    const failed = await runCli(['--db', db, 'send', 'FailCommand', '--timeout', '20s']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe('agentbus: command FailCommand: no such user\n');
    const nobody = await runCli(['--db', db, 'send', 'NobodyCommand', '--timeout', '300ms']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/^agentbus: no handler took command NobodyCommand within 300 ms/);
    const bad = await runCli(['--db', db, 'send', 'X', '--data', '{oops']);
    expect(bad.code).toBe(2);
    const badTimeout = await runCli(['--db', db, 'send', 'X', '--timeout', 'later']);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/--timeout/);
  });
});

describe('agentbus projections', () => {
  const counting = defineProjection<{ count: number }>({
    name: 'counter',
    topics: ['tasks.>'],
    init: { count: 0 },
    apply: (s) => ({ count: s.count + 1 }),
  });

  it('lists projections with position and lag', async () => {
    const running = await bus.projections.start(counting);
    await bus.publishBatch(Array.from({ length: 3 }, () => ({ topic: 'tasks.a', type: 'TaskCreated' })));
    await within(running.caughtUp(), 30_000, 'catch up');
    await running.close();
    await bus.publish({ topic: 'other', type: 'Noise' });
    const listed = await runCli(['--db', db, '--json', 'projections', 'list']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ name: 'counter', topics: ['tasks.>'], position: 3, head: 4, lag: 1, applied: 3, error: null }),
    ]);
    const table = await runCli(['--db', db, 'projections', 'list']);
    expect(table.stdout).toMatch(/\| counter +\| tasks\.> +\| 3 +\| 1 +\| 3 +\| \d\d:\d\d:\d\d +\| - +\|/);
  });

  it('deletes a retired projection, and refuses a missing or bad name', async () => {
    const running = await bus.projections.start(counting);
    await bus.publish({ topic: 'tasks.a', type: 'TaskCreated' });
    await within(running.caughtUp(), 30_000, 'catch up');
    await running.close();
    const deleted = await runCli(['--db', db, 'projections', 'delete', 'counter']);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe('deleted projection counter: its checkpoint and read model are gone\n');
    expect(await bus.projections.get('counter')).toBeUndefined();
    const missing = await runCli(['--db', db, 'projections', 'delete', 'counter']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no projection named counter');
    const bad = await runCli(['--db', db, 'projections', 'delete', 'a b']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([expect.stringMatching(/NAME/)]);
  });

  it('rebuilds from a module with a progress bar, or resets for the running process (--wait)', async () => {
    await bus.streams.append('user-1', [{ type: 'UserCreatedEvent', payload: { id: '1', name: 'A', email: 'a@x' } }]);
    const fromModule = await runCli(['--db', db, 'projections', 'rebuild', 'users', '--module', USERS_MODULE]);
    expect(fromModule.stderr).toMatch(/rebuilding users █+ 100% 1\/1/);
    expect(fromModule.stdout).toBe('rebuilt users from history: position 1, 1 event applied\n');
    expect(await bus.projections.state('users')).toEqual({ 1: { id: '1', name: 'A', email: 'a@x' } });

    const running = await bus.projections.start(counting);
    await bus.publishBatch(Array.from({ length: 5 }, () => ({ topic: 'tasks.b', type: 'TaskCreated' })));
    await within(running.caughtUp(), 30_000, 'catch up');
    const reset = await runCli(['--db', db, 'projections', 'rebuild', 'counter', '--wait', '--timeout', '30s']);
    expect(reset.code).toBe(0);
    expect(reset.stderr).toMatch(/rebuilding counter █+ 100% 6\/6\n$/);
    expect(reset.stdout).toBe('rebuilt counter from history: position 6, 5 events applied\n');
    expect(await running.state()).toEqual({ count: 5 });

    const missing = await runCli(['--db', db, 'projections', 'rebuild', 'nope', '--module', USERS_MODULE]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/exports no projection named nope \(it exports: users\)/);
  });
});
