/**
 * Runs one subscription's handler over a transport consumer: fetches a bounded window,
 * runs at most `concurrency` handlers at once, settles each delivery (ack with the events
 * the handler published, retry after a backoff, or dead-letter), keeps leases alive while
 * work is in progress, and drains on close.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import { RUNTIME_SOURCE, SYSTEM_EVENTS, SYSTEM_TOPICS } from '../envelope/taxonomy.js';
import { AgentbusError } from '../errors.js';
import type { AppendItem, AppendedEvent, FailureInfo, StateIncrement } from '../store/event-store.js';
import type { Delivery, TransportConsumer } from '../transport/transport.js';
import {
  type EnvelopeFactory,
  type HandlerContext,
  createHandlerContext,
  sealHandlerContext,
  ackCounters,
  stagedEvents,
} from './handler-context.js';
import { type Queued, ReadyQueue } from './ready-queue.js';
import { type RetryDecision, type RetryPolicy, classifyError, decideRetry } from './retry-policy.js';
import type { HandlerStart, Observers } from './observer.js';
import type { BusStatus } from './status.js';
import { startProcessTrace } from './tracing.js';

/**
 * A subscription's handler. Its return value is ignored; throwing means failure.
 * @typeParam P - What the payload holds: a promise the subscriber makes, not checked at run
 *   time (see {@link Envelope}). @default JsonValue
 */
export type Handler<P = JsonValue> = (envelope: Envelope<P>, ctx: HandlerContext) => unknown;

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
  /** The bus clock (ms), the one leases are stamped with. */
  readonly now: () => number;
  /** Per-partition-key order through retries. */
  readonly ordered: boolean;
  /** Instrumentation hooks (metrics); skipped when none is registered. */
  readonly observers?: Observers;
}

/** An empty fetch answered faster than this (ms) did not wait for anything. */
const QUICK_EMPTY_MS = 2;
/** Longest pause between fetches that keep answering [] at once (ms). */
const MAX_EMPTY_BACKOFF_MS = 1_000;

/** A fetched delivery as the ready queue sees it. */
interface Entry extends Queued {
  readonly delivery: Delivery;
}

const RANK = { high: 0, normal: 1, low: 2 } as const;
const NEVER_ABORTED = new AbortController().signal;

/** A handler started and not finished yet. */
interface Running {
  readonly item: Entry;
  readonly ctx: HandlerContext;
  readonly trace: ReturnType<typeof startProcessTrace>;
  readonly start: HandlerStart | undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function entry(delivery: Delivery): Entry {
  const { routing } = delivery.event.envelope;
  return { delivery, seq: delivery.event.seq, key: routing.partition_key, rank: RANK[routing.priority] ?? 1 };
}

export class Dispatcher {
  readonly #consumer: TransportConsumer;
  readonly #o: DispatcherOptions;
  readonly #ready: ReadyQueue<Entry>;
  readonly #running = new Set<Delivery>();
  /** Counts fetches started, so a held key is released only by news newer than its retry. */
  #fetches = 0;
  readonly #settling = new Set<Promise<unknown>>();
  readonly #stop = new AbortController();
  #loop: Promise<void> = Promise.resolve();
  #room: (() => void) | undefined;
  #renewal: NodeJS.Timeout | undefined;
  #idle: Array<() => void> = [];
  #pumping = false;

  constructor(consumer: TransportConsumer, options: DispatcherOptions) {
    this.#consumer = consumer;
    this.#o = options;
    this.#ready = new ReadyQueue<Entry>(options.ordered);
  }

  start(): void {
    this.#loop = this.#fetchLoop();
    // Deliberately not unref'd: a running subscription keeps its process alive.
    this.#renewal = setInterval(() => this.#renewLeases(), Math.max(50, Math.floor(this.#o.leaseMs / 3)));
  }

