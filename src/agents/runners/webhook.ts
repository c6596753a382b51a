/**
 * The HTTP webhook runner: POSTs the envelope (HMAC-signed with a timestamp) and reads the
 * answer. 2xx acknowledges, and its body may carry events to publish (`{ "events": [...] }`
 * or `[...]`); 4xx is not retried (except 408 and 429); 5xx, network errors and timeouts
 * are retried per the subscription's policy.
 */
import type { Envelope } from '../../envelope/envelope.js';
import { AgentbusError, NonRetryableError, RetryAfterError } from '../../errors.js';
import type { AgentContext } from '../context.js';
import { WEBHOOK_HEADERS, signWebhook } from '../signature.js';
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
export function webhookRunner(spec: WebhookRunnerSpec): AgentRunner {
  const s = validateRunnerSpec(spec) as WebhookRunnerSpec;
  const timeoutMs = positiveDuration(s.timeout, 'runner.timeout', DEFAULT_RUNNER_TIMEOUT_MS);
  const shown = redactUrl(s.url);
  return {
    type: 'webhook',
    description: `POST ${shown}`,
    run: (event, ctx) => call(s, shown, timeoutMs, event, ctx),
  };
}

async function call(
  spec: WebhookRunnerSpec,
  shown: string,
  timeoutMs: number,
  event: Envelope,
  ctx: AgentContext,
): Promise<void> {
  const body = JSON.stringify(event);
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
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
    const response = await fetch(spec.url, { method: 'POST', headers, body, signal, redirect: 'error' });
    status = response.status;
    retryAfter = response.headers.get('retry-after');
    contentType = response.headers.get('content-type') ?? '';
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
  const detail = `webhook POST ${shown} answered ${status}${text ? `: ${text.slice(0, 500)}` : ''}`;
  if (status === 429 || status === 503) {
    const delay = retryAfterMs(retryAfter);
    if (delay !== undefined) throw new RetryAfterError(delay, detail);
  }
  if (status === 408 || status === 429 || status >= 500) throw new RunnerError('temporary_failure', detail);
  throw new NonRetryableError(detail, { code: status === 401 || status === 403 ? 'unauthorized' : 'invalid_payload' });
}

async function readBounded(response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
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
