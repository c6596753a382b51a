/**
 * `agentbus timers`: the pending durable timers (delayed events, workflow timeouts), listed
 * and cancelled from the shell.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createBus, requestApproval } from '../../src/index.js';
import { collect } from '../conformance/fixtures.js';
import { freshDb, removeFreshDbs, runCli, tableRows } from './run-cli.js';

afterAll(removeFreshDbs);

const EARLY = '2099-01-01T09:00:00.000Z';
const LATE = '2099-01-01T10:00:00.000Z';
const EARLY_KEY = `${String(Date.parse(EARLY)).padStart(15, '0')}/evt-reminder-early`;
const LATE_KEY = `${String(Date.parse(LATE)).padStart(15, '0')}/evt-reminder-late`;

/**
 * A database with two delayed events (the later one published first) and, with `approval`,
 * the timeout of a pending approval request (due in ten days).
 */
async function dbWithTimers(options: { approval?: boolean } = {}): Promise<{ db: string; approvalKey?: string }> {
  const db = freshDb();
  const bus = await createBus({ path: db });
  try {
    await bus.publish({
      topic: 'project.reminders',
      type: 'ReviewReminder',
      id: 'evt-reminder-late',
      correlationId: 'project-xyz-123',
      source: '/code-reviewer',
      payload: { pr: 43 },
      deliverAt: LATE,
    });
    await bus.publish({
      topic: 'project.reminders',
      type: 'ReviewReminder',
      id: 'evt-reminder-early',
      correlationId: 'project-xyz-123',
      source: '/code-reviewer',
      payload: { pr: 42 },
      deliverAt: EARLY,
    });
    if (!options.approval) return { db };
    const approval = await requestApproval(bus, { id: 'deploy-xyz', title: 'Deploy xyz?', timeout: '10d' });
    return { db, approvalKey: approval.timer_key };
  } finally {
    await bus.close();
  }
}

/** The keys of the timers pending in `db`. */
async function pendingKeys(db: string): Promise<string[]> {
  const bus = await createBus({ path: db });
  try {
    return (await collect(bus.timers.list())).map((t) => t.key);
  } finally {
    await bus.close();
  }
}

function header(stdout: string): string[] | undefined {
  return stdout
    .split('\n')[0]
    ?.slice(1, -1)
    .split('|')
    .map((c) => c.trim());
}