  /** Deliveries running or waiting in this process. */
  get held(): number {
    return this.#ready.size + this.#running.size;
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
    const unstarted = this.#ready.drain().map((e) => e.delivery);
    await this.#consumer.release(unstarted).catch(() => {});
    while (this.#running.size > 0 || this.#settling.size > 0) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    clearInterval(this.#renewal);
    await this.#consumer.close();
  }

  async #fetchLoop(): Promise<void> {
    const signal = this.#stop.signal;
    let failures = 0;
    let quickEmpties = 0;
    while (!signal.aborted) {
      // Refill at half the window, so claims come in batches rather than one slot at a time.
      const room = this.#o.window - this.held;
      const waitForRoom = room <= 0 || (this.held > 0 && room < Math.ceil(this.#o.window / 2));
      // Everything held waits for a retry of its key (ordered): fetch that retry, nothing new.
      const stuck = waitForRoom && this.#running.size === 0 && this.#ready.size > 0 && this.#settling.size === 0;
      if (waitForRoom && !stuck) {
        await new Promise<void>((resolve) => {
          this.#room = resolve;
        });
        this.#room = undefined;
        continue;
      }
      try {
        const generation = ++this.#fetches;
        const asked = performance.now();
        const batch = await this.#consumer.fetch(stuck ? 16 : room, { signal, ...(stuck ? { retriesOnly: true } : {}) });
        failures = 0;
        if (this.#o.ordered) this.#ready.setHeld(this.#consumer.heldKeys, generation);
        this.#ready.push(batch.map(entry));
        this.#pump();
        if (batch.length === 0 && !signal.aborted) {
          // A fetch answers [] after a long poll ran out, or at once when its consumer was closed
          // under this subscription (its transport destroyed first): never go round on the
          // microtask queue alone (timers and I/O would starve), and back off while it keeps
          // answering at once.
          quickEmpties = performance.now() - asked < QUICK_EMPTY_MS ? quickEmpties + 1 : 0;
          const wait = quickEmpties === 0 ? 0 : Math.min(2 ** quickEmpties, MAX_EMPTY_BACKOFF_MS);
          await delay(wait, undefined, { signal }).catch(() => undefined);
        } else {
          quickEmpties = 0;
        }
      } catch (error) {
        // The backend is unavailable: say so, back off, try again. Nothing is lost: the log is durable.
        failures++;
        this.#o.status({ type: 'fetch_failed', subscription: this.#o.name, error: asError(error) });
        // An abort ends the wait early; it is not an error.
        await delay(Math.min(100 * 2 ** failures, 5_000), undefined, { signal }).catch(() => undefined);
      }
    }
  }

  #pump(): void {
    // A handler that returns at once finishes inside this loop; its finish must not pump again.
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#running.size < this.#o.concurrency) {
        const next = this.#ready.take();
        if (!next) return;
        if (this.#stale(next)) continue;
        this.#running.add(next.delivery);
        this.#handle(next);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * A delivery whose lease was taken over, or lapsed while it waited (this process stalled),
   * is not started: another member has it, or it is given back to be fetched afresh.
   */
  #stale(item: Entry): boolean {
    const { delivery } = item;
    if (!delivery.leaseLost && delivery.leaseUntil > this.#o.now()) return false;
    this.#ready.finished(item, 'done');
    this.#o.status({ type: 'lease_lost', subscription: this.#o.name, seq: delivery.event.seq });
    if (!delivery.leaseLost) {
      const giving = this.#consumer.release([delivery]).catch(() => {});
      this.#settling.add(giving);
      void giving.finally(() => {
        this.#settling.delete(giving);
        this.#notifyIdle();
      });
    }
    return true;
  }

  /**
   * Runs the handler. One that returns (or throws) without a promise finishes at once, with
   * no promise, timer or abort signal of its own; one that returns a promise is awaited,
   * against the timeout if there is one.
   */
  #handle(item: Entry): void {
    const { delivery } = item;
    const { envelope, seq } = delivery.event;
    // A signal of its own only when a timeout can abort it; otherwise one that never aborts.
    const abort = this.#o.timeoutMs === undefined ? undefined : new AbortController();
    const trace = startProcessTrace(envelope, this.#o.name, delivery.attempt);
    const observers = this.#o.observers?.active ? this.#o.observers : undefined;
    const start = observers
      ? { subscription: this.#o.name, agent: this.#o.source, envelope, attempt: delivery.attempt, startedAt: Date.now() }
      : undefined;
    if (start) observers?.handlerStarted(start);
    const ctx = createHandlerContext({
      envelope,
      subscription: this.#o.name,
      seq,
      attempt: delivery.attempt,
      signal: abort?.signal ?? NEVER_ABORTED,
      source: this.#o.source,
      createEnvelope: this.#o.createEnvelope,
      working: () => this.#consumer.working([delivery]),
      ...(trace ? { traceparent: () => trace.traceparent() } : {}),
      ...(delivery.effectId ? { effectId: delivery.effectId.bind(delivery) } : {}),
    });
    const run: Running = { item, ctx, trace, start };
    let result: unknown;
    try {
      result = trace ? trace.run(() => this.#o.handler(envelope, ctx)) : this.#o.handler(envelope, ctx);
    } catch (error) {
      this.#finish(run, true, error);
      return;
    }
    if (!isThenable(result)) {
      this.#finish(run, false, undefined);
      return;
    }
    void this.#await(run, result, abort);
  }

  async #await(run: Running, result: PromiseLike<unknown>, abort: AbortController | undefined): Promise<void> {
    let failure: unknown;
    let failed = false;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (this.#o.timeoutMs === undefined) {
        await result;
      } else {
        const timeoutMs = this.#o.timeoutMs;
        await Promise.race([
          result,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              const error = new AgentbusError('TIMEOUT', `handler of ${this.#o.name} timed out after ${timeoutMs} ms`, {
                subscription: this.#o.name,
                timeoutMs,
              });
              // The timeout decides first; what the handler does on abort comes too late.
              reject(error);
              abort?.abort(error);
            }, timeoutMs);
          }),
        ]);
      }
    } catch (error) {
      failed = true;
      failure = error;
    } finally {
      if (timer) clearTimeout(timer);
    }
    this.#finish(run, failed, failure);
  }

