import { describe, expect, it } from 'vitest';
import { AgentbusError } from '../errors.js';
import type { StateArea, StateRecord } from '../store/event-store.js';
import { pruneFinished } from './retention.js';

/** A state area over `count` records (all old, all finished) that records how deletes overlap. */
function recordingState(count: number, fail: (key: string) => AgentbusError | Error | undefined = () => undefined) {
  let inFlight = 0;
  const seen = { most: 0, deleted: [] as string[], listed: [] as unknown[] };
  const state: StateArea = {
    get: async () => undefined,
    put: async () => 1,
    async delete(_namespace, key) {
      inFlight++;
      seen.most = Math.max(seen.most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 1));
      inFlight--;
      const error = fail(key);
      if (error) throw error;
      seen.deleted.push(key);
      return true;
    },
    async *list<T>(_namespace: string, options?: unknown) {
      seen.listed.push(options);
      for (let i = 0; i < count; i++) {
        yield { namespace: 'n', key: `k${i}`, value: {} as T, version: 1, updatedAt: 0 } satisfies StateRecord<T>;
      }
    },
  };
  return { state, seen };
}

describe('pruneFinished', () => {
  it('deletes many at once instead of one commit after another', async () => {
    const { state, seen } = recordingState(600);
    expect(await pruneFinished(state, 'n', '', 1, () => true)).toBe(600);
    expect(seen.deleted).toHaveLength(600);
    expect(seen.most).toBeGreaterThan(100);
    expect(seen.most).toBeLessThanOrEqual(256);
  });

  it('asks the store for the records written before the cutoff under the prefix only', async () => {
    const { state, seen } = recordingState(3);
    expect(await pruneFinished(state, 'n', 'saga-a/', 1_000, () => true)).toBe(3);
    expect(seen.listed).toEqual([{ prefix: 'saga-a/', updatedBefore: 1_000 }]);
  });

  it('skips a record written meanwhile (a version conflict) and goes on', async () => {
    const conflict = new AgentbusError('CONCURRENCY_CONFLICT', 'changed', {});
    const { state, seen } = recordingState(10, (key) => (key === 'k3' ? conflict : undefined));
    expect(await pruneFinished(state, 'n', '', 1, () => true)).toBe(9);
    expect(seen.deleted).not.toContain('k3');
  });

  it('fails with the store error after the deletes in flight settle', async () => {
    const { state } = recordingState(300, (key) => (key === 'k5' ? new Error('disk full') : undefined));
    await expect(pruneFinished(state, 'n', '', 1, () => true)).rejects.toThrow('disk full');
  });
});
