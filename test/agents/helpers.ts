/**
 * Fixtures of the agent tests: a bus on a fresh SQLite file, polling helpers, history reads.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentRuntime, type AgentRuntimeOptions, createAgentRuntime } from '../../src/agents/index.js';
import { type Bus, createBus } from '../../src/bus/index.js';
import type { Envelope } from '../../src/envelope/index.js';
import { collect, sleep } from '../conformance/fixtures.js';

/** A bus and an agent runtime on a temporary database; `dispose()` closes and removes them. */
export interface Harness {
  readonly bus: Bus;
  readonly runtime: AgentRuntime;
  readonly dir: string;
  readonly path: string;
  dispose(): Promise<void>;
}

/** Opens a {@link Harness}. Quiet logs unless a `log` sink is given. */
export async function harness(options: AgentRuntimeOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-agents-'));
  const path = join(dir, 'agentbus.db');
  const bus = await createBus({ path });
  const runtime = createAgentRuntime(bus, { log: () => {}, ...options });
  return {
    bus,
    runtime,
    dir,
    path,
    dispose: async () => {
      await runtime.close();
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value other than undefined/false; fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** Envelopes of the history, optionally of one type. */
export async function history(bus: Bus, type?: string): Promise<Envelope[]> {
  return (await collect(bus.events(type ? { type } : {}))).map((e) => e.envelope);
}

/** Waits until the history holds at least `n` events of `type`. */
export function waitForEvents(bus: Bus, type: string, n = 1, timeoutMs = 20_000): Promise<Envelope[]> {
  return eventually(
    async () => {
      const found = await history(bus, type);
      return found.length >= n ? found : undefined;
    },
    `${n} ${type}`,
    timeoutMs,
  );
}

/** Waits for the first dead letter (optionally of one subscription). */
export function waitForDeadLetter(bus: Bus, subscription?: string, timeoutMs = 20_000) {
  return eventually(
    async () => {
      const [dead] = await bus.deadLetters.list(subscription ? { subscription } : {});
      return dead;
    },
    `a dead letter${subscription ? ` of ${subscription}` : ''}`,
    timeoutMs,
  );
}

/** Fast retries for tests. */
export const FAST_RETRY = { max_retries: 2, backoff_type: 'fixed', initial_delay: '20ms', max_delay: '20ms' } as const;
