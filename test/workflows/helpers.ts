/** Small helpers of the workflow tests. */
import { collect, sleep } from '../conformance/fixtures.js';
import type { Bus } from '../../src/bus/index.js';
import type { StoredEvent } from '../../src/store/index.js';

/** Polls `probe` until it returns a value that is not undefined/false; fails after `ms`. */
export async function until<T>(probe: () => Promise<T | undefined | false>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/** Events of a type in the history. */
export function eventsOfType(bus: Bus, type: string): Promise<StoredEvent[]> {
  return collect(bus.events({ type }));
}
