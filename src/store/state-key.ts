/**
 * What a state namespace or key may hold, the same on every adapter: any text without
 * control characters (PostgreSQL refuses a NUL byte where SQLite would store it) or lone
 * surrogates (both drivers would silently turn them into U+FFFD, so two keys would meet).
 * Also the checked form of `StateArea.list`'s options.
 *
 * Pure.
 */
import { hasControlCharacter, isWellFormed } from '../envelope/index.js';
import { type AgentbusError, invalidField } from '../errors.js';
import type { StateListOptions } from './event-store.js';

/** `StateArea.list`'s options as an adapter runs them. */
export interface StateListQuery {
  readonly prefix: string;
  /**
   * `updatedBefore` as a whole number of ms within the safe integers (`updated_at` holds
   * whole ms, so `updated_at < ceil(t)` selects the same records as `< t`); absent for a
   * listing in key order.
   */
  readonly before?: number;
}

/** The refusal of a namespace, key or prefix, or undefined when each is fine. */
export function stateKeyProblem(parts: Readonly<Record<string, unknown>>): AgentbusError | undefined {
  for (const [field, value] of Object.entries(parts)) {
    if (value === undefined && field === 'prefix') continue;
    if (typeof value !== 'string') return invalidField('OPTIONS_INVALID', field, 'must be a string');
    if (hasControlCharacter(value)) return invalidField('OPTIONS_INVALID', field, 'must not contain control characters');
    if (!isWellFormed(value)) return invalidField('OPTIONS_INVALID', field, 'must not contain lone surrogates');
  }
  return undefined;
}

/** The checked form of `list`'s arguments, or the refusal naming the field. */
export function stateListQuery(namespace: string, options: StateListOptions = {}): StateListQuery | AgentbusError {
  const refused = stateKeyProblem({ namespace, prefix: options.prefix });
  if (refused) return refused;
  const prefix = options.prefix ?? '';
  const before = options.updatedBefore;
  if (before === undefined) return { prefix };
  if (typeof before !== 'number' || !Number.isFinite(before)) {
    return invalidField('OPTIONS_INVALID', 'updatedBefore', 'must be a finite number (ms since the epoch)');
  }
  return {
    prefix,
    before: Math.min(Number.MAX_SAFE_INTEGER, Math.max(Number.MIN_SAFE_INTEGER, Math.ceil(before))),
  };
}
