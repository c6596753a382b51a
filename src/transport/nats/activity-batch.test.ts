import { describe, expect, it } from 'vitest';
import type { ActivityCount, EventCounts } from '../../store/event-store.js';
import { ActivityBatch } from './activity-batch.js';

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A store whose `record` waits until `release` is called, like a busy group commit. */
function slowCounts() {
  const calls: ActivityCount[][] = [];
  const waiting: Array<() => void> = [];
  const counts = {
    record: (rows: readonly ActivityCount[]) => {
      calls.push([...rows]);
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
  } as unknown as EventCounts;
  const release = () => {
    for (const resolve of waiting.splice(0)) resolve();
  };
  return { counts, calls, release };
}

const total = (calls: ActivityCount[][]) => calls.flat().reduce((sum, row) => sum + row.count, 0);

describe('ActivityBatch', () => {
  it('keeps one write in flight and folds the counts of later turns into the next (soak: a queue per turn grew without bound)', async () => {
    const { counts, calls, release } = slowCounts();
    const batch = new ActivityBatch(counts, () => {});
    for (let i = 0; i < 200; i++) {
      batch.count('consumed', 'soak.work');
      await turn();
    }
    // One write started; the 199 later turns wait in the tally, not in 199 queued writes.
    expect(calls).toHaveLength(1);
    release();
    await turn();
    expect(calls).toHaveLength(2);
    const flushed = batch.flush();
    release();
    await flushed;
    expect(calls).toHaveLength(2);
    expect(total(calls)).toBe(200);
  });

  it('flush writes what was counted and reports a failed write', async () => {
    const lost: Error[] = [];
    const rows: ActivityCount[][] = [];
    let fail = true;
    const counts = {
      record: async (r: readonly ActivityCount[]) => {
        rows.push([...r]);
        if (fail) {
          fail = false;
          throw new Error('store down');
        }
      },
    } as unknown as EventCounts;
    const batch = new ActivityBatch(counts, (error) => lost.push(error));
    batch.count('retried', 'a');
    await batch.flush();
    batch.count('consumed', 'a');
    batch.count('consumed', 'a');
    await batch.flush();
    expect(lost.map((e) => e.message)).toEqual(['store down']);
    expect(rows).toEqual([[{ topic: 'a', kind: 'retried', count: 1 }], [{ topic: 'a', kind: 'consumed', count: 2 }]]);
  });
});
