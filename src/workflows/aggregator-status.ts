/**
 * The seed's aggregation status: a table of the awaited events (`✅ Received` / `⏳ Waiting`
 * with received-at times) and the line "2/3 events received, waiting for TestPlanCompleted".
 * Pure.
 */
import { type AggregatorInstance, missing } from './aggregator.js';

/** One row of the status table. */
export interface AggregatorStatusRow {
  readonly event: string;
  readonly from?: string;
  readonly status: 'received' | 'waiting' | 'missing';
  /** RFC 3339, when received. */
  readonly received_at?: string;
  readonly event_id?: string;
}

/** The rows of the seed's status table, in `wait_for` order. */
export function aggregatorStatusRows(instance: AggregatorInstance): AggregatorStatusRow[] {
  return instance.wait_for.map((w, i) => {
    const got = instance.received.find((r) => r.index === i);
    const from = w.from ? { from: w.from } : {};
    if (got) return { event: w.type, ...from, status: 'received', received_at: got.received_at, event_id: got.event_id };
    return { event: w.type, ...from, status: instance.status === 'waiting' ? 'waiting' : 'missing' };
  });
}

function list(types: readonly string[]): string {
  return types.join(', ');
}

/**
 * The seed's status line.
 * @example aggregatorStatusLine(instance) // "2/3 events received, waiting for TestPlanCompleted"
 */
export function aggregatorStatusLine(instance: AggregatorInstance): string {
  const got = instance.received.length;
  const total = instance.wait_for.length;
  const lacking = missing(instance).map((w) => w.type);
  const partial = instance.count < total;
  const counted = partial
    ? `${got}/${instance.count} events received (${instance.count} of ${total} needed)`
    : `${got}/${total} events received`;
  const which = partial ? `any of ${list(lacking)}` : list(lacking);
  if (instance.status === 'completed') return `${counted}, complete`;
  if (instance.status === 'timed_out') return `${counted}, timed out waiting for ${which}`;
  return `${counted}, waiting for ${which}`;
}

/** The status cell of a row, with the seed's marks. */
export function statusCell(row: AggregatorStatusRow): string {
  if (row.status === 'received') return '✅ Received';
  if (row.status === 'waiting') return '⏳ Waiting';
  return '❌ Missing';
}
