/**
 * Parsers for flag values. Each throws commander's `InvalidArgumentError`, so a refused
 * value is reported as a usage error naming the flag (exit code 2).
 */
import { InvalidArgumentError } from 'commander';
import { parseTimestamp, textProblem } from '../envelope/index.js';
import type { JsonValue } from '../envelope/index.js';
import { isAgentbusError } from '../errors.js';
import { parseStatusWindow } from '../observe/window.js';
import { parseDuration } from '../time.js';

/** A whole number of at least 1 (`--limit`, `--from-seq`). */
export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError('Must be a whole number of at least 1.');
  }
  return Number(value);
}

/** A JSON value (`--data`); the error carries JSON.parse's reason. */
export function parseJsonValue(value: string): JsonValue {
  try {
    return JSON.parse(value) as JsonValue;
  } catch (error) {
    throw new InvalidArgumentError(`Not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * Milliseconds of a relative duration with a unit (`90s`, `30m`, `1h`, `2d`, `1h30m`), or
 * undefined when `value` is not one. A bare number is not a duration here: it would be
 * ambiguous next to positions.
 */
export function relativeDuration(value: string): number | undefined {
  if (!/[a-z]$/.test(value)) return undefined;
  const ms = parseDuration(value);
  return typeof ms === 'number' ? ms : undefined;
}

/**
 * An instant (`--since`, `--until`): an RFC 3339 time, or a duration meaning "that long
 * ago" (`1h`, `30m`). Returns milliseconds since the epoch.
 */
export function parseWhen(value: string, now: number = Date.now()): number {
  const ago = relativeDuration(value);
  if (ago !== undefined) return now - ago;
  const time = parseTimestamp(value);
  if (time === undefined) {
    throw new InvalidArgumentError('Must be an RFC 3339 time (2025-11-29T14:30:00Z) or a duration ago (30m, 1h, 2d).');
  }
  return time;
}

/** A value that is not empty (`--type`, `--subscription`, an id): '' is refused, never read as "no filter". */
export function parseNonEmpty(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('Must not be empty.');
  return value;
}

/** A correlation id to filter by (`dlq list --correlation-id`): 1-255 characters, no control characters. */
export function parseCorrelationId(value: string): string {
  parseNonEmpty(value);
  const problem = textProblem(value, 255);
  if (problem !== undefined) throw new InvalidArgumentError(`${problem.charAt(0).toUpperCase()}${problem.slice(1)}.`);
  return value;
}

/** `--window` (status, topics): whole minutes from 1m to 24h (`15m`, `1h`, `24h`), in ms. */
export function parseWindow(value: string): number {
  try {
    return parseStatusWindow(value);
  } catch (error) {
    if (!isAgentbusError(error)) throw error;
    throw new InvalidArgumentError('Must be a whole number of minutes from 1m to 24h, like 15m, 1h or 24h.');
  }
}
