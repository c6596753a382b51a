/**
 * Chain-reaction guards: agents reacting to each other's events can loop forever. Three
 * limits stop that, each dead-lettering the event it refuses with a reason that names it:
 *
 * - `chain_depth_exceeded`: the event is more causation hops from its root than `maxDepth`;
 * - `chain_cycle_detected`: this agent already handled this event type `maxRepeats` times
 *   along the event's own causation chain (it keeps reacting to its own descendants);
 * - `chain_budget_exceeded`: the agents already published `budget` events in this correlation.
 *
 * Depth and the chain travel in the envelope (`event.chain_depth`, `event.chain_hops`, set
 * by `ctx.publish`); the budget is counted in the state area. The checks here are pure.
 */
import type { Envelope, JsonObject } from '../envelope/envelope.js';
import { NonRetryableError, invalidField } from '../errors.js';
import { CHAIN_DEPTH_EXTENSION, chainDepth } from '../bus/routes.js';

/** Limits of the chain-reaction guards. */
export interface GuardOptions {
  /** Most causation hops between an event and the root of its correlation. @default 64 */
  maxDepth?: number;
  /** Most times one agent handles one event type along one causation chain. @default 5 */
  maxRepeats?: number;
  /** Most events agents publish within one correlation. @default 10000 */
  budget?: number;
}

/** Guard limits after defaults. */
export interface GuardLimits {
  readonly maxDepth: number;
  readonly maxRepeats: number;
  readonly budget: number;
}

/** The reason codes of a tripped guard (the dead letter's `reason`). */
export const GUARD_REASONS = {
  depth: 'chain_depth_exceeded',
  cycle: 'chain_cycle_detected',
  budget: 'chain_budget_exceeded',
} as const;

/** A guard's reason code. */
export type GuardReason = (typeof GUARD_REASONS)[keyof typeof GUARD_REASONS];

/** @default maxDepth 64, maxRepeats 5, budget 10 000 */
export const DEFAULT_GUARD_LIMITS: GuardLimits = { maxDepth: 64, maxRepeats: 5, budget: 10_000 };

/** The envelope extension listing the recent `"<agent> <type>"` hops of an event's causation chain. */
export const CHAIN_HOPS_EXTENSION = 'chain_hops';

/** Thrown (and dead-lettered, never retried) when a guard refuses an event. */
export class ChainGuardError extends NonRetryableError {
  readonly guard: GuardReason;
  readonly limit: number;
  constructor(guard: GuardReason, limit: number, message: string) {
    super(message, { code: guard });
    this.guard = guard;
    this.limit = limit;
  }
}

function limit(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalidField('OPTIONS_INVALID', field, 'must be a whole number of at least 1');
  }
  return value;
}

/** Validates guard options, keeping only the fields given. @throws AgentbusError `OPTIONS_INVALID` */
export function resolveGuardOverrides(options: GuardOptions | undefined, field: string): GuardOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw invalidField('OPTIONS_INVALID', field, 'must be an object');
  const out: GuardOptions = {};
  const maxDepth = limit(options.maxDepth, `${field}.maxDepth`);
  const maxRepeats = limit(options.maxRepeats, `${field}.maxRepeats`);
  const budget = limit(options.budget, `${field}.budget`);
  if (maxDepth !== undefined) out.maxDepth = maxDepth;
  if (maxRepeats !== undefined) out.maxRepeats = maxRepeats;
  if (budget !== undefined) out.budget = budget;
  return out;
}

/** Limits from the defaults, then each layer of overrides in turn. */
export function mergeGuards(...layers: GuardOptions[]): GuardLimits {
  return Object.assign({}, DEFAULT_GUARD_LIMITS, ...layers) as GuardLimits;
}

/** The `"<agent> <type>"` hops recorded in an event (empty for events published outside agents). */
export function chainHops(envelope: Envelope): string[] {
  const hops = envelope.event[CHAIN_HOPS_EXTENSION];
  return Array.isArray(hops) ? hops.filter((h): h is string => typeof h === 'string') : [];
}

/** The extensions `ctx.publish` adds to an event caused by `incoming` and handled by `agent`. */
export function chainExtensions(incoming: Envelope, agent: string, limits: GuardLimits): JsonObject {
  const hops = [...chainHops(incoming), `${agent} ${incoming.event.type}`];
  // Bounded: a chain longer than maxDepth is refused anyway.
  return { [CHAIN_DEPTH_EXTENSION]: chainDepth(incoming) + 1, [CHAIN_HOPS_EXTENSION]: hops.slice(-limits.maxDepth) };
}

function describeChain(envelope: Envelope, agent: string): string {
  const hops = [...chainHops(envelope), `${agent} ${envelope.event.type}`];
  const shown = hops.length > 6 ? ['...', ...hops.slice(-6)] : hops;
  return shown.join(' -> ');
}

/** Checks depth and cycles; the error to dead-letter with, or undefined when the event may run. */
export function checkChain(envelope: Envelope, agent: string, limits: GuardLimits): ChainGuardError | undefined {
  const { id, type, correlation_id: correlation } = envelope.event;
  const depth = chainDepth(envelope);
  if (depth > limits.maxDepth) {
    return new ChainGuardError(
      GUARD_REASONS.depth,
      limits.maxDepth,
      `chain_depth_exceeded: ${agent} refused ${type} ${id}: causation depth ${depth} in correlation ${correlation} is over the limit of ${limits.maxDepth} (guards.maxDepth); chain: ${describeChain(envelope, agent)}`,
    );
  }
  const hop = `${agent} ${type}`;
  const repeats = chainHops(envelope).filter((h) => h === hop).length;
  if (repeats >= limits.maxRepeats) {
    return new ChainGuardError(
      GUARD_REASONS.cycle,
      limits.maxRepeats,
      `chain_cycle_detected: ${agent} already handled ${type} ${repeats} times along the causation chain of ${id} in correlation ${correlation} (limit ${limits.maxRepeats}, guards.maxRepeats); chain: ${describeChain(envelope, agent)}`,
    );
  }
  return undefined;
}

/** Checks the per-correlation budget against the events already published in it. */
export function checkBudget(
  envelope: Envelope,
  agent: string,
  published: number,
  limits: GuardLimits,
): ChainGuardError | undefined {
  if (published < limits.budget) return undefined;
  const { id, type, correlation_id: correlation } = envelope.event;
  return new ChainGuardError(
    GUARD_REASONS.budget,
    limits.budget,
    `chain_budget_exceeded: ${agent} refused ${type} ${id}: agents already published ${published} events in correlation ${correlation}, the budget is ${limits.budget} (guards.budget)`,
  );
}
