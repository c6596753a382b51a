/**
 * Running a workflow on a bus: its agents in an agent runtime, its routes, aggregators,
 * sagas and compensation coordinator; `close()` stops them all (the bus stays open).
 */
import { type AgentRuntime, type AgentRuntimeOptions, createAgentRuntime } from '../../agents/index.js';
import type { Bus } from '../../bus/bus.js';
import { type Routes, startRoutes } from '../../bus/routes.js';
import { type RunningAggregator, startAggregator } from '../aggregator-runner.js';
import { startApprovalGate } from '../approval-gate.js';
import { type CompensationCoordinator, startCompensationCoordinator } from '../compensation-runner.js';
import { type RunningSaga, startSaga } from '../saga-runner.js';
import type { Workflow } from './load.js';

/** A running workflow. */
export interface RunningWorkflow {
  readonly workflow: Workflow;
  readonly runtime: AgentRuntime;
  readonly aggregators: readonly RunningAggregator[];
  readonly sagas: readonly RunningSaga[];
  /** One line for people: what runs. */
  summary(): string;
  /** Stops everything the workflow started; durable subscriptions, instances and timers remain. */
  close(): Promise<void>;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Starts a workflow. Aggregators, sagas and the coordinator start first, so that they see
 * what the agents publish; if anything fails to start, what started is stopped again.
 * @example
 * const running = await runWorkflow(bus, await loadWorkflow('examples/workflow-yaml/feature.yaml'))
 */
export async function runWorkflow(
  bus: Bus,
  workflow: Workflow,
  options: { runtime?: AgentRuntimeOptions } = {},
): Promise<RunningWorkflow> {
  const stops: Array<() => Promise<void>> = [];
  const aggregators: RunningAggregator[] = [];
  const sagas: RunningSaga[] = [];
  const runtime = createAgentRuntime(bus, options.runtime);
  stops.push(() => runtime.close());
  let routes: Routes | undefined;
  let coordinator: CompensationCoordinator | undefined;
  try {
    for (const definition of workflow.aggregators) {
      const running = await startAggregator(bus, definition, { start: workflow.start });
      aggregators.push(running);
      stops.push(() => running.close());
    }
    for (const definition of workflow.sagas) {
      const running = await startSaga(bus, definition, { start: workflow.start });
      sagas.push(running);
      stops.push(() => running.close());
    }
    for (const gate of workflow.approvals ?? []) {
      const running = await startApprovalGate(bus, gate, { start: workflow.start });
      stops.push(() => running.close());
    }
    if (workflow.compensations) {
      const c = workflow.compensations;
      coordinator = await startCompensationCoordinator(bus, {
        failureTypes: c.failureTypes,
        ...(c.topic ? { topic: c.topic } : {}),
        start: workflow.start,
      });
      const started = coordinator;
      stops.push(() => started.close());
    }
    if (workflow.routes.length > 0) {
      routes = await startRoutes(bus, workflow.routes);
      const started = routes;
      stops.push(() => started.close());
    }
    for (const agent of workflow.agents) await runtime.start(agent);
  } catch (error) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    throw error;
  }
  let closed: Promise<void> | undefined;
  return {
    workflow,
    runtime,
    aggregators,
    sagas,
    summary: () =>
      [
        plural(workflow.agents.length, 'agent'),
        plural(workflow.routes.length, 'route'),
        plural(workflow.aggregators.length, 'aggregator'),
        plural(workflow.sagas.length, 'saga'),
        ...((workflow.approvals ?? []).length > 0 ? [plural(workflow.approvals.length, 'approval gate')] : []),
        ...(workflow.compensations ? ['compensation coordinator'] : []),
      ].join(', '),
    close() {
      closed ??= (async () => {
        for (const stop of [...stops].reverse()) await stop();
      })();
      return closed;
    },
  };
}
