/**
 * YAML workflow files: validation errors name the line and the YAML path; a valid file runs
 * its agents, aggregator and saga on a bus.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/index.js';
import { isAgentbusError } from '../../src/errors.js';
import { createTestBus } from '../../src/testing.js';
import { getSaga, parseWorkflow, runWorkflow } from '../../src/workflows/index.js';
import { eventsOfType, until } from './helpers.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/workflow-yaml/feature.yaml', import.meta.url));

function refusal(text: string): { field: string; line: number; message: string } {
  try {
    parseWorkflow(text, 'flow.yaml');
  } catch (error) {
    expect(isAgentbusError(error, 'OPTIONS_INVALID'), String(error)).toBe(true);
    const e = error as { details: { field: string; line: number }; message: string };
    return { field: e.details.field, line: e.details.line, message: e.message };
  }
  throw new Error('the workflow was accepted');
}

const AGENT = `agents:
  - name: /python-pro
    handler_free: true
`;

describe('YAML workflow validation', () => {
  it('accepts the example file', () => {
    const workflow = parseWorkflow(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
    expect(workflow.agents.map((a) => a.name)).toEqual(['/backend-architect', '/ux-designer', '/test-engineer', '/deployer']);
    expect(workflow.aggregators[0]?.id).toBe('phase1-complete');
    expect(workflow.sagas[0]?.steps).toHaveLength(5);
  });

  it("reads a webhook runner's secret from the environment (secret_env), keeping it out of the file", () => {
    const text = `agents:
  - name: /reviewer
    runner: { type: webhook, url: "http://127.0.0.1:8080/review", secret_env: REVIEW_SECRET }
    subscriptions:
      - topic: project.tasks
`;
    const workflow = parseWorkflow(text, 'flow.yaml', { env: { REVIEW_SECRET: 'whsec-from-the-environment' } });
    const run = workflow.agents[0]?.subscriptions[0]?.run;
    expect(run?.kind === 'runner' ? run.runner : undefined).toMatchObject({
      type: 'webhook',
      secret: 'whsec-from-the-environment',
    });
    let refused: unknown;
    try {
      parseWorkflow(text, 'flow.yaml', { env: {} });
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({
      code: 'OPTIONS_INVALID',
      details: { field: 'agents[0].runner.secret_env', reason: 'environment variable REVIEW_SECRET is not set', line: 3 },
    });
  });

  it('names the line and path of a bad aggregator field', () => {
    const r = refusal(`aggregators:
  - aggregator_id: phase1
    wait_for:
      - { type: A }
    timeout: soon
    on_complete: Done
`);
    expect(r.field).toBe('aggregators[0].timeout');
    expect(r.line).toBe(5);
    expect(r.message).toMatch(/^flow\.yaml:5:\d+: aggregators\[0\]\.timeout: /);
  });

  it('names the line and path of a bad agent filter, found by the agent runtime', () => {
    const r = refusal(`agents:
  - name: /python-pro
    runner: { type: command, command: node }
    subscriptions:
      - topic: project.tasks
        filter: type=
`);
    expect(r.field).toBe('agents[0].subscriptions[0].filter');
    expect(r.line).toBe(6);
  });

  it('names an unknown key of an agent entry (a misspelt filter would widen delivery)', () => {
    const r = refusal(`agents:
  - name: /python-pro
    runner: { type: command, command: node }
    subscriptions:
      - topic: project.tasks
        filtr: type=OnlyThis
`);
    expect(r.field).toBe('agents[0].subscriptions[0].filtr');
    expect(r.line).toBe(6);
  });

  it('says which field is missing in plain words, and that an empty file is empty', () => {
    expect(
      refusal(`aggregators:
  - aggregator_id: p1
    wait_for: [{ type: A }]
`),
    ).toMatchObject({
      field: 'aggregators[0].on_complete',
      message: expect.stringMatching(/: aggregators\[0\]\.on_complete: required$/),
    });
    expect(
      refusal(`sagas:
  - saga: s
    topic: deploy.commands
    steps:
      - { action: A, success: B, failure: C }
      - { action: D, success: B, failure: E }
`).message,
    ).toMatch(/sagas\[0\]\.steps\[1\]\.success: B already ends steps\[0\]\.success/);
    expect(refusal('').message).toBe(
      'flow.yaml:1:1: (root): the file is empty: expected agents, routes, aggregators, sagas, ...',
    );
  });

  it('names unknown keys, duplicate sagas and YAML syntax errors', () => {
    expect(refusal('agentz: []\n')).toMatchObject({ field: 'agentz', message: 'flow.yaml:1:9: agentz: unknown key' });
    const dup = refusal(`sagas:
  - { saga: s, topic: a.b, steps: [{ action: A, success: B, failure: C }] }
  - { saga: s, topic: a.b, steps: [{ action: A, success: B, failure: C }] }
`);
    expect(dup).toMatchObject({ field: 'sagas[1]', line: 3 });
    const syntax = refusal('agents: [\n  - a\n');
    expect(syntax.field).toBe('(yaml)');
    expect(refusal(AGENT).field).toMatch(/^agents\[0\]/);
  });
});

describe('running a YAML workflow', () => {
  const buses: Array<Bus & { dispose(): Promise<void> }> = [];
  afterEach(async () => {
    for (const bus of buses.splice(0)) await bus.dispose();
  });

  it('runs the example: three agents, the aggregator, then the saga to completion', async () => {
    const bus = await createTestBus();
    buses.push(bus);
    const workflow = parseWorkflow(readFileSync(EXAMPLE, 'utf8'), EXAMPLE);
    const running = await runWorkflow(bus, workflow, { runtime: { monitor: false } });
    try {
      await bus.publish({ topic: 'project.tasks', type: 'UserStoryApproved', correlationId: 'feature-123' });
      const saga = await until(
        async () => {
          const s = await getSaga(bus.store, 'deploy-feature', 'feature-123');
          return s?.status === 'completed' ? s : undefined;
        },
        'saga completed',
        60_000,
      );
      expect(saga.completed_steps.map((c) => c.event)).toEqual([
        'ArtifactBuilt',
        'TestsPassed',
        'StagingDeployed',
        'E2EPassed',
        'ProductionDeployed',
      ]);
      expect(await eventsOfType(bus, 'Phase1CompletedEvent')).toHaveLength(1);
    } finally {
      await running.close();
    }
  }, 90_000);
});
