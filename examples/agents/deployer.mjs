// The deploy saga's worker (examples/deploy-saga.yaml): answers each command with its success
// event, except RunE2ETests, which fails deterministically (E2EFailed) so that the saga
// compensates. Compensations are acknowledged with `<Compensation>Done`.
const SUCCESS = {
  BuildArtifact: 'ArtifactBuilt',
  RunTests: 'TestsPassed',
  DeployToStaging: 'StagingDeployed',
  DeployToProduction: 'ProductionDeployed',
};
const FAILURE = { RunE2ETests: 'E2EFailed' };
let input = '';
for await (const chunk of process.stdin) input += chunk;
const { event, payload } = JSON.parse(input);
const type = FAILURE[event.type] ?? SUCCESS[event.type] ?? `${event.type}Done`;
const extra = FAILURE[event.type] ? { reason: '3 of 41 end-to-end tests failed on staging' } : {};
process.stdout.write(`${JSON.stringify({ type, payload: { step: payload.step, ...extra } })}\n`);
