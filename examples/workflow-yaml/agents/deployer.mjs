// A subprocess agent answering the deploy-feature saga's commands: each action succeeds with
// its success event, except DeployToProduction when the saga's input says `fail_production`.
// Compensations (RemoveFromStaging, RollbackProduction) are acknowledged with `...Done`.
const SUCCESS = {
  BuildArtifact: 'ArtifactBuilt',
  RunTests: 'TestsPassed',
  DeployToStaging: 'StagingDeployed',
  RunE2ETests: 'E2EPassed',
  DeployToProduction: 'ProductionDeployed',
};
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { event, payload } = JSON.parse(input);
let type = SUCCESS[event.type] ?? `${event.type}Done`;
if (event.type === 'DeployToProduction' && payload.fail_production) type = 'ProductionFailed';
process.stdout.write(`${JSON.stringify({ type, payload: { step: payload.step } })}\n`);
