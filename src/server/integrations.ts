/**
 * What the server shows of the layers above the bus (observe/, agents/, workflows/). Each
 * source is optional: a route or dashboard panel whose source is absent answers
 * `501 Not Implemented` (or says "not available") instead of guessing.
 */
import type { JsonValue } from '../envelope/index.js';
import type { SagaListFilter } from '../workflows/index.js';

/** A webhook subscription as created through the API. */
export interface WebhookSubscriptionSpec {
  /** Durable subscription name, e.g. `/deployer`. */
  readonly name: string;
  /** Topic pattern. */
  readonly topic: string;
  /** Compact filter or EventBridge pattern. */
  readonly filter?: string | JsonValue;
  /** `earliest`, `latest`, a position or an RFC 3339 time. @default "latest" */
  readonly start?: string | number;
  /** Where each event is POSTed. */
  readonly url: string;
  /** HMAC-SHA256 signing secret (see src/agents' signature headers); never shown by the API. */
  readonly secret?: string;
  /** Extra request headers (e.g. the receiver's own auth). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Per-request timeout, e.g. `"10s"`. */
  readonly timeout?: string;
  /** The seed's retry policy JSON. */
  readonly retry?: JsonValue;
}

/** Webhook subscriptions: created, listed and removed through the API; durable across restarts. */
export interface WebhookSubscriptions {
  create(spec: WebhookSubscriptionSpec): Promise<WebhookSubscriptionSpec>;
  list(): Promise<WebhookSubscriptionSpec[]>;
  /** Stops delivering and forgets the webhook (the durable subscription is deleted by the caller). */
  remove(name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Prometheus exposition text. */
export interface MetricsText {
  readonly contentType: string;
  readonly text: string;
}

/** Status sources; each returns JSON-ready data. */
export interface Integrations {
  /** `/metrics`: Prometheus text. */
  readonly metrics?: () => Promise<MetricsText>;
  /**
   * The overview: the seed's dashboard (throughput, topics, agents, health), its throughput
   * over `window` ms (a validated `?window=`) when given.
   */
  readonly status?: (options?: { readonly window?: number }) => Promise<JsonValue>;
  /**
   * Correlation timeline and causation tree of one correlation id, with only the events of
   * topics `canRead` accepts (the caller's subscribe rules).
   */
  readonly timeline?: (correlationId: string, canRead: (topic: string) => boolean) => Promise<JsonValue>;
  readonly agents?: () => Promise<JsonValue>;
  /** `GET /v1/sagas` in place of the store's instances; it must apply the (validated) filter. */
  readonly sagas?: (filter: SagaListFilter) => Promise<JsonValue>;
  readonly aggregators?: () => Promise<JsonValue>;
  readonly webhooks?: WebhookSubscriptions;
  /** Releases what the sources hold (metrics listeners, timers); called when the server closes. */
  readonly close?: () => void | Promise<void>;
}
