/**
 * Quantiles from a Prometheus histogram's cumulative buckets, estimated the way PromQL's
 * `histogram_quantile` does: linear interpolation inside the bucket holding the rank.
 */

/** One cumulative bucket: `count` observations at or below `le` (seconds). */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/** Count, sum and estimated quantiles of a histogram, in seconds (null without observations). */
export interface LatencySummary {
  readonly count: number;
  readonly sum: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

/**
 * The `q` quantile (0..1) of cumulative `buckets` sorted by `le` (the last one `+Inf`); null
 * when empty. A rank in the `+Inf` bucket returns the highest finite bound.
 */
export function bucketQuantile(q: number, buckets: readonly Bucket[]): number | null {
  const total = buckets.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lowerBound;
      const inBucket = b.count - lowerCount;
      return inBucket === 0 ? b.le : lowerBound + ((b.le - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = b.le;
    lowerCount = b.count;
  }
  return lowerBound;
}

/** Summarises cumulative buckets plus the histogram's sum. */
export function summarize(buckets: readonly Bucket[], sum: number): LatencySummary {
  return {
    count: buckets.at(-1)?.count ?? 0,
    sum,
    p50: bucketQuantile(0.5, buckets),
    p95: bucketQuantile(0.95, buckets),
    p99: bucketQuantile(0.99, buckets),
  };
}
