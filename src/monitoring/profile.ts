/**
 * Profiles: summary statistics of a data set (a training set, a slice of a source, a view's features), kept as a
 * named reference so later data can be compared with it (`drift.ts`). Plain JSON data: it is stored as-is in the
 * registry database (`profile-store.ts`). How each statistic is defined is in docs/semantics.md, "Profiles and
 * drift".
 *
 * @example
 * const profile = await profileRelation(connection, { relation: "read_parquet('train.parquet')",
 *   columns: [{ name: 'amount', type: 'DOUBLE' }], target: { kind: 'training-set', path: 'train.parquet' } });
 * profile.columns[0]; // { kind: 'numeric', count, nulls, mean, quantiles, histogram, cdf, … }
 */
export interface Profile {
  /** Format version of this document, for readers of stored profiles. */
  readonly format: 1;
  readonly target: ProfileTarget;
  /** When the profile was computed (ISO-8601). */
  readonly createdAt: string;
  /** The event-time window profiled, [start, end), when one was given. */
  readonly window?: { readonly start: string; readonly end: string };
  /** Rows profiled (null values included). */
  readonly rowCount: number;
  readonly columns: readonly ColumnProfile[];
}

/** What was profiled. */
export type ProfileTarget =
  | { readonly kind: 'source'; readonly source: string }
  | { readonly kind: 'view'; readonly view: string; readonly source: string }
  | { readonly kind: 'training-set'; readonly path: string }
  | { readonly kind: 'relation'; readonly description: string };

export type ColumnProfile = NumericColumnProfile | CategoricalColumnProfile | OtherColumnProfile;

interface ColumnProfileBase {
  /** Column name in the profile (`view__feature` for a view's features). */
  readonly name: string;
  /** The column it was read from when that differs (a view feature's source column). */
  readonly sourceColumn?: string;
  /** DuckDB type of the column. */
  readonly type: string;
  /** Non-null values. */
  readonly count: number;
  readonly nulls: number;
  /** Approximate distinct non-null values (HyperLogLog, DuckDB `approx_count_distinct`). */
  readonly distinct: number;
}

/** Integers, floats and decimals; every statistic is computed on the value cast to DOUBLE. */
export interface NumericColumnProfile extends ColumnProfileBase {
  readonly kind: 'numeric';
  readonly min: number | null;
  readonly max: number | null;
  readonly mean: number | null;
  /** Sample standard deviation (n − 1); null below two values. */
  readonly stddev: number | null;
  /**
   * Quantiles: `values[i]` is the quantile at `levels[i]`. Exact (nearest rank) when the column has at most 256
   * distinct values; otherwise quantiles of a uniform sample of 65,536 values (DuckDB `reservoir_quantile`; exact
   * quantiles cost a sort per level) with the exact min and max at the ends.
   */
  readonly quantiles: { readonly levels: readonly number[]; readonly values: readonly number[] };
  /** Fixed-width bins between the reference min and max, with an underflow and an overflow bin. */
  readonly histogram: Histogram;
  /**
   * The exact distribution function at the CDF points, what KS is computed against: every distinct value when
   * there are at most 256 of them, else the min, the quantile estimates and the max.
   */
  readonly cdf: CdfPoints;
}

/**
 * Fixed-width bins: `edges` are min + k·(max − min)/bins of the reference (k = 0 … bins; the last edge is the
 * max itself). `counts[0]` counts values below `edges[0]`, `counts[k]` (1 ≤ k ≤ bins) values in
 * [edges[k − 1], edges[k]) — the last regular bin also holds `edges[bins]` — and `counts[bins + 1]` values above
 * `edges[bins]`. Later data is binned by comparing with these stored edges, so it lands in the same bins.
 */
export interface Histogram {
  readonly edges: readonly number[];
  readonly counts: readonly number[];
}

/** At each point p (sorted, distinct): how many values are < p and how many are ≤ p. */
export interface CdfPoints {
  readonly points: readonly number[];
  readonly below: readonly number[];
  readonly atOrBelow: readonly number[];
}

/** Strings and booleans: the most frequent values. */
export interface CategoricalColumnProfile extends ColumnProfileBase {
  readonly kind: 'categorical';
  /** Most frequent values (as text), most frequent first; ties by value. */
  readonly topValues: readonly { readonly value: string; readonly count: number }[];
  /** Non-null values outside `topValues`. */
  readonly otherCount: number;
}

/** Timestamps, dates, lists, blobs: counted, not monitored for drift. */
export interface OtherColumnProfile extends ColumnProfileBase {
  readonly kind: 'other';
  readonly min: string | null;
  readonly max: string | null;
}

/** Options of a profile run; the defaults are the documented ones. */
export interface ProfileOptions {
  /** Quantile levels; default 0, 0.01, …, 1 (101 levels). */
  readonly quantileLevels?: readonly number[];
  /** Regular histogram bins; default 10. */
  readonly bins?: number;
  /** Most frequent values kept per categorical column; default 20. */
  readonly topK?: number;
}

export const DEFAULT_QUANTILE_LEVELS: readonly number[] = Array.from({ length: 101 }, (_, i) => i / 100);
export const DEFAULT_BINS = 10;
export const DEFAULT_TOP_K = 20;

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|REAL|DECIMAL(\(\d+,\s*\d+\))?)$/i;
const CATEGORICAL = /^(VARCHAR|BOOLEAN|ENUM\(.*\))$/i;

/** How a column of a DuckDB type is profiled. */
export function columnKind(duckType: string): ColumnProfile['kind'] {
  const t = duckType.trim();
  if (NUMERIC.test(t)) return 'numeric';
  if (CATEGORICAL.test(t)) return 'categorical';
  return 'other';
}

/** One column of a profile by name. */
export const findColumn = (profile: Profile, name: string): ColumnProfile | undefined =>
  profile.columns.find((c) => c.name === name);
