/**
 * The dashboard's figures, computed from the store (so `agentbus status` works from any
 * process): the throughput bars from the store's per-minute activity over a recent window,
 * per-topic totals from the store's counters, per-subscription positions and counters (for a
 * bus on NATS, the backlogs of its JetStream consumers, one listing per snapshot), open dead
 * letters, agent heartbeats, and a latency sample of recent events.
 * Nothing here scans the whole history: the cost follows the number of topics,
 * subscriptions, minutes in the window, pending events and dead letters.
 */
import { type AgentRecord, listAgents } from '../agents/health.js';
import { AGGREGATOR_SUBSCRIPTION_PREFIX, aggregatorSource } from '../workflows/aggregator.js';
import { SAGA_SUBSCRIPTION_PREFIX, sagaSource } from '../workflows/saga.js';
import type { Envelope } from '../envelope/envelope.js';
import { SYSTEM_EVENTS, SYSTEM_TOPICS } from '../envelope/taxonomy.js';
import { compileTopicPattern } from '../routing/index.js';
import { bucketOf } from '../store/activity.js';
import type { ActivityCount, ConsumerInfo, EventCount, EventStore } from '../store/event-store.js';
import type { RetentionHold } from '../store/retention.js';
import type { SubscriptionBacklog, TransportSubscriptionAdmin } from '../transport/transport.js';
import { getOrCreate } from './maps.js';
import { type TopicTotal, backlogPerTopic, mergePending, pendingOf, pendingPerTopic, topicTotals } from './topic-counts.js';
import { transportBacklog } from './transport-backlog.js';
import { DEFAULT_STATUS_WINDOW_MS, parseStatusWindow } from './window.js';

/** Healthy, degraded (working, but something needs attention) or unhealthy. */
export type HealthLevel = 'healthy' | 'degraded' | 'unhealthy';

/**
 * The dashboard's four bars: the first three over the window (the seed's "Last Hour"), the
 * fourth the dead letters open now. System topics are left out unless asked for.
 */
export interface Throughput {
  /** How far back the window reaches from the snapshot's time (ms). */
  readonly windowMs: number;
  /**
   * Start of the window (RFC 3339): `windowMs` before the snapshot, rounded down to the
   * minute, since the store counts per minute.
   */
  readonly since: string;
  /** Events appended in the window (a repeated id counts once). */
  readonly published: number;
  /** Deliveries acknowledged in the window, across subscriptions (an event two subscriptions handle counts twice). */
  readonly consumed: number;
  /** Handler failures in the window: retries scheduled plus dead letters made. */
  readonly failed: number;
  /** Open dead letters, now (a state, not a rate). */
  readonly inDlq: number;
}

/**
 * A row of "By Topic": a backlog view, each event counted once (published = consumed + lag +
 * open dead letters, as the seed's rows add up).
 */
export interface TopicStatus {
  readonly topic: string;
  readonly published: number;
  /**
   * Events no subscription of the topic still has to handle (handled, or skipped by its
   * filter), open dead letters left out; null when nothing subscribes to it. Not a count of
   * handler runs: an event two subscriptions handle counts once (see `AgentStatus.consumed`).
   */
  readonly consumed: number | null;
  /**
   * The most events any subscription of the topic still has to settle; null when none
   * subscribes. A NATS subscription whose pattern matches several topics counts its whole
   * backlog here, at most the topic's events (JetStream counts per consumer, not per topic).
   */
  readonly lag: number | null;
  /** Subscriptions whose topic pattern matches. */
  readonly subscriptions: readonly string[];
}

