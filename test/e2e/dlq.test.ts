/**
 * `agentbus dlq`: investigating and resolving dead letters from the shell.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { NonRetryableError, createBus } from '../../src/index.js';
import { freshDb, removeFreshDbs, runCli, tableRows } from './run-cli.js';

afterAll(removeFreshDbs);

/** A database where `/deployer` dead-lettered three DeployCommands (two of one cause). */
async function dbWithDeadLetters(): Promise<string> {
  const db = freshDb();
  const bus = await createBus({ path: db, retry: { max_retries: 0 } });
  const sub = await bus.subscribe({
    name: '/deployer',
    topic: 'deploy.>',
    start: 'earliest',
    handler: (e) => {
      const { version } = e.payload as { version: number };
      if (version < 3) throw new NonRetryableError(`manifest v${version} is invalid`);
      throw new Error('registry unavailable');
    },
  });
  await bus.publishBatch(
    [1, 2, 3].map((version) => ({
      topic: 'deploy.prod',
      type: 'DeployCommand',
      payload: { version },
      id: `evt-deploy-${version}`,
    })),
  );
  for (let i = 0; i < 200 && (await bus.deadLetters.list()).length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  await sub.close();
  await bus.close();
  return db;
}

async function deadLetters(db: string) {
  const bus = await createBus({ path: db });
  try {
    return await bus.deadLetters.list({ status: undefined });
  } finally {
    await bus.close();
  }
}

describe('agentbus dlq', () => {
  it("list prints the seed's table with an action per failure", async () => {
    const db = await dbWithDeadLetters();
    const result = await runCli(['dlq', 'list', '--db', db]);
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toMatch(
      /\| # +\| Event ID +\| Type +\| Subscription +\| Failure Reason +\| Retries \| Action +\|/,
    );
    const rows = tableRows(result.stdout);
    expect(rows.map((r) => [r[1], r[2], r[5], r[6]])).toEqual([
      ['evt-deploy-1', 'DeployCommand', '0', 'Fix and replay'],
      ['evt-deploy-2', 'DeployCommand', '0', 'Fix and replay'],
      ['evt-deploy-3', 'DeployCommand', '0', 'Retry later'],
    ]);
  });

  it("suggests Investigate for a handler that timed out on every attempt, as the seed's DLQ table does", async () => {
    const db = freshDb();
    const bus = await createBus({ path: db, retry: { max_retries: 0 } });
    const sub = await bus.subscribe({
      name: '/dependency-manager',
      topic: 'project.tasks',
      start: 'earliest',
      timeout: '20ms',
      handler: (_e, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
    });
    await bus.publish({ topic: 'project.tasks', type: 'TaskCompleted', id: 'evt-001' });
    for (let i = 0; i < 200 && (await bus.deadLetters.list()).length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    await sub.close();
    await bus.close();
    const result = await runCli(['dlq', 'list', '--db', db]);
    expect(tableRows(result.stdout).map((r) => [r[1], r[4]?.split(':')[0], r[6]])).toEqual([
      ['evt-001', 'timeout', 'Investigate'],
    ]);
  });

  it('list --correlation-id shows the dead letters of that flow only, with the other filters', async () => {
    const db = freshDb();
    const bus = await createBus({ path: db, retry: { max_retries: 0 } });
    const sub = await bus.subscribe({
      name: '/deployer',
      topic: 'deploy.>',
      start: 'earliest',
      handler: () => {
        throw new NonRetryableError('manifest is invalid');
      },
    });
    await bus.publishBatch(
      [
        ['evt-a-1', 'release-a'],
        ['evt-b-1', 'release-b'],
        ['evt-a-2', 'release-a'],
      ].map(([id, correlationId]) => ({ topic: 'deploy.prod', type: 'DeployCommand', id, correlationId })),
    );
    for (let i = 0; i < 200 && (await bus.deadLetters.list()).length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    const retired = (await bus.deadLetters.list()).find((d) => d.event.envelope.event.id === 'evt-a-2');
    await bus.deadLetters.archive(retired?.id ?? 0, 'retired');
    await sub.close();
    await bus.close();

    const list = async (...args: string[]) => {
      const result = await runCli(['dlq', 'list', ...args, '--db', db]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return tableRows(result.stdout).map((r) => r[1]);
    };
    expect(await list('--correlation-id', 'release-a', '--status', 'all')).toEqual(['evt-a-1', 'evt-a-2']);
    expect(await list('--correlation-id', 'release-a')).toEqual(['evt-a-1']);
    expect(await list('--correlation-id', 'release-b', '--subscription', '/deployer')).toEqual(['evt-b-1']);
    const json = await runCli(['dlq', 'list', '--correlation-id', 'release-a', '--status', 'all', '--json', '--db', db]);
    expect(
      JSON.parse(json.stdout).map((d: { event_id: string; correlation_id: string }) => [d.event_id, d.correlation_id]),
    ).toEqual([
      ['evt-a-1', 'release-a'],
      ['evt-a-2', 'release-a'],
    ]);
    const none = await runCli(['dlq', 'list', '--correlation-id', 'release-c', '--db', db]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('no open dead letters');
  });

  it('list --correlation-id refuses a value that cannot be a correlation id, naming the flag, with exit 2', async () => {
    const db = await dbWithDeadLetters();
    const refused = async (args: string[], reason: RegExp) => {
      const result = await runCli(['dlq', 'list', ...args, '--db', db]);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(reason);
    };
    await refused(['--correlation-id', ''], /^agentbus: --correlation-id: must not be empty$/m);
    await refused(['--correlation-id', 'x'.repeat(256)], /^agentbus: --correlation-id: must be 1-255 characters/);
    await refused(['--correlation-id', 'a\u0007b'], /^agentbus: --correlation-id: must not contain control characters/);
    await refused(['--correlation-id', 'release-a', '--group'], /^agentbus: --correlation-id: /);
  });

  it('list --group groups by error fingerprint', async () => {
    const db = await dbWithDeadLetters();
    const result = await runCli(['dlq', 'list', '--group', '--db', db]);
    const rows = tableRows(result.stdout);
    expect(rows.map((r) => [r[1], r[3]])).toEqual([
      ['/deployer', '2'],
      ['/deployer', '1'],
    ]);
  });

  it('show prints the failure, the stack and the event', async () => {
    const db = await dbWithDeadLetters();
    const result = await runCli(['dlq', 'show', '1', '--db', db]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('manifest v1 is invalid');
    expect(result.stdout).toContain('NonRetryableError');
    expect(result.stdout).toContain('"id": "evt-deploy-1"');
  });

  it("show prints each failed attempt as the seed's Retry Timeline reads: #, At, Reason, Error, Then", async () => {
    const db = freshDb();
    const bus = await createBus({ path: db });
    const sub = await bus.subscribe({
      name: '/code-reviewer',
      topic: 'project.reviews',
      start: 'earliest',
      retry: { max_retries: 2, backoff_type: 'exponential', initial_delay: '10ms', max_delay: '1s' },
      handler: (_e, ctx) => {
        throw new Error(`agent unavailable (attempt ${ctx.attempt})`);
      },
    });
    await bus.publish({ topic: 'project.reviews', type: 'ReviewRequested', id: 'evt-002' });
    for (let i = 0; i < 200 && (await bus.deadLetters.list()).length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    await sub.close();
    await bus.close();

    const result = await runCli(['dlq', 'show', '1', '--db', db]);
    expect(result.code).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[lines.indexOf('Attempts:') + 1]).toMatch(/^\| # \| At +\| Reason +\| Error +\| Then +\|$/);
    const rows = tableRows(result.stdout);
    expect(rows.map((r) => [r[0], r[2], r[3], r[4]])).toEqual([
      ['1', 'temporary_failure', 'agent unavailable (attempt 1)', 'retried after 10ms'],
      ['2', 'temporary_failure', 'agent unavailable (attempt 2)', 'retried after 20ms'],
      ['3', 'temporary_failure', 'agent unavailable (attempt 3)', '→ DLQ'],
    ]);
    for (const row of rows) expect(row[1]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/);

    const json = JSON.parse((await runCli(['dlq', 'show', '1', '--json', '--db', db])).stdout);
    expect(json.retries).toBe(2);
    expect(json.attempts.map((a: { attempt: number; delay_ms?: number }) => [a.attempt, a.delay_ms])).toEqual([
      [1, 10],
      [2, 20],
      [3, undefined],
    ]);
    expect(json.attempts[0].at).toBe(json.first_failed_at);
    expect(json.attempts[2].at).toBe(json.last_failed_at);
  });

  it('replay --payload publishes a corrected copy and marks the dead letter replayed', async () => {
    const db = await dbWithDeadLetters();
    const result = await runCli(['dlq', 'replay', '1', '--payload', '{"version":5}', '--db', db]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/replayed 1 \(DeployCommand\) to \/deployer as evt-/);
    const events = await runCli(['events', '--type', 'DeployCommand', '--json', '--db', db]);
    const copies = (
      JSON.parse(events.stdout) as Array<{
        envelope: { event: { causation_id: string }; payload: unknown; routing: { deliver_to?: string } };
      }>
    ).filter((e) => e.envelope.event.causation_id === 'evt-deploy-1');
    expect(copies).toHaveLength(1);
    expect(copies[0]?.envelope.payload).toEqual({ version: 5 });
    expect(copies[0]?.envelope.routing.deliver_to).toBe('/deployer');
    expect((await deadLetters(db)).find((d) => d.id === 1)?.status).toBe('replayed');
  });

  it('replay --all shows progress and a second run replays nothing more', async () => {
    const db = await dbWithDeadLetters();
    const first = await runCli(['dlq', 'replay', '--all', '--db', db]);
    expect(first.code).toBe(0);
    expect(first.stderr).toContain('3/3');
    expect(first.stdout.trim().split('\n')).toHaveLength(3);
    const second = await runCli(['dlq', 'replay', '--all', '--db', db]);
    expect(second.stderr).toContain('nothing to replay');
  });

  it('replay of ids run again (as after a crash half-way) leaves out those replayed and finishes the rest', async () => {
    const db = await dbWithDeadLetters();
    const first = await runCli(['dlq', 'replay', '1', '--db', db]);
    expect(first.code).toBe(0);
    const again = await runCli(['dlq', 'replay', '1', '2', '--db', db]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already replayed, left out: 1');
    expect(again.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^replayed 2 /)]);
    expect((await deadLetters(db)).map((d) => d.status)).toEqual(['replayed', 'replayed', 'open']);
    const archived = await runCli(['dlq', 'archive', '3', '--note', 'retired', '--db', db]);
    expect(archived.code).toBe(0);
    const refused = await runCli(['dlq', 'replay', '1', '3', '--db', db]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('dead letter 3 is archived, not open');
  });

  it('archive needs a note; purge deletes resolved dead letters', async () => {
    const db = await dbWithDeadLetters();
    const noNote = await runCli(['dlq', 'archive', '2', '--db', db]);
    expect(noNote.code).toBe(2);
    expect(noNote.stderr).toMatch(/note/);
    const archived = await runCli(['dlq', 'archive', '2', '--note', 'v2 manifests are retired', '--db', db]);
    expect(archived.stdout).toContain('archived 2: v2 manifests are retired');
    const purged = await runCli(['dlq', 'purge', '--db', db]);
    expect(purged.stdout).toContain('purged 1 dead letter');
    expect((await deadLetters(db)).map((d) => d.id)).toEqual([1, 3]);
  });

  it('refuses bad input with one line and exit 2, and an unknown id with exit 1', async () => {
    const db = await dbWithDeadLetters();
    const badPayload = await runCli(['dlq', 'replay', '1', '--payload', '{oops', '--db', db]);
    expect(badPayload.code).toBe(2);
    expect(badPayload.stderr.trim().split('\n')).toHaveLength(1);
    expect(badPayload.stderr).toMatch(/--payload/);
    const both = await runCli(['dlq', 'replay', '1', '--all', '--db', db]);
    expect(both.code).toBe(2);
    const unknown = await runCli(['dlq', 'show', '99', '--db', db]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('dead letter 99 does not exist');
    expect((await deadLetters(db)).every((d) => d.status === 'open')).toBe(true);
  });
});
