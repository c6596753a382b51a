/**
 * The seed's "Feature Deployment" saga (Workflow 2) and a worker that carries out its
 * commands, shared by the saga tests.
 */
import type { Bus } from '../../src/bus/index.js';
import type { SagaConfig } from '../../src/workflows/index.js';

/** The deployment saga: five steps, three with a compensation, a 10-minute step timeout. */
export const DEPLOY: SagaConfig = {
  saga: 'deploy-feature',
  topic: 'deploy.commands',
  trigger: 'DeployFeatureRequested',
  step_timeout: '10m',
  steps: [
    { action: 'BuildArtifact', success: 'ArtifactBuilt', failure: 'BuildFailed' },
    { action: 'RunTests', success: 'TestsPassed', failure: 'TestsFailed' },
    { action: 'DeployToStaging', success: 'StagingDeployed', failure: 'StagingFailed', compensation: 'RemoveFromStaging' },
    { action: 'RunE2ETests', success: 'E2EPassed', failure: 'E2EFailed', compensation: 'RemoveStaging' },
    {
      action: 'DeployToProduction',
      success: 'ProductionDeployed',
      failure: 'ProductionFailed',
      compensation: 'RollbackProduction',
    },
  ],
};
/** Each action's success and failure event types. */
const SUCCESS: Record<string, [string, string]> = {
  BuildArtifact: ['ArtifactBuilt', 'BuildFailed'],
  RunTests: ['TestsPassed', 'TestsFailed'],
  DeployToStaging: ['StagingDeployed', 'StagingFailed'],
  RunE2ETests: ['E2EPassed', 'E2EFailed'],
  DeployToProduction: ['ProductionDeployed', 'ProductionFailed'],
};

/** A worker answering every command; `fail` names the action that fails, `silent` one that never answers. */
export async function worker(bus: Bus, options: { fail?: string; silent?: string } = {}) {
  const handled: string[] = [];
  const sub = await bus.subscribe({
    name: '/deployer',
    topic: 'deploy.commands',
    filter: { event: { type: [...Object.keys(SUCCESS), 'RemoveFromStaging', 'RemoveStaging', 'RollbackProduction'] } },
    start: 'earliest',
    ordered: true,
    handler: async (event, ctx) => {
      handled.push(event.event.type);
      const answers = SUCCESS[event.event.type];
      if (!answers || event.event.type === options.silent) return;
      await ctx.publish(event.event.type === options.fail ? answers[1] : answers[0], {
        step: (event.payload as { step: number }).step,
      });
    },
  });
  return { handled, sub };
}
