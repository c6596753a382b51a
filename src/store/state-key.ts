/**
 * What a state namespace or key may hold, the same on every adapter: any text without
 * control characters (PostgreSQL refuses a NUL byte where SQLite would store it) or lone
 * surrogates (both drivers would silently turn them into U+FFFD, so two keys would meet).
 *
 * Pure.
 */
import { hasControlCharacter, isWellFormed } from '../envelope/index.js';
import { type AgentbusError, invalidField } from '../errors.js';

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
