/**
 * The query bus: request and reply against read models, never writing an event.
 *
 * A query goes straight to the handler when this process registered one. Otherwise it
 * travels through the state area: the asker writes a request record (with an expiry), a
 * process that registered the type claims it by deleting it (compare-and-set, so exactly one
 * handler answers), and writes the response record, which the asker reads and deletes.
 * Both sides are woken by the store's change feed, which on SQLite notices other processes'
 * commits, with a slow safety check behind it.
 */
import type { Bus } from '../bus/bus.js';
import type { JsonValue } from '../envelope/envelope.js';
import { AgentbusError, invalidField, isAgentbusError } from '../errors.js';
import type { StateArea } from '../store/event-store.js';
import { parseTimeout } from './command-bus.js';
import { validateMessageType } from './names.js';
import { type RemoteErrorData, fromRemoteError, toRemoteError } from './remote-error.js';

/** State namespace of query requests and responses in flight. */
export const QUERY_NAMESPACE = 'agentbus.queries';
const SAFETY_CHECK_MS = 1_000;
/** Responses nobody collected are removed this long after their expiry. */
const RESPONSE_GRACE_MS = 60_000;

/** What a query handler receives besides the parameters. */
export interface QueryContext {
  readonly queryType: string;
  /** Aborted when the asker's timeout passes (local queries) or the bus closes. */
  readonly signal: AbortSignal;
}

/** Answers one query type from read models. Must not publish events. */
export type QueryHandler<P = JsonValue, R = unknown> = (params: P, ctx: QueryContext) => R | Promise<R>;

/** Options of `queries.register`. */
export interface RegisterQueryOptions {
  /** Also answer queries asked by other processes on the same store. @default true */
  remote?: boolean;
}

/** Options of `queries.ask`. */
export interface AskOptions {
  /** @default the bus's query timeout, "10s" */
  timeout?: string | number;
}

/** A registered query handler. */
export interface QueryRegistration {
  readonly queryType: string;
  close(): Promise<void>;
}

/** The query bus at `bus.queries`. */
export interface QueryBus {
  /**
   * Answers `queryType` in this process (and for other processes, unless `remote: false`).
   * @throws AgentbusError `OPTIONS_INVALID` for a bad type, or a second handler in this process.
   * @example await bus.queries.register('GetUserQuery', async ({ id }) => users.get(id))
   */
  register<P = JsonValue, R = unknown>(
    queryType: string,
    handler: QueryHandler<P, R>,
    options?: RegisterQueryOptions,
  ): Promise<QueryRegistration>;
  /**
   * Asks a query and resolves with its handler's result.
   * @throws AgentbusError `NO_HANDLER` when no handler took it in time, `TIMEOUT` when one
   *   took it and did not answer in time, or the handler's own code.
   * @example const user = await bus.queries.ask('GetUserQuery', { id: 'u-1' }, { timeout: '2s' })
   */
  ask<R = unknown, P extends JsonValue = JsonValue>(queryType: string, params: P, options?: AskOptions): Promise<R>;
}

interface RequestRecord {
  type: string;
  params: JsonValue;
  expires_at: number;
}

interface ResponseRecord {
  expires_at: number;
  result?: JsonValue;
  error?: RemoteErrorData;
}

/** Settings of the query bus. */
export interface QueryBusSettings {
  /** @default 10000 */
  readonly defaultTimeoutMs: number;
  readonly now: () => number;
  readonly newId: () => string;
}

/** Creates the query bus of `bus`. */
export function createQueryBus(bus: Bus, settings: QueryBusSettings): QueryBus & { close(): Promise<void> } {
  const state = bus.store.state;
  const local = new Map<string, QueryHandler<never, unknown>>();
  const served = new Set<string>();
  const closing = new AbortController();
  const feed = new Wakeups(bus);

  const runLocal = async (type: string, handler: QueryHandler<never, unknown>, params: JsonValue, timeoutMs: number) => {
    const abort = new AbortController();
    const stop = () => abort.abort();
    closing.signal.addEventListener('abort', stop);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(
          new AgentbusError('TIMEOUT', `query ${type} got no answer within ${timeoutMs} ms`, { queryType: type, timeoutMs }),
        );
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([
        Promise.resolve().then(() => handler(params as never, { queryType: type, signal: abort.signal })),
        timeout,
      ]);
      return toJson(result);
    } finally {
      clearTimeout(timer);
      closing.signal.removeEventListener('abort', stop);
    }
  };

  /** Claims and answers pending requests of the types this process serves. */
  const serve = async () => {
    for (const type of served) {
      const handler = local.get(type);
      if (!handler) continue;
      for await (const request of state.list<RequestRecord>(QUERY_NAMESPACE, { prefix: `req/${type}/` })) {
        const id = request.key.slice(`req/${type}/`.length);
        const claimed = await state.delete(QUERY_NAMESPACE, request.key, request.version).catch(() => false);
        if (!claimed) continue;
        const remaining = request.value.expires_at - settings.now();
        if (remaining <= 0) continue;
        const response: ResponseRecord = { expires_at: request.value.expires_at };
        try {
          response.result = await runLocal(type, handler, request.value.params, remaining);
        } catch (error) {
          response.error = toRemoteError(error);
        }
        await state.put(QUERY_NAMESPACE, `res/${id}`, response).catch(() => undefined);
      }
    }
    for await (const response of state.list<ResponseRecord>(QUERY_NAMESPACE, { prefix: 'res/' })) {
      if (response.value.expires_at + RESPONSE_GRACE_MS < settings.now()) {
        await state.delete(QUERY_NAMESPACE, response.key, response.version).catch(() => false);
      }
    }
  };

  const register: QueryBus['register'] = async (queryType, handler, options = {}) => {
    const type = validateMessageType(queryType, 'queryType');
    if (typeof handler !== 'function') throw invalidField('OPTIONS_INVALID', 'handler', 'must be a function');
    if (local.has(type)) {
      throw invalidField('OPTIONS_INVALID', 'queryType', `${type} already has a handler in this process (one per query type)`);
    }
    local.set(type, handler as QueryHandler<never, unknown>);
    const remote = options.remote ?? true;
    let stop: (() => void) | undefined;
    if (remote) {
      served.add(type);
      stop = feed.add(serve);
    }
    return {
      queryType: type,
      close: async () => {
        if (local.get(type) !== handler) return;
        local.delete(type);
        served.delete(type);
        stop?.();
      },
    };
  };

  const ask: QueryBus['ask'] = async <R, P extends JsonValue>(queryType: string, params: P, options: AskOptions = {}) => {
    const type = validateMessageType(queryType, 'queryType');
    if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', 'options', 'must be an object');
    if (closing.signal.aborted) throw new AgentbusError('CLOSED', 'the bus is closed');
    const timeoutMs = parseTimeout(options.timeout, settings.defaultTimeoutMs);
    const json = toJsonParams(params);
    const handler = local.get(type);
    if (handler) {
      try {
        return (await runLocal(type, handler, json, timeoutMs)) as R;
      } catch (error) {
        if (isAgentbusError(error, 'TIMEOUT') && error.details.queryType === type) throw error;
        throw fromRemoteError(toRemoteError(error), { kind: 'query', type });
      }
    }
    return (await askRemote(state, feed, type, json, timeoutMs, settings)) as R;
  };

  return {
    register,
    ask,
    close: async () => {
      closing.abort();
      local.clear();
      served.clear();
      feed.close();
    },
  };
}

