/**
 * Sagas survive SIGKILL at any point: a child process runs the orchestrator and its worker
 * and is killed 50 times at random instants, then restarted. At the end every saga is
 * completed or compensated, no compensation ran twice, and no step started after
 * compensation began (all checked from the history).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBus } from '../../src/bus/index.js';
import type { StoredEvent } from '../../src/store/index.js';
import { type SagaState, listSagas } from '../../src/workflows/index.js';
import { collect, sleep } from '../conformance/fixtures.js';
import { assertBuilt, killAll, startFixture } from './children.js';

const SAGAS = 40;
const KILLS = 50;
const ACTIONS = ['ReserveStock', 'ChargeCard', 'ShipOrder', 'NotifyCustomer'];
const COMPENSATIONS = ['ReleaseStock', 'RefundCard', 'CancelShipment'];

/** What an order asks of the worker: succeed, fail at a step, or stay silent at a step. */
function orderPayload(i: number): Record<string, number> {
  if (i % 4 === 1) return { fail_at: 1 + (i % 4) + (i % 3) };
  if (i % 8 === 2) return { silent_at: 2 + (i % 3) };
  return {};
}

describe('saga orchestrator killed with SIGKILL', () => {
  beforeAll(assertBuilt);
  afterEach(killAll);

  it('ends every saga completed or compensated, compensating each step once and starting no step after', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-saga-crash-'));
    const path = join(dir, 'agentbus.db');
    try {
      const bus = await createBus({ path });
      await bus.publishBatch(
        Array.from({ length: SAGAS }, (_, i) => ({
          topic: 'orders.commands',
          type: 'OrderPlaced',
          correlationId: `order-${i}`,
          payload: orderPayload(i),
        })),
      );
      for (let round = 0; round < KILLS; round++) {
        const child = startFixture('saga-worker.mjs', [path]);
        if (round % 5 === 4) {
          await sleep(Math.floor(Math.random() * 250)); // anywhere, even while opening
        } else {
          await child.waitForLine('ready');
          await sleep(Math.floor(Math.random() * 200));
        }
        const exit = await child.kill();
        expect(exit.signal, `round ${round} ended by itself: ${child.stderr()}`).toBe('SIGKILL');
      }
      const last = startFixture('saga-worker.mjs', [path]);
      await last.waitForLine('ready');
      let sagas: SagaState[] = [];
      for (let polls = 0; polls < 600; polls++) {
        sagas = await listSagas(bus.store, { saga: 'order' });
        if (sagas.length === SAGAS && sagas.every((s) => s.status !== 'in_progress')) break;
        await sleep(100);
      }
      await sleep(500); // let the worker apply the last compensations
      await last.kill('SIGTERM');

      expect(sagas).toHaveLength(SAGAS);
      for (const s of sagas) expect(['completed', 'compensated'], `${s.saga_id}: ${JSON.stringify(s)}`).toContain(s.status);
      const history = await collect(bus.events({ topic: 'orders.commands' }));
      const bySaga = new Map<string, StoredEvent[]>();
      for (const e of history) {
        const id = e.envelope.event.correlation_id;
        bySaga.set(id, [...(bySaga.get(id) ?? []), e]);
      }
      let compensatedSagas = 0;
      for (const s of sagas) {
        const events = bySaga.get(s.saga_id) ?? [];
        const of = (types: string[]) => events.filter((e) => types.includes(e.envelope.event.type));
        const actions = of(ACTIONS);
        const compensations = of(COMPENSATIONS);
        // Each step started once, each compensation published once and applied once.
        const key = (e: StoredEvent) => `${e.envelope.event.type}/${(e.envelope.payload as { step: number }).step}`;
        expect(new Set(actions.map(key)).size, s.saga_id).toBe(actions.length);
        expect(new Set(compensations.map(key)).size, s.saga_id).toBe(compensations.length);
        const applied = of(['CompensationApplied']).map((e) => (e.envelope.payload as { step: number }).step);
        expect(new Set(applied).size, s.saga_id).toBe(applied.length);
        if (s.status === 'completed') {
          expect(compensations).toHaveLength(0);
          expect(actions).toHaveLength(ACTIONS.length);
          continue;
        }
        compensatedSagas++;
        // No step started after compensation began; compensations in reverse step order.
        const firstCompensation = Math.min(...compensations.map((e) => e.seq));
        expect(Math.max(...actions.map((e) => e.seq)), s.saga_id).toBeLessThan(firstCompensation);
        const steps = compensations.map((e) => (e.envelope.payload as { step: number }).step);
        expect(steps).toEqual([...steps].sort((a, b) => b - a));
        expect(steps).toEqual(s.compensated.map((c) => c.step));
      }
      expect(compensatedSagas).toBeGreaterThan(0);
      await bus.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
