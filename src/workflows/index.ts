/**
 * Coordination patterns on the bus: aggregators, saga orchestration, choreographed
 * compensation (and declarative YAML workflows in `yaml/`). The state machines are pure
 * (`decideAggregator`, `decideSaga`, `decideCompensation`); the runners perform their effects.
 */
export {
  AGGREGATOR_TIMEOUT_EVENT,
  aggregatorSource,
  decideAggregator,
  defineAggregator,
  isAwaited,
  missing,
} from './aggregator.js';
export type { AggregatorDefinition, AggregatorInput, AggregatorInstance, ReceivedEvent, WaitFor } from './aggregator.js';
export {
  AGGREGATORS_NAMESPACE,
  getAggregatorInstance,
  listAggregatorInstances,
  startAggregator,
} from './aggregator-runner.js';
export type { RunningAggregator, StartAggregatorOptions } from './aggregator-runner.js';
export { aggregatorStatusLine, aggregatorStatusRows, statusCell } from './aggregator-status.js';
export type { AggregatorStatusRow } from './aggregator-status.js';
export { commitDecision, idFor } from './commit.js';
export {
  COMPENSATIONS_NAMESPACE,
  getCompensations,
  publishCompensation,
  registerCompensation,
  startCompensationCoordinator,
} from './compensation-runner.js';
export type { CompensationCoordinator, CompensationCoordinatorOptions } from './compensation-runner.js';
export { COMPENSATIONS_TOPIC, COMPENSATION_REGISTERED, decideCompensation, parseRegistration } from './compensations.js';
export type {
  CompensationAction,
  CompensationInput,
  CompensationState,
  RegisteredCompensation,
} from './compensations.js';
export type { Decision, Effect, IdFor } from './effects.js';
export {
  SAGA_CANCEL_EVENT,
  SAGA_CANCELLED,
  SAGA_TIMEOUT_EVENT,
  decideSaga,
  defineSaga,
  sagaControlTopic,
  sagaEventTypes,
  sagaJson,
  sagaSource,
  sagaStateJson,
} from './saga.js';
export type { SagaDefinition, SagaFailure, SagaInput, SagaState, SagaStatus, SagaStep } from './saga.js';
export { cancelSaga, validateSagaInput } from './saga-cancel.js';
export type { SagaFieldNames, SagaFields, CancelSagaOptions, SagaCancelRequest } from './saga-cancel.js';
export {
  SAGAS_NAMESPACE,
  SAGA_RUNNERS_NAMESPACE,
  SAGA_STATUSES,
  getSaga,
  getSagaRunner,
  isSagaStatus,
  listSagas,
} from './saga-instances.js';
export type { SagaListFilter, SagaRunnerRecord } from './saga-instances.js';
export { startSaga } from './saga-runner.js';
export type { RunningSaga, StartSagaOptions } from './saga-runner.js';
export { aggregatorConfigSchema, parseConfig, sagaConfigSchema } from './schemas.js';
export type { AggregatorConfig, SagaConfig } from './schemas.js';
export { loadWorkflow, parseWorkflow } from './yaml/load.js';
export type { ParseWorkflowOptions } from './yaml/load.js';
export type { Workflow } from './yaml/load.js';
export { runWorkflow } from './yaml/run.js';
export type { RunningWorkflow } from './yaml/run.js';
export { workflowSchema } from './yaml/schema.js';
export type { WorkflowFile } from './yaml/schema.js';
export {
  APPROVAL_GRANTED,
  APPROVAL_OUTCOMES,
  APPROVAL_REJECTED,
  APPROVAL_REQUESTED,
  APPROVAL_TIMED_OUT,
  APPROVALS_NAMESPACE,
  getApproval,
  listApprovals,
  requestApproval,
  resolveApproval,
} from './approvals.js';
export type { ApprovalAnswer, ApprovalRecord, ApprovalRequestInput, ApprovalStatus } from './approvals.js';
export { startApprovalGate } from './approval-gate.js';
export type { ApprovalGateConfig } from './approval-gate.js';
export { DEFAULT_TIMER_LIMIT, MAX_TIMER_LIMIT, cancelTimers, listTimers, timerJson, timerKind } from './timer-admin.js';
export type { CancelTimersOptions, ListTimersOptions, TimerInfo, TimerKind } from './timer-admin.js';
