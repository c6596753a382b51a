/**
 * Subscription administration on JetStream: list, get and delete map onto durable
 * consumers, backlog onto their infos; pause, resume and reset do not exist on nats-server
 * 2.9 and are refused.
 */
import type { ConsumerInfo as JsConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { AgentbusError, invalidField } from '../../errors.js';
import type { ConsumerInfo, DeliveryState } from '../../store/event-store.js';
import type { TransportSubscriptionAdmin } from '../transport.js';
import { createBacklogReader, subscriptionOfConsumer } from './consumer-backlog.js';
import { isNotFound, unavailable } from './jetstream-setup.js';

/** What the admin needs from its transport. */
export interface AdminContext {
  readonly jsm: JetStreamManager;
  readonly stream: string;
  readonly subjectPrefix: string;
  /** Durable names that are not subscriptions (the recorder). */
  readonly internal: ReadonlySet<string>;
  readonly durableOf: (subscription: string) => string;
  /** Where dead letters are counted. */
  readonly deliveries: DeliveryState;
}

export function createNatsSubscriptionAdmin(c: AdminContext): TransportSubscriptionAdmin {
  const toInfo = async (info: JsConsumerInfo): Promise<ConsumerInfo | undefined> => {
    const subscription = subscriptionOfConsumer(info, c.subjectPrefix);
    if (!subscription) return undefined;
    const { name, topic, filter } = subscription;
    const dead = await c.deliveries.listDeadLetters({ consumer: name });
    return {
      name,
      topic,
      filter,
      ackFloor: info.ack_floor.stream_seq,
      nextSeq: info.delivered.stream_seq + 1,
      inFlight: info.num_ack_pending,
      // A nak with delay stays "ack pending" on JetStream: scheduled retries are in inFlight.
      scheduled: 0,
      redelivered: info.num_redelivered,
      deadLettered: dead.length,
      expired: 0,
      paused: false,
      createdAt: Date.parse(info.created),
      ordered: false,
    };
  };
  const refuse = (operation: string, why: string): Promise<never> =>
    Promise.reject(invalidField('OPTIONS_INVALID', 'operation', `${operation} is not available on the NATS transport: ${why}`));

  const backlog = createBacklogReader(c);
  return {
    backlog,
    async list() {
      const out: ConsumerInfo[] = [];
      try {
        for await (const info of c.jsm.consumers.list(c.stream)) {
          if (c.internal.has(info.name)) continue;
          const mapped = await toInfo(info);
          if (mapped) out.push(mapped);
        }
      } catch (error) {
        throw unavailable(`listing consumers of ${c.stream}`, error);
      }
      return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    },
    async get(name) {
      try {
        return await toInfo(await c.jsm.consumers.info(c.stream, c.durableOf(name)));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw unavailable(`consumer info of ${name}`, error);
      }
    },
    pause: () =>
      refuse('pause', 'nats-server 2.9 cannot pause a consumer (2.11 can); stop the workers of the subscription instead'),
    resume: () => refuse('resume', 'nats-server 2.9 cannot pause or resume a consumer'),
    reset: () =>
      refuse('reset', 'nats-server 2.9 cannot move a durable consumer; delete the subscription and subscribe again with `start`'),
    async delete(name) {
      try {
        return await c.jsm.consumers.delete(c.stream, c.durableOf(name));
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error instanceof AgentbusError ? error : unavailable(`deleting consumer of ${name}`, error);
      }
    },
  };
}
