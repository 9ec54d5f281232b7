import type { CdfPoints, ColumnProfile } from './profile.js';
import type { CurrentColumn } from './profiler.js';

/**
 * Drift statistics between a stored reference profile and current data measured on the reference's own bins,
 * points and top values (`measureAgainst`). Pure functions: the definitions are in docs/semantics.md,
 * "Profiles and drift".
 */

/** Proportions below this are raised to it in PSI, so an empty bin adds a large but finite term. */
export const PSI_EPSILON = 1e-4;

/**
 * Population Stability Index of `actual` against `expected` counts over the same buckets:
 * Σ (a − e) · ln(a / e) over proportions, each proportion raised to at least `epsilon`. Null when either side
 * has no values.
 *
 * @example psi([50, 50], [50, 50]) // 0
 */
export function psi(
  expected: readonly number[],
  actual: readonly number[],
  epsilon = PSI_EPSILON,
): number | null {
  const eTotal = expected.reduce((s, v) => s + v, 0);
  const aTotal = actual.reduce((s, v) => s + v, 0);
  if (eTotal <= 0 || aTotal <= 0 || expected.length !== actual.length) return null;
  let sum = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max((expected[i] as number) / eTotal, epsilon);
    const a = Math.max((actual[i] as number) / aTotal, epsilon);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/**
 * The two-sample Kolmogorov–Smirnov statistic from both distribution functions evaluated exactly at the
 * reference's points p[j] (the distinct reference quantiles) and just below them:
 * `statistic = max_j max(|Fr(p_j) − Fc(p_j)|, |Fr(p_j−) − Fc(p_j−)|)`.
 * It never exceeds the exact statistic D, and D ≤ statistic + maxError, where maxError is the largest
 * reference mass strictly between two consecutive points (≤ 0.01 with percentile points): between points both
 * functions are monotone, so neither can drift further apart than the reference moves.
 *
 * @example ks(reference.cdf, reference.count, current.cdf, current.count) // { statistic: 0.03, maxError: 0.0099 }
 */
export function ks(
  reference: CdfPoints,
  referenceCount: number,
  current: CdfPoints,
  currentCount: number,
): { statistic: number; maxError: number } | null {
  if (referenceCount <= 0 || currentCount <= 0 || reference.points.length === 0) return null;
  let statistic = 0;
  let maxError = 0;
  for (let j = 0; j < reference.points.length; j++) {
    const rAt = (reference.atOrBelow[j] as number) / referenceCount;
    const rBelow = (reference.below[j] as number) / referenceCount;
    const cAt = (current.atOrBelow[j] as number) / currentCount;
    const cBelow = (current.below[j] as number) / currentCount;
    statistic = Math.max(statistic, Math.abs(rAt - cAt), Math.abs(rBelow - cBelow));
    if (j + 1 < reference.points.length)
      maxError = Math.max(
        maxError,
        ((reference.below[j + 1] as number) - (reference.atOrBelow[j] as number)) / referenceCount,
      );
  }
  return { statistic, maxError };
}

/** When a feature counts as drifted. */
export interface DriftThresholds {
  /** PSI at or above this is an alert (fails `tessera monitor`). Default 0.2. */
  readonly psi: number;
  /** PSI at or above this is a warning (reported, does not fail). Default 0.1. */
  readonly psiWarn: number;
  /** KS at or above this is an alert. Default 0.1. */
  readonly ks: number;
  /** A null rate that grew by at least this much (absolute, 0.05 = five points) is an alert. Default 0.05. */
  readonly nullRate: number;
}

export const DEFAULT_THRESHOLDS: DriftThresholds = { psi: 0.2, psiWarn: 0.1, ks: 0.1, nullRate: 0.05 };

/** One feature's drift: the statistics, and what they breached. */
export interface FeatureDrift {
  /** Reference column name. */
  readonly feature: string;
  /** Column of the current data compared with it. */
  readonly column: string;
  readonly kind: ColumnProfile['kind'];
  readonly referenceCount: number;
  readonly currentCount: number;
  readonly psi: number | null;
  readonly ks: number | null;
  /** Bound on |ks − exact two-sample KS| (see `ks`). */
  readonly ksMaxError: number | null;
  readonly nullRate: { readonly reference: number; readonly current: number; readonly change: number };
  readonly mean: {
    readonly reference: number | null;
    readonly current: number | null;
    readonly shiftInStddevs: number | null;
  };
  /** The thresholds this feature was judged by (defaults, its view's `monitoring`, then command-line flags). */
  readonly thresholds: DriftThresholds;
  /** `alert`: a threshold breached; `warn`: PSI above the warning level; `no_data`: no current values. */
  readonly status: 'ok' | 'warn' | 'alert' | 'no_data';
  /** Which thresholds were breached, e.g. `psi 0.41 ≥ 0.2`. */
  readonly breaches: readonly string[];
}

const rate = (part: number, whole: number): number => (whole > 0 ? part / whole : 0);

/**
 * Compares one reference column with the same feature's current measurements.
 *
 * @example compareColumn(reference, current[0], 'user_stats__clicks', DEFAULT_THRESHOLDS).status // 'ok'
 */
export function compareColumn(
  reference: ColumnProfile,
  current: CurrentColumn,
  column: string,
  thresholds: DriftThresholds,
): FeatureDrift {
  let psiValue: number | null = null;
  let ksValue: { statistic: number; maxError: number } | null = null;
  let refMean: number | null = null;
  let shift: number | null = null;
  if (reference.kind === 'numeric') {
    refMean = reference.mean;
    if (current.binCounts) psiValue = psi(reference.histogram.counts, current.binCounts);
    if (current.cdf) ksValue = ks(reference.cdf, reference.count, current.cdf, current.count);
    if (refMean !== null && current.mean !== null && reference.stddev !== null && reference.stddev > 0)
      shift = (current.mean - refMean) / reference.stddev;
  } else if (reference.kind === 'categorical' && current.categoryCounts) {
    psiValue = psi(
      [...reference.topValues.map((t) => t.count), reference.otherCount],
      current.categoryCounts,
    );
  }
  const refRows = reference.count + reference.nulls;
  const nullRate = {
    reference: rate(reference.nulls, refRows),
    current: rate(current.nulls, current.rows),
    change: rate(current.nulls, current.rows) - rate(reference.nulls, refRows),
  };
  const breaches: string[] = [];
  const f = (x: number) => x.toFixed(3);
  if (psiValue !== null && psiValue >= thresholds.psi)
    breaches.push(`psi ${f(psiValue)} ≥ ${thresholds.psi}`);
  if (ksValue !== null && ksValue.statistic >= thresholds.ks)
    breaches.push(`ks ${f(ksValue.statistic)} ≥ ${thresholds.ks}`);
  if (current.rows > 0 && nullRate.change >= thresholds.nullRate)
    breaches.push(`null rate +${f(nullRate.change)} ≥ ${thresholds.nullRate}`);
  const status: FeatureDrift['status'] =
    current.rows === 0
      ? 'no_data'
      : breaches.length > 0
        ? 'alert'
        : psiValue !== null && psiValue >= thresholds.psiWarn
          ? 'warn'
          : 'ok';
  return {
    feature: reference.name,
    column,
    kind: reference.kind,
    referenceCount: reference.count,
    currentCount: current.count,
    psi: psiValue,
    ks: ksValue?.statistic ?? null,
    ksMaxError: ksValue?.maxError ?? null,
    nullRate,
    mean: {
      reference: refMean,
      current: reference.kind === 'numeric' ? current.mean : null,
      shiftInStddevs: shift,
    },
    thresholds,
    status,
    breaches,
  };
}
