/**
 * Choreographed compensation, pure part: agents register "if this correlation fails, run X"
 * for the work they did; a failure event of the correlation runs every registered
 * compensation, the latest registered first (reverse order across agents), each once.
 * A registration arriving after the failure runs at once.
 *
 * Pure: no I/O, no clock.
 */
import type { Envelope, JsonValue } from '../envelope/envelope.js';
import type { Decision, Effect, IdFor } from './effects.js';

/** Type of the event that registers a compensation. */
export const COMPENSATION_REGISTERED = 'CompensationRegistered';
/** Topic of the registration events. */
export const COMPENSATIONS_TOPIC = 'system.compensations';

/** What to publish to undo a piece of work: a command event. */
export interface CompensationAction {
  /** Event type of the compensating command, e.g. `RemoveFromStaging`. */
  readonly type: string;
  /** Topic it is published on. */
  readonly topic: string;
  /** @default {} */
  readonly payload?: JsonValue;
}

/** A registered compensation as the state area keeps it. */
export interface RegisteredCompensation extends CompensationAction {
  /** Id of the registration event. */
  readonly registration_id: string;
  /** The agent that registered it (`event.source` of the registration). */
  readonly agent: string;
  readonly registered_at: string;
}

/** The compensations of one correlation id. */
export interface CompensationState {
  readonly correlation_id: string;
  readonly status: 'open' | 'compensated';
  readonly registered: readonly RegisteredCompensation[];
  /** Registration ids whose compensation was published, in that order. */
  readonly ran: readonly string[];
  /** The failure event that triggered them. */
  readonly failed_by?: { readonly event_id: string; readonly type: string };
  readonly updated_at: string;
}

/** What the coordinator reacts to. */
export type CompensationInput =
  | { readonly kind: 'registered'; readonly envelope: Envelope; readonly action: CompensationAction; readonly at: number }
  | { readonly kind: 'failed'; readonly envelope: Envelope; readonly at: number };

/** Reads a registration event's payload; undefined when it is not one. */
export function parseRegistration(payload: unknown): CompensationAction | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined;
  const p = payload as { type?: unknown; topic?: unknown; payload?: JsonValue };
  if (typeof p.type !== 'string' || typeof p.topic !== 'string') return undefined;
  return { type: p.type, topic: p.topic, ...(p.payload === undefined ? {} : { payload: p.payload }) };
}

/** Decides what a registration or a failure does to a correlation's compensations. */
export function decideCompensation(
  state: CompensationState | undefined,
  input: CompensationInput,
  deps: { idFor: IdFor; source: string },
): Decision<CompensationState> {
  const now = new Date(input.at).toISOString();
  const { envelope } = input;
  const base: CompensationState = state ?? {
    correlation_id: envelope.event.correlation_id,
    status: 'open',
    registered: [],
    ran: [],
    updated_at: now,
  };
  if (input.kind === 'failed') {
    if (base.status === 'compensated') return { effects: [] };
    const order = [...base.registered].reverse();
    return {
      state: {
        ...base,
        status: 'compensated',
        ran: order.map((r) => r.registration_id),
        failed_by: { event_id: envelope.event.id, type: envelope.event.type },
        updated_at: now,
      },
      effects: order.map((r) => run(base.correlation_id, r, envelope, deps)),
    };
  }
  if (base.registered.some((r) => r.registration_id === envelope.event.id)) return { effects: [] };
  const entry: RegisteredCompensation = {
    ...input.action,
    registration_id: envelope.event.id,
    agent: envelope.event.source,
    registered_at: now,
  };
  const registered = [...base.registered, entry];
  if (base.status === 'open') return { state: { ...base, registered, updated_at: now }, effects: [] };
  // The correlation failed already: undo this work at once.
  return {
    state: { ...base, registered, ran: [...base.ran, entry.registration_id], updated_at: now },
    effects: [run(base.correlation_id, entry, envelope, deps)],
  };
}

function run(correlationId: string, r: RegisteredCompensation, cause: Envelope, deps: { idFor: IdFor; source: string }): Effect {
  return {
    kind: 'publish',
    input: {
      id: deps.idFor(`compensation/${correlationId}/${r.registration_id}`),
      topic: r.topic,
      type: r.type,
      source: deps.source,
      correlationId,
      causationId: cause.event.id,
      partitionKey: correlationId,
      payload: r.payload ?? {},
    },
  };
}
