/**
 * The seed's event taxonomy as constants: domain events (what happened), integration events
 * (across agents) and system events (infrastructure), and the topics the runtime uses.
 */

/** Domain events: what happened. */
export const DOMAIN_EVENTS = {
  TaskStarted: 'TaskStartedEvent',
  TaskCompleted: 'TaskCompletedEvent',
  TaskFailed: 'TaskFailedEvent',
  DecisionMade: 'DecisionMadeEvent',
  ReviewRequested: 'ReviewRequestedEvent',
  ReviewCompleted: 'ReviewCompletedEvent',
} as const;

/** Integration events: across agents. */
export const INTEGRATION_EVENTS = {
  AgentHandoff: 'AgentHandoffEvent',
  ContextSync: 'ContextSyncEvent',
  DependencyResolved: 'DependencyResolvedEvent',
} as const;

/** System events: infrastructure, emitted by the runtime itself. */
export const SYSTEM_EVENTS = {
  AgentHealth: 'AgentHealthEvent',
  CheckpointCreated: 'CheckpointCreatedEvent',
  ErrorOccurred: 'ErrorOccurredEvent',
} as const;

/** Topics the runtime publishes on. */
export const SYSTEM_TOPICS = {
  /** `ErrorOccurredEvent`: a delivery was dead-lettered. */
  errors: 'system.errors',
  /** `AgentHealthEvent` heartbeats. */
  agents: 'system.agents',
  /** `CheckpointCreatedEvent`. */
  checkpoints: 'system.checkpoints',
} as const;

/** The source of events the runtime publishes. */
export const RUNTIME_SOURCE = '/agentbus';
