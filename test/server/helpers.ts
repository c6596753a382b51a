/**
 * Helpers of the server tests: a server on a fresh database on port 0, and a small
 * server-sent-events reader over fetch.
 */
import { request as httpRequest } from 'node:http';
import type { HostResolver } from '../../src/agents/index.js';
import type { Bus } from '../../src/bus/index.js';
import type { TokenConfig } from '../../src/config/index.js';
import {
  DEFAULT_WEBHOOK_DENY,
  type Integrations,
  type RunningServer,
  type SignInLimitOptions,
  createWebhookTargetPolicy,
  startServer,
} from '../../src/server/index.js';
import { defaultIntegrations } from '../../src/server/integrations-default.js';
import { createTestBus } from '../../src/testing.js';
import type { Clock } from '../../src/time.js';

/** A running server with its bus and the log lines it wrote. */
export interface TestServer {
  readonly url: string;
  readonly bus: Bus;
  readonly server: RunningServer;
  readonly logs: string[];
  close(): Promise<void>;
}

/** Options of {@link startTestServer}. */
export interface TestServerOptions {
  tokens?: TokenConfig[];
  bodyLimit?: number;
  heartbeatMs?: number;
  slowClientMs?: number;
  maxStreams?: number;
  maxStreamsPerToken?: number;
  maxStreamsPerAddress?: number;
  signInLimit?: SignInLimitOptions;
  clientAddressHeader?: string;
  headersTimeoutMs?: number;
  webhookDeny?: string[];
  /** How webhook hosts resolve, at creation and on every call. @default the system's */
  resolve?: HostResolver;
  /** `default`: what `agentbus serve` wires in (observe, webhook subscriptions). */
  integrations?: Integrations | 'default';
  retry?: { max_retries: number };
  /** The bus's (and its store's) clock, and the server's (the sign-in limit's window). @default the system clock */
  clock?: Clock;
  /** Serve this bus (e.g. one on PostgreSQL) instead of a fresh SQLite one; the caller closes it. */
  bus?: Bus;
}

/** Starts a server on 127.0.0.1:0 over a fresh SQLite database. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const own = options.bus
    ? undefined
    : await createTestBus({
        ...(options.retry ? { retry: options.retry } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      });
  const bus = options.bus ?? (own as Bus);
  const logs: string[] = [];
  // One policy for webhook creations and calls, as `agentbus serve` has.
  const webhookTargets = createWebhookTargetPolicy(options.webhookDeny ?? DEFAULT_WEBHOOK_DENY, {
    ...(options.resolve ? { resolve: options.resolve } : {}),
  });
  const integrations =
    options.integrations === 'default' ? await defaultIntegrations(bus, undefined, { webhookTargets }) : options.integrations;
  const server = await startServer({
    bus,
    host: '127.0.0.1',
    port: 0,
    ...(options.tokens ? { tokens: options.tokens } : {}),
    ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.slowClientMs ? { slowClientMs: options.slowClientMs } : {}),
    ...(options.maxStreams ? { maxStreams: options.maxStreams } : {}),
    ...(options.maxStreamsPerToken ? { maxStreamsPerToken: options.maxStreamsPerToken } : {}),
    ...(options.maxStreamsPerAddress ? { maxStreamsPerAddress: options.maxStreamsPerAddress } : {}),
    ...(options.signInLimit ? { signInLimit: options.signInLimit } : {}),
    ...(options.clientAddressHeader ? { clientAddressHeader: options.clientAddressHeader } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.headersTimeoutMs ? { headersTimeoutMs: options.headersTimeoutMs } : {}),
    webhookTargets,
    ...(integrations ? { integrations } : {}),
    log: (line) => logs.push(line),
  });
  return {
    url: server.url,
    bus,
    server,
    logs,
    close: async () => {
      await server.close();
      await own?.dispose();
    },
  };
}

/** One server-sent event, or a comment line (heartbeat). */
export interface SseMessage {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly comment?: string;
}

/** A live SSE response read message by message. */
export interface SseReader {
  readonly status: number;
  readonly headers: Headers;
  /** The next message (comments included); rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseMessage>;
  /** The next message that carries data of event type `event` (default: message). */
  nextEvent(event?: string, timeoutMs?: number): Promise<SseMessage>;
  close(): void;
}

/** Opens `url` as an event stream. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = response.body?.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const queue: SseMessage[] = [];

  const parse = (block: string): SseMessage => {
    const message: Record<string, string> = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) message.comment = line.slice(1).trim();
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const key = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      message[key] = key === 'data' && message.data !== undefined ? `${message.data}\n${value}` : value;
    }
    return message as SseMessage;
  };

  const next = async (timeoutMs = 20_000): Promise<SseMessage> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const queued = queue.shift();
      if (queued) return queued;
      const end = buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        queue.push(parse(block));
        continue;
      }
      if (!reader) throw new Error(`no body (status ${response.status})`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error('timed out waiting for a server-sent event');
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out waiting for a server-sent event')), remaining);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error('stream ended');
      buffer += decoder.decode(chunk.value, { stream: true });
    }
  };

  return {
    status: response.status,
    headers: response.headers,
    next,
    async nextEvent(event = 'message', timeoutMs = 20_000) {
      for (;;) {
        const m = await next(timeoutMs);
        if (m.data !== undefined && (m.event ?? 'message') === event) return m;
      }
    },
    close: () => abort.abort(),
  };
}

/** A token entry for tests. */
export function token(
  name: string,
  secret: string,
  rules: {
    publish?: string[];
    publishDeny?: string[];
    subscribe?: string[];
    subscribeDeny?: string[];
    admin?: boolean;
    metrics?: boolean;
  } = {},
): TokenConfig {
  return {
    name,
    token: secret,
    publish: { allow: rules.publish ?? [], deny: rules.publishDeny ?? [] },
    subscribe: { allow: rules.subscribe ?? [], deny: rules.subscribeDeny ?? [] },
    admin: rules.admin ?? false,
    ...(rules.metrics === undefined ? {} : { metrics: rules.metrics }),
  };
}

/** A response body as the assertions read it. */
// biome-ignore lint/suspicious/noExplicitAny: bodies are checked by assertions, not by types
export type Json = any;

/** The JSON body of a response (or of a pending one). */
export async function json(response: Response | Promise<Response>): Promise<Json> {
  return (await response).json();
}

/** An answer read through {@link requestFrom}. */
export interface AnswerFrom {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The whole body (do not call on a live stream). */
  text(): Promise<string>;
  /** Drops the connection (ends a live stream). */
  close(): void;
}

/**
 * A request sent from a given loopback address (127.0.0.2, ...), as a client on another
 * machine would come: fetch cannot pick its source address.
 */
export function requestFrom(
  localAddress: string,
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<AnswerFrom> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: init.method ?? 'GET', headers: init.headers ?? {}, localAddress, agent: false },
      (res) => {
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: () =>
            new Promise<string>((done, failed) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => {
                body += chunk;
              });
              res.on('end', () => done(body));
              res.on('error', failed);
            }),
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
