/**
 * Agents: `defineAgent`, the runtime that runs them on a bus (in-process functions, HTTP
 * webhooks, subprocesses), health and activity records, and chain-reaction guards.
 * See docs/agents.md.
 */
export { defineAgent, inboxTopic, validateAgentName, validateTarget } from './agent.js';
export { CHECKPOINT_NAMESPACE, readCheckpoint } from './context.js';
export {
  CHAIN_HOPS_EXTENSION,
  ChainGuardError,
  DEFAULT_GUARD_LIMITS,
  GUARD_REASONS,
  checkBudget,
  checkChain,
  mergeGuards,
} from './guards.js';
export { AGENTS_NAMESPACE, getAgent, listAgents } from './health.js';
export { BUDGET_NAMESPACE } from './running-agent.js';
export { createAgentRuntime } from './runtime.js';
export { commandRunner } from './runners/command.js';
export { createRunner } from './runners/create.js';
export { functionRunner } from './runners/function.js';
export { createNetworkPolicy, inBlockList, systemResolver } from './runners/network-policy.js';
export { DEFAULT_RUNNER_TIMEOUT_MS, RunnerError, isAgentRunner, validateRunnerSpec } from './runners/runner.js';
export { redactUrl, webhookRunner } from './runners/webhook.js';
export { WEBHOOK_HEADERS, signWebhook, verifyWebhookSignature } from './signature.js';

export type {
  AgentAction,
  AgentDefinition,
  AgentDeliveryOptions,
  AgentHandler,
  AgentInput,
  AgentSubscription,
  AgentSubscriptionInput,
  ForwardTarget,
} from './agent.js';
export type { AgentContext, AgentLog, AgentLogEntry, AgentLogLevel } from './context.js';
export type { GuardLimits, GuardOptions, GuardReason } from './guards.js';
export type {
  AgentCounts,
  AgentInstanceRecord,
  AgentRecord,
  AgentState,
  AgentSubscriptionInfo,
  ListAgentsOptions,
} from './health.js';
export type { HostResolver, NetworkPolicy, NetworkPolicyOptions, ResolvedAddress } from './runners/network-policy.js';
export type { RunningAgent } from './running-agent.js';
export type { AgentRuntime, AgentRuntimeOptions } from './runtime.js';
export type {
  AgentRunner,
  CommandRunnerSpec,
  OutputEvent,
  RunnerSpec,
  WebhookRunnerSpec,
} from './runners/runner.js';
export type { WebhookRunnerOptions } from './runners/webhook.js';
export type { VerifyWebhookOptions } from './signature.js';