  #finish({ item, ctx, trace, start }: Running, failed: boolean, failure: unknown): void {
    const { delivery } = item;
    sealHandlerContext(ctx);
    this.#running.delete(delivery);
    // Decide now, before anything else of this key may start.
    const outcome = failed ? this.#decide(delivery, failure) : undefined;
    trace?.end(failed ? failure : undefined);
    if (start) {
      this.#o.observers?.handlerFinished({
        ...start,
        outcome: outcome === undefined ? 'ok' : outcome.decision.kind === 'retry' ? 'retry' : 'dead',
        ...(outcome ? { reason: outcome.info.reason } : {}),
        durationMs: Date.now() - start.startedAt,
      });
    }
    this.#ready.finished(item, outcome?.decision.kind === 'retry' ? 'retry' : 'done');
    const settling = this.#settle(item, outcome, stagedEvents(ctx), ackCounters(ctx));
    this.#settling.add(settling);
    void settling.then(() => {
      this.#settling.delete(settling);
      this.#notifyIdle();
      this.#room?.();
    });
    this.#pump();
    this.#room?.();
  }

  #decide(delivery: Delivery, failure: unknown): { decision: RetryDecision; info: FailureInfo } {
    const classified = classifyError(failure);
    const info: FailureInfo = {
      reason: classified.reason,
      message: classified.message,
      ...(classified.stack ? { stack: classified.stack } : {}),
    };
    // The budget counts handler failures, not deliveries: a crash elsewhere costs no retry.
    const decision = decideRetry(this.#o.retry, delivery.failures + 1, classified, this.#o.random());
    this.#o.status({
      type: 'handler_failed',
      subscription: this.#o.name,
      seq: delivery.event.seq,
      attempt: delivery.attempt,
      reason: classified.reason,
      message: classified.message,
      willRetry: decision.kind === 'retry',
    });
    return { decision, info };
  }

  /** Settles a finished delivery; never rejects (a failure is reported as status). */
  #settle(
    item: Entry,
    outcome: { decision: RetryDecision; info: FailureInfo } | undefined,
    publish: readonly AppendItem[],
    counters: readonly StateIncrement[],
  ): Promise<void> {
    const { delivery } = item;
    let settling: Promise<void>;
    try {
      if (!outcome) {
        const effects = publish.length > 0 || counters.length > 0 ? { publish, counters } : undefined;
        settling = delivery.ack(effects).then((appended) => this.#published(appended));
      } else if (outcome.decision.kind === 'retry') {
        settling = delivery
          .nak(outcome.decision.delayMs, outcome.info)
          .then(() => this.#ready.retryCommitted(item, this.#fetches));
      } else {
        const notice = { publish: this.#errorNotice(delivery, outcome.info) };
        settling = delivery.term(outcome.info, notice).then((appended) => this.#published(appended));
      }
    } catch (error) {
      settling = Promise.reject(error);
    }
    return settling.catch((error: unknown) => {
      this.#o.status({ type: 'settle_failed', subscription: this.#o.name, seq: delivery.event.seq, error: asError(error) });
    });
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
        ...(delivery.effectId ? { id: delivery.effectId('error-notice') } : {}),
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

  /** Reports events a settlement committed to the observers. */
  #published(appended: readonly AppendedEvent[]): void {
    const observers = this.#o.observers;
    if (!observers?.active || appended.length === 0) return;
    observers.published(appended.filter((e) => !e.duplicate).map((e) => e.envelope));
  }

  #renewLeases(): void {
    if (this.held === 0) return;
    this.#consumer.working([...this.#running, ...this.#ready.items().map((e) => e.delivery)]).catch((error) => {
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
