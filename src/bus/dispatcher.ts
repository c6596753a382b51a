/**
 * Runs one subscription's handler over a transport consumer: fetches a bounded window,
 * runs at most `concurrency` handlers at once, settles each delivery (ack with the events
 * the handler published, retry after a backoff, or dead-letter), keeps leases alive while
 * work is in progress, and drains on close.
 */
import type { Envelope } from '../envelope/envelope.js';
import { RUNTIME_SOURCE, SYSTEM_EVENTS, SYSTEM_TOPICS } from '../envelope/taxonomy.js';
import { AgentbusError } from '../errors.js';
import type { AppendItem, FailureInfo } from '../store/event-store.js';
import type { Delivery, TransportConsumer } from '../transport/transport.js';
import { type EnvelopeFactory, type HandlerContext, createHandlerContext } from './handler-context.js';
import { type RetryPolicy, classifyError, decideRetry } from './retry-policy.js';
import type { BusStatus } from './status.js';

/** A subscription's handler. Its return value is ignored; throwing means failure. */
export type Handler = (envelope: Envelope, ctx: HandlerContext) => unknown;

/** Everything a dispatcher needs, already validated. */
export interface DispatcherOptions {
  readonly name: string;
  readonly handler: Handler;
  readonly concurrency: number;
  /** Most deliveries held (running plus fetched and waiting). */
  readonly window: number;
  readonly retry: RetryPolicy;
  /** Handler timeout; undefined for none. */
  readonly timeoutMs: number | undefined;
  readonly leaseMs: number;
  readonly source: string;
  readonly createEnvelope: EnvelopeFactory;
  readonly status: (status: BusStatus) => void;
  readonly random: () => number;
}

export class Dispatcher {
  readonly #consumer: TransportConsumer;
  readonly #o: DispatcherOptions;
  readonly #buffer: Delivery[] = [];
  readonly #running = new Set<Delivery>();
  readonly #settling = new Set<Promise<unknown>>();
  readonly #stop = new AbortController();
  #loop: Promise<void> = Promise.resolve();
  #room: (() => void) | undefined;
  #renewal: NodeJS.Timeout | undefined;
  #idle: Array<() => void> = [];

  constructor(consumer: TransportConsumer, options: DispatcherOptions) {
    this.#consumer = consumer;
    this.#o = options;
  }

  start(): void {
    this.#loop = this.#fetchLoop();
    // Deliberately not unref'd: a running subscription keeps its process alive.
    this.#renewal = setInterval(() => this.#renewLeases(), Math.max(50, Math.floor(this.#o.leaseMs / 3)));
  }

  /** Deliveries running or waiting in this process. */
  get held(): number {
    return this.#buffer.length + this.#running.size;
  }

