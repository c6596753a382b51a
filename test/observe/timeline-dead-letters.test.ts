/**
 * The timeline finds a correlation's dead letters from its events, not by reading the
 * dead-letter queue: its cost follows the correlation, however many other dead letters wait.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createBus } from '../../src/index.js';
import { timeline } from '../../src/observe/index.js';
import type { ClaimedDelivery, EventStore, Settlement } from '../../src/store/index.js';
import { item, items } from '../conformance/fixtures.js';
import { freshDb, removeFreshDbs } from '../e2e/run-cli.js';

afterAll(removeFreshDbs);

const FLOW = 'flow-small';
const UNRELATED = 5_000;

/** Dead-letters, for subscription `q`, every event `dead` picks and acknowledges the others. */
async function work(store: EventStore, dead: (id: string) => boolean): Promise<void> {
  await store.deliveries.ensureConsumer({ name: 'q', topic: '>', start: 'earliest' });
  const outcome = (d: ClaimedDelivery): Settlement['outcome'] =>
    dead(d.event.envelope.event.id) ? { kind: 'dead', error: { reason: 'invalid_payload', message: 'bad' } } : { kind: 'ack' };
  for (;;) {
    const { deliveries } = await store.deliveries.claim({
      consumer: 'q',
      owner: 'member',
      max: 1_000,
      leaseMs: 60_000,
      matchTopic: () => true,
    });
    if (deliveries.length === 0) return;
    await store.deliveries.settle(
      deliveries.map((d) => ({
        consumer: 'q',
        seq: d.event.seq,
        topic: d.event.envelope.routing.topic,
        attempt: d.attempt,
        lease: d.lease,
        outcome: outcome(d),
      })),
    );
  }
}

describe('correlation timeline in a long dead-letter queue', () => {
  it(`reads the correlation's own dead letters only, not the ${UNRELATED} unrelated ones in the queue`, async () => {
    const bus = await createBus({ path: freshDb() });
    try {
      const { store } = bus;
      // Each unrelated event has a correlation of its own (its id).
      await store.append(items(UNRELATED, { topic: 'noise.jobs' }));
      await store.append(Array.from({ length: 10 }, (_, i) => item({ id: `small-${i}`, correlationId: FLOW })));
      await work(store, (id) => !id.startsWith('small-') || id === 'small-3' || id === 'small-7');
      expect((await store.deliveries.getConsumer('q'))?.deadLettered).toBe(UNRELATED + 2);

      const list = vi.spyOn(store.deliveries, 'listDeadLetters');
      const entries = await timeline(store, FLOW);
      const rowsRead = (await Promise.all(list.mock.results.map((r) => r.value as Promise<unknown[]>))).reduce(
        (n, rows) => n + rows.length,
        0,
      );

      expect(entries.filter((e) => e.kind === 'event')).toHaveLength(10);
      expect(entries.filter((e) => e.kind === 'dead_letter').map((e) => e.eventId)).toEqual(['small-3', 'small-7']);
      // One read, of the two dead letters of the flow: none of the queue's other 5,000.
      expect(list).toHaveBeenCalledTimes(1);
      expect(rowsRead).toBe(2);
      list.mockRestore();
    } finally {
      await bus.close();
    }
  });
});
