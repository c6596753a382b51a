import { describe, expect, it } from 'vitest';
import { isAgentbusError } from '../errors.js';
import { parseStatusWindow, windowLabel } from './window.js';

describe('status window', () => {
  it('reads durations as text or milliseconds, in whole minutes from one minute to a day', () => {
    expect(parseStatusWindow('15m')).toBe(900_000);
    expect(parseStatusWindow('1h')).toBe(3_600_000);
    expect(parseStatusWindow('1h30m')).toBe(5_400_000);
    expect(parseStatusWindow('24h')).toBe(86_400_000);
    expect(parseStatusWindow(60_000)).toBe(60_000);
  });

  it('refuses anything else naming the field', () => {
    for (const value of ['soon', '', '0m', '90s', '25h', '2d', 0, -60_000, 61_000, Number.NaN, null, {}]) {
      const error = (() => {
        try {
          return parseStatusWindow(value, 'query.window');
        } catch (e) {
          return e;
        }
      })();
      expect(isAgentbusError(error, 'OPTIONS_INVALID') && error.details.field, String(value)).toBe('query.window');
    }
  });

  it("names the window as the seed's heading does", () => {
    expect(windowLabel(3_600_000)).toBe('Last Hour');
    expect(windowLabel(3 * 3_600_000)).toBe('Last 3 Hours');
    expect(windowLabel(60_000)).toBe('Last Minute');
    expect(windowLabel(15 * 60_000)).toBe('Last 15 Minutes');
    expect(windowLabel(90 * 60_000)).toBe('Last 90 Minutes');
    expect(windowLabel(86_400_000)).toBe('Last 24 Hours');
  });
});
