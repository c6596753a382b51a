import { describe, expect, it } from 'vitest';
import { formatTimestamp, isTimestamp, parseTimestamp } from './timestamp.js';

describe('parseTimestamp', () => {
  it('parses UTC and offset times to the same instant', () => {
    expect(parseTimestamp('2025-11-29T14:30:00Z')).toBe(Date.UTC(2025, 10, 29, 14, 30));
    expect(parseTimestamp('2025-11-29T16:30:00+02:00')).toBe(Date.UTC(2025, 10, 29, 14, 30));
    expect(parseTimestamp('2025-11-29T09:00:00-05:30')).toBe(Date.UTC(2025, 10, 29, 14, 30));
  });

  it('keeps milliseconds and truncates finer fractions', () => {
    expect(parseTimestamp('2025-11-29T14:30:00.5Z')).toBe(Date.UTC(2025, 10, 29, 14, 30, 0, 500));
    expect(parseTimestamp('2025-11-29T14:30:00.123456789Z')).toBe(Date.UTC(2025, 10, 29, 14, 30, 0, 123));
  });

  it('accepts lower-case t and z as RFC 3339 allows', () => {
    expect(parseTimestamp('2025-11-29t14:30:00z')).toBe(Date.UTC(2025, 10, 29, 14, 30));
  });

  it('parses years before 100 without shifting them to the 1900s', () => {
    expect(new Date(parseTimestamp('0042-01-01T00:00:00Z') ?? Number.NaN).getUTCFullYear()).toBe(42);
  });

  it('accepts Feb 29 in leap years only', () => {
    expect(isTimestamp('2024-02-29T00:00:00Z')).toBe(true);
    expect(isTimestamp('2000-02-29T00:00:00Z')).toBe(true);
    expect(isTimestamp('1900-02-29T00:00:00Z')).toBe(false);
    expect(isTimestamp('2025-02-29T00:00:00Z')).toBe(false);
  });

  it.each([
    '2025-11-29T14:30:00',
    '2025-11-29 14:30:00Z',
    '2025-11-29',
    '2025-13-01T00:00:00Z',
    '2025-04-31T00:00:00Z',
    '2025-11-29T24:00:00Z',
    '2025-11-29T14:60:00Z',
    '2025-11-29T14:30:60Z',
    '2025-11-29T14:30:00+24:00',
    '2025-11-29T14:30:00+0200',
    '2025-11-29T14:30:00.Z',
    '1764426600000',
    ' 2025-11-29T14:30:00Z',
  ])('refuses %j', (text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });
});

describe('formatTimestamp', () => {
  it('writes UTC with milliseconds', () => {
    expect(formatTimestamp(Date.UTC(2025, 10, 29, 14, 30))).toBe('2025-11-29T14:30:00.000Z');
  });

  it('refuses a time that is not a number with OPTIONS_INVALID', () => {
    expect(() => formatTimestamp(Number.POSITIVE_INFINITY)).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
  });
});
