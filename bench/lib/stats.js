/** Percentiles, medians and stall detection over plain arrays of milliseconds. */

/** The q-quantile (0..1) of an ascending-sorted array, nearest rank. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

export function median(values) {
  const finite = values.filter((v) => typeof v === 'number' && Number.isFinite(v));
  if (finite.length === 0) return undefined;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** p50 / p99 / max of latencies (a Float64Array or array, ms). */
export function latencySummary(latencies) {
  const sorted = Float64Array.from(latencies).sort();
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] };
}

/**
 * Stall windows: gaps between consecutive handler starts longer than `limitMs`, and events
 * whose publish-to-handler latency exceeds it. Overlapping windows count once.
 * `sent[i]` and `started[i]` are performance.now() times of event i.
 */
export function stalls(sent, started, limitMs = 10) {
  const intervals = [];
  const order = Array.from(started.keys()).sort((a, b) => started[a] - started[b]);
  let maxGap = 0;
  for (let k = 1; k < order.length; k++) {
    const gap = started[order[k]] - started[order[k - 1]];
    maxGap = Math.max(maxGap, gap);
    if (gap > limitMs) intervals.push([started[order[k - 1]], started[order[k]]]);
  }
  let slowEvents = 0;
  for (let i = 0; i < started.length; i++) {
    if (started[i] - sent[i] > limitMs) {
      slowEvents++;
      intervals.push([sent[i], started[i]]);
    }
  }
  intervals.sort((a, b) => a[0] - b[0]);
  let count = 0;
  let end = Number.NEGATIVE_INFINITY;
  for (const [from, to] of intervals) {
    if (from > end) count++;
    end = Math.max(end, to);
  }
  return { count, maxGap, slowEvents };
}
