/**
 * Helpers for testing code built on agentbus: a controllable clock and a throwaway bus.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentBus, type AgentBusOptions, createBus } from './agentbus.js';
import type { Clock } from './time.js';

/** A clock that moves only when told. */
export interface ManualClock extends Clock {
  set(ms: number): void;
  advance(ms: number): void;
}

/** Creates a {@link ManualClock} starting at `start` (ms since the epoch). */
export function createManualClock(start = Date.UTC(2025, 10, 29, 14, 30)): ManualClock {
  let now = start;
  return {
    now: () => now,
    set: (ms) => {
      now = ms;
    },
    advance: (ms) => {
      now += ms;
    },
  };
}

/** A bus on a fresh database in a temporary folder, removed by `dispose()`. */
export async function createTestBus(
  options: Omit<AgentBusOptions, 'path'> = {},
): Promise<AgentBus & { dispose(): Promise<void>; dbPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-test-'));
  const dbPath = join(dir, 'agentbus.db');
  const bus = await createBus({ ...options, path: dbPath });
  return Object.assign(bus, {
    dbPath,
    dispose: async () => {
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