/** A subscription's figures. */
export interface SubscriptionStatus {
  readonly name: string;
  readonly topic: string;
  /** The agent it belongs to (its name when it starts with "/"). */
  readonly agent: string;
  /**
   * Events of its topics settled (processed, filtered out, dead, or before it started). On
   * NATS: its topics' events in history less `pending`.
   */
  readonly settled: number;
  /**
   * Deliveries its handler acknowledged (`EventCounts.handled`): what it consumed. Counted since
   * the store kept the count (SQLite schema 12, PostgreSQL 6).
   */
  readonly handled: number;
  /** Events of its topics after its position; on NATS its consumer's `num_pending + num_ack_pending`. */
  readonly pending: number;
  /** Deliveries held by its members, not settled yet (on NATS `num_ack_pending`, retries waiting their delay included). */
  readonly inFlight: number;
  readonly scheduled: number;
  /** Handler failures (redeliveries made or scheduled, dead letters). */
  readonly failed: number;
  /** Open dead letters. */
  readonly inDlq: number;
  readonly paused: boolean;
}

/** A row of "Agent Activity". */
export interface AgentStatus {
  readonly agent: string;
  /** Events it published (`event.source`; the agent runtime's own count for its agents). */
  readonly published: number;
  /**
   * Events delivered to its handlers and acknowledged: the agent runtime's count for its
   * agents; else the store's handled counts of its subscriptions (`EventCounts.handled`), on
   * every backend. Events a filter skipped, failures and dead letters are not counted.
   */
  readonly consumed: number;
  /** Deliveries its subscriptions hold right now. */
  readonly processing: number;
  /** `running`, `paused`, `unhealthy` or `stopped` for runtime agents; else from its last `AgentHealthEvent`. */
  readonly health?: string;
  /** Time of its last heartbeat (RFC 3339). */
  readonly lastSeen?: string;
}

/** The "Health" section. */
export interface HealthStatus {
  /** Degraded with open dead letters, unhealthy agents or high lag. */
  readonly bus: HealthLevel;
  /** The store answered. */
  readonly store: HealthLevel;
  /** Mean time from an event to the events it caused, over recent events (ms); null without any. */
  readonly averageLatencyMs: number | null;
  /** `low` below 100 pending events on every subscription, `medium` below 1,000, else `high`. */
  readonly consumerLag: { readonly level: 'low' | 'medium' | 'high'; readonly maxPending: number };
}

/** The log's retention as `agentbus status` shows it (ADR 0018). */
export interface RetentionStatus {
  /** The first retained position: history is complete from here (1 when nothing was pruned). */
  readonly firstRetained: number;
  /** Events pruned since the store was created, by every process. */
  readonly pruned: number;
  /** RFC 3339 time of the last prune that deleted something; null if none. */
  readonly lastPrunedAt: string | null;
  /** The bus's retention option, when the snapshot was taken of a bus that has one. */
  readonly policy: { readonly maxAgeMs: number | null; readonly maxEvents: number | null } | null;
  /**
   * What holds retention back, lowest position first (at most five): subscriptions (paused or
   * lagging ones hold it longest), projections, the outbox. Nothing from these positions on is pruned.
   */
  readonly heldBy: readonly RetentionHold[];
}

/** Everything `agentbus status` shows. */
export interface StatusSnapshot {
  /** RFC 3339 time of the snapshot. */
  readonly generatedAt: string;
  /** The log's head position. */
  readonly head: number;
  readonly throughput: Throughput;
  readonly topics: readonly TopicStatus[];
  readonly subscriptions: readonly SubscriptionStatus[];
  readonly agents: readonly AgentStatus[];
  readonly health: HealthStatus;
  /** Retention of the log; absent for a store without retention. */
  readonly retention?: RetentionStatus;
}

/** Options of {@link statusSnapshot}. */
export interface StatusOptions {
  /**
   * How far back the throughput bars count (ms): whole minutes from one minute to a day
   * (what the store keeps). By Topic and Agent Activity stay totals.
   * @default 3_600_000 (the last hour)
   */
  readonly window?: number;
  /** Count `system.*` topics (heartbeats, error notices) in the bars and By Topic. @default false */
  readonly includeSystem?: boolean;
  /** How many recent caused events the latency is averaged over. @default 200 */
  readonly latencySample?: number;
  /** How many recent heartbeats are read for agent health. @default 500 */
  readonly heartbeatSample?: number;
  /** @default Date.now() */
  readonly now?: number;
}

