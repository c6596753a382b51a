/**
 * `agentbus aggregators`, `agentbus sagas` and `agentbus run`, through the built CLI.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import { SAGA_CANCEL_EVENT, listSagas, startAggregator, startSaga } from '../../src/workflows/index.js';
import { freshDb, removeFreshDbs, runCli, startCli, tableRows } from '../e2e/run-cli.js';
import { assertBuilt } from './children.js';
import { DEPLOY, worker } from './deploy-saga.js';
import { eventsOfType, until } from './helpers.js';

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
    expect(list.stdout).toMatch(/\| Started +\| Deadline +\| Waiting For +\|/);
    const [row] = tableRows(list.stdout);
    // The 2h timeout: two hours after it started (the same day, or a day-stamped time across midnight).
    expect(row?.[5]).toMatch(/^(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d$/);
    expect(row?.[6]).toBe('TestPlanCompleted');
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
    // Laid out as the seed (and docs/workflows.md) show it.
    expect(result.stdout).toContain(
      '  "completed_steps": [\n    { "step": 1, "event": "ArtifactBuilt" },\n    { "step": 2, "event": "TestsPassed" }\n  ],',
    );
    const list = await runCli(['sagas', '--db', db]);
    expect(tableRows(list.stdout).map((r) => r.slice(0, 4))).toEqual([
      ['deploy-feature-xyz', 'deploy-feature', '3', 'in_progress'],
    ]);
    const missing = await runCli(['sagas', 'nope', '--db', db]);
    expect(missing.code).toBe(1);
  });
});

describe('agentbus sagas cancel', () => {
  it('cancels a running saga from the CLI while this process runs it, and the table shows why it ended', async () => {
    const db = freshDb();
    const bus = await createBus({ path: db });
    try {
      const saga = await startSaga(bus, DEPLOY);
      const { handled } = await worker(bus, { silent: 'RunE2ETests' });
      await saga.start('deploy-feature-xyz', { feature: 'xyz' });
      await saga.start('quick');
      await until(async () => (await saga.get('deploy-feature-xyz'))?.current_step === 4, 'step 4 started');

      const result = await runCli(['sagas', 'cancel', 'deploy-feature-xyz', '--reason', 'wrong branch', '--db', db]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(
        /^deploy-feature\/deploy-feature-xyz: cancel requested at step 4 \(wf-[0-9a-f]{40}\); its runner publishes the compensations\n$/,
      );
      const state = await until(async () => {
        const s = await saga.get('deploy-feature-xyz');
        return s?.status === 'compensated' ? s : undefined;
      }, 'compensated');
      expect(state.failure).toMatchObject({ step: 4, reason: 'cancelled', message: 'wrong branch' });
      await until(async () => handled.includes('RemoveFromStaging'), 'compensations handled');
      expect(handled.filter((t) => t.startsWith('Remove'))).toEqual(['RemoveStaging', 'RemoveFromStaging']);

      // The table says why each saga ended; --status narrows it.
      const list = await runCli(['sagas', '--status', 'compensated', '--db', db]);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toMatch(/\| Ended By +\|/);
      expect(tableRows(list.stdout).map((r) => [r[0], r[3], r[6]])).toEqual([
        ['deploy-feature-xyz', 'compensated', 'step 4: cancelled: wrong branch'],
      ]);
      const none = await runCli(['sagas', '--status', 'failed', '--db', db]);
      expect([none.code, none.stdout, none.stderr]).toEqual([0, '', 'no failed sagas\n']);
      const json = await runCli(['sagas', 'deploy-feature-xyz', '--json', '--db', db]);
      expect(JSON.parse(json.stdout)).toMatchObject({
        saga_id: 'deploy-feature-xyz',
        status: 'compensated',
        compensated: [
          { step: 4, compensate: 'RemoveStaging' },
          { step: 3, compensate: 'RemoveFromStaging' },
        ],
        failure: { step: 4, reason: 'cancelled', message: 'wrong branch' },
      });
    } finally {
      await bus.close();
    }
  });

  it('refuses bad input (exit 2), an unknown or ended saga (exit 1), publishing nothing', async () => {
    const db = freshDb();
    const bus = await createBus({ path: db });
    try {
      const saga = await startSaga(bus, DEPLOY);
      await saga.start('done');
      await saga.start('stuck');
      await saga.close();
      // Another saga running an instance with the same saga_id.
      const other = await startSaga(bus, { ...DEPLOY, saga: 'hotfix', trigger: undefined });
      await other.start('stuck');
      await other.close();
      const finish = await startSaga(bus, DEPLOY);
      await bus.publish({ topic: 'deploy.commands', type: 'BuildFailed', correlationId: 'done' });
      await until(async () => (await finish.get('done'))?.status === 'failed' || undefined, 'done failed');
      await finish.close();
      const before = await eventsOfType(bus, SAGA_CANCEL_EVENT);

      const cases: Array<[string[], number, string]> = [
        [['sagas', 'cancel', 'nope'], 1, 'agentbus: no saga with saga_id nope; nothing was published\n'],
        [
          ['sagas', 'cancel', 'done'],
          1,
          'agentbus: saga deploy-feature/done is failed already: only an in_progress saga can be cancelled; nothing was published\n',
        ],
        [
          ['sagas', 'cancel', 'stuck'],
          2,
          'agentbus: --saga: saga_id stuck is running in 2 sagas (deploy-feature, hotfix): name one\n',
        ],
        [['sagas', 'cancel', 'stuck', '--reason', ''], 2, 'agentbus: --reason: must not be empty\n'],
        [
          ['sagas', 'cancel', 'stuck', '--reason', 'x'.repeat(2001)],
          2,
          'agentbus: --reason: must be 1-2000 characters without NUL\n',
        ],
        [
          ['sagas', 'cancel', 'stuck', '--saga', 'no such'],
          2,
          'agentbus: --saga: must be a saga name: 1 to 120 characters of letters, digits, _ . : / -\n',
        ],
        [['sagas', 'cancel', 'x'.repeat(256)], 2, 'agentbus: saga_id: must be 1-255 characters\n'],
        [['sagas', 'cancel'], 2, "agentbus: missing required argument 'saga_id'\n"],
        [
          ['sagas', 'cancel', 'stuck', '--saga', 'hotfix', '--status', 'in_progress'],
          2,
          'agentbus: --status: narrows the list of agentbus sagas; sagas cancel does not take it\n',
        ],
        [
          ['sagas', '--status', 'cancelled'],
          2,
          "agentbus: --status: must be one of in_progress, completed, compensated, failed (got 'cancelled')\n",
        ],
      ];
      for (const [args, code, stderr] of cases) {
        const result = await runCli([...args, '--db', db]);
        expect([result.code, result.stderr, result.stdout], args.join(' ')).toEqual([code, stderr, '']);
      }
      expect(await eventsOfType(bus, SAGA_CANCEL_EVENT)).toEqual(before);

      // Naming the saga picks one; the other keeps running.
      const named = await runCli(['sagas', 'cancel', 'stuck', '--saga', 'hotfix', '--json', '--db', db]);
      expect(named.code, named.stderr).toBe(0);
      const answer = JSON.parse(named.stdout) as { instance: { saga: string }; request: { payload: unknown }; repeated: boolean };
      expect(answer).toMatchObject({ instance: { saga: 'hotfix', status: 'in_progress' }, repeated: false });
      expect(answer.request.payload).toEqual({ saga: 'hotfix', saga_id: 'stuck', step: 1 });
      const again = await runCli(['sagas', 'cancel', 'stuck', '--saga', 'hotfix', '--db', db]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).toMatch(/^hotfix\/stuck: cancel already requested at .+; its runner has not handled it yet\n$/);
      expect(await eventsOfType(bus, SAGA_CANCEL_EVENT)).toHaveLength(1);
      expect((await listSagas(bus.store, { sagaId: 'stuck', status: 'in_progress' })).map((s) => s.saga).sort()).toEqual([
        'deploy-feature',
        'hotfix',
      ]);
    } finally {
      await bus.close();
    }
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
