/**
 * The seed's "Pub/Sub Configuration", measured: per topic, the events of a recent window,
 * who published them, the subscriptions whose pattern matches it and how far behind they
 * are. Shared by `agentbus topics` and the dashboard's Topics page.
 *
 * Nothing here scans the log: events per topic come from the store's per-minute activity
 * (as the status throughput bars), publishers from its (topic, source) counters, whose last
 * position tells whether a source published in the window once the window's first position
 * is known, a binary search over positions (storage times never decrease along them), and
 * the lag from the same per-topic range counts as `agentbus status` (for a bus on NATS, its
 * JetStream consumers' backlogs).
 */
import type { EventStore } from '../store/event-store.js';
import { bucketOf } from '../store/activity.js';
import { type StoreSource, isSystemTopic, storeOf } from './status.js';
import { backlogPerTopic, mergePending, pendingPerTopic, topicTotals } from './topic-counts.js';
import { transportBacklog } from './transport-backlog.js';
import { DEFAULT_STATUS_WINDOW_MS, parseStatusWindow } from './window.js';

/** One row: a topic (or a subscription's pattern that matches no topic with events yet). */
export interface TopicOverview {
  /** The topic; for a `pattern` row, the subscription's topic pattern. */
  readonly topic: string;
  /** True for a subscription's wildcard pattern that matches no topic with events yet. */
  readonly pattern: boolean;
  /** Events appended on it in the window (a repeated id counts once). */
  readonly events: number;
  /** Distinct `event.source` of its events in the window, sorted. */
  readonly publishers: readonly string[];
  /** Subscriptions whose topic pattern matches it, sorted. */
  readonly subscribers: readonly string[];
  /** The most events any of its subscribers still has to settle; null when none subscribes. */
  readonly lag: number | null;
}

/** What {@link topicsOverview} returns. */
export interface TopicsOverview {
  /** RFC 3339 time of the overview. */
  readonly generatedAt: string;
  /** How far back the window reaches (ms). */
  readonly windowMs: number;
  /** Start of the window (RFC 3339), rounded down to the minute as the store counts per minute. */
  readonly since: string;
  /** Every topic with events (ever) and every subscription's pattern, sorted by topic. */
  readonly topics: readonly TopicOverview[];
}

/** Options of {@link topicsOverview}. */
export interface TopicsOptions {
  /** How far back events and publishers count (ms): whole minutes from one minute to a day. @default 3_600_000 (the last hour) */
  readonly window?: number;
  /** Include `system.*` topics (heartbeats, error notices). @default false */
  readonly includeSystem?: boolean;
  /** @default Date.now() */
  readonly now?: number;
}

/**
 * The first position stored at or after `sinceMs`, or `head + 1` when none is: a binary
 * search over positions, reading one event per step (storage times never decrease along
 * positions, and pruned gaps are skipped).
 */
export async function firstPositionSince(store: EventStore, sinceMs: number, head: number): Promise<number> {
  let low = 1;
  let high = head + 1;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    let found: { seq: number; storedAt: number } | undefined;
    for await (const event of store.read({ fromSeq: middle, limit: 1 })) {
      found = event;
      break;
    }
    if (found === undefined || found.storedAt >= sinceMs) high = middle;
    else low = found.seq + 1;
  }
  return low;
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Per topic: events and publishers in the window, subscribers, lag.
 * @throws AgentbusError `OPTIONS_INVALID` naming `window` for a bad window, before reading anything
 * @example
 * const { topics } = await topicsOverview(bus, { window: 15 * 60_000 })
 */
export async function topicsOverview(source: StoreSource, options: TopicsOptions = {}): Promise<TopicsOverview> {
  const windowMs = options.window === undefined ? DEFAULT_STATUS_WINDOW_MS : parseStatusWindow(options.window);
  const store = storeOf(source);
  const now = options.now ?? Date.now();
  const since = bucketOf(now - windowMs);
  const [counts, consumers, head, recent, kept] = await Promise.all([
    store.counts.totals(),
    store.deliveries.listConsumers(),
    store.head(),
    store.counts.recent(since),
    transportBacklog(source),
  ]);
  const inStore = new Set(consumers.map((c) => c.name));
  const backlogs = kept.filter((b) => !inStore.has(b.name));
  const visible = (topic: string) => options.includeSystem === true || !isSystemTopic(topic);
  const firstInWindow = await firstPositionSince(store, since, head);
  const publishers = new Map<string, string[]>();
  for (const c of counts) {
    if (c.lastSeq < firstInWindow) continue;
    const list = publishers.get(c.topic) ?? [];
    list.push(c.source);
    publishers.set(c.topic, list);
  }
  const events = new Map<string, number>();
  for (const r of recent) if (r.kind === 'published') events.set(r.topic, (events.get(r.topic) ?? 0) + r.count);
  const totals = topicTotals(counts);
  const pending = mergePending(await pendingPerTopic(store, consumers, totals), backlogPerTopic(backlogs, totals));
  const rows: TopicOverview[] = [...totals.keys()].filter(visible).map((topic) => {
    const subs = pending.get(topic);
    return {
      topic,
      pattern: false,
      events: events.get(topic) ?? 0,
      publishers: (publishers.get(topic) ?? []).sort(byName),
      subscribers: subs ? [...subs.keys()].sort(byName) : [],
      lag: subs && subs.size > 0 ? Math.max(...subs.values()) : null,
    };
  });
  // Subscriptions that match no topic with events show as their pattern, so none is missing.
  const patterns = new Map<string, string[]>();
  for (const c of [...consumers, ...backlogs]) {
    if (!visible(c.topic) || rows.some((row) => row.subscribers.includes(c.name))) continue;
    patterns.set(c.topic, [...(patterns.get(c.topic) ?? []), c.name]);
  }
  // Their lag is 0, but for a transport's count of events history does not hold yet (NATS).
  const backlogOf = new Map(backlogs.map((b) => [b.name, b.pending + b.inFlight]));
  for (const [topic, subscribers] of patterns) {
    const lag = Math.max(0, ...subscribers.map((name) => backlogOf.get(name) ?? 0));
    rows.push({ topic, pattern: /[*>]/.test(topic), events: 0, publishers: [], subscribers: subscribers.sort(byName), lag });
  }
  return {
    generatedAt: new Date(now).toISOString(),
    windowMs,
    since: new Date(since).toISOString(),
    topics: rows.sort((a, b) => byName(a.topic, b.topic)),
  };
}
