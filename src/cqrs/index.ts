export { COMMAND_FAILED, COMMAND_SUCCEEDED, commandGroup, createCommandBus } from './command-bus.js';
export type {
  CommandBus,
  CommandBusSettings,
  CommandHandler,
  CommandRegistration,
  RegisterCommandOptions,
  SendCommandOptions,
} from './command-bus.js';
export { defineProjection, isProjection } from './projection.js';
export type { Projection, ProjectionEventInfo, ProjectionOptions } from './projection.js';
export { PROJECTION_NAMESPACE } from './projection-store.js';
export type { ProjectionInfo, RebuildProgress, RebuildResult } from './projection-store.js';
export { createProjections } from './projections.js';
export type { Projections, RebuildOptions, RunningProjection } from './projections.js';
export { QUERY_NAMESPACE, createQueryBus } from './query-bus.js';
export type { AskOptions, QueryBus, QueryContext, QueryHandler, QueryRegistration, RegisterQueryOptions } from './query-bus.js';
export { ReplyWaiter } from './reply-waiter.js';
export { SNAPSHOT_NAMESPACE, createEventStreams } from './streams.js';
export type {
  EventStreams,
  LoadOptions,
  LoadResult,
  StreamAppendOptions,
  StreamEventInput,
  StreamPosition,
} from './streams.js';
