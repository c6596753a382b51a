/**
 * Per-topic figures shared by `agentbus status` and `agentbus topics`: totals from the
 * store's counters, and what each subscription still has to settle on each topic it matches
 * (an index range count per topic, never a scan of the log; for subscriptions the transport
 * keeps, its backlog counts).
 */
import { compileTopicPattern } from '../routing/index.js';
import type { ConsumerInfo, EventCount, EventStore } from '../store/event-store.js';
import type { SubscriptionBacklog } from '../transport/transport.js';
import { getOrCreate } from './maps.js';

/** A topic's events over the whole log, from the store's counters. */
export interface TopicTotal {
  topic: string;
  events: number;
  lastSeq: number;
}

/** Per-topic totals from the (topic, source) counts. */
export function topicTotals(counts: readonly EventCount[]): Map<string, TopicTotal> {
  const out = new Map<string, TopicTotal>();
  for (const c of counts) {
    const t = out.get(c.topic);
    if (t) {
      t.events += c.events;
      t.lastSeq = Math.max(t.lastSeq, c.lastSeq);
    } else {
      out.set(c.topic, { topic: c.topic, events: c.events, lastSeq: c.lastSeq });
    }
  }
  return out;
}

/** Pending events of `consumer` on each topic it matches (only topics with events after its position are counted). */
export async function pendingOf(
  store: EventStore,
  consumer: ConsumerInfo,
  topics: Map<string, TopicTotal>,
): Promise<Map<string, number>> {
  const matches = compileTopicPattern(consumer.topic);
  const out = new Map<string, number>();
  for (const t of topics.values()) {
    if (!matches(t.topic)) continue;
    out.set(t.topic, t.lastSeq > consumer.ackFloor ? await store.counts.after(t.topic, consumer.ackFloor) : 0);
  }
  return out;
}

/** topic -> subscription -> pending. */
export async function pendingPerTopic(
  store: EventStore,
  consumers: readonly ConsumerInfo[],
  topics: Map<string, TopicTotal>,
): Promise<Map<string, Map<string, number>>> {
  const out = new Map<string, Map<string, number>>();
  for (const c of consumers) {
    for (const [topic, pending] of await pendingOf(store, c, topics)) {
      getOrCreate(out, topic, () => new Map<string, number>()).set(c.name, pending);
    }
  }
  return out;
}

/**
 * topic -> subscription -> pending, for subscriptions whose backlog the transport counts
 * (NATS): `pending + inFlight` of each. JetStream counts a consumer's backlog, not its
 * topics': a subscription matching one topic with events has it all there; one matching
 * several counts it against each of them, at most that topic's events (an upper bound).
 */
export function backlogPerTopic(
  backlogs: readonly SubscriptionBacklog[],
  topics: Map<string, TopicTotal>,
): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const b of backlogs) {
    const matches = compileTopicPattern(b.topic);
    const matched = [...topics.values()].filter((t) => matches(t.topic));
    const backlog = b.pending + b.inFlight;
    for (const t of matched) {
      const pending = matched.length === 1 ? backlog : Math.min(backlog, t.events);
      getOrCreate(out, t.topic, () => new Map<string, number>()).set(b.name, pending);
    }
  }
  return out;
}

/** `from`'s subscriptions added to `into` (topic -> subscription -> pending); returns `into`. */
export function mergePending(
  into: Map<string, Map<string, number>>,
  from: Map<string, Map<string, number>>,
): Map<string, Map<string, number>> {
  for (const [topic, subs] of from) {
    const target = getOrCreate(into, topic, () => new Map<string, number>());
    for (const [name, pending] of subs) target.set(name, pending);
  }
  return into;
}
