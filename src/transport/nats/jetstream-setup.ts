/**
 * Creating (or joining) the stream and the durable consumers, with only what nats-server 2.9
 * offers: one `filter_subject` per consumer, `description` for the subscription's real name,
 * explicit acks, `ack_wait`, `max_deliver`, `max_ack_pending`, deliver policies by sequence
 * or time. No `filter_subjects`, no metadata, no pause (all 2.10+).
 */
import type { ConsumerConfig, ConsumerInfo as JsConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { AgentbusError, invalidField } from '../../errors.js';
import type { StartPosition } from '../../store/event-store.js';

/** The dynamically loaded nats.js modules. */
export interface NatsModules {
  readonly core: typeof import('@nats-io/transport-node');
  readonly js: typeof import('@nats-io/jetstream');
}

/** Loads nats.js on first use only, so the embedded default never does. */
export async function loadNatsModules(): Promise<NatsModules> {
  const [core, js] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')]);
  return { core, js };
}

/** What the consumer's description holds: the subscription as agentbus knows it. */
export interface ConsumerDescription {
  readonly subscription: string;
  readonly topic: string;
  readonly filter?: unknown;
}

/** JetStream keeps descriptions up to 4 KiB. */
const MAX_DESCRIPTION = 4096;

export function describeConsumer(description: ConsumerDescription): string {
  const full = JSON.stringify(description);
  if (full.length <= MAX_DESCRIPTION) return full;
  return JSON.stringify({ subscription: description.subscription, topic: description.topic });
}

export function readDescription(text: string | undefined): ConsumerDescription | undefined {
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as ConsumerDescription;
    return typeof parsed?.subscription === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** True for JetStream's "stream/consumer not found". */
export function isNotFound(error: unknown): boolean {
  const e = error as { code?: number; status?: number } | undefined;
  return e?.code === 10014 || e?.code === 10059 || e?.status === 404;
}

/** Wraps a failure to reach or use the server. */
export function unavailable(what: string, error: unknown): AgentbusError {
  if (error instanceof AgentbusError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new AgentbusError('BACKEND_UNAVAILABLE', `NATS JetStream: ${what} failed: ${message}`, { what }, { cause: error });
}

/** Options of the stream agentbus creates when it is missing. */
export interface StreamSettings {
  readonly name: string;
  readonly subjects: string;
  readonly duplicateWindowMs: number;
  readonly storage: 'file' | 'memory';
  readonly replicas: number;
  readonly maxAgeMs: number;
}

/** Creates the stream if absent; an existing one must capture `settings.subjects`. */
export async function ensureStream(mods: NatsModules, jsm: JetStreamManager, settings: StreamSettings): Promise<void> {
  try {
    const info = await jsm.streams.info(settings.name);
    if (!info.config.subjects?.includes(settings.subjects)) {
      throw invalidField(
        'OPTIONS_INVALID',
        'stream',
        `stream ${settings.name} exists without subject ${settings.subjects} (it has ${info.config.subjects?.join(', ') || 'none'}); choose another stream or subjectPrefix`,
      );
    }
    return;
  } catch (error) {
    if (!isNotFound(error)) throw unavailable(`stream info of ${settings.name}`, error);
  }
  try {
    await jsm.streams.add({
      name: settings.name,
      subjects: [settings.subjects],
      storage: settings.storage === 'memory' ? mods.js.StorageType.Memory : mods.js.StorageType.File,
      num_replicas: settings.replicas,
      duplicate_window: settings.duplicateWindowMs * 1e6,
      max_age: settings.maxAgeMs * 1e6,
    });
  } catch (error) {
    // Another process created it at the same moment: fine if it now exists.
    try {
      await jsm.streams.info(settings.name);
    } catch {
      throw unavailable(`creating stream ${settings.name}`, error);
    }
  }
}

/** Settings of one durable pull consumer. */
export interface DurableSettings {
  readonly stream: string;
  readonly durable: string;
  readonly filterSubject: string;
  readonly description: string;
  readonly ackWaitMs: number;
  readonly maxDeliver: number;
  readonly maxAckPending: number;
  readonly start: StartPosition;
}

/**
 * Creates the durable consumer, or joins it. An existing consumer keeps its ack_wait (the
 * lease of every member; the returned info says which); one with another filter subject is
 * refused, since 2.9 cannot change it. Its description is rewritten when it differs (the
 * subscription joined with another content filter), so that admin reads show the filter the
 * latest member runs with.
 */
export async function ensureDurable(
  mods: NatsModules,
  jsm: JetStreamManager,
  settings: DurableSettings,
  subscription: string,
): Promise<JsConsumerInfo> {
  const existing = await consumerInfo(jsm, settings.stream, settings.durable);
  if (existing) return redescribe(jsm, checkFilter(existing, settings, subscription), settings);
  const config: Partial<ConsumerConfig> = {
    durable_name: settings.durable,
    description: settings.description,
    ack_policy: mods.js.AckPolicy.Explicit,
    ack_wait: settings.ackWaitMs * 1e6,
    max_deliver: settings.maxDeliver,
    max_ack_pending: settings.maxAckPending,
    filter_subject: settings.filterSubject,
    ...deliverPolicy(mods, settings.start),
  };
  try {
    return await jsm.consumers.add(settings.stream, config);
  } catch (error) {
    const raced = await consumerInfo(jsm, settings.stream, settings.durable);
    if (raced) return redescribe(jsm, checkFilter(raced, settings, subscription), settings);
    throw unavailable(`creating consumer ${settings.durable}`, error);
  }
}

async function consumerInfo(jsm: JetStreamManager, stream: string, durable: string): Promise<JsConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, durable);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw unavailable(`consumer info of ${durable}`, error);
  }
}

function checkFilter(info: JsConsumerInfo, settings: DurableSettings, subscription: string): JsConsumerInfo {
  if ((info.config.filter_subject ?? '') !== settings.filterSubject) {
    throw invalidField(
      'OPTIONS_INVALID',
      'topic',
      `subscription ${subscription} exists on subject ${info.config.filter_subject ?? '(all)'}, not ${settings.filterSubject}; nats-server 2.9 cannot change a consumer's filter: delete the subscription first`,
    );
  }
  return info;
}

/** The consumer with `settings.description`: updated in place (2.9 can) when it says something else. */
async function redescribe(jsm: JetStreamManager, info: JsConsumerInfo, settings: DurableSettings): Promise<JsConsumerInfo> {
  if ((info.config.description ?? '') === settings.description) return info;
  try {
    return await jsm.consumers.update(settings.stream, settings.durable, { description: settings.description });
  } catch (error) {
    throw unavailable(`updating the description of consumer ${settings.durable}`, error);
  }
}

function deliverPolicy(mods: NatsModules, start: StartPosition): Partial<ConsumerConfig> {
  const { DeliverPolicy } = mods.js;
  if (start === 'earliest') return { deliver_policy: DeliverPolicy.All };
  if (start === 'latest') return { deliver_policy: DeliverPolicy.New };
  if ('seq' in start) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, start.seq) };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(start.time).toISOString() };
}
