import { describe, expect, it } from 'vitest';
import { LatencyHistogram, pooledRatio } from '../../bench/latency-histogram.js';

/** The exact q-quantile (nearest rank), the reference the histogram is checked against. */
function exactQuantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] as number;
}

function seeded(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

describe('LatencyHistogram', () => {
  it('gives pooled quantiles within 0.5% of the exact ones, over random runs', () => {
    const random = seeded(7);
    for (let trial = 0; trial < 20; trial++) {
      const runs = Array.from({ length: 1 + Math.floor(random() * 6) }, () =>
        Array.from({ length: 1 + Math.floor(random() * 2000) }, () => 0.01 + random() ** 4 * 200),
      );
      const all = runs.flat();
      for (const q of [0.5, 0.9, 0.99, 1]) {
        const got = LatencyHistogram.quantile(
          runs.map((r) => LatencyHistogram.of(r)),
          q,
        );
        expect(Math.abs(got / exactQuantile(all, q) - 1)).toBeLessThan(0.005);
      }
    }
  });

  it('is NaN when empty', () => {
    expect(LatencyHistogram.quantile([new LatencyHistogram()], 0.99)).toBeNaN();
  });
});

describe('pooledRatio', () => {
  it('is 1 with a degenerate interval for identical sides, and finds a real shift', () => {
    const random = seeded(11);
    const runs = Array.from({ length: 8 }, () => Array.from({ length: 1000 }, () => 1 + random() * 9));
    const base = runs.map((r) => LatencyHistogram.of(r));
    expect(pooledRatio(base, base, 0.99)).toEqual({ ratio: 1, low: 1, high: 1 });

    const slower = runs.map((r) => LatencyHistogram.of(r.map((ms) => ms * 1.2)));
    const { ratio, low, high } = pooledRatio(slower, base, 0.99);
    expect(ratio).toBeGreaterThan(1.18);
    expect(ratio).toBeLessThan(1.22);
    expect(low).toBeLessThanOrEqual(ratio);
    expect(high).toBeGreaterThanOrEqual(ratio);
  });
});
