/**
 * The runner contract: how an agent's work is done for one delivery. Every runner meets the
 * same delivery contract: returning acknowledges (with what it published), throwing fails
 * the attempt (classified: retried or dead-lettered), the context's signal aborts at the
 * handler timeout, and the bus renews the delivery's lease while the runner works.
 */
import type { Envelope, JsonValue, Priority } from '../../envelope/envelope.js';
import { AgentbusError, NonRetryableError, invalidField, refuseUnknownKeys } from '../../errors.js';
import { positiveDuration } from '../../time.js';
import type { AgentContext } from '../context.js';

/** Runs an agent's work for one event. Publish results with `ctx.publish`; throw to fail. */
export interface AgentRunner {
  /** `function`, `webhook`, `command`, or your own. */
  readonly type: string;
  /** One line for listings: the URL, the command line. */
  readonly description: string;
  run(event: Envelope, ctx: AgentContext): Promise<void>;
}

/** An HTTP webhook: the envelope is POSTed, HMAC-signed. */
export interface WebhookRunnerSpec {
  type: 'webhook';
  /** `http://` or `https://` URL receiving the POST. */
  url: string;
  /** Shared secret of the HMAC-SHA256 signature; no signature headers without it. */
  secret?: string;
  /** Call timeout. @default "60s" (or the subscription's timeout, whichever is first) */
  timeout?: string | number;
  /** Extra request headers (e.g. an API key). */
  headers?: Record<string, string>;
}

/** A subprocess: the envelope as JSON on stdin, one JSON event per stdout line. */
export interface CommandRunnerSpec {
  type: 'command';
  /** Executable, looked up on PATH (`python3`, `node`, `claude`, `./agent.sh`). Not run through a shell. */
  command: string;
  args?: string[];
  cwd?: string;
  /**
   * Added to the inherited environment, which is this process's without agentbus's own
   * `AGENTBUS_*` variables (tokens, store and NATS URLs) except `AGENTBUS_DB` and
   * `AGENTBUS_CONFIG`; name one here to pass it on purpose.
   */
  env?: Record<string, string>;
  /** Killed (SIGTERM, then SIGKILL after `killGrace`) when it runs longer. @default "60s" (or the subscription's timeout, whichever is first) */
  timeout?: string | number;
  /** Time between SIGTERM and SIGKILL. @default "5s" */
  killGrace?: string | number;
}

/** Runners as data (config files, YAML workflows). In-process functions are given as `handler`. */
export type RunnerSpec = WebhookRunnerSpec | CommandRunnerSpec;

/** True for an object implementing {@link AgentRunner}. */
export function isAgentRunner(value: unknown): value is AgentRunner {
  return typeof value === 'object' && value !== null && typeof (value as { run?: unknown }).run === 'function';
}

/** The default timeout of webhook and command runners. */
export const DEFAULT_RUNNER_TIMEOUT_MS = 60_000;

function stringRecord(value: unknown, field: string, headers = false): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalidField('OPTIONS_INVALID', field, 'must be an object of strings');
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw invalidField('OPTIONS_INVALID', `${field}.${key}`, 'must be a string');
    // Checked now: a bad header would otherwise fail every call, each event a dead letter.
    if (headers && !HEADER_NAME.test(key)) throw invalidField('OPTIONS_INVALID', `${field}.${key}`, 'is not an HTTP header name');
    if (headers && !HEADER_VALUE.test(v)) {
      throw invalidField(
        'OPTIONS_INVALID',
        `${field}.${key}`,
        'must be an HTTP header value (no line breaks or control characters)',
      );
    }
  }
}

/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const WEBHOOK_KEYS: ReadonlySet<string> = new Set(['type', 'url', 'secret', 'timeout', 'headers']);
const COMMAND_KEYS: ReadonlySet<string> = new Set(['type', 'command', 'args', 'cwd', 'env', 'timeout', 'killGrace']);
/** As the HTTP API asks: a signature with a shorter secret is guessable. */
const MIN_SECRET_LENGTH = 16;

