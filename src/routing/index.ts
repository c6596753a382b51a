/**
 * Routing: topics, NATS-style topic patterns, EventBridge content patterns and the compact
 * filter syntax. Pure: no I/O, no clock.
 */

export { isValidTopic, MAX_TOPIC_LENGTH, validateTopic } from './topic.js';
export {
  compileTopicPattern,
  isLiteralPattern,
  isValidTopicPattern,
  matchTopic,
  patternCovers,
  patternsOverlap,
  validateTopicPattern,
} from './pattern.js';
export { compilePattern, matchPattern } from './match-pattern.js';
export {
  compileFilter,
  EVENT_HEADER_FIELDS,
  parseFilter,
  resolveFilterName,
  ROUTING_FIELDS,
} from './filter-syntax.js';

export type { TopicMatcher } from './pattern.js';
export type { EventMatcher, EventPattern } from './match-pattern.js';
export type {
  AnythingBut,
  ContentFilter,
  IgnoreCaseFilter,
  NumericOperator,
  PatternLeaf,
  PatternScalar,
} from './content-filters.js';
