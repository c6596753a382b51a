/**
 * The HTTP webhook runner: POSTs the envelope (HMAC-signed with a timestamp) and reads the
 * answer. 2xx acknowledges, and its body may carry events to publish (`{ "events": [...] }`
 * or `[...]`); 4xx is not retried (except 408 and 429); 5xx, redirects (never followed),
 * network errors, timeouts and connections the network policy refuses are retried per the
 * subscription's policy.
 */
import type { IncomingMessage } from 'node:http';
import type { Envelope } from '../../envelope/envelope.js';
import { AgentbusError, NonRetryableError, RetryAfterError } from '../../errors.js';
import type { AgentContext } from '../context.js';
import { WEBHOOK_HEADERS, signWebhook } from '../signature.js';
import { type HttpPoster, createHttpPoster } from './http-post.js';
import type { NetworkPolicy } from './network-policy.js';
import {
  type AgentRunner,
  DEFAULT_RUNNER_TIMEOUT_MS,
  RunnerError,
  type WebhookRunnerSpec,
  publishOutput,
  throwIfAborted,
  validateRunnerSpec,
} from './runner.js';
import { positiveDuration } from '../../time.js';

/** Most bytes of a response body read. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** The statuses `fetch` would follow: refused, as a redirect could lead anywhere. */
const REDIRECTS: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Options of {@link webhookRunner}. */
export interface WebhookRunnerOptions {
  /**
   * Networks the calls may not reach, checked on the address of every connection (what the
   * URL's host resolves to then, not when the webhook was created). A refused call fails
   * like a network error: retried, then dead-lettered, naming the address and the rule.
   * @default none: every address
   */
  readonly network?: NetworkPolicy;
}

/**
 * A webhook URL as it may be shown (listings, logs, errors, dead letters): without a user
 * name or password, and with every query value replaced by `…`, as those often carry a key.
 * @example redactUrl('https://bot:pw@hooks.example/in?key=abc&team=x') // 'https://hooks.example/in?key=…&team=…'
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(not a URL)';
  }
  parsed.username = '';
  parsed.password = '';
  const names = [...parsed.searchParams.keys()];
  if (names.length === 0) return parsed.toString();
  parsed.search = '';
  return `${parsed.toString()}?${names.map((n) => `${encodeURIComponent(n)}=…`).join('&')}`;
}

/**
 * Creates a webhook runner.
 * @throws AgentbusError `OPTIONS_INVALID` naming the field.
 * @example webhookRunner({ type: 'webhook', url: 'http://localhost:8080/agent', secret: process.env.AGENT_SECRET })
 */
export function webhookRunner(spec: WebhookRunnerSpec, options: WebhookRunnerOptions = {}): AgentRunner {
  const s = validateRunnerSpec(spec) as WebhookRunnerSpec;
  const timeoutMs = positiveDuration(s.timeout, 'runner.timeout', DEFAULT_RUNNER_TIMEOUT_MS);
  const target: Target = {
    spec: s,
    url: new URL(s.url),
    shown: redactUrl(s.url),
    timeoutMs,
    poster: createHttpPoster(options.network),
  };
  return {
    type: 'webhook',
    description: `POST ${target.shown}`,
    run: (event, ctx) => call(target, event, ctx),
  };
}

/** What every call of one runner shares. */
interface Target {
  readonly spec: WebhookRunnerSpec;
  readonly url: URL;
  /** The URL as it may be shown (see {@link redactUrl}). */
  readonly shown: string;
  readonly timeoutMs: number;
  readonly poster: HttpPoster;
}

async function call({ spec, url, shown, timeoutMs, poster }: Target, event: Envelope, ctx: AgentContext): Promise<void> {
  const body = JSON.stringify(event);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    // fetch sent one; some receivers' firewalls refuse a request without it.
    'user-agent': 'agentbus',
    ...spec.headers,
    'content-type': 'application/json',
    accept: 'application/json',
    [WEBHOOK_HEADERS.timestamp]: String(timestamp),
    [WEBHOOK_HEADERS.eventId]: event.event.id,
    [WEBHOOK_HEADERS.eventType]: event.event.type,
    [WEBHOOK_HEADERS.attempt]: String(ctx.attempt),
    [WEBHOOK_HEADERS.agent]: ctx.agent,
  };
  if (spec.secret) headers[WEBHOOK_HEADERS.signature] = signWebhook(spec.secret, timestamp, body);
  // One controller for the timeout and the handler's signal, not AbortSignal.any: on Node 20
  // that keeps a WeakRef per call in the handler's signal, which is one long-lived signal
  // shared by every delivery without a timeout (soak: the set grew by every webhook call).
  const abort = new AbortController();
  const timer = setTimeout(
    () =>
      abort.abort(
        new AgentbusError('TIMEOUT', `webhook POST ${shown} timed out after ${timeoutMs} ms`, { url: shown, timeoutMs }),
      ),
    timeoutMs,
  );
  const onAbort = () => abort.abort(ctx.signal.reason);
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });
  const signal = abort.signal;
  let status: number;
  let text: string;
  let retryAfter: string | null;
  let contentType: string;
  try {
    const response = await poster.post(url, { headers, body, signal });
    status = response.statusCode ?? 0;
    retryAfter = headerOf(response, 'retry-after') ?? null;
    contentType = headerOf(response, 'content-type') ?? '';
    text = await readBounded(response);
  } catch (error) {
    throwIfAborted(ctx.signal);
    throwIfAborted(signal);
    const cause = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    // Some network errors quote the URL as given; the message is kept in dead letters.
    const said = cause.split(spec.url).join(shown);
    throw new RunnerError('temporary_failure', `webhook POST ${shown} failed: ${said}`, { cause: error });
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
  if (status >= 200 && status < 300)
    return publishOutput(ctx, parseEvents(text, contentType, shown), `response of ${shown}: events`);
  if (REDIRECTS.has(status)) {
    throw new RunnerError(
      'temporary_failure',
      `webhook POST ${shown} failed: unexpected redirect (${status}); webhooks do not follow redirects`,
    );
  }
  const detail = `webhook POST ${shown} answered ${status}${text ? `: ${text.slice(0, 500)}` : ''}`;
  if (status === 429 || status === 503) {
    const delay = retryAfterMs(retryAfter);
    if (delay !== undefined) throw new RetryAfterError(delay, detail);
  }
  if (status === 408 || status === 429 || status >= 500) throw new RunnerError('temporary_failure', detail);
  throw new NonRetryableError(detail, { code: status === 401 || status === 403 ? 'unauthorized' : 'invalid_payload' });
}

function headerOf(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

async function readBounded(response: IncomingMessage): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_RESPONSE_BYTES) throw new RunnerError('invalid_output', `response body over ${MAX_RESPONSE_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The events a 2xx body carries: `{ events: [...] }` or `[...]`; none for an empty body, a
 * JSON body without `events`, or a body that is not JSON and not labelled as JSON.
 */
function parseEvents(text: string, contentType: string, url: string): unknown[] {
  if (text.trim() === '') return [];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    if (!contentType.includes('json')) return [];
    throw new NonRetryableError(`response of ${url} is not JSON: ${text.slice(0, 200)}`, { code: 'invalid_output' });
  }
  if (Array.isArray(body)) return body;
  if (typeof body === 'object' && body !== null) {
    const events = (body as { events?: unknown }).events;
    if (events === undefined) return [];
    if (Array.isArray(events)) return events;
  }
  throw new NonRetryableError(`response of ${url}: events must be an array`, { code: 'invalid_output' });
}

function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
