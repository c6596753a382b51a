/**
 * `agentbus serve`: the HTTP API (publish, history, live stream, subscriptions, dead
 * letters, status), the web dashboard, and their security (tokens, body limit, CSP).
 */
export {
  DEFAULT_MAX_STREAMS,
  DEFAULT_MAX_STREAMS_PER_ADDRESS,
  DEFAULT_MAX_STREAMS_PER_TOKEN,
  createApp,
} from './app.js';
export { ANONYMOUS, bearerToken, compileRules, createAuthenticator } from './auth.js';
export { defaultIntegrations } from './integrations-default.js';
export { buildOpenApi } from './openapi.js';
export { PROBLEM_JSON, problem, problemOf, statusOfCode } from './problem.js';
export { isLoopback, startServer } from './server.js';
export { DEFAULT_SIGN_IN_LIMIT } from './sign-in-limit.js';
export { WEBHOOKS_NAMESPACE, createWebhookSubscriptions } from './webhooks.js';
export { DEFAULT_WEBHOOK_DENY, createWebhookTargetPolicy } from './webhook-targets.js';
export type { AppOptions } from './app.js';
export type { Authenticator, Principal } from './auth.js';
export type { Integrations, MetricsText, WebhookSubscriptionSpec, WebhookSubscriptions } from './integrations.js';
export type { PageRoute } from './openapi.js';
export type { Problem } from './problem.js';
export type { RunningServer, ServerOptions } from './server.js';
export type { SignInLimitOptions } from './sign-in-limit.js';
export type { WebhookSubscriptionsOptions } from './webhooks.js';
export type { WebhookTargetPolicy, WebhookTargetPolicyOptions } from './webhook-targets.js';
export type { DefaultIntegrationsOptions } from './integrations-default.js';
