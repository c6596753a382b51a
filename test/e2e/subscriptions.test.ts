/**
 * `agentbus subscriptions`: administration of durable subscriptions created by the library.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/index.js';
import { freshDb, removeFreshDbs, runCli, tableRows } from './run-cli.js';

afterAll(removeFreshDbs);

/**
 * A database with 3 events on `project.tasks` and the subscription `/python-pro`
 * (filter `type=APIDesignCompleted`) having processed all of them.
 */
async function dbWithSubscription(): Promise<{ db: string; handled: string[] }> {
  const db = freshDb();
  const bus = await createBus({ path: db });
  const handled: string[] = [];
  const subscription = await bus.subscribe({
    name: '/python-pro',
    topic: 'project.>',
    filter: 'type=APIDesignCompleted',
    start: 'earliest',
    handler: (event) => {
      handled.push(event.event.id);
    },
  });
  await bus.publishBatch([
    { topic: 'project.tasks', type: 'APIDesignStarted', id: 'evt-1' },
    { topic: 'project.tasks', type: 'APIDesignCompleted', id: 'evt-2' },
    { topic: 'project.tasks', type: 'TaskStartedEvent', id: 'evt-3' },
  ]);
  for (let i = 0; i < 100 && handled.length < 1; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  await subscription.idle();
  await subscription.close();
  await bus.close();
  return { db, handled };
}

async function info(db: string, name: string) {
  const bus = await createBus({ path: db });
  try {
    return await bus.subscriptions.get(name);
  } finally {
    await bus.close();
  }
}

const HEADER = [
  'Subscription',
  'Topic',
  'Position',
  'Pending',
  'In Flight',
  'Scheduled',
  'Redelivered',
  'Dead-lettered',
  'Paused',
];

describe('agentbus subscriptions', () => {
  it('list shows a subscription created through the library, with its position and counters', async () => {
    const { db, handled } = await dbWithSubscription();
    expect(handled).toEqual(['evt-2']);
    const result = await runCli(['subscriptions', 'list', '--db', db]);
    expect(result.code).toBe(0);
    const header = result.stdout
      .split('\n')[0]
      ?.slice(1, -1)
      .split('|')
      .map((c) => c.trim());
    expect(header).toEqual(HEADER);
    expect(tableRows(result.stdout)).toEqual([['/python-pro', 'project.>', '3', '0', '0', '0', '0', '0', 'no']]);
  });

  it("Pending counts the subscription's topics only, as agentbus status does: other traffic is not its backlog", async () => {
    const { db } = await dbWithSubscription();
    const bus = await createBus({ path: db });
    await bus.publishBatch([
      { topic: 'system.agents', type: 'AgentHealthEvent' },
      { topic: 'billing.invoices', type: 'InvoiceSent' },
      { topic: 'project.reviews', type: 'ReviewRequested' },
    ]);
    await bus.close();
    const result = await runCli(['subscriptions', 'list', '--db', db]);
    expect(tableRows(result.stdout)[0]?.slice(0, 4)).toEqual(['/python-pro', 'project.>', '3', '1']);
    const status = await runCli(['status', '--json', '--db', db]);
    const [sub] = (JSON.parse(status.stdout) as { subscriptions: Array<{ pending: number }> }).subscriptions;
    expect(sub?.pending).toBe(1);
  });

  it('list --json prints the subscriptions as snake_case objects', async () => {
    const { db } = await dbWithSubscription();
    const result = await runCli(['subscriptions', 'list', '--db', db, '--json']);
    expect(JSON.parse(result.stdout)).toEqual([
      expect.objectContaining({ name: '/python-pro', topic: 'project.>', ack_floor: 3, next_seq: 4, pending: 0, paused: false }),
    ]);
  });

  it('pause and resume toggle Paused, and the library sees it', async () => {
    const { db } = await dbWithSubscription();
    const paused = await runCli(['subscriptions', 'pause', '/python-pro', '--db', db]);
    expect(paused).toMatchObject({ code: 0, stdout: 'paused /python-pro at position 3\n' });
    expect((await info(db, '/python-pro'))?.paused).toBe(true);
    expect(tableRows((await runCli(['subs', 'list', '--db', db])).stdout)[0]?.[8]).toBe('yes');
    const resumed = await runCli(['subscriptions', 'resume', '/python-pro', '--db', db]);
    expect(resumed).toMatchObject({ code: 0, stdout: 'resumed /python-pro at position 3\n' });
    expect((await info(db, '/python-pro'))?.paused).toBe(false);
  });

  it('reset --to earliest and --to POSITION move the position; Pending follows', async () => {
    const { db } = await dbWithSubscription();
    const earliest = await runCli(['subscriptions', 'reset', '/python-pro', '--to', 'earliest', '--db', db]);
    expect(earliest).toMatchObject({ code: 0, stdout: 'reset /python-pro: next position 1\n' });
    expect(tableRows((await runCli(['subscriptions', 'list', '--db', db])).stdout)[0]?.slice(2, 4)).toEqual(['0', '3']);
    const position = await runCli(['subscriptions', 'reset', '/python-pro', '--to', '3', '--db', db, '--json']);
    expect(JSON.parse(position.stdout)).toMatchObject({ name: '/python-pro', next_seq: 3, ack_floor: 2, pending: 1 });
    const latest = await runCli(['subscriptions', 'reset', '/python-pro', '--to', 'latest', '--db', db, '--json']);
    expect(JSON.parse(latest.stdout)).toMatchObject({ next_seq: 4, pending: 0 });
  });

  it('reset --to a time (RFC 3339 or a duration ago) starts at the first event at or after it', async () => {
    const { db } = await dbWithSubscription();
    const future = await runCli(['subscriptions', 'reset', '/python-pro', '--to', '2999-01-01T00:00:00Z', '--db', db, '--json']);
    expect(JSON.parse(future.stdout)).toMatchObject({ next_seq: 4 });
    const hourAgo = await runCli(['subscriptions', 'reset', '/python-pro', '--to', '1h', '--db', db, '--json']);
    expect(JSON.parse(hourAgo.stdout)).toMatchObject({ next_seq: 1 });
  });

  it('delete removes the subscription; the events stay', async () => {
    const { db } = await dbWithSubscription();
    expect(await runCli(['subscriptions', 'delete', '/python-pro', '--db', db])).toMatchObject({
      code: 0,
      stdout: 'deleted /python-pro\n',
    });
    expect(await info(db, '/python-pro')).toBeUndefined();
    expect(tableRows((await runCli(['events', '--db', db])).stdout)).toHaveLength(3);
  });

  describe('an unknown subscription is NOT_FOUND: exit 1, one line naming it', () => {
    for (const args of [
      ['pause', '/nobody'],
      ['resume', '/nobody'],
      ['reset', '/nobody', '--to', 'earliest'],
      ['delete', '/nobody'],
    ]) {
      it(args[0] as string, async () => {
        const { db } = await dbWithSubscription();
        const result = await runCli(['subscriptions', ...args, '--db', db]);
        expect(result).toMatchObject({ code: 1, stdout: '', stderr: 'agentbus: subscription /nobody does not exist\n' });
      });
    }
  });

  it('refuses a bad --to or a missing --to with exit 2', async () => {
    const { db } = await dbWithSubscription();
    const bad = await runCli(['subscriptions', 'reset', '/python-pro', '--to', 'soon', '--db', db]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^agentbus: .*--to.*\n$/);
    const missing = await runCli(['subscriptions', 'reset', '/python-pro', '--db', db]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^agentbus: .*--to.*\n$/);
    expect((await info(db, '/python-pro'))?.nextSeq).toBe(4);
  });
});