const LAG_MEDIUM = 100;
const LAG_HIGH = 1_000;

/**
 * The store of a bus (with its retention option and its transport), or a store itself. Only
 * a bus shows subscriptions its transport keeps (NATS): a bare store does not know them.
 */
export type StoreSource =
  | EventStore
  | {
      readonly store: EventStore;
      readonly retentionPolicy?: { maxAgeMs?: number; maxEvents?: number } | undefined;
      readonly transport?: { readonly subscriptions?: Pick<TransportSubscriptionAdmin, 'backlog'> | undefined };
    };

/** The store of a {@link StoreSource}. */
export function storeOf(source: StoreSource): EventStore {
  return 'deliveries' in source ? source : source.store;
}

/** True for topics the runtime publishes on (`system.*`). */
export function isSystemTopic(topic: string): boolean {
  return topic === 'system' || topic.startsWith('system.');
}

/**
 * The agent a subscription belongs to: for names starting with "/", the name up to a `:` or
 * `#` (the agent runtime names subscriptions `<agent>:<key>`); a saga's or aggregator's
 * (`saga:<name>`, `aggregator:<id>`) is the `event.source` it publishes under, so that it
 * makes one row; else the name itself.
 */
export function agentOfSubscription(name: string): string {
  if (name.startsWith('/')) return name.split(/[:#]/)[0] as string;
  if (name.startsWith(SAGA_SUBSCRIPTION_PREFIX)) return sagaSource(name.slice(SAGA_SUBSCRIPTION_PREFIX.length));
  if (name.startsWith(AGGREGATOR_SUBSCRIPTION_PREFIX)) {
    return aggregatorSource(name.slice(AGGREGATOR_SUBSCRIPTION_PREFIX.length));
  }
  return name;
}

/**
 * Computes the dashboard's figures from the store.
 *
 * @throws AgentbusError `OPTIONS_INVALID` naming `window` for a bad window, before reading anything
 * @example
 * const snapshot = await statusSnapshot(bus, { window: 15 * 60_000 })   // or statusSnapshot(store)
 * console.log(formatDashboard(snapshot))
 */
export async function statusSnapshot(source: StoreSource, options: StatusOptions = {}): Promise<StatusSnapshot> {
  const windowMs = options.window === undefined ? DEFAULT_STATUS_WINDOW_MS : parseStatusWindow(options.window);
  const store = storeOf(source);
  const now = options.now ?? Date.now();
  const since = now - windowMs;
  const [counts, consumers, head, recent, handledCounts, kept] = await Promise.all([
    store.counts.totals(),
    store.deliveries.listConsumers(),
    store.head(),
    store.counts.recent(since),
    store.counts.handled(),
    transportBacklog(source),
  ]);
  const perTopic = topicTotals(counts);
  const handled = new Map(handledCounts.map((h) => [h.consumer, h.count]));
  const openDlq = await openDeadLetters(store);
  const inStore = new Set(consumers.map((c) => c.name));
  const backlogs = kept.filter((b) => !inStore.has(b.name));
  const subscriptions = [
    ...(await Promise.all(consumers.map((c) => subscriptionStatus(store, c, perTopic, openDlq, handled.get(c.name) ?? 0)))),
    ...backlogs.map((b) => backlogStatus(b, perTopic, openDlq, handled.get(b.name) ?? 0)),
  ];
  const pendingBy = mergePending(await pendingPerTopic(store, consumers, perTopic), backlogPerTopic(backlogs, perTopic));
  const topics = [...perTopic.values()]
    .filter((t) => options.includeSystem || !isSystemTopic(t.topic))
    .map((t): TopicStatus => {
      const subs = pendingBy.get(t.topic);
      if (!subs || subs.size === 0) return { topic: t.topic, published: t.events, consumed: null, lag: null, subscriptions: [] };
      const lag = Math.max(...subs.values());
      const dead = openDlq.byTopic.get(t.topic) ?? 0;
      const consumed = Math.max(0, t.events - lag - dead);
      return { topic: t.topic, published: t.events, consumed, lag, subscriptions: [...subs.keys()] };
    });
  const throughput: Throughput = {
    windowMs,
    since: new Date(bucketOf(since)).toISOString(),
    ...activityIn(recent, options.includeSystem === true),
    inDlq: [...openDlq.bySubscription.values()].reduce((n, v) => n + v, 0),
  };
  const heartbeats = await lastHeartbeats(store, options.heartbeatSample ?? 500);
  const records = await listAgents(store, { now });
  const agents = agentRows(counts, subscriptions, handled, heartbeats, records);
  const maxPending = subscriptions.reduce((m, s) => Math.max(m, s.pending), 0);
  const lagLevel = maxPending >= LAG_HIGH ? 'high' : maxPending >= LAG_MEDIUM ? 'medium' : 'low';
  const unhealthyAgents = agents.some((a) => isUnhealthy(a.health));
  const retention = await retentionStatus(source);
  return {
    generatedAt: new Date(now).toISOString(),
    head,
    throughput,
    topics,
    subscriptions,
    agents,
    health: {
      bus: throughput.inDlq > 0 || unhealthyAgents || lagLevel === 'high' ? 'degraded' : 'healthy',
      store: 'healthy',
      averageLatencyMs: await averageLatency(store, options.latencySample ?? 200),
      consumerLag: { level: lagLevel, maxPending },
    },
    ...(retention ? { retention } : {}),
  };
}

/** The store's retention state, with the bus's policy when the source is a bus. */
async function retentionStatus(source: StoreSource): Promise<RetentionStatus | undefined> {
  const store = storeOf(source);
  if (typeof store.retention?.info !== 'function') return undefined;
  const info = await store.retention.info();
  const policy = 'deliveries' in source ? undefined : source.retentionPolicy;
  return {
    firstRetained: info.firstRetained,
    pruned: info.pruned,
    lastPrunedAt: info.lastPrunedAt === undefined ? null : new Date(info.lastPrunedAt).toISOString(),
    policy: policy ? { maxAgeMs: policy.maxAgeMs ?? null, maxEvents: policy.maxEvents ?? null } : null,
    heldBy: info.holds.slice(0, 5),
  };
}

/** The windowed bars from the store's recent activity. */
function activityIn(
  recent: readonly ActivityCount[],
  includeSystem: boolean,
): Pick<Throughput, 'published' | 'consumed' | 'failed'> {
  const out = { published: 0, consumed: 0, failed: 0 };
  for (const { topic, kind, count } of recent) {
    if (!includeSystem && isSystemTopic(topic)) continue;
    if (kind === 'published') out.published += count;
    else if (kind === 'consumed') out.consumed += count;
    else out.failed += count;
  }
  return out;
}

/**
 * Each subscription's pending events, as `agentbus status` counts them: events after its
 * acknowledged position on the topics its pattern matches (an index range count per topic).
 * Events of other topics (heartbeats on `system.agents`, say) do not count; events its filter
 * skips do, until it has settled past them. For subscriptions a bus's transport keeps (NATS),
 * the transport's count: not delivered yet plus in flight.
 */
export async function pendingBySubscription(
  source: StoreSource,
  consumers: readonly ConsumerInfo[],
): Promise<Map<string, number>> {
  const store = storeOf(source);
  const kept = new Map((await transportBacklog(source)).map((b) => [b.name, b.pending + b.inFlight]));
  const perTopic = topicTotals(await store.counts.totals());
  const out = new Map<string, number>();
  for (const c of consumers) {
    const backlog = kept.get(c.name);
    if (backlog !== undefined) {
      out.set(c.name, backlog);
      continue;
    }
    let pending = 0;
    for (const p of (await pendingOf(store, c, perTopic)).values()) pending += p;
    out.set(c.name, pending);
  }
  return out;
}

async function subscriptionStatus(
  store: EventStore,
  c: ConsumerInfo,
  topics: Map<string, TopicTotal>,
  openDlq: OpenDeadLetters,
  handled: number,
): Promise<SubscriptionStatus> {
  const pendingByTopic = await pendingOf(store, c, topics);
  let settled = 0;
  let pending = 0;
  for (const [topic, p] of pendingByTopic) {
    pending += p;
    settled += (topics.get(topic)?.events ?? 0) - p;
  }
  return {
    name: c.name,
    topic: c.topic,
    agent: agentOfSubscription(c.name),
    settled,
    handled,
    pending,
    inFlight: c.inFlight,
    scheduled: c.scheduled,
    failed: c.redelivered + c.scheduled + c.deadLettered,
    inDlq: openDlq.bySubscription.get(c.name) ?? 0,
    paused: c.paused,
  };
}

/**
 * A subscription the transport keeps (NATS), from its backlog: pending is what it has not
 * settled (not delivered + in flight), settled the rest of its topics' events in history.
 */
function backlogStatus(
  b: SubscriptionBacklog,
  topics: Map<string, TopicTotal>,
  openDlq: OpenDeadLetters,
  handled: number,
): SubscriptionStatus {
  const matches = compileTopicPattern(b.topic);
  let events = 0;
  for (const t of topics.values()) if (matches(t.topic)) events += t.events;
  const pending = b.pending + b.inFlight;
  const inDlq = openDlq.bySubscription.get(b.name) ?? 0;
  return {
    name: b.name,
    topic: b.topic,
    agent: agentOfSubscription(b.name),
    settled: Math.max(0, events - pending),
    handled,
    pending,
    inFlight: b.inFlight,
    scheduled: 0,
    failed: b.redelivered + inDlq,
    inDlq,
    paused: false,
  };
}

interface OpenDeadLetters {
  /** Open dead letters per subscription. */
  readonly bySubscription: Map<string, number>;
  /** Events with an open dead letter, per topic. */
  readonly byTopic: Map<string, number>;
}

/** Open dead letters, counted by the store (no bodies read however many there are). */
async function openDeadLetters(store: EventStore): Promise<OpenDeadLetters> {
  const counts = await store.deliveries.countOpenDeadLetters();
  return {
    bySubscription: new Map(counts.bySubscription.map((c) => [c.consumer, c.count])),
    byTopic: new Map(counts.byTopic.map((t) => [t.topic, t.events])),
  };
}

interface Heartbeat {
  health: string;
  at: string;
}

/** The last `AgentHealthEvent` of each agent among the most recent `sample` on `system.agents`. */
async function lastHeartbeats(store: EventStore, sample: number): Promise<Map<string, Heartbeat>> {
  const out = new Map<string, Heartbeat>();
  const query = { topic: SYSTEM_TOPICS.agents, type: SYSTEM_EVENTS.AgentHealth, direction: 'backward', limit: sample } as const;
  for await (const { envelope } of store.read(query)) {
    const agent = agentOfHeartbeat(envelope);
    if (out.has(agent)) continue;
    const payload = envelope.payload as Record<string, unknown> | null;
    const status = payload && typeof payload === 'object' ? (payload.state ?? payload.status ?? payload.health) : undefined;
    out.set(agent, { health: typeof status === 'string' ? status : 'healthy', at: envelope.event.timestamp });
  }
  return out;
}

function agentOfHeartbeat(envelope: Envelope): string {
  const payload = envelope.payload as Record<string, unknown> | null;
  const named = payload && typeof payload === 'object' ? (payload.agent ?? payload.agent_name) : undefined;
  return typeof named === 'string' ? named : envelope.event.source;
}

/** Health words that count as fine (`running` and `healthy`) or neutral (`paused`, `stopped`). */
const FINE = new Set(['healthy', 'running']);
const NEUTRAL = new Set(['paused', 'stopped']);

/** True for an agent health that needs attention (e.g. `unhealthy`). */
export function isUnhealthy(health: string | undefined): boolean {
  return health !== undefined && !FINE.has(health) && !NEUTRAL.has(health);
}

/**
 * Agent Activity: agents run by the agent runtime report their own counts and state (the
 * state area); for other publishers and subscriptions the counts come from the store's
 * counters (published per source, handled per subscription) and positions, and health from
 * their latest heartbeat, if any.
 */
function agentRows(
  counts: readonly EventCount[],
  subscriptions: readonly SubscriptionStatus[],
  handled: ReadonlyMap<string, number>,
  heartbeats: Map<string, Heartbeat>,
  records: readonly AgentRecord[],
): AgentStatus[] {
  const rows = new Map<string, AgentStatus>();
  const covered = new Set<string>();
  for (const r of records) {
    for (const sub of r.subscriptions) covered.add(sub.name);
    rows.set(r.name, {
      agent: r.name,
      published: r.published,
      consumed: r.consumed,
      processing: r.processing,
      health: r.state,
      ...(r.lastHeartbeat !== undefined ? { lastSeen: new Date(r.lastHeartbeat).toISOString() } : {}),
    });
  }
  const fallback = new Map<string, { published: number; consumed: number; processing: number }>();
  const row = (agent: string) => getOrCreate(fallback, agent, () => ({ published: 0, consumed: 0, processing: 0 }));
  // Heartbeats are the runtime's own traffic, not the agent's work.
  for (const c of counts) if (!isSystemTopic(c.topic) && !rows.has(c.source)) row(c.source).published += c.events;
  for (const s of subscriptions) {
    if (covered.has(s.name) || rows.has(s.agent)) continue;
    const r = row(s.agent);
    r.consumed += s.handled;
    r.processing += s.inFlight;
  }
  // Subscriptions the store counts acks for but keeps no position of: NATS consumers (kept by
  // JetStream), and deleted subscriptions, whose work stays counted like their published events.
  const listed = new Set(subscriptions.map((s) => s.name));
  for (const [name, n] of handled) {
    const agent = agentOfSubscription(name);
    if (listed.has(name) || covered.has(name) || rows.has(agent)) continue;
    row(agent).consumed += n;
  }
  for (const agent of heartbeats.keys()) if (!rows.has(agent)) row(agent);
  for (const [agent, r] of fallback) {
    const hb = heartbeats.get(agent);
    rows.set(agent, { agent, ...r, ...(hb ? { health: hb.health, lastSeen: hb.at } : {}) });
  }
  return [...rows.values()].sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
}

/** Mean time from an event to the events it caused, over the latest `sample` caused events (system topics left out). */
async function averageLatency(store: EventStore, sample: number): Promise<number | null> {
  let total = 0;
  let n = 0;
  let seen = 0;
  const parents = new Map<string, number | undefined>();
  for await (const { envelope } of store.read({ direction: 'backward', limit: sample * 4 })) {
    const { event, routing } = envelope;
    if (event.causation_id === null || isSystemTopic(routing.topic)) continue;
    if (++seen > sample) break;
    let parentTs = parents.get(event.causation_id);
    if (!parents.has(event.causation_id)) {
      const parent = await store.get(event.causation_id);
      parentTs = parent ? Date.parse(parent.envelope.event.timestamp) : undefined;
      parents.set(event.causation_id, parentTs);
    }
    const ts = Date.parse(event.timestamp);
    if (parentTs === undefined || Number.isNaN(ts) || Number.isNaN(parentTs) || ts < parentTs) continue;
    total += ts - parentTs;
    n++;
  }
  return n === 0 ? null : total / n;
}
