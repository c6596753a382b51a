/**
 * Counters in the state area outside a settlement (where the store cannot put them in the
 * acknowledgement's transaction: the NATS transport). Compare-and-set, retried on a
 * concurrent write.
 */
import { isAgentbusError } from '../errors.js';
import type { StateArea, StateIncrement } from './event-store.js';

/** Most attempts per counter when other writers keep winning the compare-and-set. */
const ATTEMPTS = 20;

/** Increases each counter by its `by` (from 0 when absent). */
export async function incrementCounters(state: StateArea, counters: readonly StateIncrement[]): Promise<void> {
  for (const { namespace, key, by } of counters) {
    for (let attempt = 0; ; attempt++) {
      const current = await state.get<number>(namespace, key);
      try {
        await state.put(namespace, key, (current?.value ?? 0) + by, current ? current.version : 'absent');
        break;
      } catch (error) {
        if (!isAgentbusError(error, 'CONCURRENCY_CONFLICT') || attempt + 1 >= ATTEMPTS) throw error;
      }
    }
  }
}
