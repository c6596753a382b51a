/**
 * Instrumentation hooks: what the bus does in this process (events published, handlers
 * started and finished), for metrics and similar observers. With no observer registered the
 * bus skips every hook (one length check); observers run synchronously and must be cheap.
 */
import type { Envelope } from '../envelope/envelope.js';

/** A handler about to run for one delivery. */
export interface HandlerStart {
  /** The subscription (consumer group) delivering. */
  readonly subscription: string;
  /** The subscription's agent: the `source` of the events its handler publishes. */
  readonly agent: string;
  readonly envelope: Envelope;
  /** 1 for the first delivery, 2 for the first redelivery, ... */
  readonly attempt: number;
  /** When the handler started (ms since the epoch, the system clock). */
  readonly startedAt: number;
}

/** How a handler's delivery ended. */
export interface HandlerEnd extends HandlerStart {
  /** `ok`: acknowledged; `retry`: failed, redelivery scheduled; `dead`: failed, dead-lettered. */
  readonly outcome: 'ok' | 'retry' | 'dead';
  /** Failure classification (`timeout`, `temporary_failure`, ...) when the handler failed. */
  readonly reason?: string;
  /** How long the handler ran (ms). */
  readonly durationMs: number;
}

/**
 * Receives what the bus does in this process. Every member is optional; an observer that
 * throws is ignored (it never breaks delivery).
 */
export interface BusObserver {
  /**
   * Events committed by this process: by `publish`, `publishBatch`, `publishEnvelope`, and by
   * handlers (`ctx.publish`, committed with their acknowledgement). Repeated ids are left out.
   */
  published?(events: readonly Envelope[]): void;
  /** A handler starts. */
  handlerStarted?(start: HandlerStart): void;
  /** A handler finished and its outcome was decided (reported before the settlement commits). */
  handlerFinished?(end: HandlerEnd): void;
}

/** The observers of one bus, shared by reference with its dispatchers. */
export class Observers {
  readonly #list: BusObserver[] = [];

  /** True when at least one observer is registered (hooks are skipped otherwise). */
  get active(): boolean {
    return this.#list.length > 0;
  }

  add(observer: BusObserver): () => void {
    this.#list.push(observer);
    return () => {
      const i = this.#list.indexOf(observer);
      if (i >= 0) this.#list.splice(i, 1);
    };
  }

  published(events: readonly Envelope[]): void {
    if (events.length === 0) return;
    for (const o of this.#list) guard(() => o.published?.(events));
  }

  handlerStarted(start: HandlerStart): void {
    for (const o of this.#list) guard(() => o.handlerStarted?.(start));
  }

  handlerFinished(end: HandlerEnd): void {
    for (const o of this.#list) guard(() => o.handlerFinished?.(end));
  }
}

function guard(fn: () => void): void {
  try {
    fn();
  } catch {
    // An observer's bug must never fail a publish or a delivery.
  }
}
