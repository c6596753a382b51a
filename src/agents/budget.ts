/**
 * The per-correlation chain budget's records (state area, namespace `agents.budget`, key =
 * correlation id, value = events the agents published in it). Counted with each
 * acknowledgement (see `RunningAgent`); pruned here once a correlation has been quiet for
 * the runtime's `budgetRetention`, so that the namespace does not grow for ever.
 */
import type { StateArea } from '../store/event-store.js';
import { pruneFinished } from '../workflows/retention.js';
import { BUDGET_NAMESPACE } from './running-agent.js';

/**
 * Deletes the budget records last written before `before` (ms since the epoch); returns how
 * many. A record written meanwhile stays (each delete is a compare-and-set on the version read).
 */
export function pruneBudgets(state: StateArea, before: number): Promise<number> {
  return pruneFinished(state, BUDGET_NAMESPACE, '', before, () => true);
}
