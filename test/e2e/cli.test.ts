/**
 * `agentbus publish` and `agentbus events`, driven as a user drives them.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/index.js';
import { SEED_ENVELOPE, freshDb, removeFreshDbs, runCli, tableRows } from './run-cli.js';

afterAll(removeFreshDbs);

/** Publishes with flags and returns the stored envelope. */
async function publish(db: string, ...flags: string[]) {
  const result = await runCli(['--db', db, 'publish', '--json', ...flags]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as typeof SEED_ENVELOPE & { event: { id: string } };
}

/** The `events` table rows for these flags. */
async function eventRows(db: string, ...flags: string[]): Promise<string[][]> {
  const result = await runCli(['events', '--db', db, ...flags]);
  expect(result.code).toBe(0);
  return tableRows(result.stdout);
}

/** Asserts a refusal: exit 2, exactly one stderr line that names `field`, nothing on stdout. */
function expectRefused(result: { code: number | null; stdout: string; stderr: string }, field: string): void {
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^agentbus: /);
  expect(lines[0]).toContain(field);
}

describe('agentbus publish', () => {
  it('publishes from flags and events shows it as a seed-style table row', async () => {
    const db = freshDb();
    const result = await runCli([
      'publish',
      '--db',
      db,
      '--topic',
      'project.tasks',
      '--type',
      'TaskCompletedEvent',
      '--data',
      '{"task_id":"T1","result":{"endpoints":12}}',
      '--source',
      '/backend-architect',
      '--correlation-id',
      'project-xyz-123',
      '--partition-key',
      'project-xyz',
      '--priority',
      'high',
    ]);
    expect(result.code).toBe(0);
    const stored = JSON.parse(result.stdout);
    expect(result.stdout.split('\n').length).toBeGreaterThan(3); // pretty JSON by default
    expect(stored.event).toMatchObject({
      type: 'TaskCompletedEvent',
      source: '/backend-architect',
      correlation_id: 'project-xyz-123',
      causation_id: null,
    });
    expect(stored.payload).toEqual({ task_id: 'T1', result: { endpoints: 12 } });
    expect(stored.routing).toEqual({ topic: 'project.tasks', partition_key: 'project-xyz', priority: 'high' });

    const events = await runCli(['events', '--db', db]);
    const lines = events.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\| Seq \| Time +\| Topic +\| Event +\| Agent +\| Correlation ID +\|$/);
    expect(lines[1]).toMatch(/^\|-+\|-+\|-+\|-+\|-+\|-+\|$/);
    expect(lines[0]?.length).toBe(lines[2]?.length); // columns padded to one width
    const [row] = tableRows(events.stdout);
    expect(row).toEqual([
      '1',
      expect.stringMatching(/^\d\d:\d\d:\d\d$/),
      'project.tasks',
      'TaskCompletedEvent',
      '/backend-architect',
      'project-xyz-123',
    ]);
  });

  it('--json prints the stored envelope compact on one line', async () => {
    const db = freshDb();
    const result = await runCli(['publish', '--db', db, '--json', '--topic', 'project.tasks', '--type', 'TaskStartedEvent']);
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout).event.type).toBe('TaskStartedEvent');
  });

  it("reads the seed's example envelope from stdin (with -) and keeps its id, correlation and causation", async () => {
    const db = freshDb();
    const result = await runCli(['publish', '-', '--db', db], { input: JSON.stringify(SEED_ENVELOPE) });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const stored = JSON.parse(result.stdout);
    expect(stored.event).toMatchObject({ ...SEED_ENVELOPE.event, kind: 'event' });
    expect(stored.payload).toEqual(SEED_ENVELOPE.payload);
    expect(stored.routing).toEqual(SEED_ENVELOPE.routing);
    expect(await eventRows(db)).toEqual([
      ['1', '14:30:00', 'project.tasks', 'TaskCompletedEvent', '/backend-architect', 'project-xyz-123'],
    ]);
  });

  it('reads an envelope from piped stdin when no --topic/--type is given', async () => {
    const db = freshDb();
    const result = await runCli(['publish', '--db', db, '--json'], { input: JSON.stringify(SEED_ENVELOPE) });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).event.id).toBe('evt-20251129-143000-abc123');
  });

  it('publishing an id again returns the first copy and stores one event', async () => {
    const db = freshDb();
    const first = await publish(
      db,
      '--topic',
      'project.tasks',
      '--type',
      'TaskStartedEvent',
      '--id',
      'evt-fixed-1',
      '--data',
      '{"n":1}',
    );
    const second = await publish(
      db,
      '--topic',
      'project.tasks',
      '--type',
      'TaskStartedEvent',
      '--id',
      'evt-fixed-1',
      '--data',
      '{"n":2}',
    );
    expect(second).toEqual(first);
    expect(second.payload).toEqual({ n: 1 });
    const fromStdin = await runCli(['publish', '--db', db, '--json'], { input: JSON.stringify(SEED_ENVELOPE) });
    const again = await runCli(['publish', '--db', db, '--json'], {
      input: JSON.stringify({ ...SEED_ENVELOPE, payload: { changed: true } }),
    });
    expect(JSON.parse(again.stdout)).toEqual(JSON.parse(fromStdin.stdout));
    expect(await eventRows(db)).toHaveLength(2);
  });

  describe('refuses bad input with exit 2, one stderr line naming the field, and writes nothing', () => {
    const cases: Array<[string, string[], string, string?]> = [
      ['a topic with an empty token', ['--topic', 'project..tasks', '--type', 'X'], '--topic'],
      ['--data that is not JSON', ['--topic', 'project.tasks', '--type', 'X', '--data', '{bad'], '--data'],
      ['an unknown --priority', ['--topic', 'project.tasks', '--type', 'X', '--priority', 'urgent'], '--priority'],
      ['--topic without --type', ['--topic', 'project.tasks'], '--type'],
      ['an unknown flag', ['--topic', 'project.tasks', '--type', 'X', '--colour'], '--colour'],
      ['--data without --topic and --type (stdin piped)', ['--data', '{}'], '--topic'],
      [
        'an envelope on stdin missing event.type',
        [],
        'event.type',
        JSON.stringify({ ...SEED_ENVELOPE, event: { ...SEED_ENVELOPE.event, type: undefined } }),
      ],
      ['stdin that is not JSON', ['-'], 'stdin', '{"event":'],
      ['an envelope on stdin together with --topic', ['-', '--topic', 'project.tasks'], '--topic', JSON.stringify(SEED_ENVELOPE)],
    ];
    // One database for all cases: each refusal must leave it holding only "Before".
    let db = '';
    beforeAll(async () => {
      db = freshDb();
      await publish(db, '--topic', 'project.tasks', '--type', 'Before');
    });
    for (const [what, flags, field, input] of cases) {
      it(what, async () => {
        const result = await runCli(['publish', '--db', db, ...flags], input === undefined ? {} : { input });
        expectRefused(result, field);
        expect((await eventRows(db)).map((row) => row[3])).toEqual(['Before']);
      });
    }

    it('--data names the JSON parse reason', async () => {
      const result = await runCli(['publish', '--db', freshDb(), '--topic', 'a.b', '--type', 'X', '--data', '{bad']);
      expect(result.stderr).toMatch(/--data.*JSON.*position 1/);
    });

    it('a refused publish on a new path creates no database file', async () => {
      const db = freshDb();
      expectRefused(await runCli(['publish', '--db', db, '--topic', 'project..tasks', '--type', 'X']), '--topic');
      expectRefused(await runCli(['publish', '--db', db], { input: '{"event":{}}' }), 'payload');
      expect(existsSync(db)).toBe(false);
    });
  });
});

