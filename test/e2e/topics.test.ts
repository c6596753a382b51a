/**
 * `agentbus topics`: the seed's Pub/Sub Configuration (per topic: publishers, subscribers)
 * as measured in the database, through the built CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/index.js';
import { pubSubScenario, shiftedClock } from '../observe/scenarios.js';
import { freshDb, removeFreshDbs, runCli, tableRows } from './run-cli.js';

afterAll(removeFreshDbs);

function header(stdout: string): string[] | undefined {
  return stdout
    .split('\n')[0]
    ?.slice(1, -1)
    .split('|')
    .map((c) => c.trim());
}

describe('agentbus topics', () => {
  let db: string;
  beforeAll(async () => {
    db = freshDb();
    const clock = shiftedClock();
    const bus = await createBus({ path: db, clock });
    try {
      await pubSubScenario(bus, clock);
    } finally {
      await bus.close();
    }
  });

  it('prints a row per topic: events and publishers of the last hour, subscribers, lag', async () => {
    const result = await runCli(['topics', '--db', db]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(header(result.stdout)).toEqual(['Topic', 'Events (Last Hour)', 'Publishers', 'Subscribers', 'Lag']);
    expect(tableRows(result.stdout)).toEqual([
      ['deploy.>', '0', '-', '/deployer', '0'],
      ['project.reviews', '1', '/code-author', '/code-reviewer', '1'],
      ['project.tasks', '3', '/backend-architect, /python-pro', '/code-reviewer, /dependency-manager', '6'],
    ]);
  });

  it('--window reaches further back, --include-system adds system topics', async () => {
    const result = await runCli(['topics', '--window', '3h', '--include-system', '--db', db]);
    expect(result.code).toBe(0);
    expect(header(result.stdout)?.[1]).toBe('Events (Last 3 Hours)');
    const rows = tableRows(result.stdout);
    expect(rows.find((r) => r[0] === 'project.tasks')?.slice(1, 3)).toEqual([
      '6',
      '/backend-architect, /old-architect, /python-pro',
    ]);
    expect(rows.find((r) => r[0] === 'system.agents')).toEqual(['system.agents', '1', '/backend-architect', '-', '-']);
  });

  it('--json prints the overview with every name', async () => {
    const result = await runCli(['topics', '--json', '--db', db]);
    expect(result.code).toBe(0);
    const overview = JSON.parse(result.stdout);
    expect(overview).toMatchObject({ window_ms: 3_600_000, since: expect.any(String), generated_at: expect.any(String) });
    expect(overview.topics[2]).toEqual({
      topic: 'project.tasks',
      pattern: false,
      events: 3,
      publishers: ['/backend-architect', '/python-pro'],
      subscribers: ['/code-reviewer', '/dependency-manager'],
      lag: 6,
    });
    expect(overview.topics[0]).toMatchObject({ topic: 'deploy.>', pattern: true });
  });

  it('shortens long lists of names in the table (the JSON keeps them all)', async () => {
    const crowded = freshDb();
    const bus = await createBus({ path: crowded });
    await bus.publishBatch(
      Array.from({ length: 7 }, (_, i) => ({ topic: 'project.alerts', type: 'AlertRaised', source: `/agent-${i}` })),
    );
    await bus.close();
    const result = await runCli(['topics', '--db', crowded]);
    expect(tableRows(result.stdout)).toEqual([
      ['project.alerts', '7', '/agent-0, /agent-1, /agent-2, /agent-3, /agent-4, +2 more', '-', '-'],
    ]);
    const json = await runCli(['topics', '--json', '--db', crowded]);
    expect(JSON.parse(json.stdout).topics[0].publishers).toHaveLength(7);
  });

  it('says so when there is nothing to show, and refuses a bad window naming the flag', async () => {
    const empty = freshDb();
    const bus = await createBus({ path: empty });
    await bus.publish({ topic: 'system.agents', type: 'AgentHealthEvent' });
    await bus.close();
    expect(await runCli(['topics', '--db', empty])).toMatchObject({
      code: 0,
      stdout: '',
      stderr: 'no topics: nothing published and no subscriptions (system.* left out: --include-system)\n',
    });
    for (const window of ['90s', '0m', '2d', 'soon']) {
      const result = await runCli(['topics', '--window', window, '--db', db]);
      expect(result.code, window).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `agentbus: --window: must be a whole number of minutes from 1m to 24h, like 15m, 1h or 24h (got '${window}')\n`,
      );
    }
    const missing = await runCli(['topics', '--db', freshDb()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no agentbus database');
  });
});