async function askRemote(
  state: StateArea,
  feed: Wakeups,
  type: string,
  params: JsonValue,
  timeoutMs: number,
  settings: QueryBusSettings,
): Promise<JsonValue> {
  const id = settings.newId();
  const requestKey = `req/${type}/${id}`;
  const responseKey = `res/${id}`;
  const request: RequestRecord = { type, params, expires_at: settings.now() + timeoutMs };
  let response: ResponseRecord | undefined;
  await new Promise<void>((resolve) => {
    let stop: () => void = () => {};
    const timer = setTimeout(() => {
      stop();
      resolve();
    }, timeoutMs);
    const look = async () => {
      const record = await state.get<ResponseRecord>(QUERY_NAMESPACE, responseKey).catch(() => undefined);
      if (!record || response) return;
      response = record.value;
      clearTimeout(timer);
      stop();
      await state.delete(QUERY_NAMESPACE, responseKey).catch(() => false);
      resolve();
    };
    stop = feed.add(look);
    void state.put(QUERY_NAMESPACE, requestKey, request, 'absent').catch(() => {
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
  if (response) {
    if (response.error) throw fromRemoteError(response.error, { kind: 'query', type });
    return response.result ?? null;
  }
  // Still there: nobody claimed it. Gone: a handler took it and did not answer in time.
  const unclaimed = await state.delete(QUERY_NAMESPACE, requestKey).catch(() => false);
  if (unclaimed) {
    return Promise.reject(
      new AgentbusError(
        'NO_HANDLER',
        `no handler took query ${type} within ${timeoutMs} ms: register one with bus.queries.register('${type}', handler) in a running process`,
        { queryType: type, timeoutMs },
      ),
    );
  }
  throw new AgentbusError('TIMEOUT', `query ${type} got no answer within ${timeoutMs} ms`, { queryType: type, timeoutMs });
}

/**
 * Runs callbacks on every change-feed wake-up and on a slow safety check, one round at a
 * time per callback; listens only while there are callbacks.
 */
class Wakeups {
  readonly #callbacks = new Map<() => Promise<void>, { running: boolean; again: boolean }>();
  #stop: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly bus: Bus) {}

  /** Adds `fn` and runs it once now; returns its removal. */
  add(fn: () => Promise<void>): () => void {
    if (!this.#callbacks.has(fn)) this.#callbacks.set(fn, { running: false, again: false });
    if (!this.#stop) {
      this.#stop = this.bus.store.changes.onAppend(() => this.#wake());
      this.#timer = setInterval(() => this.#wake(), SAFETY_CHECK_MS);
      this.#timer.unref();
    }
    this.#run(fn);
    return () => {
      this.#callbacks.delete(fn);
      if (this.#callbacks.size === 0) this.close();
    };
  }

  close(): void {
    this.#callbacks.clear();
    this.#stop?.();
    this.#stop = undefined;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #wake(): void {
    for (const fn of this.#callbacks.keys()) this.#run(fn);
  }

  #run(fn: () => Promise<void>): void {
    const s = this.#callbacks.get(fn);
    if (!s) return;
    if (s.running) {
      s.again = true;
      return;
    }
    s.running = true;
    void fn()
      .catch(() => undefined)
      .finally(() => {
        s.running = false;
        if (s.again) {
          s.again = false;
          this.#run(fn);
        }
      });
  }
}

function toJson(value: unknown): JsonValue {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  if (text === undefined) throw new AgentbusError('HANDLER_FAILED', 'the query handler returned a value that is not JSON');
  return JSON.parse(text) as JsonValue;
}

function toJsonParams(params: unknown): JsonValue {
  if (params === undefined) return {};
  let text: string | undefined;
  try {
    text = JSON.stringify(params);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw invalidField('OPTIONS_INVALID', 'params', 'must be JSON');
  return JSON.parse(text) as JsonValue;
}
