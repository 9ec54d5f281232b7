import type { DuckDBConnection } from '@duckdb/node-api';
import { TesseraError } from '../core/errors.js';
import { quoteIdent } from '../offline/duckdb/sql.js';
import {
  type CategoricalColumnProfile,
  type CdfPoints,
  type ColumnProfile,
  columnKind,
  DEFAULT_BINS,
  DEFAULT_QUANTILE_LEVELS,
  DEFAULT_TOP_K,
  type Histogram,
  type NumericColumnProfile,
  type Profile,
  type ProfileOptions,
  type ProfileTarget,
} from './profile.js';
import {
  asDouble,
  binBounds,
  boundsHistogram,
  histogramOf,
  nextDown,
  shapeBounds,
  topValueExpression,
  whereClause,
} from './profile-sql.js';

/** A column to profile: its name in the profile, the relation column it is read from, and its DuckDB type. */
export interface ProfileColumn {
  readonly name: string;
  readonly column: string;
  readonly type: string;
}

/** What to profile: a relation (the SQL after FROM), an optional row filter, and columns. */
export interface RelationInput {
  /** e.g. `read_parquet('/repo/data/orders/**\/*.parquet', hive_partitioning = true)` or a table name. */
  readonly relation: string;
  /** A SQL condition on the relation's columns (the event-time window). */
  readonly filter?: string;
  readonly columns: readonly ProfileColumn[];
}

/** Numeric columns with at most this many distinct values (by the HyperLogLog estimate) use all of them as CDF points. */
const DISTINCT_POINTS = 256;
/** Values sampled (reservoir) for quantile estimates: rank error about 0.2 percentile points at worst. */
const QUANTILE_SAMPLE = 65_536;

const num = (v: unknown): number | null =>
  v === null || v === undefined ? null : typeof v === 'number' ? v : Number(v as bigint | string);
const count = (v: unknown): number => num(v) ?? 0;

/** The [key, count] pairs `histogramOf` returns, as a map. */
function counts(v: unknown): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of (v ?? []) as { key: unknown; value: unknown }[]) out.set(count(e.key), count(e.value));
  return out;
}

async function one(connection: DuckDBConnection, sql: string): Promise<Record<string, unknown>> {
  const reader = await connection.runAndReadAll(sql);
  return (reader.getRowObjectsJS()[0] ?? {}) as Record<string, unknown>;
}

/**
 * Profiles the columns of a relation with DuckDB aggregates: one scan for counts, moments, distinct counts and
 * quantiles (t-digest estimates); one listing the values of numeric columns with few distinct values; one for
 * the histograms and the exact distribution function at the CDF points (bins and points depend on the first
 * scans); one GROUP BY per categorical column for its top values.
 *
 * @example
 * const p = await profileRelation(conn, { relation: "read_parquet('t.parquet')",
 *   columns: [{ name: 'amount', column: 'amount', type: 'DOUBLE' }] }, { kind: 'training-set', path: 't.parquet' });
 */
