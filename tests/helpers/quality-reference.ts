/**
 * A brute-force reference for data-quality checks: plain loops over JS rows, written from docs/semantics.md
 * ("Data quality expectations") independently of the SQL compiler, for randomized comparisons.
 */
import { checks, type Expectation } from '../../src/quality/expectations.js';
import { prng } from './prng.js';

export type RefRow = Record<string, number | string | boolean | null>;

/** Statistics read finite values only (nulls, NaN and infinities are left out). */
const values = (rows: readonly RefRow[], c: string) =>
  rows.map((r) => r[c]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));

/** Linear interpolation between closest ranks (type 7): what quantile_cont / percentile_cont compute. */
export function refQuantile(xs: readonly number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return (s[lo] as number) + (h - lo) * ((s[hi] as number) - (s[lo] as number));
}

/** The observed value of a check on rows: failing rows for row-level checks and unique, else the statistic. */
export function refObserved(e: Expectation, rows: readonly RefRow[]): number | null {
  switch (e.check) {
    case 'not_null':
      return rows.filter((r) => r[e.column] === null).length;
    case 'between':
      return rows.filter((r) => {
        const v = r[e.column] as number | null;
        if (v === null) return false;
        if (Number.isNaN(v)) return true;
        return (e.min !== undefined && v < e.min) || (e.max !== undefined && v > e.max);
      }).length;
    case 'in_set':
      return rows.filter((r) => r[e.column] !== null && !e.values.includes(r[e.column] as string)).length;
    case 'matches': {
      const re = new RegExp(e.pattern);
      return rows.filter((r) => r[e.column] !== null && !re.test(String(r[e.column]))).length;
    }
    case 'unique': {
      const complete = rows.filter((r) => e.columns.every((c) => r[c] !== null));
      const keys = new Set(complete.map((r) => JSON.stringify(e.columns.map((c) => r[c]))));
      return complete.length - keys.size;
    }
    case 'row_count':
      return rows.length;
    case 'mean': {
      const xs = values(rows, e.column);
      return xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length;
    }
    case 'stddev': {
      const xs = values(rows, e.column);
      if (xs.length < 2) return null;
      const m = xs.reduce((a, b) => a + b, 0) / xs.length;
      return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
    }
    case 'quantile':
      return refQuantile(values(rows, e.column), e.q);
    default:
      return null;
  }
}

export const T0 = Date.UTC(2024, 4, 1);
const HOUR = 3_600_000;

export interface QualityRow extends RefRow {
  user_id: number | null;
  day: number | null;
  amount: number | null;
  status: string | null;
  email: string | null;
  ts: number;
}

/** Random rows with nulls, NaN, out-of-range values, unknown statuses and bad emails. */
export function randomQualityRows(seed: number, n: number): QualityRow[] {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  return Array.from({ length: n }, () => ({
    user_id: r() < 0.05 ? null : Math.floor(r() * n * 0.8),
    day: r() < 0.05 ? null : Math.floor(r() * 3),
    amount: r() < 0.1 ? null : r() < 0.03 ? Number.NaN : Math.round((r() * 120 - 10) * 100) / 100,
    status: r() < 0.05 ? null : pick(['new', 'paid', 'paid', 'refunded', 'bogus']),
    email: r() < 0.05 ? null : pick(['a@x.io', 'b@y.org', 'not-an-email', 'c@z.com']),
    ts: T0 + Math.floor(r() * 48 * HOUR),
  }));
}

/** One of every SQL-observed check, over the columns of {@link QualityRow}. */
export const QUALITY_CHECKS: Expectation[] = [
  checks.notNull('user_id'),
  checks.unique('user_id'),
  checks.unique(['user_id', 'day']),
  checks.between('amount', { min: 0, max: 100 }),
  checks.between('amount', { min: 0 }, { name: 'non_negative' }),
  checks.inSet('status', ['new', 'paid', 'refunded']),
  checks.matches('email', '^[^@]+@[^@]+\\.[a-z]+$'),
  checks.rowCount({ min: 1, max: 10_000 }),
  checks.mean('amount', { min: 0, max: 100 }),
  checks.stddev('amount', { max: 1000 }),
  checks.quantile('amount', 0.9, { max: 200 }),
  checks.quantile('amount', 0.25, { min: -100 }),
];
