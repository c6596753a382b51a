/**
 * `agentbus tail`: a live, read-only follower, driven as a user drives it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freshDb, removeFreshDbs, runCli, startCli } from './run-cli.js';

afterAll(removeFreshDbs);

async function publish(db: string, topic: string, type: string, ...flags: string[]): Promise<void> {
  const result = await runCli(['publish', '--db', db, '--json', '--topic', topic, '--type', type, ...flags]);
  expect(result.code).toBe(0);
}

/** A database that exists, holding one event on `project.tasks` of type `Earlier`. */
async function dbWithHistory(): Promise<string> {
  const db = freshDb();
  await publish(db, 'project.tasks', 'Earlier');
  return db;
}

const ready = ({ stderr }: { stderr: string }) => stderr.includes('tailing');

describe('agentbus tail', () => {
  it('prints an event another process publishes after it started, then exits 0 on SIGTERM', async () => {
    const db = await dbWithHistory();
    const tail = startCli(['tail', 'project.>', '--db', db]);
    await tail.waitFor(ready);
    await publish(db, 'project.tasks', 'APIDesignCompleted', '--source', '/backend-architect', '--correlation-id', 'feature-1');
    await tail.waitFor(({ stdout }) => stdout.includes('APIDesignCompleted'));
    const result = await tail.stop('SIGTERM');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1); // --from latest: the earlier event is not shown
    expect(lines[0]?.split(/ {2}/)).toEqual([
      '2',
      expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/),
      'project.tasks',
      'APIDesignCompleted',
      '/backend-architect',
      'feature-1',
    ]);
  });

  it('exits 0 on SIGINT (Ctrl-C)', async () => {
    const tail = startCli(['tail', '>', '--db', await dbWithHistory()]);
    await tail.waitFor(ready);
    const result = await tail.stop('SIGINT');
    expect(result).toMatchObject({ code: 0, signal: null });
  });

  it('--from earliest prints the history first, then new events', async () => {
    const db = await dbWithHistory();
    const tail = startCli(['tail', 'project.*', '--from', 'earliest', '--db', db]);
    await tail.waitFor(ready);
    expect(tail.stdout()).toContain('Earlier');
    await publish(db, 'project.tasks', 'Later');
    await tail.waitFor(({ stdout }) => stdout.includes('Later'));
    const result = await tail.stop();
    expect(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split('  ')[3]),
    ).toEqual(['Earlier', 'Later']);
  });

  it('--from a position starts there', async () => {
    const db = await dbWithHistory();
    await publish(db, 'project.tasks', 'Second');
    const tail = startCli(['tail', '>', '--from', '2', '--db', db]);
    await tail.waitFor(ready);
    const result = await tail.stop();
    expect(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split('  ')[0]),
    ).toEqual(['2']);
  });

  it('shows only events on topics matching the pattern and passing --filter', async () => {
    const db = await dbWithHistory();
    const tail = startCli([
      'tail',
      'project.>',
      '--filter',
      'type=APIDesignCompleted and payload.result.endpoints>10',
      '--db',
      db,
    ]);
    await tail.waitFor(ready);
    await publish(db, 'project.tasks', 'APIDesignCompleted', '--data', '{"result":{"endpoints":3}}', '--id', 'evt-small');
    await publish(db, 'other.tasks', 'APIDesignCompleted', '--data', '{"result":{"endpoints":12}}', '--id', 'evt-other-topic');
    await publish(db, 'project.tasks', 'TaskStartedEvent', '--data', '{"result":{"endpoints":12}}', '--id', 'evt-other-type');
    await publish(db, 'project.tasks', 'APIDesignCompleted', '--data', '{"result":{"endpoints":12}}', '--id', 'evt-match');
    await tail.waitFor(({ stdout }) => stdout.includes('evt-match'));
    const result = await tail.stop();
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stdout).toContain('  evt-match');
  });

  it('--json prints one {seq, stored_at, envelope} per line', async () => {
    const db = await dbWithHistory();
    const tail = startCli(['tail', '>', '--json', '--from', 'earliest', '--db', db]);
    await tail.waitFor(ready);
    const result = await tail.stop();
    const [line] = result.stdout.trimEnd().split('\n');
    expect(JSON.parse(line as string)).toMatchObject({
      seq: 1,
      stored_at: expect.any(String),
      envelope: { event: { type: 'Earlier' } },
    });
  });

  it('does not create a durable subscription', async () => {
    const db = await dbWithHistory();
    const tail = startCli(['tail', '>', '--db', db]);
    await tail.waitFor(ready);
    await tail.stop();
    const list = await runCli(['subscriptions', 'list', '--db', db]);
    expect(list).toMatchObject({ code: 0, stdout: '', stderr: 'no subscriptions\n' });
  });

  describe('refuses before printing anything, with exit 2 and one stderr line', () => {
    const cases: Array<[string, string[], string]> = [
      ['a filter that does not parse', ['project.>', '--filter', 'type=='], 'filter'],
      ['a bad pattern', ['project.>.tasks'], 'pattern'],
      ['a bad --from', ['project.>', '--from', 'soon'], '--from'],
    ];
    for (const [what, args, field] of cases) {
      it(what, async () => {
        const result = await runCli(['tail', ...args, '--db', await dbWithHistory()]);
        expect(result.code).toBe(2);
        expect(result.stdout).toBe('');
        expect(result.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(new RegExp(`^agentbus: .*${field}`))]);
      });
    }

    it('the filter error gives the column', async () => {
      const result = await runCli(['tail', '>', '--filter', 'type==', '--db', await dbWithHistory()]);
      expect(result.stderr).toMatch(/column 5/);
    });
  });
});
