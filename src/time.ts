/**
 * Time as agentbus's pure layers see it: an injected clock, never `Date.now()`.
 */
import { invalidField } from './errors.js';

/** A source of the current time in milliseconds since the epoch. Inject a fake one in tests. */
export interface Clock {
  now(): number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The longest wait on an in-memory timer (Node's `setTimeout` limit, about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** The longest duration of all, for durable timers: 100 years (365-day ones). */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;
/** The latest time an event timestamp can write (the end of year 9999, UTC). */
export const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Parses a duration: a number of milliseconds, or a string like `"250ms"`, `"1s"`, `"30s"`,
 * `"5m"`, `"2h"`, `"1d"`, `"1.5s"`, `"1h30m"`, at most `max` ms ({@link MAX_TIMER_MS} for
 * what waits on an in-memory timer). Returns milliseconds, or an error message.
 */
export function parseDuration(value: unknown, max: number = MAX_DURATION_MS): number | { error: string } {
  const ms = parseAnyDuration(value);
  if (typeof ms === 'number' && ms > max) return { error: `must be at most ${describeMax(max)}` };
  return ms;
}

/**
 * A positive duration option in ms, or `fallback` when absent; at most `max`
 * ({@link MAX_TIMER_MS} unless the wait is durable).
 * @throws AgentbusError `OPTIONS_INVALID` naming `field`.
 */
export function positiveDuration(value: unknown, field: string, fallback: number, max: number = MAX_TIMER_MS): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value, max);
  if (typeof ms !== 'number') throw invalidField('OPTIONS_INVALID', field, ms.error);
  if (ms <= 0) throw invalidField('OPTIONS_INVALID', field, 'must be longer than zero');
  return ms;
}

function describeMax(max: number): string {
  if (max === MAX_TIMER_MS) return `${MAX_TIMER_MS} ms (about 24.8 days, the longest in-memory timer)`;
  if (max === MAX_DURATION_MS) return '100 years';
  return `${max} ms`;
}

function parseAnyDuration(value: unknown): number | { error: string } {
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? value : { error: 'must be a non-negative number of milliseconds' };
  }
  if (typeof value !== 'string' || value.trim() === '') {
    return { error: 'must be a duration like "1s", "30s", "2h" or a number of milliseconds' };
  }
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (!match) return { error: `"${value}" is not a duration like "1s", "30s", "2h" (units: ms, s, m, h, d)` };
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    index = part.lastIndex;
  }
  return total;
}
