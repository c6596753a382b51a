/**
 * RFC 3339 timestamps as the envelope carries them (`event.timestamp`, `event.expires_at`).
 *
 * Pure: never reads the current time.
 */
import { invalidField } from '../errors.js';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Parses an RFC 3339 date-time with a time zone (`Z` or `±hh:mm`) into milliseconds since
 * the epoch, or returns `undefined` when the text is not one or names an impossible date
 * (Feb 30, hour 24, ...). Fractions finer than a millisecond are truncated. Leap seconds
 * (`:60`) are refused: JavaScript dates cannot represent them.
 *
 * @example parseTimestamp('2025-11-29T14:30:00Z') // 1764426600000
 * @example parseTimestamp('2025-11-29 14:30:00') // undefined (no "T", no zone)
 */
export function parseTimestamp(text: string): number | undefined {
  // Events published in the same millisecond carry the same text: remember the last answer.
  if (text === lastParsed.text) return lastParsed.value;
  const value = parseUncached(text);
  lastParsed = { text, value };
  return value;
}

let lastParsed: { text: string; value: number | undefined } = { text: '', value: undefined };

function parseUncached(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  let offsetMinutes = 0;
  if (m[8] !== undefined) {
    const offsetHour = Number(m[9]);
    const offsetMinute = Number(m[10]);
    if (offsetHour > 23 || offsetMinute > 59) return undefined;
    offsetMinutes = (offsetHour * 60 + offsetMinute) * (m[8] === '-' ? -1 : 1);
  }
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 onto 1900-1999.
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return date.getTime() - offsetMinutes * 60_000;
}

/** True when `value` is an RFC 3339 date-time with a time zone that names a real instant. */
export function isTimestamp(value: unknown): value is string {
  return typeof value === 'string' && parseTimestamp(value) !== undefined;
}

/**
 * Formats milliseconds since the epoch as the envelope's timestamp: RFC 3339 in UTC with
 * milliseconds, e.g. `2025-11-29T14:30:00.000Z`.
 *
 * @throws AgentbusError `OPTIONS_INVALID` (field `clock`) when the time is not representable.
 */
export function formatTimestamp(epochMs: number): string {
  if (!Number.isFinite(epochMs) || Math.abs(epochMs) > 8.64e15) {
    throw invalidField('OPTIONS_INVALID', 'clock', `${epochMs} is not a time`);
  }
  if (epochMs === lastFormatted.ms) return lastFormatted.text;
  const text = new Date(epochMs).toISOString();
  lastFormatted = { ms: epochMs, text };
  return text;
}

let lastFormatted = { ms: Number.NaN, text: '' };

function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1] ?? 0;
}
