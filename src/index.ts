/**
 * agentbus: an event-driven coordination runtime for multi-agent systems.
 *
 * @example
 * import { createBus } from 'agentbus'
 * const bus = await createBus()
 * await bus.subscribe({ name: '/python-pro', topic: 'project.tasks', filter: 'type=APIDesignCompleted',
 *   handler: async (event, ctx) => { await ctx.publish('BackendImplementationStarted', {}) } })
 * await bus.publish({ topic: 'project.tasks', type: 'APIDesignCompleted', payload: { endpoints: 12 } })
 */
export { createBus } from './agentbus.js';
export type { AgentBus, AgentBusOptions, CqrsOptions } from './agentbus.js';
export { COMMAND_FAILED, COMMAND_SUCCEEDED, defineProjection, isProjection } from './cqrs/index.js';
export type {
  AskOptions,
  CommandBus,
  CommandHandler,
  CommandRegistration,
  EventStreams,
  LoadOptions,
  LoadResult,
  Projection,
  ProjectionEventInfo,
  ProjectionInfo,
  ProjectionOptions,
  Projections,
  QueryBus,
  QueryContext,
  QueryHandler,
  QueryRegistration,
  RebuildOptions,
  RebuildProgress,
  RebuildResult,
  RegisterCommandOptions,
  RegisterQueryOptions,
  RunningProjection,
  SendCommandOptions,
  StreamAppendOptions,
  StreamEventInput,
  StreamPosition,
} from './cqrs/index.js';
export {
  Bus,
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  classifyError,
  decideRetry,
  fingerprint,
  parseRetryPolicy,
  parseStart,
} from './bus/index.js';
export {
  ChainGuardError,
  GUARD_REASONS,
  WEBHOOK_HEADERS,
  commandRunner,
  createAgentRuntime,
  createNetworkPolicy,
  defineAgent,
  functionRunner,
  getAgent,
  listAgents,
  readCheckpoint,
  signWebhook,
  verifyWebhookSignature,
  webhookRunner,
} from './agents/index.js';
export { CHAIN_DEPTH_EXTENSION, cancelTimer, chainDepth, putTimer, startRoutes } from './bus/index.js';
export {
  SAGA_CANCEL_EVENT,
  aggregatorStatusLine,
  cancelSaga,
  defineAggregator,
  defineSaga,
  getSaga,
  listAggregatorInstances,
  listSagas,
  loadWorkflow,
  parseWorkflow,
  publishCompensation,
  registerCompensation,
  runWorkflow,
  startAggregator,
  startCompensationCoordinator,
  startSaga,
} from './workflows/index.js';
export type {
  AggregatorConfig,
  AggregatorInstance,
  CompensationAction,
  RunningAggregator,
  RunningSaga,
  RunningWorkflow,
  CancelSagaOptions,
  SagaCancelRequest,
  SagaConfig,
  SagaListFilter,
  SagaState,
  SagaStatus,
  Workflow,
} from './workflows/index.js';
export {
  APPROVALS_NAMESPACE,
  APPROVAL_GRANTED,
  APPROVAL_REJECTED,
  APPROVAL_REQUESTED,
  APPROVAL_TIMED_OUT,
  getApproval,
  listApprovals,
  requestApproval,
  resolveApproval,
} from './workflows/approvals.js';
export type { ApprovalAnswer, ApprovalRecord, ApprovalRequestInput, ApprovalStatus } from './workflows/approvals.js';
export { startApprovalGate } from './workflows/approval-gate.js';
export type { ApprovalGateConfig } from './workflows/approval-gate.js';
export type { DelayOptions, PendingTimer, TimerInput } from './bus/index.js';
export { cancelTimers, listTimers, timerKind } from './workflows/index.js';
export type { CancelTimersOptions, ListTimersOptions, TimerInfo, TimerKind } from './workflows/index.js';
export {
  AgentbusError,
  BackpressureError,
  isAgentbusError,
  NonRetryableError,
  RetryAfterError,
} from './errors.js';
export {
  createEnvelope,
  createIdGenerator,
  DOMAIN_EVENTS,
  fromBinaryHttp,
  fromCloudEvent,
  fromCloudEventBatch,
  fromHttp,
  INTEGRATION_EVENTS,
  inferKind,
  parseEnvelope,
  RUNTIME_SOURCE,
  SYSTEM_EVENTS,
  SYSTEM_TOPICS,
  serializeEnvelope,
  toBatchHttp,
  toBinaryHttp,
  toCloudEvent,
  toCloudEventBatch,
  toStructuredHttp,
} from './envelope/index.js';
export {
  compileFilter,
  compilePattern,
  compileTopicPattern,
  matchPattern,
  matchTopic,
  parseFilter,
  validateTopic,
  validateTopicPattern,
} from './routing/index.js';
export { DEFAULT_DB_PATH, openSqliteStore } from './store/sqlite/index.js';
export { createStoreBackedTransport } from './transport/index.js';
// The drivers (pg, nats.js) load only when these are called, never on import.
export { openPostgresStore } from './store/postgres/index.js';
export { createNatsTransport } from './transport/nats/index.js';
export type { PostgresStoreOptions } from './store/postgres/index.js';
export type { NatsRecorderOptions, NatsTransport, NatsTransportOptions, NatsTransportStatus } from './transport/nats/index.js';
export type {
  NatsTransportChoice,
  PostgresStoreChoice,
  SqliteStoreChoice,
  StoreChoice,
  TransportChoice,
} from './bus/backends.js';
export { parseDuration } from './time.js';

