/**
 * `agentbus timeline`: the seed's correlation table and the causation tree, with retries,
 * dead letters and compensations, from the data functions to the built CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/index.js';
import { type TimelineEntry, causationTree, isCompensationEvent, timeline } from '../../src/observe/index.js';
import { createEnvelope } from '../../src/index.js';
import { createApp } from '../../src/server/index.js';
import { freshDb, removeFreshDbs, runCli, tableRows } from '../e2e/run-cli.js';
import { FEATURE, REVIEW, recoveredDb, timelineDb } from './scenarios.js';

afterAll(removeFreshDbs);

describe('correlation timeline', () => {
  let db: string;
  let entries: TimelineEntry[];
  beforeAll(async () => {
    db = freshDb();
    await timelineDb(db);
    const bus = await createBus({ path: db });
    try {
      entries = await timeline(bus, FEATURE);
    } finally {
      await bus.close();
    }
  });

  it('holds the events of the correlation only, in time order, with failures and compensations marked', () => {
    expect(entries.every((e) => e.correlationId === FEATURE)).toBe(true);
    const times = entries.map((e) => Date.parse(e.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const events = entries.filter((e) => e.kind !== 'retry' && e.kind !== 'dead_letter');
    expect(events.map((e) => [e.event, e.agent, e.kind])).toEqual([
      ['FeatureStarted', '/orchestrator', 'event'],
      ['DesignStarted', '/backend-architect', 'event'],
      ['DesignCompleted', '/backend-architect', 'event'],
      ['ErrorOccurredEvent', '/agentbus', 'error'],
      ['RollbackDesign', '/orchestrator', 'compensation'],
    ]);
    const failures = entries.filter((e) => e.kind === 'retry' || e.kind === 'dead_letter');
    expect(failures.map((e) => [e.kind, e.event, e.agent, e.reason, e.retries])).toEqual([
      ['retry', 'DesignCompleted', '/python-pro', 'temporary_failure', 1],
      ['dead_letter', 'DesignCompleted', '/python-pro', 'temporary_failure', 1],
    ]);
    // Each failed attempt, as the seed's Retry Timeline reads: attempt 1 retried after the
    // policy's 10ms, attempt 2 dead-lettered.
    expect(failures.map((e) => [e.attempt, e.delayMs, e.message])).toEqual([
      [1, 10, 'implementation failed'],
      [2, undefined, 'implementation failed'],
    ]);
    // The failures come after the event that failed, the compensation last.
    const index = (kind: string, event: string) => entries.findIndex((e) => e.kind === kind && e.event === event);
    expect(index('retry', 'DesignCompleted')).toBeGreaterThan(index('event', 'DesignCompleted'));
    expect(index('dead_letter', 'DesignCompleted')).toBeGreaterThan(index('retry', 'DesignCompleted'));
    expect(entries.at(-1)?.event).toBe('RollbackDesign');
  });

  it('builds the causation tree with failures on the event that failed', () => {
    const roots = causationTree(entries);
    expect(roots.map((r) => r.entry.event)).toEqual(['FeatureStarted']);
    const [root] = roots;
    expect(root?.children.map((c) => c.entry.event)).toEqual(['DesignStarted', 'DesignCompleted']);
    const completed = root?.children[1];
    expect(completed?.failures.map((f) => f.kind)).toEqual(['retry', 'dead_letter']);
    expect(completed?.children.map((c) => c.entry.event).sort()).toEqual(['ErrorOccurredEvent', 'RollbackDesign']);
  });

  it("prints the seed's table | Time | Event | Agent | Correlation ID |", async () => {
    const result = await runCli(['timeline', FEATURE, '--db', db]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.split('\n')[0]).toMatch(/^\| Time +\| Event +\| Agent +\| Correlation ID +\|$/);
    const rows = tableRows(result.stdout);
    expect(rows).toHaveLength(entries.length);
    for (const row of rows) {
      expect(row[0]).toMatch(/^\d\d:\d\d:\d\d$/);
      expect(row[3]).toBe(FEATURE);
    }
    const byEvent = (event: string) => rows.find((r) => r[1] === event);
    expect(byEvent('FeatureStarted')?.[2]).toBe('/orchestrator');
    expect(byEvent('DesignCompleted')?.[2]).toBe('/backend-architect');
    expect(byEvent('RollbackDesign (compensation)')?.[2]).toBe('/orchestrator');
    expect(byEvent('DesignCompleted attempt 1 failed (temporary_failure), retried after 10ms')?.[2]).toBe('/python-pro');
    expect(byEvent('DesignCompleted attempt 2 failed → DLQ (temporary_failure, 1 retry)')?.[2]).toBe('/python-pro');
    expect(rows[0]?.[1]).toBe('FeatureStarted');
  });

  it('draws the causation tree with --tree', async () => {
    const result = await runCli(['timeline', FEATURE, '--tree', '--db', db]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^FeatureStarted {2}\/orchestrator {2}\d\d:\d\d:\d\d$/);
    expect(lines[1]).toMatch(/^├─ DesignStarted {2}\/backend-architect /);
    expect(lines[2]).toMatch(/^└─ DesignCompleted {2}\/backend-architect /);
    expect(lines[3]).toMatch(
      /^ {3}├─ ✖ DesignCompleted attempt 1 failed \(temporary_failure\), retried after 10ms in \/python-pro /,
    );
    expect(lines[4]).toMatch(/^ {3}├─ ✖ DesignCompleted attempt 2 failed → DLQ \(temporary_failure, 1 retry\) in \/python-pro /);
    // The events DesignCompleted caused, in time order (ErrorOccurredEvent and the compensation).
    expect(lines).toHaveLength(7);
    expect(lines[5]).toMatch(/^ {3}├─ /);
    expect(lines.slice(5).some((l) => / ErrorOccurredEvent {2}\/agentbus /.test(l))).toBe(true);
    expect(lines.slice(5).some((l) => / RollbackDesign \(compensation\) {2}\/orchestrator /.test(l))).toBe(true);
    expect(lines.at(-1)).toMatch(/^ {3}└─ /);
  });

  it('prints entries and tree as JSON with --json', async () => {
    const result = await runCli(['timeline', FEATURE, '--json', '--db', db]);
    expect(result.code).toBe(0);
    const json = JSON.parse(result.stdout);
    expect(json.correlation_id).toBe(FEATURE);
    expect(json.entries).toHaveLength(entries.length);
    expect(json.entries[0]).toMatchObject({
      kind: 'event',
      event: 'FeatureStarted',
      agent: '/orchestrator',
      correlation_id: FEATURE,
    });
    expect(json.tree).toHaveLength(1);
    expect(json.tree[0].children[1].failures.map((f: { kind: string }) => f.kind)).toEqual(['retry', 'dead_letter']);
    expect(json.entries.find((e: { kind: string }) => e.kind === 'retry')).toMatchObject({ attempt: 1, delay_ms: 10 });
  });

  it('fails with exit 1 for an unknown correlation id and exit 2 for an empty one', async () => {
    const unknown = await runCli(['timeline', 'no-such-correlation', '--db', db]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('agentbus: no events with correlation id no-such-correlation\n');
    const empty = await runCli(['timeline', ' ', '--db', db]);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/CORRELATION_ID/);
  });
});

describe('correlation timeline of a delivery handled after failing', () => {
  let db: string;
  let entries: TimelineEntry[];
  beforeAll(async () => {
    db = freshDb();
    await recoveredDb(db);
    const bus = await createBus({ path: db });
    try {
      entries = await timeline(bus, REVIEW);
    } finally {
      await bus.close();
    }
  });

  it("tells the seed's Retry Timeline in the subscription that failed: each failed attempt, then the attempt handled", () => {
    expect(entries.map((e) => [e.kind, e.agent, e.attempt, e.reason, e.delayMs])).toEqual([
      ['event', '/orchestrator', undefined, undefined, undefined],
      ['retry', '/reviewer', 1, 'timeout', 10],
      ['retry', '/reviewer', 2, 'timeout', 20],
      ['handled', '/reviewer', 3, undefined, undefined],
    ]);
    expect(entries.slice(1).map((e) => [e.subscription, e.retries, e.eventId])).toEqual(
      Array.from({ length: 3 }, () => ['/reviewer', 2, entries[0]?.eventId]),
    );
    expect(entries[1]?.message).toBe('review took too long (attempt 1)');
    const times = entries.map((e) => Date.parse(e.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const [root] = causationTree(entries);
    expect(root?.failures.map((f) => [f.kind, f.attempt])).toEqual([
      ['retry', 1],
      ['retry', 2],
      ['handled', 3],
    ]);
  });

  it('prints the attempts in the table and the tree', async () => {
    const table = await runCli(['timeline', REVIEW, '--db', db]);
    expect(table.code).toBe(0);
    expect(tableRows(table.stdout).map((r) => [r[1], r[2]])).toEqual([
      ['ReviewRequested', '/orchestrator'],
      ['ReviewRequested attempt 1 failed (timeout), retried after 10ms', '/reviewer'],
      ['ReviewRequested attempt 2 failed (timeout), retried after 20ms', '/reviewer'],
      ['ReviewRequested attempt 3 handled', '/reviewer'],
    ]);
    const tree = (await runCli(['timeline', REVIEW, '--tree', '--db', db])).stdout.trimEnd().split('\n');
    expect(tree).toHaveLength(4);
    expect(tree[1]).toMatch(/^├─ ✖ ReviewRequested attempt 1 failed \(timeout\), retried after 10ms in \/reviewer /);
    expect(tree[3]).toMatch(/^└─ ✔ ReviewRequested attempt 3 handled in \/reviewer /);
    const json = JSON.parse((await runCli(['timeline', REVIEW, '--json', '--db', db])).stdout);
    expect(json.entries.at(-1)).toMatchObject({ kind: 'handled', attempt: 3, retries: 2, subscription: '/reviewer' });
  });

  it('serves the same entries over HTTP and on the dashboard timeline page', async () => {
    const bus = await createBus({ path: db });
    try {
      const app = createApp({ bus });
      const api = await app.request(`http://127.0.0.1/v1/timeline/${REVIEW}`);
      expect(api.status).toBe(200);
      const body = (await api.json()) as { entries: Array<{ kind: string; attempt?: number }> };
      expect(body.entries.map((e) => [e.kind, e.attempt])).toEqual([
        ['event', undefined],
        ['retry', 1],
        ['retry', 2],
        ['handled', 3],
      ]);
      const page = await (await app.request(`http://127.0.0.1/timeline/${REVIEW}`)).text();
      expect(page).toContain('handled (attempt 3)');
      expect(page).toContain('retry (attempt 2, retried after 20ms)');
    } finally {
      await bus.close();
    }
  });
});

describe('causationTree', () => {
  const entry = (eventId: string, causationId: string | null, seq: number): TimelineEntry => ({
    time: new Date(1_700_000_000_000 + seq).toISOString(),
    kind: 'event',
    event: `E${seq}`,
    agent: '/a',
    correlationId: 'c',
    eventId,
    causationId,
    topic: 'project.tasks',
    seq,
  });

  it('makes events whose cause is outside the correlation roots', () => {
    const roots = causationTree([entry('a', 'elsewhere', 1), entry('b', 'a', 2), entry('c', null, 3)]);
    expect(roots.map((r) => r.entry.eventId)).toEqual(['a', 'c']);
    expect(roots[0]?.children.map((c) => c.entry.eventId)).toEqual(['b']);
  });

  it('breaks a cycle of given ids instead of losing its events', () => {
    const roots = causationTree([entry('a', 'b', 1), entry('b', 'a', 2)]);
    const seen: string[] = [];
    const walk = (n: (typeof roots)[number]) => {
      seen.push(n.entry.eventId);
      n.children.forEach(walk);
    };
    roots.forEach(walk);
    expect(seen.sort()).toEqual(['a', 'b']);
  });
});

describe('isCompensationEvent', () => {
  const envelope = (input: {
    type: string;
    source?: string;
    payload?: Record<string, boolean>;
    extensions?: Record<string, string>;
  }) => createEnvelope({ topic: 'deploy.commands', ...input }, { clock: { now: () => Date.now() }, newId: () => 'evt-test' });

  it("recognises saga compensations, the coordinator's, and compensation types", () => {
    expect(isCompensationEvent(envelope({ type: 'RemoveFromStaging', payload: { compensation: true } }))).toBe(true);
    expect(isCompensationEvent(envelope({ type: 'RevertBackend', source: '/agentbus/compensations' }))).toBe(true);
    expect(isCompensationEvent(envelope({ type: 'RollbackProduction' }))).toBe(true);
    expect(isCompensationEvent(envelope({ type: 'ShipIt', extensions: { compensates: 'evt-1' } }))).toBe(true);
  });

  it('leaves other events, and compensation registrations, unmarked', () => {
    expect(isCompensationEvent(envelope({ type: 'DeployToStaging' }))).toBe(false);
    expect(isCompensationEvent(envelope({ type: 'CompensationRegistered' }))).toBe(false);
  });
});
