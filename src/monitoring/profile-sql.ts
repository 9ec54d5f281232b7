import { quoteIdent, quoteLiteral } from '../offline/duckdb/sql.js';

/**
 * The DuckDB SQL of profiles and drift, kept pure so it can be unit-tested: aggregate expressions over one
 * relation, so a whole data set is summarized in one scan per pass instead of row by row in JS.
 */

/** A DOUBLE literal that parses back to exactly this double (exponent notation: DuckDB reads it as DOUBLE). */
export function doubleLiteral(x: number): string {
  if (Number.isNaN(x)) return "'NaN'::DOUBLE";
  if (x === Number.POSITIVE_INFINITY) return "'Infinity'::DOUBLE";
  if (x === Number.NEGATIVE_INFINITY) return "'-Infinity'::DOUBLE";
  // toExponential() without digits prints as many as needed to round-trip the double.
  return x.toExponential();
}

/** The column as the DOUBLE every numeric statistic is computed on. */
export const asDouble = (column: string): string => `CAST(${quoteIdent(column)} AS DOUBLE)`;

/**
 * The upper bounds, for DuckDB `histogram(x, bounds)` (which counts values in (b[k−1], b[k]]), that put values
 * into the bins of `Histogram`: bin 0 is x < edges[0], bin k is edges[k−1] ≤ x < edges[k], the last regular bin
 * also holds x = edges[bins], and values above it land under the key Infinity (the overflow bin).
 */
export function binBounds(edges: readonly number[]): number[] {
  const last = edges.length - 1;
  return edges.map((e, k) => (k === last ? e : nextDown(e)));
}

const doubleList = (xs: readonly number[]): string => `[${xs.map(doubleLiteral).join(', ')}]::DOUBLE[]`;

/** The largest double below `x` (x − one ulp), so that `v ≤ nextDown(p)` is `v < p` for every double v. */
export function nextDown(x: number): number {
  if (Number.isNaN(x) || x === Number.NEGATIVE_INFINITY) return x;
  if (x === 0) return -Number.MIN_VALUE;
  const bits = new BigInt64Array(new Float64Array([x]).buffer);
  bits[0] = (bits[0] as bigint) + (x > 0 ? -1n : 1n);
  return new Float64Array(bits.buffer)[0] as number;
}

/**
 * Every bound a numeric column is counted at: the bins of `edges` (`binBounds`), the CDF points, and the points
 * moved one double down (x ≤ nextDown(p) ⟺ x < p), sorted and distinct.
 */
export function shapeBounds(edges: readonly number[], points: readonly number[]): number[] {
  const all = new Set([...binBounds(edges), ...points, ...points.map(nextDown)]);
  return [...all].sort((a, b) => a - b);
}

/**
 * One aggregate counting `x` against sorted bounds: DuckDB's `histogram(x, bounds)` counts values in
 * (b[k−1], b[k]] by a native binary search (no per-row SQL expression), values above the last bound under the
 * key Infinity, and skips NULLs. Cumulated, it gives "values ≤ b" at every bound.
 */
export const boundsHistogram = (x: string, bounds: readonly number[]): string =>
  `map_entries(histogram(${x}, ${doubleList(bounds)}))`;

/** Position (1-based) of the value's text among `values`, 0 when not among them, NULL for NULL. */
export function topValueExpression(column: string, values: readonly string[]): string {
  const c = `CAST(${quoteIdent(column)} AS VARCHAR)`;
  if (values.length === 0) return `CASE WHEN ${c} IS NULL THEN NULL ELSE 0 END`;
  const list = `[${values.map(quoteLiteral).join(', ')}]::VARCHAR[]`;
  return `CASE WHEN ${c} IS NULL THEN NULL ELSE coalesce(list_position(${list}, ${c}), 0) END`;
}

/** `histogram(expr)` as a list of [key, count] structs, sorted by key (one aggregate). */
export const histogramOf = (expr: string): string => `list_sort(map_entries(histogram(${expr})))`;

/** The WHERE clause of a profile run, or '' for none. */
export const whereClause = (filter: string | undefined): string =>
  filter === undefined || filter === '' ? '' : ` WHERE (${filter})`;
