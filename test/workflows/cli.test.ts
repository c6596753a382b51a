/**
 * `agentbus aggregators`, `agentbus sagas` and `agentbus run`, through the built CLI.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import { startAggregator, startSaga } from '../../src/workflows/index.js';
import { freshDb, removeFreshDbs, runCli, startCli, tableRows } from '../e2e/run-cli.js';
import { assertBuilt } from './children.js';
import { until } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/workflow-yaml/feature.yaml', import.meta.url));

beforeAll(assertBuilt);
afterAll(removeFreshDbs);

/** A database with the seed's aggregator at 2/3 for project-xyz-123 and a saga at step 3. */
async function seededDb(): Promise<string> {
  const db = freshDb();
  const bus = await createBus({ path: db });
  const agg = await startAggregator(bus, {
    aggregator_id: 'phase1-complete',
    wait_for: [
      { type: 'APIDesignCompleted', from: '/backend-architect' },
      { type: 'WireframeCompleted', from: '/ux-designer' },
      { type: 'TestPlanCompleted', from: '/test-engineer' },
    ],
    timeout: '2h',
    on_complete: 'Phase1CompletedEvent',
    on_timeout: 'Phase1TimeoutEvent',
  });
  const saga = await startSaga(bus, {
    saga: 'deploy-feature',
    topic: 'deploy.commands',
    steps: [
      { action: 'BuildArtifact', success: 'ArtifactBuilt', failure: 'BuildFailed' },
      { action: 'RunTests', success: 'TestsPassed', failure: 'TestsFailed' },
      { action: 'DeployToStaging', success: 'StagingDeployed', failure: 'StagingFailed', compensation: 'RemoveFromStaging' },
    ],
  });
  for (const [type, source] of [
    ['APIDesignCompleted', '/backend-architect'],
    ['WireframeCompleted', '/ux-designer'],
  ] as const) {
    await bus.publish({ topic: 'project.tasks', type, source, correlationId: 'project-xyz-123' });
  }
  await saga.start('deploy-feature-xyz');
  await bus.publish({ topic: 'deploy.commands', type: 'ArtifactBuilt', correlationId: 'deploy-feature-xyz' });
  await bus.publish({ topic: 'deploy.commands', type: 'TestsPassed', correlationId: 'deploy-feature-xyz' });
  await until(async () => (await agg.instance('project-xyz-123'))?.received.length === 2, 'aggregator at 2/3');
  await until(async () => (await saga.get('deploy-feature-xyz'))?.current_step === 3, 'saga at step 3');
  await bus.close();
  return db;
}

describe('agentbus aggregators and sagas', () => {
  let db: string;
  beforeAll(async () => {
    db = await seededDb();
  });

  it("aggregators ID prints the seed's status table and line", async () => {
    const result = await runCli(['aggregators', 'phase1-complete', '--correlation-id', 'project-xyz-123', '--db', db]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/\| Event +\| Status +\| Received At \|/);
    const rows = tableRows(result.stdout);
    expect(rows.map((r) => [r[0], r[1]])).toEqual([
      ['APIDesignCompleted', '✅ Received'],
      ['WireframeCompleted', '✅ Received'],
      ['TestPlanCompleted', '⏳ Waiting'],
    ]);
    expect(rows[0]?.[2]).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(rows[2]?.[2]).toBe('-');
    expect(result.stdout).toContain('Aggregation Status: 2/3 events received, waiting for TestPlanCompleted');
  });

  it('aggregators lists instances, and --json gives the status line', async () => {
    const list = await runCli(['aggregators', '--db', db]);
    expect(list.code).toBe(0);
    expect(tableRows(list.stdout).map((r) => r.slice(0, 4))).toEqual([['phase1-complete', 'project-xyz-123', 'waiting', '2/3']]);
    const json = await runCli(['aggregators', '--correlation-id', 'project-xyz-123', '--json', '--db', db]);
    const [instance] = JSON.parse(json.stdout) as Array<{ status_line: string; received: number }>;
    expect(instance).toMatchObject({ status_line: '2/3 events received, waiting for TestPlanCompleted', received: 2 });
    const missing = await runCli(['aggregators', 'nope', '--db', db]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^agentbus: no aggregator instance for aggregator nope\n$/);
  });

  it("sagas ID prints the seed's saga coordinator JSON", async () => {
    const result = await runCli(['sagas', 'deploy-feature-xyz', '--db', db]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      saga_id: 'deploy-feature-xyz',
      current_step: 3,
      status: 'in_progress',
      completed_steps: [
        { step: 1, event: 'ArtifactBuilt' },
        { step: 2, event: 'TestsPassed' },
      ],
      compensation_stack: [{ step: 3, compensate: 'RemoveFromStaging' }],
    });
    const list = await runCli(['sagas', '--db', db]);
    expect(tableRows(list.stdout).map((r) => r.slice(0, 4))).toEqual([
      ['deploy-feature-xyz', 'deploy-feature', '3', 'in_progress'],
    ]);
    const missing = await runCli(['sagas', 'nope', '--db', db]);
    expect(missing.code).toBe(1);
  });
});

describe('agentbus run', () => {
  it('runs the example workflow until SIGTERM, then stops cleanly', async () => {
    const db = freshDb();
    const run = startCli(['run', EXAMPLE, '--db', db]);
    await run.waitFor(({ stderr }) => stderr.includes('running feature-pipeline'), 30_000);
    expect(run.stderr()).toContain('4 agents, 1 route, 1 aggregator, 1 saga, compensation coordinator');
    const published = await runCli([
      'publish',
      '--topic',
      'project.tasks',
      '--type',
      'UserStoryApproved',
      '--correlation-id',
      'feature-123',
      '--db',
      db,
    ]);
    expect(published.code, published.stderr).toBe(0);
    await until(
      async () => {
        const r = await runCli(['sagas', 'feature-123', '--json', '--db', db]);
        return r.code === 0 && (JSON.parse(r.stdout) as { status: string }).status === 'completed';
      },
      'saga completed',
      60_000,
    );
    const agg = await runCli(['aggregators', 'phase1-complete', '--db', db]);
    expect(agg.stdout).toContain('Aggregation Status: 3/3 events received, complete');
    const end = await run.stop('SIGTERM');
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toContain('stopping');
  }, 90_000);

  it('refuses an invalid file with its line and path, exit 2, creating no database', async () => {
    const db = freshDb();
    const file = join(dirname(db), 'bad.yaml');
    writeFileSync(file, 'sagas:\n  - saga: s\n    topic: a.b\n    steps: []\n');
    const result = await runCli(['run', file, '--db', db]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`agentbus: ${file}:4:12: sagas[0].steps: must list at least one step\n`);
    expect(existsSync(db)).toBe(false);
  });
});
