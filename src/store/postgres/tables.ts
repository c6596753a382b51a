/**
 * Qualified table names of one store's schema, built once: every statement names its tables
 * through these, so a store in another schema never touches the default one.
 */
import { quoteIdent } from './connection.js';

/** Qualified names of the store's tables. */
export interface Tables {
  readonly schema: string;
  readonly logHead: string;
  readonly events: string;
  readonly state: string;
  readonly streamEvents: string;
  readonly consumers: string;
  readonly consumerLag: string;
  readonly windows: string;
  readonly retries: string;
  readonly deadLetters: string;
  readonly recovered: string;
  readonly eventCounts: string;
  readonly activity: string;
  readonly consumerCounts: string;
  readonly retention: string;
}

/** The tables of `schema`. */
export function tablesOf(schema: string): Tables {
  const s = quoteIdent(schema);
  return {
    schema: s,
    logHead: `${s}.log_head`,
    events: `${s}.events`,
    state: `${s}.state`,
    streamEvents: `${s}.stream_events`,
    consumers: `${s}.consumers`,
    consumerLag: `${s}.consumer_lag`,
    windows: `${s}.consumer_windows`,
    retries: `${s}.consumer_retries`,
    deadLetters: `${s}.dead_letters`,
    recovered: `${s}.consumer_recovered`,
    eventCounts: `${s}.event_counts`,
    activity: `${s}.activity`,
    consumerCounts: `${s}.consumer_counts`,
    retention: `${s}.retention`,
  };
}