export type {
  BusOptions,
  BusPruneOptions,
  RetentionOptions,
  BusStatus,
  ContextPublishOptions,
  DeadLetterAdmin,
  DeadLetterGroup,
  DeadLetterListFilter,
  ReplayOptions,
  ReplaySelection,
  Handler,
  HandlerContext,
  RetryPolicy,
  RetryPolicyInput,
  StartInput,
  StatusListener,
  SubscribeOptions,
  Subscription,
  SubscriptionAdmin,
} from './bus/index.js';
export type {
  AgentContext,
  AgentDefinition,
  AgentHandler,
  AgentInput,
  AgentRecord,
  AgentRunner,
  AgentRuntime,
  AgentRuntimeOptions,
  AgentState,
  AgentSubscriptionInput,
  GuardOptions,
  HostResolver,
  NetworkPolicy,
  NetworkPolicyOptions,
  ResolvedAddress,
  RunnerSpec,
  RunningAgent,
  WebhookRunnerOptions,
} from './agents/index.js';
export type { BusObserver, HandlerEnd, HandlerStart } from './bus/index.js';
export type { RouteOptions, RouteRule, RouteTarget, Routes } from './bus/index.js';
export type { AgentbusErrorCode, AgentbusErrorDetails } from './errors.js';
export type {
  Envelope,
  EnvelopeLimits,
  EventHeader,
  EventKind,
  JsonValue,
  Priority,
  PublishInput,
  Routing,
} from './envelope/index.js';
export type { EventPattern } from './routing/index.js';
export {
  causationTree,
  createMetrics,
  createObserveSources,
  isCompensationEvent,
  parseStatusWindow,
  statusSnapshot,
  timeline,
  topicsOverview,
  windowLabel,
} from './observe/index.js';
export { ACTIVITY_RETENTION_MS, ATTEMPTS_KEPT, ATTEMPT_ERROR_MAX } from './store/index.js';
export type {
  BusMetrics,
  CausationNode,
  MetricsJson,
  MetricsOptions,
  StatusOptions,
  StatusSnapshot,
  TimelineEntry,
  TimelineOptions,
  TopicOverview,
  TopicsOptions,
  TopicsOverview,
} from './observe/index.js';
export type * from './store/index.js';
export type { SqliteStoreOptions, SqliteSynchronous } from './store/sqlite/index.js';
export type { ConsumerOptions, Delivery, Transport, TransportConsumer } from './transport/index.js';
export type { Clock } from './time.js';
