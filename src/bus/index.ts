export { Bus, createBus } from './bus.js';
export type { BusOptions, Subscription, SubscriptionAdmin } from './bus.js';
export { deadLetterAction, fingerprint } from './dead-letters.js';
export type {
  DeadLetterAdmin,
  DeadLetterGroup,
  DeadLetterListFilter,
  ReplayOptions,
  ReplaySelection,
} from './dead-letters.js';
export type { Handler } from './dispatcher.js';
export type { ContextPublishOptions, HandlerContext } from './handler-context.js';
export { parseStart, validateSubscriptionName } from './options.js';
export type { StartInput, SubscribeOptions } from './options.js';
export {
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  classifyError,
  decideRetry,
  parseRetryPolicy,
} from './retry-policy.js';
export type { ClassifiedFailure, RetryDecision, RetryPolicy, RetryPolicyInput } from './retry-policy.js';
export type { BusObserver, HandlerEnd, HandlerStart } from './observer.js';
export type { BusStatus, StatusListener } from './status.js';
export { DEFAULT_RETENTION_INTERVAL_MS, resolveRetention } from './retention.js';
export type { BusPruneOptions, ResolvedRetention, RetentionOptions } from './retention.js';
export {
  CHAIN_DEPTH_EXTENSION,
  ROUTED_BY_EXTENSION,
  ROUTE_DEPTH_REASON,
  chainDepth,
  resolveRouteRules,
  startRoutes,
} from './routes.js';
export type { ResolvedRouteRule, RouteOptions, RouteRule, RouteTarget, Routes } from './routes.js';
export {
  RESCAN_THROTTLE_MS,
  TIMERS_NAMESPACE,
  Timers,
  cancelTimer,
  isTimerKey,
  putTimer,
  resolveDueAt,
  setTimer,
  timerKey,
  validateTimerKey,
} from './timers.js';
export type { DelayOptions, PendingTimer, TimerInput, TimerValue, ValidTimer } from './timers.js';
