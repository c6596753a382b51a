/**
 * The window of the dashboard's throughput bars (the seed's "Throughput (Last Hour)"): read
 * from a duration and named for a heading. The store counts per minute and keeps a day, so a
 * window is whole minutes from one minute to a day.
 */
import { invalidField } from '../errors.js';
import { ACTIVITY_RETENTION_MS } from '../store/event-store.js';
import { parseDuration } from '../time.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The default window: the seed's last hour. */
export const DEFAULT_STATUS_WINDOW_MS = HOUR;

const REASON = 'must be a whole number of minutes from 1m to 24h, like "15m", "1h" or "24h"';

/**
 * The window in ms from a duration (`"15m"`, `"1h"`, `"1h30m"`, `"24h"`) or a number of ms.
 * @throws AgentbusError `OPTIONS_INVALID` naming `field` for anything else
 */
export function parseStatusWindow(value: unknown, field = 'window'): number {
  const ms = typeof value === 'number' || typeof value === 'string' ? parseDuration(value) : undefined;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < MINUTE || ms > ACTIVITY_RETENTION_MS || ms % MINUTE !== 0) {
    throw invalidField('OPTIONS_INVALID', field, REASON);
  }
  return ms;
}

/** The window as the seed names it: "Last Hour", "Last 3 Hours", "Last 15 Minutes". */
export function windowLabel(ms: number): string {
  if (ms % HOUR === 0) return ms === HOUR ? 'Last Hour' : `Last ${ms / HOUR} Hours`;
  const minutes = Math.round(ms / MINUTE);
  return minutes === 1 ? 'Last Minute' : `Last ${minutes} Minutes`;
}
