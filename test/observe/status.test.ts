/**
 * `agentbus status`: the seed's dashboard computed from the database alone, through the
 * built CLI (another process than the agents), plus the snapshot behind it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentRuntime, defineAgent } from '../../src/agents/index.js';
import { createBus } from '../../src/index.js';
import { type StatusSnapshot, statusSnapshot } from '../../src/observe/index.js';
import { freshDb, removeFreshDbs, runCli, startCli } from '../e2e/run-cli.js';
import { WINDOW_FIGURES, dashboardDb, shiftedClock, until, windowScenario } from './scenarios.js';

afterAll(removeFreshDbs);

/** The lines of one `### Section` of the dashboard. */
function section(text: string, title: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`### ${title}`));
  if (start < 0) throw new Error(`no section ${title} in:\n${text}`);
  const end = lines.findIndex((l, i) => i > start && (l.startsWith('### ') || l.startsWith('## ')));
  return lines.slice(start + 1, end < 0 ? undefined : end).filter((l) => l !== '');
}

/** Data rows of the markdown table in `lines`. */
function rows(lines: string[]): string[][] {
  return lines
    .filter((l) => l.startsWith('|'))
    .slice(2)
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

describe('agentbus status', () => {
  let db: string;
  beforeAll(async () => {
    db = freshDb();
    await dashboardDb(db);
  });

  it('computes throughput, topics, agents and health from the store', async () => {
    const bus = await createBus({ path: db });
    let s: StatusSnapshot;
    try {
      s = await statusSnapshot(bus);
    } finally {
      await bus.close();
    }
    expect(s.throughput).toMatchObject({ windowMs: 3_600_000, published: 13, consumed: 5, failed: 2, inDlq: 2 });
    expect(s.topics.map((t) => [t.topic, t.published, t.consumed, t.lag])).toEqual([
      ['project.alerts', 1, 0, 1],
      ['project.designs', 5, null, null],
      ['project.reviews', 2, 0, 0],
      ['project.tasks', 5, 5, 0],
    ]);
    expect(s.agents.map((a) => [a.agent, a.published, a.consumed, a.processing, a.health])).toEqual([
      ['/backend-architect', 5, 5, 0, 'healthy'],
      ['/incident-manager', 0, 0, 0, undefined],
      ['/orchestrator', 8, 0, 0, undefined],
      ['/test-engineer', 0, 0, 0, 'unhealthy'],
    ]);
    expect(s.health.bus).toBe('degraded');
    expect(s.health.store).toBe('healthy');
    expect(s.health.consumerLag).toEqual({ level: 'low', maxPending: 1 });
    expect(s.health.averageLatencyMs).not.toBeNull();
  });

  it("prints the seed's dashboard: bars, By Topic, Agent Activity, Health", async () => {
    const result = await runCli(['status', '--db', db]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    expect(out.split('\n')[0]).toBe('## Event System Dashboard');
    expect(out).toContain('\n### Throughput (Last Hour)\n');
    expect(section(out, 'Throughput')).toEqual([
      'Events Published: ████████████████████ 13',
      'Events Consumed:  ████████░░░░░░░░░░░░ 5',
      'Events Failed:    ███░░░░░░░░░░░░░░░░░ 2',
      'Events in DLQ:    ███░░░░░░░░░░░░░░░░░ 2',
    ]);
    expect(section(out, 'By Topic')[0]).toMatch(/^\| Topic +\| Published \| Consumed \| Lag \|$/);
    expect(rows(section(out, 'By Topic'))).toEqual([
      ['project.alerts', '1', '0', '1'],
      ['project.designs', '5', '-', '-'],
      ['project.reviews', '2', '0', '0'],
      ['project.tasks', '5', '5', '0'],
    ]);
    expect(section(out, 'Agent Activity')[0]).toMatch(/^\| Agent +\| Published \| Consumed \| Processing \|$/);
    expect(rows(section(out, 'Agent Activity'))).toEqual([
      ['/backend-architect', '5', '5', '0'],
      ['/incident-manager', '0', '0', '0'],
      ['/orchestrator', '8', '0', '0'],
      ['/test-engineer', '0', '0', '0'],
    ]);
    const health = section(out, 'Health');
    expect(health[0]).toBe('- Event Bus: 🟡 Degraded (2 in DLQ, 1 agent not healthy)');
    expect(health[1]).toBe('- Event Store: 🟢 Healthy');
    expect(health[2]).toMatch(/^- Average Latency: \d+(ms|\.\d\ds)$/);
    expect(health[3]).toBe('- Consumer Lag: Low (1 pending)');
    expect(health[4]).toBe('- Agents: 🟡 1 healthy, 1 not healthy');
  });

  it('counts system topics only with --include-system', async () => {
    const result = await runCli(['status', '--db', db, '--include-system']);
    expect(result.code).toBe(0);
    const topics = rows(section(result.stdout, 'By Topic')).map((r) => r[0]);
    expect(topics).toContain('system.errors');
    expect(topics).toContain('system.agents');
  });

  it('prints the snapshot as one JSON line with --json, snake_case', async () => {
    const result = await runCli(['status', '--db', db, '--json']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    const json = JSON.parse(result.stdout);
    expect(json.throughput).toMatchObject({ window_ms: 3_600_000, published: 13, consumed: 5, failed: 2, in_dlq: 2 });
    expect(Date.parse(json.throughput.since)).toBeLessThanOrEqual(Date.parse(json.generated_at) - 3_600_000);
    expect(json.health.consumer_lag).toEqual({ level: 'low', max_pending: 1 });
    expect(json.subscriptions.find((s: { name: string }) => s.name === '/test-engineer')).toMatchObject({
      in_dlq: 2,
      failed: 2,
      pending: 0,
    });
  });

  it('redraws with --watch as other processes publish, and stops cleanly on SIGTERM', async () => {
    const watchDb = freshDb();
    const bus = await createBus({ path: watchDb });
    await bus.publish({ topic: 'project.tasks', type: 'TaskStartedEvent', source: '/orchestrator' });
    const cli = startCli(['status', '--db', watchDb, '--watch', '0.2']);
    try {
      await cli.waitFor(({ stdout }) => stdout.includes('Events Published: ████████████████████ 1\n'), 30_000);
      await bus.publish({ topic: 'project.tasks', type: 'TaskStartedEvent', source: '/orchestrator' });
      await cli.waitFor(({ stdout }) => stdout.includes('Events Published: ████████████████████ 2\n'), 30_000);
    } finally {
      await bus.close();
    }
    const result = await cli.stop('SIGTERM');
    expect(result.code).toBe(0);
    expect(result.stdout.split('## Event System Dashboard').length).toBeGreaterThan(2);
    // Not a terminal: frames follow each other, no escape codes.
    expect(result.stdout).not.toContain('\x1b[');
  });

  it('prints one JSON line per refresh with --watch --json', async () => {
    const cli = startCli(['status', '--db', db, '--watch', '0.2', '--json']);
    await cli.waitFor(({ stdout }) => stdout.split('\n').filter((l) => l.startsWith('{')).length >= 2, 30_000);
    const result = await cli.stop('SIGTERM');
    for (const line of result.stdout.trim().split('\n')) expect(JSON.parse(line).throughput.published).toBe(13);
  });

  it('refuses a bad --watch value (exit 2) and a missing database (exit 1)', async () => {
    const bad = await runCli(['status', '--db', db, '--watch', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^agentbus: .*--watch.*seconds/i);
    const missing = await runCli(['status', '--db', `${db}.missing`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no agentbus database/);
  });

  it('takes Agent Activity of runtime agents from their own records (counts and state)', async () => {
    const agentDb = freshDb();
    const bus = await createBus({ path: agentDb });
    const runtime = createAgentRuntime(bus, { heartbeatInterval: '1h', monitor: false });
    try {
      const handled: string[] = [];
      await runtime.start(
        defineAgent({
          name: '/frontend-specialist',
          subscriptions: [
            {
              key: 'tasks',
              topic: 'project.tasks',
              filter: 'type=APIDesignCompleted',
              handler: async (e, ctx) => {
                await ctx.publish('UIImplementationStarted', {});
                handled.push(e.event.id);
              },
            },
          ],
        }),
      );
      await bus.publishBatch(Array.from({ length: 3 }, () => ({ topic: 'project.tasks', type: 'APIDesignCompleted' })));
      await until(async () => handled.length === 3, 'three events handled');
      await until(async () => {
        await runtime.heartbeat();
        const row = (await statusSnapshot(bus)).agents.find((a) => a.agent === '/frontend-specialist');
        return row?.consumed === 3;
      }, 'the heartbeat with three events');
      const row = (await statusSnapshot(bus)).agents.find((a) => a.agent === '/frontend-specialist');
      expect(row).toMatchObject({ published: 3, consumed: 3, processing: 0, health: 'running' });
      // Its subscription is not listed as an agent of its own.
      expect((await statusSnapshot(bus)).agents.map((a) => a.agent)).not.toContain('/frontend-specialist:tasks');
      await runtime.close();
      expect((await statusSnapshot(bus)).agents.find((a) => a.agent === '/frontend-specialist')?.health).toBe('stopped');
    } finally {
      await runtime.close();
      await bus.close();
    }
  });
});

describe('agentbus status --window', () => {
  let db: string;
  beforeAll(async () => {
    db = freshDb();
    const clock = shiftedClock();
    const bus = await createBus({ path: db, clock });
    try {
      await windowScenario(bus, clock);
    } finally {
      await bus.close();
    }
  });

  /** The bar lines of a published/consumed/failed/in-DLQ figure set, drawn against the largest. */
  const bars = (f: { published: number; consumed: number; failed: number; inDlq: number }) => {
    const max = Math.max(f.published, f.consumed, f.failed, f.inDlq);
    const bar = (n: number) => `${'█'.repeat(Math.round((n / max) * 20))}${'░'.repeat(20 - Math.round((n / max) * 20))} ${n}`;
    return [
      `Events Published: ${bar(f.published)}`,
      `Events Consumed:  ${bar(f.consumed)}`,
      `Events Failed:    ${bar(f.failed)}`,
      `Events in DLQ:    ${bar(f.inDlq)}`,
    ];
  };

  it('heads the bars with the window and counts only what happened in it', async () => {
    const result = await runCli(['status', '--db', db, '--window', '15m']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('\n### Throughput (Last 15 Minutes)\n');
    expect(section(result.stdout, 'Throughput')).toEqual(bars(WINDOW_FIGURES.lastHour));
    expect(section(result.stdout, 'Throughput')[0]).toBe('Events Published: ████████████████████ 4');
  });

  it('counts the last hour by default and a longer window when asked', async () => {
    const hour = await runCli(['status', '--db', db]);
    expect(hour.stdout).toContain('\n### Throughput (Last Hour)\n');
    expect(section(hour.stdout, 'Throughput')).toEqual(bars(WINDOW_FIGURES.lastHour));
    const three = await runCli(['status', '--db', db, '--window', '3h']);
    expect(three.stdout).toContain('\n### Throughput (Last 3 Hours)\n');
    expect(section(three.stdout, 'Throughput')).toEqual(bars(WINDOW_FIGURES.lastThreeHours));
    // By Topic stays cumulative whatever the window.
    expect(rows(section(hour.stdout, 'By Topic')).find((r) => r[0] === 'project.tasks')?.[1]).toBe('6');
  });

  it('prints the window in --json', async () => {
    const result = await runCli(['status', '--db', db, '--window', '15m', '--json']);
    expect(result.code).toBe(0);
    const { throughput } = JSON.parse(result.stdout);
    expect(throughput).toMatchObject({ window_ms: 900_000, published: 4, consumed: 3, failed: 2, in_dlq: 2 });
  });

  it('refuses a bad --window with one line naming it (exit 2)', async () => {
    for (const value of ['soon', '0m', '25h', '90s']) {
      const bad = await runCli(['status', '--db', db, '--window', value]);
      expect(bad.code, value).toBe(2);
      expect(bad.stdout).toBe('');
      expect(bad.stderr.trim().split('\n'), value).toHaveLength(1);
      expect(bad.stderr, value).toMatch(/^agentbus: .*--window.*minutes/);
    }
  });
});
