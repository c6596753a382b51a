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
export {
  Bus,
  createBus,
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  classifyError,
  decideRetry,
  fingerprint,
  parseRetryPolicy,
  parseStart,
} from './bus/index.js';
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
export { parseDuration } from './time.js';

export type {
  BusOptions,
  BusStatus,
  ContextPublishOptions,
  DeadLetterAdmin,
  DeadLetterGroup,
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
export type * from './store/index.js';
export type { SqliteStoreOptions, SqliteSynchronous } from './store/sqlite/index.js';
export type { ConsumerOptions, Delivery, Transport, TransportConsumer } from './transport/index.js';
export type { Clock } from './time.js';
