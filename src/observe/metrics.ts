/**
 * Prometheus metrics of a bus, with prom-client on a registry of its own (never the global
 * one). Counters and histograms come from what the bus does in this process (through
 * `bus.observe`); lag, open dead letters and health are read from the store at each scrape
 * (shared by all the gauges of one scrape, cached for `storeTtlMs`).
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Histogram, Registry } from 'prom-client';
import type { Bus } from '../bus/bus.js';
import type { BusObserver, HandlerEnd, HandlerStart } from '../bus/observer.js';
import type { Envelope } from '../envelope/envelope.js';
import { invalidField } from '../errors.js';
import { LabelGuard } from './label-guard.js';
import { getOrCreate } from './maps.js';
import { type Bucket, type LatencySummary, summarize } from './quantiles.js';
import { type StatusSnapshot, statusSnapshot } from './status.js';

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Prefix of every metric name. @default "agentbus_" */
  readonly prefix?: string;
  /** Histogram buckets in seconds. @default 0.5 ms to 60 s, roughly doubling */
  readonly buckets?: readonly number[];
  /** Most distinct values per label (topic, subscription, agent, reason); later ones become `_other`. @default 500 */
  readonly maxLabelValues?: number;
  /** How long store-derived figures (lag, dead letters, health) are reused between scrapes (ms). @default 1000 */
  readonly storeTtlMs?: number;
  /** Labels added to every metric (e.g. `{ instance: 'worker-1' }`). */
  readonly defaultLabels?: Record<string, string>;
}

/** Per-topic figures of this process. */
export interface TopicMetrics {
  readonly topic: string;
  readonly published: number;
  readonly consumed: number;
  readonly failed: number;
  readonly deadLettered: number;
}

/** Per-agent figures of this process. */
export interface AgentMetrics {
  readonly agent: string;
  readonly published: number;
  readonly consumed: number;
  /** Handlers running now. */
  readonly processing: number;
}

/** The metrics as JSON for dashboards: this process's counts and latency quantiles (seconds). */
export interface MetricsJson {
  readonly topics: readonly TopicMetrics[];
  readonly agents: readonly AgentMetrics[];
  readonly latency: {
    /** From the event's timestamp to its handler's start. */
    readonly publishToStart: LatencySummary;
    readonly handlerDuration: LatencySummary;
  };
}

/** A bus's metrics. */
export interface BusMetrics {
  /** The prom-client registry (add your own metrics, or `collectDefaultMetrics({ register })`). */
  readonly registry: Registry;
  /** The `Content-Type` of {@link BusMetrics.text}. */
  readonly contentType: string;
  /** Prometheus text exposition, for `GET /metrics`. */
  text(): Promise<string>;
  /** This process's counts and latency quantiles. */
  json(): Promise<MetricsJson>;
  /** The store-derived snapshot used by the last scrape (refreshed when older than `storeTtlMs`). */
  snapshot(): Promise<StatusSnapshot>;
  /** Stops observing the bus. */
  close(): void;
}

/**
 * prom-client, loaded at the first `createMetrics` (synchronously: it is CommonJS), so that
 * importing agentbus never pays for it (about 30 ms).
 */
let prom: typeof PromClient | undefined;
function promClient(): typeof PromClient {
  prom ??= createRequire(import.meta.url)('prom-client') as typeof PromClient;
  return prom;
}

