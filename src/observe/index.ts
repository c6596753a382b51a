/**
 * Observability: Prometheus metrics of a bus, the status dashboard's figures, the correlation
 * timeline and causation tree. Tracing lives in the bus (`event.traceparent`, OpenTelemetry
 * spans when an SDK is registered); see docs/observability.md.
 */
export { LabelGuard, OTHER_LABEL } from './label-guard.js';
export { createMetrics } from './metrics.js';
export type { AgentMetrics, BusMetrics, MetricsJson, MetricsOptions, TopicMetrics } from './metrics.js';
export { bucketQuantile, summarize } from './quantiles.js';
export type { Bucket, LatencySummary } from './quantiles.js';
export { agentOfSubscription, isSystemTopic, isUnhealthy, pendingBySubscription, statusSnapshot } from './status.js';
export type {
  AgentStatus,
  HealthLevel,
  HealthStatus,
  StatusOptions,
  StatusSnapshot,
  StoreSource,
  SubscriptionStatus,
  Throughput,
  TopicStatus,
} from './status.js';
export { firstPositionSince, topicsOverview } from './topics.js';
export type { TopicOverview, TopicsOptions, TopicsOverview } from './topics.js';
export { DEFAULT_STATUS_WINDOW_MS, parseStatusWindow, windowLabel } from './window.js';
export { causationTree, isCompensationEvent, isDeliveryEntry, timeline } from './timeline.js';
export type { CausationNode, TimelineEntry, TimelineKind, TimelineOptions } from './timeline.js';
export { toSnakeCase } from './json.js';
export { createObserveSources, timelineJson } from './sources.js';
export type { ObserveSources } from './sources.js';