  /** Resolves when nothing is running, waiting or being settled (for tests and drains). */
  async idle(): Promise<void> {
    while (this.held > 0 || this.#settling.size > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
  }

  /** Stops fetching, returns unstarted deliveries, waits for running handlers to settle. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#room?.();
    await this.#loop;
    const unstarted = this.#buffer.splice(0);
    if (unstarted.length > 0) await this.#consumer.release(unstarted).catch(() => {});
    while (this.#running.size > 0 || this.#settling.size > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    clearInterval(this.#renewal);
    await this.#consumer.close();
  }

  async #fetchLoop(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      const room = this.#o.window - this.held;
      if (room <= 0) {
        await new Promise<void>((resolve) => {
          this.#room = resolve;
        });
        this.#room = undefined;
        continue;
      }
      try {
        const batch = await this.#consumer.fetch(room, { signal });
        failures = 0;
        this.#buffer.push(...batch);
        this.#pump();
      } catch (error) {
        // The backend is unavailable: say so, back off, try again. Nothing is lost: the log is durable.
        failures++;
        this.#o.status({ type: 'fetch_failed', subscription: this.#o.name, error: asError(error) });
        await sleep(Math.min(100 * 2 ** failures, 5_000), signal);
      }
    }
  }

  #pump(): void {
    while (this.#running.size < this.#o.concurrency && this.#buffer.length > 0) {
      const delivery = this.#buffer.shift() as Delivery;
      this.#running.add(delivery);
      void this.#handle(delivery);
    }
  }

  async #handle(delivery: Delivery): Promise<void> {
    const { envelope, seq } = delivery.event;
    const abort = new AbortController();
    const context = createHandlerContext({
      envelope,
      subscription: this.#o.name,
      seq,
      attempt: delivery.attempt,
      signal: abort.signal,
      source: this.#o.source,
      createEnvelope: this.#o.createEnvelope,
      working: () => this.#consumer.working([delivery]),
    });
    let failure: unknown;
    let failed = false;
    let timer: NodeJS.Timeout | undefined;
    try {
      const run = Promise.resolve().then(() => this.#o.handler(envelope, context.ctx));
      if (this.#o.timeoutMs === undefined) {
        await run;
      } else {
        const timeoutMs = this.#o.timeoutMs;
        await Promise.race([
          run,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              const error = new AgentbusError('TIMEOUT', `handler of ${this.#o.name} timed out after ${timeoutMs} ms`, {
                subscription: this.#o.name,
                timeoutMs,
              });
              abort.abort(error);
              reject(error);
            }, timeoutMs);
          }),
        ]);
      }
    } catch (error) {
      failed = true;
      failure = error;
    } finally {
      if (timer) clearTimeout(timer);
      context.seal();
    }
    this.#running.delete(delivery);
    const settling = this.#settle(delivery, failed, failure, context.staged);
    this.#settling.add(settling);
    void settling.finally(() => {
      this.#settling.delete(settling);
      this.#notifyIdle();
    });
    this.#pump();
    this.#room?.();
  }

  async #settle(delivery: Delivery, failed: boolean, failure: unknown, publish: readonly AppendItem[]): Promise<void> {
    try {
      if (!failed) {
        await delivery.ack({ publish });
        return;
      }
      const classified = classifyError(failure);
      const info: FailureInfo = {
        reason: classified.reason,
        message: classified.message,
        ...(classified.stack ? { stack: classified.stack } : {}),
      };
      const decision = decideRetry(this.#o.retry, delivery.attempt, classified, this.#o.random());
      this.#o.status({
        type: 'handler_failed',
        subscription: this.#o.name,
        seq: delivery.event.seq,
        attempt: delivery.attempt,
        reason: classified.reason,
        message: classified.message,
        willRetry: decision.kind === 'retry',
      });
      if (decision.kind === 'retry') await delivery.nak(decision.delayMs, info);
      else await delivery.term(info, { publish: this.#errorNotice(delivery, info) });
    } catch (error) {
      this.#o.status({ type: 'settle_failed', subscription: this.#o.name, seq: delivery.event.seq, error: asError(error) });
    }
  }

  /**
   * The `ErrorOccurredEvent` announcing a dead letter, committed with it. None for a dead
   * `ErrorOccurredEvent`, so a failing error handler cannot feed itself.
   */
  #errorNotice(delivery: Delivery, info: FailureInfo): AppendItem[] {
    const { event, routing } = delivery.event.envelope;
    if (event.type === SYSTEM_EVENTS.ErrorOccurred) return [];
    return [
      this.#o.createEnvelope({
        topic: SYSTEM_TOPICS.errors,
        type: SYSTEM_EVENTS.ErrorOccurred,
        source: RUNTIME_SOURCE,
        correlationId: event.correlation_id,
        causationId: event.id,
        payload: {
          subscription: this.#o.name,
          event_id: event.id,
          event_type: event.type,
          topic: routing.topic,
          reason: info.reason,
          error: info.message,
          attempts: delivery.attempt,
          dead_lettered: true,
        },
      }),
    ];
  }

  #renewLeases(): void {
    if (this.held === 0) return;
    this.#consumer.working([...this.#running, ...this.#buffer]).catch((error) => {
      this.#o.status({ type: 'lease_renewal_failed', subscription: this.#o.name, error: asError(error) });
    });
  }

  #notifyIdle(): void {
    if (this.held > 0 || this.#settling.size > 0) return;
    const waiters = this.#idle.splice(0);
    for (const resolve of waiters) resolve();
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
