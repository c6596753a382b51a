/**
 * Reading query parameters: each refusal is an `OPTIONS_INVALID` naming `query.<name>`.
 */
import { parseTimestamp } from '../envelope/index.js';
import { invalidField } from '../errors.js';
import { parseStatusWindow } from '../observe/index.js';

/** Query parameters as Hono gives them. */
export type Query = Readonly<Record<string, string | undefined>>;

/**
 * Refuses a parameter the route does not take: a misspelt filter (`?correlationId=`,
 * `?subscripton=`) would otherwise be dropped silently and widen the request, or a purge.
 */
export function knownParams(query: Query, names: readonly string[]): void {
  for (const name of Object.keys(query)) {
    if (!names.includes(name)) {
      throw invalidField('OPTIONS_INVALID', `query.${name}`, `unknown parameter; this route takes ${names.join(', ')}`);
    }
  }
}

/** A whole number in `[min, max]`, or `fallback` when absent. */
export function intParam(query: Query, name: string, min: number, max: number, fallback?: number): number | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidField('OPTIONS_INVALID', `query.${name}`, `must be a whole number from ${min} to ${max}`);
  }
  return value;
}

/** An RFC 3339 time, as ms since the epoch. */
export function timeParam(query: Query, name: string): number | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  const time = parseTimestamp(raw);
  if (time === undefined)
    throw invalidField('OPTIONS_INVALID', `query.${name}`, 'must be an RFC 3339 time like 2025-11-29T14:30:00Z');
  return time;
}

/** One of `values`, or `fallback` when absent. */
export function enumParam<T extends string>(query: Query, name: string, values: readonly T[], fallback?: T): T | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(values as readonly string[]).includes(raw)) {
    throw invalidField('OPTIONS_INVALID', `query.${name}`, `must be one of ${values.join(', ')}`);
  }
  return raw as T;
}

/**
 * A non-empty string, or undefined when absent. An empty one (`?topic=`) is refused: it would
 * otherwise read as "no filter" and widen the request.
 */
export function stringParam(query: Query, name: string, max = 1024): string | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  if (raw === '') throw invalidField('OPTIONS_INVALID', `query.${name}`, 'must not be empty; leave it out for no filter');
  if (raw.length > max) throw invalidField('OPTIONS_INVALID', `query.${name}`, `longer than ${max} characters`);
  return raw;
}

/** `window`: what the status throughput counts, whole minutes from 1m to 24h (`15m`, `1h`); undefined when absent. */
export function windowParam(query: Query): number | undefined {
  const raw = query.window;
  return raw === undefined || raw === '' ? undefined : parseStatusWindow(raw, 'query.window');
}
