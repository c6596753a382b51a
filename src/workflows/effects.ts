/**
 * What the pure state machines (aggregator, saga, compensations) ask the runner to do, as
 * data: publish an event, set a timer that publishes one later, cancel a timer.
 */
import type { PublishInput } from '../envelope/envelope.js';

/** One effect of a decision. Every published or scheduled event has a fixed `id`. */
export type Effect =
  | { readonly kind: 'publish'; readonly input: PublishInput & { readonly id: string } }
  | { readonly kind: 'schedule'; readonly dueAt: number; readonly input: PublishInput & { readonly id: string } }
  | { readonly kind: 'cancel'; readonly key: string };

/** A decision: the new state (absent: unchanged) and the effects, committed together. */
export interface Decision<S> {
  readonly state?: S;
  readonly effects: readonly Effect[];
}

/**
 * Gives the id of an event from a stable key (`saga/deploy/xyz/step/2`). The same key gives
 * the same id, so an effect decided twice is published once (ids are idempotent).
 */
export type IdFor = (key: string) => string;