export async function profileRelation(
  connection: DuckDBConnection,
  input: RelationInput,
  target: ProfileTarget,
  options: ProfileOptions & { readonly window?: { start: string; end: string } } = {},
): Promise<Profile> {
  const levels = options.quantileLevels ?? DEFAULT_QUANTILE_LEVELS;
  const bins = options.bins ?? DEFAULT_BINS;
  const topK = options.topK ?? DEFAULT_TOP_K;
  if (!Number.isInteger(bins) || bins < 1) {
    throw new TesseraError('histogram bins must be a positive integer', {
      field: 'bins',
      actual: String(bins),
    });
  }
  const from = `FROM ${input.relation}${whereClause(input.filter)}`;
  const kinds = input.columns.map((c) => columnKind(c.type));
  const levelList = `[${levels.map((l) => String(l)).join(', ')}]`;

  const first: string[] = ['count(*) AS n'];
  input.columns.forEach((c, i) => {
    const col = quoteIdent(c.column);
    first.push(`count(${col}) AS c${i}_n`, `approx_count_distinct(${col}) AS c${i}_d`);
    if (kinds[i] === 'numeric') {
      const x = asDouble(c.column);
      first.push(
        `min(${x}) AS c${i}_min`,
        `max(${x}) AS c${i}_max`,
        `avg(${x}) AS c${i}_mean`,
        `stddev_samp(${x}) AS c${i}_sd`,
        `reservoir_quantile(${x}, ${levelList}, ${QUANTILE_SAMPLE}) AS c${i}_q`,
      );
    } else if (kinds[i] === 'other') {
      first.push(`CAST(min(${col}) AS VARCHAR) AS c${i}_min`, `CAST(max(${col}) AS VARCHAR) AS c${i}_max`);
    }
  });
  const r1 = await one(connection, `SELECT ${first.join(', ')} ${from}`);
  const rowCount = count(r1['n']);

  // Few distinct values (counts, flags, small integers): every value is a CDF point, so KS is exact there.
  const distinctLists: string[] = [];
  input.columns.forEach((c, i) => {
    const d = count(r1[`c${i}_d`]);
    if (kinds[i] === 'numeric' && d > 0 && d <= DISTINCT_POINTS)
      distinctLists.push(
        `list(DISTINCT ${asDouble(c.column)}) FILTER (WHERE ${asDouble(c.column)} IS NOT NULL) AS v${i}`,
      );
  });
  const r1b =
    distinctLists.length > 0 ? await one(connection, `SELECT ${distinctLists.join(', ')} ${from}`) : {};
  const quantilesOf = (i: number): number[] => {
    // Quantiles of a uniform sample (exact up to QUANTILE_SAMPLE values); the ends are the exact min and max.
    const q = ((r1[`c${i}_q`] ?? []) as unknown[]).map((v) => num(v) as number);
    const min = num(r1[`c${i}_min`]);
    const max = num(r1[`c${i}_max`]);
    if (min === null || max === null) return [];
    return q.map((v, k) => (levels[k] === 0 ? min : levels[k] === 1 ? max : Math.min(max, Math.max(min, v))));
  };

  // Second scan: histograms and CDF codes of numeric columns, over edges and points from the first.
  const shapes = new Map<number, { edges: number[]; points: number[]; exact: boolean }>();
  const second: string[] = [];
  input.columns.forEach((c, i) => {
    if (kinds[i] !== 'numeric') return;
    const min = num(r1[`c${i}_min`]);
    const max = num(r1[`c${i}_max`]);
    if (min === null || max === null) return;
    const width = (max - min) / bins;
    const edges =
      max > min
        ? Array.from({ length: bins + 1 }, (_, b) => (b === bins ? max : min + b * width))
        : [min, max];
    const distinct = ((r1b[`v${i}`] ?? []) as unknown[]).map((v) => num(v) as number);
    const values =
      distinct.length > 0 && distinct.length <= 2 * DISTINCT_POINTS
        ? distinct
        : [min, ...quantilesOf(i), max];
    const points = [...new Set(values)].sort((a, b) => a - b);
    shapes.set(i, { edges, points, exact: values === distinct });
    const x = asDouble(c.column);
    second.push(`${boundsHistogram(x, shapeBounds(edges, points))} AS h${i}`);
  });
  const r2 = second.length > 0 ? await one(connection, `SELECT ${second.join(', ')} ${from}`) : {};

  const columns: ColumnProfile[] = [];
  for (const [i, c] of input.columns.entries()) {
    const nonNull = count(r1[`c${i}_n`]);
    const base = {
      name: c.name,
      ...(c.column !== c.name ? { sourceColumn: c.column } : {}),
      type: c.type,
      count: nonNull,
      nulls: rowCount - nonNull,
      distinct: count(r1[`c${i}_d`]),
    };
    const kind = kinds[i];
    if (kind === 'numeric') {
      const shape = shapes.get(i) ?? { edges: [], points: [], exact: false };
      const { histogram, cdf } = shapeFrom(r2[`h${i}`], shape.edges, shape.points);
      const quantiles = shape.exact ? nearestRank(cdf, levels) : quantilesOf(i);
      const profile: NumericColumnProfile = {
        ...base,
        kind: 'numeric',
        min: num(r1[`c${i}_min`]),
        max: num(r1[`c${i}_max`]),
        mean: num(r1[`c${i}_mean`]),
        stddev: num(r1[`c${i}_sd`]),
        quantiles: { levels: quantiles.length > 0 ? [...levels] : [], values: quantiles },
        histogram,
        cdf,
      };
      columns.push(profile);
    } else if (kind === 'categorical') {
      const col = quoteIdent(c.column);
      const reader = await connection.runAndReadAll(
        `SELECT CAST(${col} AS VARCHAR) AS v, count(*) AS n ${from}${input.filter ? ' AND' : ' WHERE'} ${col} IS NOT NULL
         GROUP BY v ORDER BY n DESC, v LIMIT ${Math.max(0, Math.trunc(topK))}`,
      );
      const topValues = reader
        .getRowObjectsJS()
        .map((r) => ({ value: String(r['v']), count: count(r['n']) }));
      const profile: CategoricalColumnProfile = {
        ...base,
        kind: 'categorical',
        topValues,
        otherCount: nonNull - topValues.reduce((s, t) => s + t.count, 0),
      };
      columns.push(profile);
    } else {
      const min = r1[`c${i}_min`];
      const max = r1[`c${i}_max`];
      columns.push({
        ...base,
        kind: 'other',
        min: min === null || min === undefined ? null : String(min),
        max: max === null || max === undefined ? null : String(max),
      });
    }
  }
  return {
    format: 1,
    target,
    createdAt: new Date().toISOString(),
    ...(options.window ? { window: options.window } : {}),
    rowCount,
    columns,
  };
}