/** 0.5 ms ... 60 s. */
const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Prometheus metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*` (the prefix may be empty). */
const METRIC_PREFIX = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/**
 * Creates the metrics of `bus` and starts observing it.
 *
 * @example
 * const metrics = createMetrics(bus)
 * app.get('/metrics', async (c) => c.text(await metrics.text(), 200, { 'Content-Type': metrics.contentType }))
 */
export function createMetrics(bus: Bus, options: MetricsOptions = {}): BusMetrics {
  if (typeof bus !== 'object' || bus === null || typeof (bus as Partial<Bus>).observe !== 'function') {
    throw invalidField('OPTIONS_INVALID', 'bus', 'must be a bus from createBus');
  }
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
  const p = options.prefix ?? 'agentbus_';
  if (typeof p !== 'string' || !METRIC_PREFIX.test(p)) {
    throw invalidField(
      'OPTIONS_INVALID',
      'prefix',
      'must be a Prometheus metric name prefix: letters, digits, _ and :, not starting with a digit',
    );
  }
  const { Counter, Gauge, Histogram, Registry } = promClient();
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
  const registers = [registry];
  const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
  const max = options.maxLabelValues ?? 500;
  const guard = {
    topic: new LabelGuard(max),
    subscription: new LabelGuard(max),
    agent: new LabelGuard(max),
    reason: new LabelGuard(50),
  };

  // The hot path only adds to plain tallies; the counters read them at scrape time.
  const tallies = {
    published: new Tally(),
    consumed: new Tally(),
    failed: new Tally(),
    dead: new Tally(),
    agentPublished: new Tally(),
    agentConsumed: new Tally(),
    processing: new Tally(),
  };
  const counter = (name: string, help: string, labelNames: string[], tally: Tally) => {
    tally.named(labelNames);
    return new Counter({
      name: `${p}${name}`,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const { labels, value } of tally.values()) this.inc(labels, value);
      },
    });
  };
  counter('events_published_total', 'Events published by this process, by topic.', ['topic'], tallies.published);
  counter(
    'events_consumed_total',
    'Deliveries whose handler succeeded, by topic and subscription.',
    ['topic', 'subscription'],
    tallies.consumed,
  );
  counter(
    'events_failed_total',
    'Handler failures (retried or dead-lettered), by topic, subscription and reason.',
    ['topic', 'subscription', 'reason'],
    tallies.failed,
  );
  counter(
    'events_dead_lettered_total',
    'Deliveries dead-lettered by this process, by topic and subscription.',
    ['topic', 'subscription'],
    tallies.dead,
  );
  counter('agent_events_published_total', 'Events published, by agent (event source).', ['agent'], tallies.agentPublished);
  counter('agent_events_consumed_total', 'Deliveries handled successfully, by agent.', ['agent'], tallies.agentConsumed);
  tallies.processing.named(['agent']);
  new Gauge({
    name: `${p}agent_events_processing`,
    help: 'Handlers running now, by agent.',
    labelNames: ['agent'],
    registers,
    collect() {
      this.reset();
      for (const { labels, value } of tallies.processing.values()) this.set(labels, value);
    },
  });
  const startLatency = new Histogram({
    name: `${p}publish_to_start_seconds`,
    help: "Time from an event's timestamp to its handler's start, by subscription.",
    labelNames: ['subscription'],
    buckets,
    registers,
  });
  const duration = new Histogram({
    name: `${p}handler_duration_seconds`,
    help: 'Handler run time, by subscription.',
    labelNames: ['subscription'],
    buckets,
    registers,
  });

  const ttl = options.storeTtlMs ?? 1000;
  let cached: { at: number; value: Promise<StatusSnapshot> } | undefined;
  const snapshot = (): Promise<StatusSnapshot> => {
    const now = Date.now();
    if (!cached || now - cached.at > ttl) {
      const value = statusSnapshot(bus, { includeSystem: true });
      cached = { at: now, value };
      // A failed read is not cached: the next scrape asks again.
      value.catch(() => {
        if (cached?.value === value) cached = undefined;
      });
    }
    return cached.value;
  };
  const fromStore = async (): Promise<StatusSnapshot | undefined> => snapshot().catch(() => undefined);

  new Gauge({
    name: `${p}topic_lag`,
    help: 'Most events any subscription of the topic still has to settle (from the store; on NATS from JetStream consumers).',
    labelNames: ['topic'],
    registers,
    async collect() {
      this.reset();
      for (const t of (await fromStore())?.topics ?? [])
        if (t.lag !== null) this.set({ topic: guard.topic.value(t.topic) }, t.lag);
    },
  });
  new Gauge({
    name: `${p}subscription_lag`,
    help: 'Events after the subscription position (consumer lag, from the store; on NATS from its JetStream consumer).',
    labelNames: ['subscription'],
    registers,
    async collect() {
      this.reset();
      for (const s of (await fromStore())?.subscriptions ?? [])
        this.set({ subscription: guard.subscription.value(s.name) }, s.pending);
    },
  });
  new Gauge({
    name: `${p}dead_letters_open`,
    help: 'Open dead letters, by subscription (from the store).',
    labelNames: ['subscription'],
    registers,
    async collect() {
      this.reset();
      for (const s of (await fromStore())?.subscriptions ?? [])
        this.set({ subscription: guard.subscription.value(s.name) }, s.inDlq);
    },
  });
  new Gauge({
    name: `${p}health`,
    help: 'Health by component (bus, store, consumer_lag): 1 healthy, 0.5 degraded, 0 unhealthy.',
    labelNames: ['component'],
    registers,
    async collect() {
      const s = await fromStore();
      const score = { healthy: 1, degraded: 0.5, unhealthy: 0 } as const;
      this.set({ component: 'store' }, s ? 1 : 0);
      this.set({ component: 'bus' }, s ? score[s.health.bus] : 0);
      const lag = s?.health.consumerLag.level;
      this.set({ component: 'consumer_lag' }, lag === undefined ? 0 : lag === 'high' ? 0.5 : 1);
    },
  });
  new Gauge({
    name: `${p}store_head_seq`,
    help: 'Highest position written to the log.',
    registers,
    async collect() {
      const s = await fromStore();
      if (s) this.set(s.head);
    },
  });

  const observer: BusObserver = {
    published(events: readonly Envelope[]) {
      for (const { event, routing } of events) {
        tallies.published.add(1, guard.topic.value(routing.topic));
        tallies.agentPublished.add(1, guard.agent.value(event.source));
      }
    },
    handlerStarted(start: HandlerStart) {
      tallies.processing.add(1, guard.agent.value(start.agent));
      const ts = Date.parse(start.envelope.event.timestamp);
      if (!Number.isNaN(ts)) {
        startLatency.observe(
          { subscription: guard.subscription.value(start.subscription) },
          Math.max(0, start.startedAt - ts) / 1000,
        );
      }
    },
    handlerFinished(end: HandlerEnd) {
      const topic = guard.topic.value(end.envelope.routing.topic);
      const subscription = guard.subscription.value(end.subscription);
      const agent = guard.agent.value(end.agent);
      tallies.processing.add(-1, agent);
      duration.observe({ subscription }, end.durationMs / 1000);
      if (end.outcome === 'ok') {
        tallies.consumed.add(1, topic, subscription);
        tallies.agentConsumed.add(1, agent);
        return;
      }
      tallies.failed.add(1, topic, subscription, guard.reason.value(end.reason ?? 'unknown'));
      if (end.outcome === 'dead') tallies.dead.add(1, topic, subscription);
    },
  };
  const stop = bus.observe(observer);

  return {
    registry,
    contentType: registry.contentType,
    text: () => registry.metrics(),
    snapshot,
    async json() {
      const topics = new Map<string, { published: number; consumed: number; failed: number; deadLettered: number }>();
      const topic = (t: string) => getOrCreate(topics, t, () => ({ published: 0, consumed: 0, failed: 0, deadLettered: 0 }));
      for (const { values, value } of tallies.published.values()) topic(values[0] as string).published += value;
      for (const { values, value } of tallies.consumed.values()) topic(values[0] as string).consumed += value;
      for (const { values, value } of tallies.failed.values()) topic(values[0] as string).failed += value;
      for (const { values, value } of tallies.dead.values()) topic(values[0] as string).deadLettered += value;
      const agents = new Map<string, { published: number; consumed: number; processing: number }>();
      const agent = (a: string) => getOrCreate(agents, a, () => ({ published: 0, consumed: 0, processing: 0 }));
      for (const { values, value } of tallies.agentPublished.values()) agent(values[0] as string).published += value;
      for (const { values, value } of tallies.agentConsumed.values()) agent(values[0] as string).consumed += value;
      for (const { values, value } of tallies.processing.values()) agent(values[0] as string).processing += value;
      return {
        topics: [...topics.entries()].map(([name, r]) => ({ topic: name, ...r })),
        agents: [...agents.entries()].map(([name, r]) => ({ agent: name, ...r })),
        latency: {
          publishToStart: await histogramSummary(startLatency),
          handlerDuration: await histogramSummary(duration),
        },
      };
    },
    close: stop,
  };
}

/** Per-label-set sums, added to on the hot path without prom-client's label hashing. */
class Tally {
  readonly #rows = new Map<string, { values: string[]; value: number }>();
  #names: string[] | undefined;

  /** Adds `n` to the row of these label values (in the metric's label order). */
  add(n: number, ...values: string[]): void {
    const key = values.length === 1 ? (values[0] as string) : values.join('\u0000');
    const row = this.#rows.get(key);
    if (row) row.value += n;
    else this.#rows.set(key, { values, value: n });
  }

  /** The rows with labels named after `names` (set by the first {@link Tally.named} call). */
  *values(): Iterable<{ values: string[]; labels: Record<string, string>; value: number }> {
    for (const row of this.#rows.values()) {
      const labels: Record<string, string> = {};
      (this.#names ?? []).forEach((name, i) => {
        labels[name] = row.values[i] as string;
      });
      yield { ...row, labels };
    }
  }

  /** Names the label positions. */
  named(names: string[]): this {
    this.#names = names;
    return this;
  }
}

/** Quantiles over every label set of a histogram (their buckets summed). */
async function histogramSummary(histogram: Histogram<string>): Promise<LatencySummary> {
  const { values } = await histogram.get();
  const byLe = new Map<number, number>();
  let sum = 0;
  for (const v of values) {
    const name = (v as { metricName?: string }).metricName ?? '';
    if (name.endsWith('_bucket')) {
      const le = v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + v.value);
    } else if (name.endsWith('_sum')) {
      sum += v.value;
    }
  }
  const buckets: Bucket[] = [...byLe.entries()].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count }));
  return summarize(buckets, sum);
}
