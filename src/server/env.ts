/**
 * What every route sees: the caller (set by the auth middleware) and the server's parts.
 */
import type { Bus } from '../bus/index.js';
import type { Principal } from './auth.js';
import type { Integrations } from './integrations.js';
import type { WebhookTargetPolicy } from './webhook-targets.js';

/** Hono's environment of the agentbus app. */
export interface ServerEnv {
  Variables: {
    /** Who is calling; ANONYMOUS when no tokens are configured. */
    principal: Principal;
    /** Who is on the other end, as the limits count clients (see client.ts). */
    client: string;
  };
}

/** The parts routes work with. */
export interface ServerDeps {
  readonly bus: Bus;
  /** Interval of SSE heartbeat comments, ms. */
  readonly heartbeatMs: number;
  /** An SSE client that takes longer than this to accept one event is disconnected, ms. */
  readonly slowClientMs: number;
  /** Where webhook subscriptions created over HTTP may send events. */
  readonly webhookTargets: WebhookTargetPolicy;
  /** Most live streams open at once; more are refused with 503. */
  readonly maxStreams: number;
  /** Most live streams of one token at once (not applied without tokens); more are 429. */
  readonly maxStreamsPerToken: number;
  /** Most live streams from one client address at once; more are 429. */
  readonly maxStreamsPerAddress: number;
  /** One line per request and per server-side failure; never a token. */
  readonly log: (line: string) => void;
  /** Status sources of the layers above the bus (observe, agents, workflows). */
  readonly integrations: Integrations;
}
