import { quoteIdent, quoteLiteral } from '../offline/duckdb/sql.js';

/**
 * The DuckDB SQL of profiles and drift, kept pure so it can be unit-tested: aggregate expressions over one
 * relation, so a whole data set is summarized in one scan per pass instead of row by row in JS.
 */

/** A DOUBLE literal that parses back to exactly this double (a bare decimal literal would be a DECIMAL). */
export function doubleLiteral(x: number): string {
  if (Number.isNaN(x)) return "'NaN'::DOUBLE";
  if (x === Number.POSITIVE_INFINITY) return "'Infinity'::DOUBLE";
  if (x === Number.NEGATIVE_INFINITY) return "'-Infinity'::DOUBLE";
  return `'${String(x)}'::DOUBLE`;
}

/** The column as the DOUBLE every numeric statistic is computed on. */
export const asDouble = (column: string): string => `CAST(${quoteIdent(column)} AS DOUBLE)`;

/**
 * The histogram bin of `x` (a DOUBLE expression) for bins with these edges: 0 below `edges[0]`, bins + 1
 * above the last edge, else `min(bins, 1 + floor((x − lo) / width))`; NULL stays NULL.
 *
 * @example binExpression('x', [0, 5, 10]) // CASE WHEN x IS NULL THEN NULL WHEN x < 0 THEN 0 …
 */
export function binExpression(x: string, edges: readonly number[]): string {
  const bins = edges.length - 1;
  const lo = edges[0] as number;
  const hi = edges[bins] as number;
  const width = (hi - lo) / bins;
  const inside =
    width > 0
      ? `LEAST(${bins}, 1 + CAST(floor((${x} - ${doubleLiteral(lo)}) / ${doubleLiteral(width)}) AS BIGINT))`
      : '1';
  return `CASE WHEN ${x} IS NULL THEN NULL WHEN ${x} < ${doubleLiteral(lo)} THEN 0 WHEN ${x} > ${doubleLiteral(hi)} THEN ${bins + 1} ELSE ${inside} END`;
}

/**
 * A code for `x` against sorted distinct points p[0..m): `2·L + tie`, where L is how many points are < x and
 * `tie` is 1 when x equals p[L]. From counts per code, "values ≤ p[j]" are the codes ≤ 2j + 1 and "values
 * < p[j]" the codes ≤ 2j. Written as a balanced tree of comparisons (depth log2 m), so it is plain
 * vectorized arithmetic in DuckDB, no join.
 */
export function cdfCodeExpression(x: string, points: readonly number[]): string {
  const m = points.length;
  const leaf = (l: number): string =>
    l >= m
      ? String(2 * m)
      : `CASE WHEN ${x} = ${doubleLiteral(points[l] as number)} THEN ${2 * l + 1} ELSE ${2 * l} END`;
  const search = (lo: number, hi: number): string => {
    if (lo === hi) return leaf(lo);
    const mid = Math.floor((lo + hi) / 2);
    return `CASE WHEN ${x} > ${doubleLiteral(points[mid] as number)} THEN ${search(mid + 1, hi)} ELSE ${search(lo, mid)} END`;
  };
  return `CASE WHEN ${x} IS NULL THEN NULL ELSE ${search(0, m)} END`;
}

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
