/**
 * The observe layer as the HTTP server consumes it: `/metrics`, the status overview and
 * correlation timelines, each returning JSON-ready data (snake_case, like the wire).
 */
import type { Bus } from '../bus/bus.js';
import type { JsonValue } from '../envelope/envelope.js';
import { toSnakeCase } from './json.js';
import { type BusMetrics, type MetricsOptions, createMetrics } from './metrics.js';
import { type StatusOptions, statusSnapshot } from './status.js';
import { type CausationNode, type TimelineEntry, causationTree, timeline } from './timeline.js';

/** What {@link createObserveSources} returns; fits the server's `Integrations`. */
export interface ObserveSources {
  readonly metrics: () => Promise<{ contentType: string; text: string }>;
  /** The status snapshot, its throughput over `window` ms when given (else the configured or default window). */
  readonly status: (options?: { readonly window?: number }) => Promise<JsonValue>;
  /** Timeline and tree of a correlation, with only the entries of topics `canRead` accepts. */
  readonly timeline: (correlationId: string, canRead?: (topic: string) => boolean) => Promise<JsonValue>;
  /** The underlying metrics (registry, JSON). */
  readonly busMetrics: BusMetrics;
  /** Stops observing the bus. */
  close(): void;
}

/** The JSON of a timeline: `{ correlation_id, entries, tree }`. */
export function timelineJson(correlationId: string, entries: readonly TimelineEntry[]): JsonValue {
  const node = (n: CausationNode): unknown => ({ ...n.entry, failures: n.failures, children: n.children.map(node) });
  return toSnakeCase({ correlationId, entries, tree: causationTree(entries).map(node) }) as JsonValue;
}

/**
 * Metrics, status and timelines of `bus`, for `agentbus serve`.
 * @example
 * const observe = createObserveSources(bus)
 * createApp({ bus, integrations: { ...observe } })
 */
export function createObserveSources(
  bus: Bus,
  options: { metrics?: MetricsOptions; status?: StatusOptions } = {},
): ObserveSources {
  const busMetrics = createMetrics(bus, options.metrics);
  return {
    busMetrics,
    metrics: async () => ({ contentType: busMetrics.contentType, text: await busMetrics.text() }),
    status: async (query = {}) =>
      toSnakeCase(
        await statusSnapshot(bus, { ...options.status, ...(query.window !== undefined ? { window: query.window } : {}) }),
      ) as JsonValue,
    timeline: async (correlationId, canRead) => {
      const entries = await timeline(bus.store, correlationId);
      return timelineJson(correlationId, canRead ? entries.filter((e) => canRead(e.topic)) : entries);
    },
    close: () => busMetrics.close(),
  };
}
