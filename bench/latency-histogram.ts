/**
 * Latency histograms with log-spaced buckets (0.5% wide), so that runs can be pooled and resampled cheaply:
 * a pooled quantile is a sum of bucket counts, not a sort of every latency. Quantiles come back as the
 * bucket's geometric middle, within 0.25% of the exact value, finer than any difference worth reporting.
 */

/** Bucket i holds latencies in [MIN_MS·GROWTH^i, MIN_MS·GROWTH^(i+1)). */
const GROWTH = 1.005;
const MIN_MS = 0.001;
const BUCKETS = Math.ceil(Math.log(1e6 / MIN_MS) / Math.log(GROWTH)); // up to 1,000 s

export class LatencyHistogram {
  readonly counts = new Uint32Array(BUCKETS);
  total = 0;

  static of(latenciesMs: Iterable<number>): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const ms of latenciesMs) h.add(ms);
    return h;
  }

  add(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(ms / MIN_MS) / Math.log(GROWTH)));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.total++;
  }

  /** The q-quantile (0 < q ≤ 1) of the latencies in `histograms` pooled together, in ms. */
  static quantile(histograms: readonly LatencyHistogram[], q: number): number {
    const total = histograms.reduce((s, h) => s + h.total, 0);
    if (total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      for (const h of histograms) seen += h.counts[i] ?? 0;
      if (seen >= rank) return MIN_MS * GROWTH ** (i + 0.5);
    }
    return Number.NaN;
  }
}

/**
 * The ratio of pooled q-quantiles, `a` over `b`, where run i of `a` and run i of `b` ran side by side, with a
 * 90% confidence interval from a paired bootstrap: run indices are drawn with replacement, and each draw pools
 * the same runs of both sides, so that a noisy minute weighs on both alike. Seeded, so reruns of the report
 * agree.
 */
export function pooledRatio(
  a: readonly LatencyHistogram[],
  b: readonly LatencyHistogram[],
  q: number,
  iterations = 1000,
): { ratio: number; low: number; high: number } {
  const n = Math.min(a.length, b.length);
  const ratio = LatencyHistogram.quantile(a.slice(0, n), q) / LatencyHistogram.quantile(b.slice(0, n), q);
  let seed = 0x9e3779b9;
  const random = () => {
    // mulberry32: a tiny seeded generator; statistical quality is ample for resampling run indices.
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const ratios: number[] = [];
  for (let k = 0; k < iterations; k++) {
    const picks = Array.from({ length: n }, () => Math.floor(random() * n));
    const qa = LatencyHistogram.quantile(
      picks.map((i) => a[i] as LatencyHistogram),
      q,
    );
    const qb = LatencyHistogram.quantile(
      picks.map((i) => b[i] as LatencyHistogram),
      q,
    );
    ratios.push(qa / qb);
  }
  ratios.sort((x, y) => x - y);
  const at = (p: number) => ratios[Math.min(ratios.length - 1, Math.floor(p * ratios.length))] ?? Number.NaN;
  return { ratio, low: at(0.05), high: at(0.95) };
}
