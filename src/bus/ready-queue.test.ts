import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Queued, ReadyQueue } from './ready-queue.js';

const item = (seq: number, key: string | undefined, rank = 1): Queued => ({ seq, key, rank });
const takeAll = <T extends Queued>(q: ReadyQueue<T>) => {
  const out: T[] = [];
  for (let next = q.take(); next; next = q.take()) {
    out.push(next);
    q.finished(next, 'done');
  }
  return out;
};

describe('ReadyQueue', () => {
  it('takes high before normal before low, in position order within a priority', () => {
    const q = new ReadyQueue(false);
    q.push([item(1, undefined, 2), item(2, undefined, 1), item(3, undefined, 0), item(4, undefined, 1), item(5, undefined, 0)]);
    expect(takeAll(q).map((i) => i.seq)).toEqual([3, 5, 2, 4, 1]);
  });

  it('ordered: runs one item of a key at a time and never lets a later one pass an earlier one', () => {
    const q = new ReadyQueue(true);
    q.push([item(1, 'k', 1), item(2, 'k', 0), item(3, 'j', 0)]);
    const first = q.take();
    expect(first?.seq).toBe(3);
    const second = q.take();
    expect(second?.seq).toBe(1);
    expect(q.take()).toBeUndefined();
    q.finished(second as Queued, 'done');
    expect(q.take()?.seq).toBe(2);
  });

  it('ordered: a failed item holds its key until its retry comes back and succeeds', () => {
    const q = new ReadyQueue(true);
    q.push([item(1, 'k'), item(2, 'k'), item(3, 'j')]);
    const k1 = q.take() as Queued;
    q.finished(k1, 'retry');
    expect(q.take()?.seq).toBe(3);
    expect(q.take()).toBeUndefined();
    q.push([item(1, 'k')]);
    const retry = q.take() as Queued;
    expect(retry.seq).toBe(1);
    q.finished(retry, 'done');
    expect(q.take()?.seq).toBe(2);
  });

  it('ordered: keys the store reports held wait for that position', () => {
    const q = new ReadyQueue(true);
    q.setHeld(new Map([['k', 1]]), 1);
    q.push([item(5, 'k'), item(6, 'j')]);
    expect(takeAll(q).map((i) => i.seq)).toEqual([6]);
    q.setHeld(new Map(), 2);
    expect(takeAll(q).map((i) => i.seq)).toEqual([5]);
  });

  it('ordered: a local hold is dropped only by a fetch that started after its retry was committed', () => {
    const q = new ReadyQueue(true);
    q.push([item(1, 'k'), item(2, 'k')]);
    const k1 = q.take() as Queued;
    q.finished(k1, 'retry');
    q.setHeld(new Map(), 3);
    expect(q.take()).toBeUndefined();
    q.retryCommitted(k1, 3);
    q.setHeld(new Map(), 3);
    expect(q.take()).toBeUndefined();
    q.setHeld(new Map(), 4);
    expect(q.take()?.seq).toBe(2);
  });

  it('property: takes respect per-key position order and always pick the best priority allowed', () => {
    const items = fc.uniqueArray(
      fc.record({
        seq: fc.integer({ min: 1, max: 500 }),
        key: fc.constantFrom('a', 'b', 'c', undefined),
        rank: fc.integer({ min: 0, max: 2 }),
      }),
      {
        selector: (i) => i.seq,
        maxLength: 60,
      },
    );
    fc.assert(
      fc.property(items, fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 30 }), (all, batches) => {
        const q = new ReadyQueue<Queued>(true);
        const sorted = [...all].sort((x, y) => x.seq - y.seq);
        const lastSeq = new Map<string, number>();
        let offset = 0;
        for (const size of [...batches, sorted.length]) {
          q.push(sorted.slice(offset, offset + size));
          offset += size;
          for (let next = q.take(); next; next = q.take()) {
            if (next.key !== undefined) {
              expect(next.seq).toBeGreaterThan(lastSeq.get(next.key) ?? 0);
              lastSeq.set(next.key, next.seq);
            }
            const waiting = q.items();
            const heads = new Map<string, number>();
            for (const w of waiting)
              if (w.key !== undefined) heads.set(w.key, Math.min(heads.get(w.key) ?? Number.POSITIVE_INFINITY, w.seq));
            const eligible = waiting.filter((w) => w.key === undefined || (heads.get(w.key) === w.seq && w.key !== next.key));
            for (const e of eligible) expect(e.rank).toBeGreaterThanOrEqual(next.rank);
            q.finished(next, 'done');
          }
        }
        expect(q.size).toBe(0);
      }),
    );
  });
});