/** Validates a runner spec. @throws AgentbusError `OPTIONS_INVALID` naming the field. */
export function validateRunnerSpec(spec: unknown, field = 'runner'): RunnerSpec {
  if (typeof spec !== 'object' || spec === null)
    throw invalidField('OPTIONS_INVALID', field, 'must be { type: "webhook", url } or { type: "command", command }');
  const s = spec as Record<string, unknown>;
  if (s.type === 'webhook') {
    refuseUnknownKeys(s, WEBHOOK_KEYS, `${field}.`);
    let url: URL | undefined;
    try {
      url = typeof s.url === 'string' ? new URL(s.url) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw invalidField('OPTIONS_INVALID', `${field}.url`, 'must be an http:// or https:// URL');
    }
    // fetch refuses such URLs on every call; and a password in a URL ends up wherever the URL is shown.
    if (url.username !== '' || url.password !== '') {
      throw invalidField(
        'OPTIONS_INVALID',
        `${field}.url`,
        'must not carry a user name or password; send credentials in headers (authorization)',
      );
    }
    if (s.secret !== undefined && (typeof s.secret !== 'string' || s.secret.length < MIN_SECRET_LENGTH)) {
      throw invalidField('OPTIONS_INVALID', `${field}.secret`, `must be a string of at least ${MIN_SECRET_LENGTH} characters`);
    }
    positiveDuration(s.timeout, `${field}.timeout`, DEFAULT_RUNNER_TIMEOUT_MS);
    stringRecord(s.headers, `${field}.headers`, true);
    return spec as WebhookRunnerSpec;
  }
  if (s.type === 'command') {
    refuseUnknownKeys(s, COMMAND_KEYS, `${field}.`);
    if (typeof s.command !== 'string' || s.command.trim() === '')
      throw invalidField('OPTIONS_INVALID', `${field}.command`, 'must be a non-empty string');
    if (s.args !== undefined && (!Array.isArray(s.args) || s.args.some((a) => typeof a !== 'string'))) {
      throw invalidField('OPTIONS_INVALID', `${field}.args`, 'must be an array of strings');
    }
    if (s.cwd !== undefined && typeof s.cwd !== 'string')
      throw invalidField('OPTIONS_INVALID', `${field}.cwd`, 'must be a string');
    stringRecord(s.env, `${field}.env`);
    positiveDuration(s.timeout, `${field}.timeout`, DEFAULT_RUNNER_TIMEOUT_MS);
    positiveDuration(s.killGrace, `${field}.killGrace`, 5_000);
    return spec as CommandRunnerSpec;
  }
  throw invalidField('OPTIONS_INVALID', `${field}.type`, 'must be webhook or command');
}

/** An event a webhook response or a subprocess line asks to publish (wire names). */
export interface OutputEvent {
  type: string;
  payload?: JsonValue;
  /** @default the incoming event's topic */
  topic?: string;
  partition_key?: string;
  priority?: Priority;
  /** Address it to one subscription (an agent). */
  deliver_to?: string;
  /** Keep this id (idempotent publish). */
  id?: string;
}

/** A failure a runner reports with a classification (`temporary_failure`, `timeout`, ...). */
export class RunnerError extends Error {
  override readonly name = 'RunnerError';
  /** The retry policy's failure reason. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Fails when `signal` aborted: with its reason when that is an error (the handler timeout). */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new AgentbusError('TIMEOUT', 'aborted');
}

/**
 * Publishes events produced by a webhook or subprocess through `ctx.publish` (committed with
 * the ack). Malformed output is a non-retryable `invalid_output` failure naming where it came from.
 */
export async function publishOutput(ctx: AgentContext, events: readonly unknown[], where: string): Promise<void> {
  const checked = events.map((raw, index) => outputEvent(raw, `${where}[${index}]`));
  for (const [index, e] of checked.entries()) {
    try {
      await ctx.publish(e.type, e.payload, {
        ...(e.topic !== undefined ? { topic: e.topic } : {}),
        ...(e.partition_key !== undefined ? { partitionKey: e.partition_key } : {}),
        ...(e.priority !== undefined ? { priority: e.priority } : {}),
        ...(e.deliver_to !== undefined ? { deliverTo: e.deliver_to } : {}),
        ...(e.id !== undefined ? { id: e.id } : {}),
      });
    } catch (error) {
      if (error instanceof AgentbusError && error.code !== 'CLOSED') {
        throw new NonRetryableError(`${where}[${index}]: ${error.message}`, { code: 'invalid_output', cause: error });
      }
      throw error;
    }
  }
}

function outputEvent(raw: unknown, at: string): OutputEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new NonRetryableError(`${at}: an event must be an object like {"type": "TaskCompletedEvent", "payload": {}}`, {
      code: 'invalid_output',
    });
  }
  const e = raw as Record<string, unknown>;
  if (typeof e.type !== 'string' || e.type === '') {
    throw new NonRetryableError(`${at}.type: missing; an event needs a type`, { code: 'invalid_output' });
  }
  for (const key of ['topic', 'partition_key', 'priority', 'deliver_to', 'id'] as const) {
    if (e[key] !== undefined && typeof e[key] !== 'string') {
      throw new NonRetryableError(`${at}.${key}: must be a string`, { code: 'invalid_output' });
    }
  }
  return e as unknown as OutputEvent;
}