describe('agentbus timers', () => {
  it('lists pending timers earliest first, as a table (also without "list") and as JSON', async () => {
    const { db } = await dbWithTimers();
    for (const args of [['timers'], ['timers', 'list']]) {
      const result = await runCli([...args, '--db', db]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(header(result.stdout)).toEqual(['ID', 'Due At', 'Kind', 'Type', 'Topic', 'Correlation ID', 'Agent']);
      expect(tableRows(result.stdout)).toEqual([
        [EARLY_KEY, '2099-01-01 09:00:00', 'delayed', 'ReviewReminder', 'project.reminders', 'project-xyz-123', '/code-reviewer'],
        [LATE_KEY, '2099-01-01 10:00:00', 'delayed', 'ReviewReminder', 'project.reminders', 'project-xyz-123', '/code-reviewer'],
      ]);
    }
    const json = await runCli(['timers', '--json', '--db', db]);
    expect(json.code).toBe(0);
    const timers = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    expect(timers.map((t) => t.id)).toEqual([EARLY_KEY, LATE_KEY]);
    expect(timers[0]).toMatchObject({
      id: EARLY_KEY,
      due_at: EARLY,
      kind: 'delayed',
      event_id: 'evt-reminder-early',
      type: 'ReviewReminder',
      topic: 'project.reminders',
      correlation_id: 'project-xyz-123',
      source: '/code-reviewer',
      envelope: { payload: { pr: 42 } },
    });
  });

  it('--limit shows the earliest ones and says on stderr that more are pending', async () => {
    const { db } = await dbWithTimers();
    const result = await runCli(['timers', '--limit', '1', '--db', db]);
    expect(result.code).toBe(0);
    expect(tableRows(result.stdout).map((row) => row[0])).toEqual([EARLY_KEY]);
    expect(result.stderr).toBe('showing the first 1 pending timer; more are pending (--limit)\n');
    const json = await runCli(['timers', 'list', '--limit', '1', '--json', '--db', db]);
    expect((JSON.parse(json.stdout) as unknown[]).length).toBe(1);
    expect(json.stderr).toBe('');
  });

  it('says so on stderr when no timer is pending', async () => {
    const db = freshDb();
    const bus = await createBus({ path: db });
    await bus.publish({ topic: 'project.tasks', type: 'TaskStartedEvent' });
    await bus.close();
    const result = await runCli(['timers', '--db', db]);
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: 'no pending timers\n' });
    expect(await runCli(['timers', '--json', '--db', db])).toMatchObject({ code: 0, stdout: '[]\n' });
  });

  it('cancel removes the timers named, and prints what it cancelled', async () => {
    const { db } = await dbWithTimers();
    const result = await runCli(['timers', 'cancel', EARLY_KEY, '--db', db]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`cancelled ${EARLY_KEY}: ReviewReminder on project.reminders, due 2099-01-01 09:00:00\n`);
    expect(await pendingKeys(db)).toEqual([LATE_KEY]);
    const json = await runCli(['timers', 'cancel', LATE_KEY, '--json', '--db', db]);
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as Array<{ id: string }>).map((t) => t.id)).toEqual([LATE_KEY]);
    expect(await pendingKeys(db)).toEqual([]);
  });

  it('refuses unknown ids naming them, and cancels none of those given', async () => {
    const { db } = await dbWithTimers();
    const unknown = `${String(Date.parse(EARLY)).padStart(15, '0')}/evt-nope`;
    const result = await runCli(['timers', 'cancel', EARLY_KEY, unknown, '--db', db]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n')).toHaveLength(2);
    expect(result.stderr).toContain(`no pending timer ${unknown} `);
    expect(result.stderr).toContain('nothing was cancelled');
    expect(result.stderr).not.toContain(EARLY_KEY);
    expect(await pendingKeys(db)).toEqual([EARLY_KEY, LATE_KEY]);
  });

  it('refuses bad input with one line naming it (exit 2), before opening the database', async () => {
    const { db } = await dbWithTimers();
    const cases: Array<[string[], string]> = [
      [['timers', 'cancel', 'evt-reminder-early'], 'agentbus: ids: evt-reminder-early is not a timer id'],
      [['timers', 'cancel', EARLY_KEY, EARLY_KEY], `agentbus: ids: ${EARLY_KEY} is given twice`],
      [['timers', 'cancel', ''], 'agentbus: ids: must not be empty'],
      [['timers', 'cancel'], "agentbus: missing required argument 'ids'"],
      [['timers', '--limit', '0'], 'agentbus: --limit: must be a whole number of at least 1'],
      [['timers', 'list', '--limit', 'ten'], 'agentbus: --limit: must be a whole number of at least 1'],
    ];
    for (const [args, message] of cases) {
      const result = await runCli([...args, '--db', db]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.split('\n'), args.join(' ')).toHaveLength(2);
      expect(result.stderr, args.join(' ')).toContain(message);
    }
    expect(await pendingKeys(db)).toEqual([EARLY_KEY, LATE_KEY]);
    const missing = freshDb();
    const none = await runCli(['timers', '--db', missing]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no agentbus database');
  });

  it("keeps a workflow's timeout unless --force: without it the approval could never be answered", async () => {
    const { db, approvalKey } = await dbWithTimers({ approval: true });
    const key = approvalKey as string;
    const listed = await runCli(['timers', '--db', db]);
    expect(
      tableRows(listed.stdout)
        .find((row) => row[0] === key)
        ?.slice(2, 4),
    ).toEqual(['approval timeout', 'ApprovalTimedOut']);
    const refused = await runCli(['timers', 'cancel', EARLY_KEY, key, '--db', db]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.split('\n')).toHaveLength(2);
    expect(refused.stderr).toContain(`timer ${key} is the timeout of approval deploy-xyz`);
    expect(refused.stderr).toContain('give --force to cancel it anyway (nothing was cancelled)');
    expect(await pendingKeys(db)).toContain(EARLY_KEY);
    const forced = await runCli(['timers', 'cancel', key, '--force', '--db', db]);
    expect(forced.code).toBe(0);
    expect(await pendingKeys(db)).toEqual([EARLY_KEY, LATE_KEY]);
  });
});
