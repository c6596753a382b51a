/**
 * The seed's Workflow 1 (examples/feature-team.yaml) and Workflow 2 (examples/deploy-saga.yaml)
 * run by the built CLI exactly as a user runs them: `agentbus run FILE`, publish the trigger,
 * wait for the chain, SIGTERM, then assert the timeline (`agentbus timeline ID --json`).
 */
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningCli, freshDb, removeFreshDbs, runCli, startCli } from '../e2e/run-cli.js';

const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));

interface Entry {
  kind: string;
  event: string;
  agent: string;
  seq?: number;
  causation_id: string | null;
  event_id: string;
}

async function timelineOf(db: string, id: string): Promise<Entry[]> {
  const result = await runCli(['--db', db, '--json', 'timeline', id]);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { entries: Entry[] }).entries;
}

/** Polls the timeline until `done` holds for it. */
async function untilTimeline(db: string, id: string, done: (entries: Entry[]) => boolean, ms = 15_000): Promise<Entry[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const entries = await timelineOf(db, id).catch(() => []);
    if (done(entries)) return entries;
    if (Date.now() > deadline) throw new Error(`timeline of ${id} incomplete: ${entries.map((e) => e.event).join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Position of the event of `type` in the log (events are in the timeline once each here). */
function seqOf(entries: readonly Entry[], type: string): number {
  const found = entries.filter((e) => e.kind !== 'retry' && e.kind !== 'dead_letter' && e.event === type);
  expect(found, `${type} once in the timeline`).toHaveLength(1);
  return (found[0] as Entry).seq as number;
}

async function runExample(file: string, ...flags: string[]): Promise<{ db: string; cli: RunningCli }> {
  const db = freshDb();
  const cli = startCli(['--db', db, 'run', example(file), ...flags]);
  await cli.waitFor(({ stderr }) => stderr.includes('agentbus: running'), 15_000);
  return { db, cli };
}

afterAll(() => removeFreshDbs());

describe('the seed workflows, run by `agentbus run`', () => {
  it('Workflow 1, the reactive task chain: every agent in order, frontend only after both', async () => {
    const { db, cli } = await runExample('feature-team.yaml');
    try {
      const id = 'project-xyz-123';
      const published = await runCli([
        '--db',
        db,
        'publish',
        '--topic',
        'project.tasks',
        '--type',
        'UserStoryApproved',
        '--correlation-id',
        id,
      ]);
      expect(published.code, published.stderr).toBe(0);
      const entries = await untilTimeline(db, id, (list) => list.some((e) => e.event === 'TestingCompleted'));
      const at = (type: string) => seqOf(entries, type);
      // 1: three agents react to the story.
      for (const started of ['APIDesignStarted', 'WireframeStarted', 'TestPlanStarted']) {
        expect(at(started)).toBeGreaterThan(at('UserStoryApproved'));
      }
      // 2: python-pro and database-specialist after the API design.
      expect(at('BackendImplementationStarted')).toBeGreaterThan(at('APIDesignCompleted'));
      expect(at('SchemaDesignStarted')).toBeGreaterThan(at('APIDesignCompleted'));
      // 3: the frontend waits for both.
      expect(at('FrontendImplementationStarted')).toBeGreaterThan(at('BackendImplementationCompleted'));
      expect(at('FrontendImplementationStarted')).toBeGreaterThan(at('WireframeCompleted'));
      // 4: testing after all implementation.
      for (const done of ['BackendImplementationCompleted', 'SchemaDesignCompleted', 'FrontendImplementationCompleted']) {
        expect(at('TestingStarted')).toBeGreaterThan(at(done));
      }
      expect(entries.find((e) => e.event === 'TestingStarted')?.agent).toBe('/test-engineer');
      expect(entries.find((e) => e.event === 'FrontendImplementationStarted')?.agent).toBe('/frontend-specialist');
      // The frontend's start is caused by the aggregation of both.
      const both = entries.find((e) => e.event === 'BackendAndWireframeCompleted') as Entry;
      const frontendCause = entries.find((e) => e.event === 'FrontendImplementationStarted')?.causation_id;
      expect(frontendCause).toBe(both.event_id);
      expect(entries.filter((e) => e.kind === 'dead_letter')).toEqual([]);
    } finally {
      const ended = await cli.stop('SIGTERM');
      expect(ended.code, ended.stderr).toBe(0);
      // Live progress: a line per event as it ran.
      expect(ended.stderr).toMatch(
        /#\d+ \S+ FrontendImplementationStarted {2}\/frontend-specialist -> project\.tasks {2}\[project-xyz-123\]/,
      );
      expect(ended.stderr).toContain('agentbus: stopping');
    }
  }, 60_000);

  it('Workflow 2, the deployment saga: step 4 fails, steps 4 and 3 are compensated in reverse', async () => {
    const { db, cli } = await runExample('deploy-saga.yaml', '--quiet');
    try {
      const id = 'deploy-feature-xyz';
      const published = await runCli([
        '--db',
        db,
        'publish',
        '--topic',
        'deploy.commands',
        '--type',
        'DeployFeatureRequested',
        '--correlation-id',
        id,
      ]);
      expect(published.code, published.stderr).toBe(0);
      const entries = await untilTimeline(db, id, (list) => list.some((e) => e.event === 'RemoveFromStagingDone'));
      const order = entries.filter((e) => e.kind !== 'retry').map((e) => e.event);
      expect(order).toEqual([
        'DeployFeatureRequested',
        'BuildArtifact',
        'ArtifactBuilt',
        'RunTests',
        'TestsPassed',
        'DeployToStaging',
        'StagingDeployed',
        'RunE2ETests',
        'E2EFailed',
        'RemoveStaging',
        'RemoveFromStaging',
        'RemoveStagingDone',
        'RemoveFromStagingDone',
      ]);
      expect(entries.filter((e) => e.kind === 'compensation').map((e) => e.event)).toEqual([
        'RemoveStaging',
        'RemoveFromStaging',
      ]);
      const saga = await runCli(['--db', db, '--json', 'sagas', id]);
      expect(saga.code, saga.stderr).toBe(0);
      expect(JSON.parse(saga.stdout)).toMatchObject({
        saga_id: id,
        status: 'compensated',
        completed_steps: [
          { step: 1, event: 'ArtifactBuilt' },
          { step: 2, event: 'TestsPassed' },
          { step: 3, event: 'StagingDeployed' },
        ],
        compensated: [
          { step: 4, compensate: 'RemoveStaging' },
          { step: 3, compensate: 'RemoveFromStaging' },
        ],
      });
    } finally {
      const ended = await cli.stop('SIGTERM');
      expect(ended.code, ended.stderr).toBe(0);
      // --quiet: the start and stop lines only, no progress lines.
      expect(ended.stderr).toContain('agentbus: running deploy-saga');
      expect(ended.stderr).not.toMatch(/#\d+ /);
    }
  }, 60_000);
});