/**
 * Exact quantiles by nearest rank from a CDF whose points are every distinct value: at level q, the smallest
 * value with at least q·n values at or below it (the min at q = 0).
 */
export function nearestRank(cdf: CdfPoints, levels: readonly number[]): number[] {
  const n = cdf.atOrBelow.at(-1) ?? 0;
  if (n === 0) return [];
  return levels.map((q) => {
    // Levels are decimals like 0.29, whose product with n may land a hair above an integer.
    const rank = Math.max(1, Math.ceil(q * n - 1e-9));
    const j = cdf.atOrBelow.findIndex((c) => c >= rank);
    return cdf.points[j === -1 ? cdf.points.length - 1 : j] as number;
  });
}

/**
 * The histogram over `edges` and the CDF at `points`, from one `boundsHistogram` over `shapeBounds(edges,
 * points)`: with cum(b) the count of values ≤ b, bin k holds cum(bound k) − cum(bound k − 1), the overflow bin
 * the rest, and the CDF is cum(p) (≤ p) and cum(nextDown(p)) (< p).
 */
export function shapeFrom(
  entries: unknown,
  edges: readonly number[],
  points: readonly number[],
): { histogram: Histogram; cdf: CdfPoints } {
  const byBound = new Map<number, number>();
  let total = 0;
  for (const e of (entries ?? []) as { key: unknown; value: unknown }[]) {
    byBound.set(Number(e.key), count(e.value));
    total += count(e.value);
  }
  const cumulative = new Map<number, number>();
  let running = 0;
  for (const b of shapeBounds(edges, points)) {
    running += byBound.get(b) ?? 0;
    cumulative.set(b, running);
  }
  const cum = (b: number): number => cumulative.get(b) ?? 0;
  let histogram: Histogram = { edges: [], counts: [] };
  if (edges.length >= 2) {
    const bounds = binBounds(edges);
    const counts = bounds.map((b, k) => cum(b) - (k > 0 ? cum(bounds[k - 1] as number) : 0));
    counts.push(total - cum(bounds[bounds.length - 1] as number));
    histogram = { edges: [...edges], counts };
  }
  return {
    histogram,
    cdf: { points: [...points], below: points.map((p) => cum(nextDown(p))), atOrBelow: points.map(cum) },
  };
}