describe('agentbus events', () => {
  /** A log of four events over two topics and two correlations. */
  async function seededLog(): Promise<{ db: string; ids: string[] }> {
    const db = freshDb();
    const a = await publish(
      db,
      '--topic',
      'project.tasks',
      '--type',
      'FeatureStarted',
      '--source',
      '/orchestrator',
      '--correlation-id',
      'feature-1',
    );
    const b = await publish(
      db,
      '--topic',
      'project.tasks',
      '--type',
      'APIDesignCompleted',
      '--source',
      '/backend-architect',
      '--correlation-id',
      'feature-1',
      '--causation-id',
      a.event.id,
    );
    const c = await publish(
      db,
      '--topic',
      'project.reviews',
      '--type',
      'ReviewRequestedEvent',
      '--source',
      '/code-reviewer',
      '--correlation-id',
      'feature-2',
    );
    const d = await publish(
      db,
      '--topic',
      'project.tasks.done',
      '--type',
      'APIDesignCompleted',
      '--source',
      '/backend-architect',
      '--correlation-id',
      'feature-2',
    );
    return { db, ids: [a, b, c, d].map((e) => e.event.id) };
  }

  it('filters by --type, --correlation-id, --causation-id and --topic pattern', async () => {
    const { db, ids } = await seededLog();
    const seqs = async (...flags: string[]) => (await eventRows(db, ...flags)).map((row) => row[0]);
    expect(await seqs()).toEqual(['1', '2', '3', '4']);
    expect(await seqs('--type', 'APIDesignCompleted')).toEqual(['2', '4']);
    expect(await seqs('--correlation-id', 'feature-2')).toEqual(['3', '4']);
    expect(await seqs('--causation-id', ids[0] as string)).toEqual(['2']);
    expect(await seqs('--topic', 'project.tasks')).toEqual(['1', '2']);
    expect(await seqs('--topic', 'project.*')).toEqual(['1', '2', '3']);
    expect(await seqs('--topic', 'project.>')).toEqual(['1', '2', '3', '4']);
    expect(await seqs('--topic', 'project.>', '--type', 'APIDesignCompleted', '--correlation-id', 'feature-2')).toEqual(['4']);
  });

  it('--limit, --from-seq and --reverse page through the log', async () => {
    const { db } = await seededLog();
    const limited = await runCli(['events', '--db', db, '--limit', '2']);
    expect(tableRows(limited.stdout).map((row) => row[0])).toEqual(['1', '2']);
    expect(limited.stderr).toContain('--from-seq 3');
    expect((await eventRows(db, '--from-seq', '3')).map((row) => row[0])).toEqual(['3', '4']);
    expect((await eventRows(db, '--reverse', '--limit', '3')).map((row) => row[0])).toEqual(['4', '3', '2']);
  });

  it('--since and --until take RFC 3339 times and durations ago', async () => {
    const db = freshDb();
    await runCli(['publish', '--db', db], { input: JSON.stringify(SEED_ENVELOPE) });
    await publish(db, '--topic', 'project.tasks', '--type', 'Recent');
    const types = async (...flags: string[]) => (await eventRows(db, ...flags)).map((row) => row[3]);
    expect(await types('--since', '1h')).toEqual(['Recent']);
    expect(await types('--until', '1h')).toEqual(['TaskCompletedEvent']);
    expect(await types('--since', '2025-11-29T14:30:00Z', '--until', '2025-11-29T14:30:01Z')).toEqual(['TaskCompletedEvent']);
    expectRefused(await runCli(['events', '--db', db, '--since', 'yesterday']), '--since');
  });

  it('shows full dates in the Time column when the rows span several days', async () => {
    const db = freshDb();
    await runCli(['publish', '--db', db], { input: JSON.stringify(SEED_ENVELOPE) });
    const nextDay = {
      ...SEED_ENVELOPE,
      event: { ...SEED_ENVELOPE.event, id: 'evt-20251130-090000-def456', timestamp: '2025-11-30T09:00:00Z' },
    };
    await runCli(['publish', '--db', db], { input: JSON.stringify(nextDay) });
    expect((await eventRows(db)).map((row) => row[1])).toEqual(['2025-11-29 14:30:00', '2025-11-30 09:00:00']);
  });

  it('--json prints one array of {seq, stored_at, envelope}', async () => {
    const { db } = await seededLog();
    const result = await runCli(['events', '--db', db, '--json', '--type', 'APIDesignCompleted']);
    expect(result.code).toBe(0);
    const items = JSON.parse(result.stdout) as Array<{ seq: number; stored_at: string; envelope: { event: { type: string } } }>;
    expect(items.map((i) => i.seq)).toEqual([2, 4]);
    expect(items[0]?.stored_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(items[0]?.envelope.event.type).toBe('APIDesignCompleted');
  });

  it('says "no events" on stderr and exits 0 when the log is empty', async () => {
    const db = freshDb();
    await (await createBus({ path: db })).close();
    const result = await runCli(['events', '--db', db]);
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: 'no events\n' });
    const json = await runCli(['events', '--db', db, '--json']);
    expect(json).toMatchObject({ code: 0, stdout: '[]\n' });
  });

  it('refuses a database that does not exist (exit 1) and does not create it', async () => {
    const db = freshDb();
    const result = await runCli(['events', '--db', db]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^agentbus: --db: no agentbus database at .*\n$/);
    expect(existsSync(dirname(db)) && existsSync(db)).toBe(false);
  });

  it('refuses a bad --topic pattern with exit 2 naming --topic', async () => {
    const { db } = await seededLog();
    expectRefused(await runCli(['events', '--db', db, '--topic', 'project.>.x']), '--topic');
    expectRefused(await runCli(['events', '--db', db, '--limit', '0']), '--limit');
  });

  it('uses AGENTBUS_DB when --db is not given, and --db before the command name', async () => {
    const { db } = await seededLog();
    const viaEnv = await runCli(['events', '--limit', '1'], { env: { AGENTBUS_DB: db } });
    expect(tableRows(viaEnv.stdout)).toHaveLength(1);
    const viaGlobal = await runCli(['--db', db, 'events']);
    expect(tableRows(viaGlobal.stdout)).toHaveLength(4);
  });
});

