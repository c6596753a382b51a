export { Bus, createBus } from './bus.js';
export type { BusOptions, Subscription, SubscriptionAdmin } from './bus.js';
export { fingerprint } from './dead-letters.js';
export type { DeadLetterAdmin, DeadLetterGroup, ReplayOptions, ReplaySelection } from './dead-letters.js';
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
export type { BusStatus, StatusListener } from './status.js';
