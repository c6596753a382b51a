/**
 * JSON for the CLI and HTTP: the observe types are camelCase in TypeScript and snake_case on
 * the wire, like the envelope.
 */

/** `averageLatencyMs` -> `average_latency_ms`. */
function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * A deep copy of `value` with every object key in snake_case (arrays and values kept).
 * @example toSnakeCase({ inDlq: 1 }) // { in_dlq: 1 }
 */
export function toSnakeCase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toSnakeCase);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), toSnakeCase(v)]));
}
