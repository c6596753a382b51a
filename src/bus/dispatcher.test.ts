import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { TransportConsumer } from '../transport/transport.js';
import { Dispatcher } from './dispatcher.js';
import { DEFAULT_RETRY_POLICY } from './retry-policy.js';

/** A consumer closed under its subscription: every fetch answers [] at once. */
function closedConsumer(): TransportConsumer & { fetches: number } {
  const consumer = {
    name: 'closed',
    fetches: 0,
    heldKeys: new Map<string, number>(),
    async fetch() {
      consumer.fetches++;
      return [];
    },
    async working() {},
    async release() {},
    async close() {},
  };
  return consumer;
}

describe('Dispatcher', () => {
  it('does not starve the event loop when its consumer answers [] at once, and backs off', async () => {
    const consumer = closedConsumer();
    const dispatcher = new Dispatcher(consumer, {
      name: 'closed',
      handler: () => {},
      concurrency: 1,
      window: 16,
      retry: DEFAULT_RETRY_POLICY,
      timeoutMs: undefined,
      leaseMs: 30_000,
      source: '/test',
      createEnvelope: () => {
        throw new Error('not used');
      },
      status: () => {},
      random: () => 0,
      now: () => Date.now(),
      ordered: false,
    });
    dispatcher.start();
    // Before the fix this timer never fired: the fetch loop went round on microtasks for ever.
    await sleep(100);
    // Without a back-off it would be thousands; with one a handful (1, 2, 4, ... ms apart).
    expect(consumer.fetches).toBeGreaterThan(0);
    expect(consumer.fetches).toBeLessThan(100);
    await dispatcher.close();
  });
});
