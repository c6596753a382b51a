import { describe, expect, it } from 'vitest';
import { bucketQuantile, summarize } from './quantiles.js';

const INF = Number.POSITIVE_INFINITY;

describe('bucketQuantile', () => {
  it('interpolates inside the bucket that holds the rank, like histogram_quantile', () => {
    // 10 observations: 4 at or below 0.1 s, 10 at or below 0.2 s.
    const buckets = [
      { le: 0.1, count: 4 },
      { le: 0.2, count: 10 },
      { le: INF, count: 10 },
    ];
    expect(bucketQuantile(0.5, buckets)).toBeCloseTo(0.1 + 0.1 * (1 / 6));
    expect(bucketQuantile(0.2, buckets)).toBeCloseTo(0.05);
    expect(bucketQuantile(1, buckets)).toBeCloseTo(0.2);
  });

  it('answers the highest finite bound for ranks in +Inf, and null without observations', () => {
    expect(
      bucketQuantile(0.99, [
        { le: 1, count: 1 },
        { le: INF, count: 10 },
      ]),
    ).toBe(1);
    expect(bucketQuantile(0.5, [{ le: INF, count: 0 }])).toBeNull();
    expect(summarize([{ le: INF, count: 0 }], 0)).toEqual({ count: 0, sum: 0, p50: null, p95: null, p99: null });
  });

  it('keeps p50 <= p95 <= p99', () => {
    const s = summarize(
      [
        { le: 0.001, count: 50 },
        { le: 0.01, count: 90 },
        { le: 0.1, count: 99 },
        { le: 1, count: 100 },
        { le: INF, count: 100 },
      ],
      2.5,
    );
    expect(s.count).toBe(100);
    expect(s.p50 as number).toBeLessThanOrEqual(s.p95 as number);
    expect(s.p95 as number).toBeLessThanOrEqual(s.p99 as number);
    expect(s.p99 as number).toBeLessThanOrEqual(0.1);
  });
});
