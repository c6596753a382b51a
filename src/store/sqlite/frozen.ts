/**
 * Deep freezing of delivered events: one envelope object may be handed to every subscriber
 * of the process (the in-memory tail), so none may change what another one sees.
 */

/**
 * Freezes `value` and every object and array inside it; already frozen parts are skipped
 * (their contents were frozen with them). Returns `value`.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const item of value) deepFreeze(item);
  } else {
    for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}
