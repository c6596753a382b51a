/**
 * The thin I/O around the pure state machines: load an instance, decide, and commit the new
 * state with its effects (events, timers) in one store transaction.
 */
import { createHash } from 'node:crypto';
import type { Bus } from '../bus/bus.js';
import { cancelTimer, setTimer } from '../bus/timers.js';
import type { AppendItem } from '../store/event-store.js';
import type { Decision, IdFor } from './effects.js';

/**
 * Event ids from stable keys: `wf-` and 40 hex digits of the key's SHA-256. Deterministic,
 * so an effect repeated after a crash is appended once (publishing is idempotent by id).
 */
export const idFor: IdFor = (key) => `wf-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;

/**
 * In one transaction: reads `namespace/key`, calls `decide` with its value, writes the new
 * state (compare-and-set on the version read), cancels and sets timers, appends the events.
 * Resolves with the decision. Timers set here are armed after the commit.
 */
export async function commitDecision<S>(
  bus: Bus,
  namespace: string,
  key: string,
  decide: (state: S | undefined) => Decision<S>,
): Promise<Decision<S>> {
  let scheduled = false;
  let published: AppendItem[] = [];
  const decision = await bus.store.transaction(async (tx) => {
    const record = await tx.state.get<S>(namespace, key);
    const d = decide(record?.value);
    // Build (and validate) every event before writing anything.
    const items: AppendItem[] = [];
    const timers: Array<{ dueAt: number; item: AppendItem }> = [];
    for (const effect of d.effects) {
      if (effect.kind === 'publish') items.push(bus.timers.prepare(effect.input));
      if (effect.kind === 'schedule') timers.push({ dueAt: effect.dueAt, item: bus.timers.prepare(effect.input) });
    }
    if (d.state !== undefined) await tx.state.put(namespace, key, d.state, record ? record.version : 'absent');
    for (const effect of d.effects) if (effect.kind === 'cancel') await cancelTimer(tx.state, effect.key);
    for (const timer of timers) await setTimer(tx.state, timer);
    await bus.timers.append(tx, items);
    scheduled = timers.length > 0;
    published = items;
    return d;
  });
  await bus.timers.relay(published);
  if (scheduled) {
    bus.timers.start();
    bus.timers.wake();
  }
  return decision;
}