/** What a current data set looks like measured on a reference column's bins, points and top values. */
export interface CurrentColumn {
  readonly name: string;
  readonly rows: number;
  readonly count: number;
  readonly nulls: number;
  readonly mean: number | null;
  readonly stddev: number | null;
  /** Counts per reference histogram bin (numeric). */
  readonly binCounts?: readonly number[];
  /** The current CDF at the reference's points (numeric). */
  readonly cdf?: CdfPoints;
  /** Counts per reference top value, then "other" last (categorical). */
  readonly categoryCounts?: readonly number[];
}

/** A reference column and the relation column holding its current values. */
export interface MeasuredPair {
  readonly reference: ColumnProfile;
  readonly column: string;
  /**
   * A condition saying a row is about this feature at all (serving logs: its status column is set, as files of
   * other services lack the column); rows failing it are neither values nor nulls. Default: every row.
   */
  readonly servedIf?: string;
}

/**
 * Measures current data against reference columns in one scan: counts, nulls, mean and stddev, and the counts
 * drift needs (numeric: per reference bin and at the reference CDF points; categorical: per reference top value
 * and other).
 */
export async function measureAgainst(
  connection: DuckDBConnection,
  input: { readonly relation: string; readonly filter?: string },
  pairs: readonly MeasuredPair[],
): Promise<CurrentColumn[]> {
  const select: string[] = ['count(*) AS n'];
  pairs.forEach(({ reference, column, servedIf }, i) => {
    const rows = servedIf === undefined ? 'count(*)' : `count(*) FILTER (WHERE ${servedIf})`;
    select.push(`${rows} AS c${i}_rows`, `count(${quoteIdent(column)}) AS c${i}_n`);
    if (reference.kind === 'numeric') {
      const x = asDouble(column);
      select.push(`avg(${x}) AS c${i}_mean`, `stddev_samp(${x}) AS c${i}_sd`);
      const bounds = shapeBounds(reference.histogram.edges, reference.cdf.points);
      if (bounds.length > 0) select.push(`${boundsHistogram(x, bounds)} AS h${i}`);
    } else if (reference.kind === 'categorical') {
      select.push(
        `${histogramOf(
          topValueExpression(
            column,
            reference.topValues.map((t) => t.value),
          ),
        )} AS t${i}`,
      );
    }
  });
  const r = await one(
    connection,
    `SELECT ${select.join(', ')} FROM ${input.relation}${whereClause(input.filter)}`,
  );
  return pairs.map(({ reference }, i) => {
    const rows = count(r[`c${i}_rows`]);
    const nonNull = count(r[`c${i}_n`]);
    const base = {
      name: reference.name,
      rows,
      count: nonNull,
      nulls: rows - nonNull,
      mean: num(r[`c${i}_mean`]),
      stddev: num(r[`c${i}_sd`]),
    };
    if (reference.kind === 'numeric') {
      const shape = shapeFrom(r[`h${i}`], reference.histogram.edges, reference.cdf.points);
      return { ...base, binCounts: shape.histogram.counts, cdf: shape.cdf };
    }
    if (reference.kind === 'categorical') {
      const byPosition = counts(r[`t${i}`]);
      return {
        ...base,
        categoryCounts: [
          ...reference.topValues.map((_, p) => byPosition.get(p + 1) ?? 0),
          byPosition.get(0) ?? 0,
        ],
      };
    }
    return base;
  });
}