describe('agentbus (program)', () => {
  it('an unknown command is a usage error: exit 2 and one line', async () => {
    const result = await runCli(['evnts']);
    expectRefused(result, "unknown command 'evnts'");
  });

  it('--help exits 0 and lists the commands', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    for (const command of ['publish', 'events', 'tail', 'subscriptions', 'demo']) expect(result.stdout).toContain(command);
  });

  it('prints a stack trace only with AGENTBUS_DEBUG=1', async () => {
    const db = freshDb();
    const quiet = await runCli(['events', '--db', db]);
    expect(quiet.stderr).not.toContain('    at ');
    const debug = await runCli(['events', '--db', db], { env: { AGENTBUS_DEBUG: '1' } });
    expect(debug.stderr).toContain('    at ');
  });
});

describe('expired events', () => {
  it('events marks an event whose expires_at has passed; subscriptions count it as expired, not delivered', async () => {
    const db = freshDb();
    const bus = await createBus({ path: db });
    const seen: string[] = [];
    const sub = await bus.subscribe({ name: 'watcher', topic: 'alerts', handler: (e) => void seen.push(e.event.type) });
    await bus.publish({ topic: 'alerts', type: 'StaleAlert', expiresAt: '2001-01-01T00:00:00Z' });
    await bus.publish({ topic: 'alerts', type: 'FreshAlert' });
    for (let i = 0; i < 100 && seen.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
    await sub.idle();
    await sub.close();
    await bus.close();
    expect(seen).toEqual(['FreshAlert']);
    const events = await runCli(['events', '--db', db]);
    expect(events.stdout).toContain('StaleAlert (expired)');
    expect(events.stdout).not.toContain('FreshAlert (expired)');
    const subs = await runCli(['subscriptions', 'list', '--json', '--db', db]);
    expect(JSON.parse(subs.stdout)[0]).toMatchObject({ name: 'watcher', expired: 1 });
  });
});

describe('publish --delay / --deliver-at', () => {
  it('keeps the event on a durable timer instead of appending it now', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-cli-delay-'));
    const db = join(dir, 'a.db');
    try {
      const result = await runCli([
        'publish',
        '--db',
        db,
        '--json',
        '--topic',
        'project.later',
        '--type',
        'LaterEvent',
        '--delay',
        '1h',
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const envelope = JSON.parse(result.stdout) as { event: { timestamp: string } };
      expect(Date.parse(envelope.event.timestamp)).toBeGreaterThan(Date.now() + 50 * 60_000);
      const events = await runCli(['events', '--db', db, '--json']);
      expect(events.stdout).not.toContain('LaterEvent');
      // For a person, a note on stderr says where the event is and when it comes.
      const shown = await runCli(['publish', '--db', db, '--topic', 'project.later', '--type', 'LaterEvent', '--delay', '1h']);
      const due = (JSON.parse(shown.stdout) as { event: { timestamp: string } }).event.timestamp;
      expect(shown.stderr).toBe(
        `scheduled on a durable timer: appended at ${due} by a running agentbus process (run, serve, or one with a subscription); agentbus timers lists it\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a bad --delay, or both, naming the flag, and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-cli-delay-'));
    const db = join(dir, 'a.db');
    try {
      const base = ['publish', '--db', db, '--topic', 'project.later', '--type', 'LaterEvent'];
      const bad = await runCli([...base, '--delay', 'soon']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--delay/);
      const both = await runCli([...base, '--delay', '1h', '--deliver-at', '2030-01-01T00:00:00Z']);
      expect(both.code).toBe(2);
      const badTime = await runCli([...base, '--deliver-at', 'tomorrow']);
      expect(badTime.code).toBe(2);
      // In the shell's terms: no "a Date", which the library takes and a command line cannot give.
      expect(badTime.stderr).toBe(
        'agentbus: --deliver-at: must be an RFC 3339 time like 2025-11-29T14:30:00Z, or ms since the epoch, in years 1970-9999\n',
      );
      expect(existsSync(db)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
