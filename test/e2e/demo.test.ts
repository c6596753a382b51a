/**
 * `agentbus demo`: the seed's example and a three-agent chain reaction, end to end.
 */
import { existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tableRows } from './run-cli.js';

const CHAIN = [
  'FeatureStarted',
  'UserStoryApproved',
  'APIDesignStarted',
  'APIDesignCompleted',
  'ImplementationStarted',
  'ImplementationCompleted',
];
const AGENTS = ['/orchestrator', '/product-strategist', '/backend-architect', '/backend-architect', '/python-pro', '/python-pro'];

/** The database path the demo prints on its first line. */
function databaseOf(stdout: string): string {
  const match = /fresh database (\S+)/.exec(stdout);
  expect(match).not.toBeNull();
  return (match as RegExpExecArray)[1] as string;
}

describe('agentbus demo', () => {
  it('exits 0 and prints the correlation table of the chain, in causal order, all with project-xyz-feature-123', async () => {
    const result = await runCli(['demo']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const table = result.stdout.slice(result.stdout.indexOf('## Event Correlation'));
    expect(table).toContain('**Correlation ID:** project-xyz-feature-123');
    expect(table).toMatch(/\| Time +\| Event +\| Agent +\| Correlation ID +\|/);
    const rows = tableRows(table);
    expect(rows.map((row) => row[1])).toEqual(CHAIN);
    expect(rows.map((row) => row[2])).toEqual(AGENTS);
    for (const row of rows) {
      expect(row[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
      expect(row[3]).toBe('project-xyz-feature-123');
    }
  });

  it("publishes the seed's example envelope exactly and narrates each event with its cause", async () => {
    const result = await runCli(['demo']);
    expect(result.stdout).toContain('"id": "evt-20251129-143000-abc123"');
    expect(result.stdout).toContain('"causation_id": "evt-previous-id"');
    expect(result.stdout).toContain('"partition_key": "project-xyz"');
    expect(result.stdout).toContain('→ /backend-architect published APIDesignCompleted (caused by UserStoryApproved)');
    expect(result.stdout).toContain('→ /python-pro published ImplementationCompleted (caused by APIDesignCompleted)');
  });

  it('deletes its temporary database unless --keep', async () => {
    const removed = await runCli(['demo']);
    expect(existsSync(dirname(databaseOf(removed.stdout)))).toBe(false);

    const kept = await runCli(['demo', '--keep']);
    expect(kept.code).toBe(0);
    const db = databaseOf(kept.stdout);
    expect(existsSync(db)).toBe(true);
    const events = await runCli(['events', '--db', db, '--correlation-id', 'project-xyz-feature-123']);
    expect(tableRows(events.stdout).map((row) => row[3])).toEqual(CHAIN);
    rmSync(dirname(db), { recursive: true, force: true });
  });

  it('--json prints one object with the example and the chain, causation linking each event to its cause', async () => {
    const result = await runCli(['demo', '--json']);
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split('\n')).toHaveLength(1);
    const out = JSON.parse(result.stdout) as {
      example: { event: { id: string } };
      chain: Array<{ envelope: { event: { id: string; type: string; causation_id: string | null } } }>;
    };
    expect(out.example.event.id).toBe('evt-20251129-143000-abc123');
    const byType = new Map(out.chain.map(({ envelope: { event } }) => [event.type, event]));
    const causeOf = (type: string) =>
      out.chain.find((e) => e.envelope.event.id === byType.get(type)?.causation_id)?.envelope.event.type;
    expect(out.chain.map((e) => e.envelope.event.type)).toEqual(CHAIN);
    expect(byType.get('FeatureStarted')?.causation_id).toBeNull();
    expect(causeOf('UserStoryApproved')).toBe('FeatureStarted');
    expect(causeOf('APIDesignCompleted')).toBe('UserStoryApproved');
    expect(causeOf('ImplementationCompleted')).toBe('APIDesignCompleted');
  });
});
