/**
 * Subscription backlogs read from JetStream for the status views: one consumer listing of the
 * stream (`$JS.API.CONSUMER.LIST`, up to 256 consumers' infos per page) answers every
 * subscription at once, and views polled together or within `ttlMs` share it. Nothing is
 * counted per event: JetStream keeps `num_pending` and `num_ack_pending` itself.
 */
import type { ConsumerInfo as JsConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import type { SubscriptionBacklog } from '../transport.js';
import { readDescription, unavailable } from './jetstream-setup.js';
import { subscriptionOfDurable, topicOf } from './names.js';

/** How long a consumer listing answers the views that follow it (ms). */
export const BACKLOG_TTL_MS = 1_000;

/** What the reader needs from its transport. */
export interface BacklogContext {
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly subjectPrefix: string;
  /** Durable names that are not subscriptions (the recorder). */
  readonly internal: ReadonlySet<string>;
  /** @default BACKLOG_TTL_MS */
  readonly ttlMs?: number;
}

/** The subscription a consumer serves, with its topic pattern; undefined for a consumer agentbus did not make. */
export function subscriptionOfConsumer(
  info: JsConsumerInfo,
  subjectPrefix: string,
): { readonly name: string; readonly topic: string; readonly filter: unknown } | undefined {
  const described = readDescription(info.config.description);
  const name = described?.subscription ?? subscriptionOfDurable(info.name);
  if (!name) return undefined;
  const topic = described?.topic ?? topicOf(subjectPrefix, info.config.filter_subject ?? '') ?? '>';
  return { name, topic, filter: described?.filter ?? null };
}

/** A consumer's info as a backlog. */
export function backlogOf(info: JsConsumerInfo, subjectPrefix: string): SubscriptionBacklog | undefined {
  const subscription = subscriptionOfConsumer(info, subjectPrefix);
  if (!subscription) return undefined;
  return {
    name: subscription.name,
    topic: subscription.topic,
    pending: info.num_pending,
    inFlight: info.num_ack_pending,
    ackFloor: info.ack_floor.stream_seq,
    delivered: info.delivered.stream_seq,
    redelivered: info.num_redelivered,
  };
}

/**
 * A reader of every subscription's backlog, sorted by name: calls while a listing is on its
 * way wait for it, and a listing answers the calls of the next `ttlMs` after it arrived. A
 * failed listing is not kept.
 * @throws AgentbusError `BACKEND_UNAVAILABLE` (from the returned function)
 */
export function createBacklogReader(c: BacklogContext): () => Promise<SubscriptionBacklog[]> {
  const ttlMs = c.ttlMs ?? BACKLOG_TTL_MS;
  let asking: Promise<SubscriptionBacklog[]> | undefined;
  let answer: { readonly at: number; readonly value: readonly SubscriptionBacklog[] } | undefined;
  const list = async (): Promise<SubscriptionBacklog[]> => {
    const out: SubscriptionBacklog[] = [];
    try {
      for await (const info of c.jsm.consumers.list(c.stream)) {
        if (c.internal.has(info.name)) continue;
        const backlog = backlogOf(info, c.subjectPrefix);
        if (backlog) out.push(backlog);
      }
    } catch (error) {
      throw unavailable(`listing consumers of ${c.stream}`, error);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  };
  return async () => {
    if (!asking && answer && Date.now() - answer.at < ttlMs) return [...answer.value];
    if (!asking) {
      asking = list()
        .then((value) => {
          answer = { at: Date.now(), value };
          return value;
        })
        .finally(() => {
          asking = undefined;
        });
    }
    return [...(await asking)];
  };
}
