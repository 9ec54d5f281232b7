import type {
  Aggregation,
  AggregationWindow,
  ConditionValue,
  RowCondition,
} from '../../definitions/aggregation-view.js';
import { KEYS_TABLE, type SourceScan, timeRangeFilter } from './point-in-time-sql.js';
import { quoteIdent, quoteLiteral } from './sql.js';

/**
 * Compiles point-in-time window aggregations into DuckDB SQL (docs/semantics.md, "Windowed aggregations"):
 * for each spine row (keys, t) and each selected aggregation × window, the aggregate over the events with the
 * same keys that pass the row filter, with floor_h(t − w) ≤ event time ≤ t. One range join per view covers every
 * window (the widest one), and each window keeps its own rows with a FILTER clause. Pure: plan in, SQL out.
 *
 * Two choices make it fast on large spines (docs/benchmarks.md, "Windowed aggregations"):
 * - `count_distinct` is a plain filtered count, not `count(DISTINCT …)`: an event counts when no later event of the
 *   same entity with the same value is in the window, i.e. when its value's next occurrence (a `lead` over the
 *   events sorted by keys, value, time) is absent or after t. That counts each distinct value exactly once
 *   (among equal times the last row of the sort), without DuckDB's per-aggregate (row, value) hash tables.
 * - The events reach the join grouped by entity (the window's sort, or an ORDER BY when the view has no
 *   `count_distinct`). DuckDB builds the join's hash table on the spine and streams the events through it, so
 *   the joined rows arrive in event order; grouped by entity, consecutive rows update the same few spine rows'
 *   aggregate states instead of states scattered over the whole spine, which is what made the GROUP BY slow.
 *   Only events that some spine row's window reaches are sorted (a semi join with the join's own condition), so
 *   the sort grows with the spine, not with the source: a small spine over a large source costs what it did.
 */

/** One output column: an aggregation over one of its windows. */
export interface AggregationOutput {
  readonly aggregation: Aggregation;
  readonly window: AggregationWindow;
  readonly output: string;
}

export interface AggregationScan extends SourceScan {
  readonly where: readonly RowCondition[];
  readonly outputs: readonly AggregationOutput[];
  /** Spine key aliases (`__k{n}` of the keys table) in the order of `joinKeys`. */
  readonly spineKeyAliases: readonly string[];
}

/** Temp table holding one aggregation view's results: `__rid` and one column per output, in order. */
export const aggregationTable = (i: number): string => `__tessera_agg_${i}`;

/** The widest reach of a scan's windows into the past: w + h, enough to cover floor_h(t − w). */
export const lookbackMs = (scan: Pick<AggregationScan, 'outputs'>): number =>
  Math.max(...scan.outputs.map((o) => o.window.ms + o.window.hopMs));

/** Reads a column as the aggregation core sees it: timestamps as epoch ms, so both paths compare integers. */
function valueExpr(column: string, inputType: string | undefined): string {
  const q = quoteIdent(column);
  return inputType === 'timestamp' ? `epoch_ms(CAST(${q} AS TIMESTAMPTZ))` : q;
}

/** The SQL form of a row filter; must agree with aggregation/row-filter.ts (null comparisons are false). */
export function rowFilterSql(conditions: readonly RowCondition[]): string {
  if (conditions.length === 0) return 'true';
  return conditions
    .map((c) => {
      const col = quoteIdent(c.column);
      switch (c.op) {
        case 'is_null':
          return `${col} IS NULL`;
        case 'not_null':
          return `${col} IS NOT NULL`;
        case 'in':
          return `(${col} IS NOT NULL AND ${col} IN (${(c.value as ConditionValue[]).map(literal).join(', ')}))`;
        case 'not_in':
          return `(${col} IS NOT NULL AND ${col} NOT IN (${(c.value as ConditionValue[]).map(literal).join(', ')}))`;
        default:
          return `coalesce(${col} ${SQL_OPS[c.op]} ${literal(c.value as ConditionValue)}, false)`;
      }
    })
    .join(' AND ');
}

const SQL_OPS = { eq: '=', ne: '<>', lt: '<', lte: '<=', gt: '>', gte: '>=' } as const;

function literal(v: ConditionValue): string {
  if (typeof v === 'string') return quoteLiteral(v);
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  return Number.isInteger(v) ? String(v) : `${v}::DOUBLE`;
}

/** A window's first covered event time for spine time `t` (ms): floor_h(t − w), a true floor. */
const windowStartSql = (w: AggregationWindow, t: string): string =>
  `CAST(floor((${t} - ${w.ms}) / ${w.hopMs}) AS BIGINT) * ${w.hopMs}`;

/** The column holding the time of the next event with the same keys and value (see the file comment). */
const nextAlias = (valueAlias: string): string => `__n${valueAlias.slice('__c'.length)}`;

/** The aggregate expression of one output over `r` (events) joined to `s` (spine, with `startColumn`). */
function aggregateExpr(o: AggregationOutput, valueAlias: string | undefined, startColumn: string): string {
  const a = o.aggregation;
  const inWindow = `r.__e >= s.${startColumn}`;
  if (valueAlias === undefined) return `count(r.__e) FILTER (WHERE ${inWindow})`;
  const v = `r.${valueAlias}`;
  const isFloat = a.inputType === 'float32' || a.inputType === 'float64';
  // NaN and ±Infinity are ignored like nulls (docs/semantics.md); integers read as exact.
  const ok = `${v} IS NOT NULL${isFloat ? ` AND isfinite(${v})` : ''}`;
  const filter = `FILTER (WHERE ${inWindow} AND ${ok})`;
  const ordered = `{'t': r.__e, 'v': ${v}}`;
  const back = (x: string) => (a.inputType === 'timestamp' ? `make_timestamptz(${x} * 1000)` : x);
  switch (a.fn) {
    case 'count':
      return `count(${v}) ${filter}`;
    case 'sum':
      return isFloat ? `fsum(${v}) ${filter}` : `CAST(sum(${v}) ${filter} AS BIGINT)`;
    case 'avg':
      return `fsum(${v}) ${filter} / nullif(count(${v}) ${filter}, 0)`;
    case 'variance':
      return `var_samp(${v}) ${filter}`;
    case 'stddev':
      return `stddev_samp(${v}) ${filter}`;
    case 'min':
      return back(`min(${v}) ${filter}`);
    case 'max':
      return back(`max(${v}) ${filter}`);
    case 'last':
      return back(`max_by(${v}, ${ordered}) ${filter}`);
    case 'last_k': {
      const list = `max_by(${v}, ${ordered}, ${a.k}) ${filter}`;
      return a.inputType === 'timestamp' ? `list_transform(${list}, x -> make_timestamptz(x * 1000))` : list;
    }
    case 'count_distinct': {
      // count(DISTINCT v): the events in the window whose value does not occur again up to t.
      const next = `r.${nextAlias(valueAlias)}`;
      return `least(count(*) FILTER (WHERE ${inWindow} AND ${ok} AND (${next} IS NULL OR ${next} > s.__t)), ${a.maxDistinct})`;
    }
  }
}

/**
 * `__tessera_agg_i(__rid, __out0…)`: every output of one aggregation view for every spine row that has a
 * timestamp and non-null keys (the others get NULL everywhere from the assembly's LEFT JOIN).
 * `range` (spine time range, µs) prunes the source scan to [min − lookback, max].
 */
export function compileAggregationJoin(
  scan: AggregationScan,
  i: number,
  range: { minUs: bigint; maxUs: bigint } | undefined,
): string {
  const columns = [
    ...new Map(
      scan.outputs
        .filter((o) => o.aggregation.column !== undefined)
        .map((o) => [o.aggregation.column as string, o.aggregation.inputType]),
    ),
  ];
  const alias = (column: string | undefined) =>
    column === undefined ? undefined : `__c${columns.findIndex(([c]) => c === column)}`;
  const timeFilter =
    range === undefined
      ? 'false'
      : timeRangeFilter(scan, range.minUs - BigInt(lookbackMs(scan)) * 1000n, range.maxUs);
  const filtered = [
    'SELECT',
    [
      ...scan.joinKeys.map((k, j) => `CAST(${quoteIdent(k.name)} AS ${k.sqlType}) AS __k${j}`),
      `epoch_ms(CAST(${quoteIdent(scan.timestampField)} AS TIMESTAMPTZ)) AS __e`,
      ...columns.map(([c, type], m) => `${valueExpr(c, type)} AS __c${m}`),
    ].join(', '),
    `FROM ${scan.relation}`,
    `WHERE ${[
      timeFilter,
      `${quoteIdent(scan.timestampField)} IS NOT NULL`,
      ...scan.joinKeys.map((k) => `${quoteIdent(k.name)} IS NOT NULL`),
      rowFilterSql(scan.where),
    ].join(' AND ')}`,
  ].join(' ');
  const keys = scan.joinKeys.map((_, j) => `__k${j}`).join(', ');
  // Each distinct window start is computed once per spine row (not per joined pair); the join reaches back to
  // the earliest of them and each window keeps its own rows with a FILTER.
  const starts = [...new Set(scan.outputs.map((o) => windowStartSql(o.window, 'epoch_ms(__ts)')))];
  const startColumn = (o: AggregationOutput) =>
    `__lo${starts.indexOf(windowStartSql(o.window, 'epoch_ms(__ts)'))}`;
  const widest = starts.length === 1 ? '__lo0' : `least(${starts.map((_, j) => `__lo${j}`).join(', ')})`;
  const spine = [
    `SELECT __rid, __t, ${widest} AS __lo, * EXCLUDE (__rid, __t) FROM (`,
    `SELECT __rid, epoch_ms(__ts) AS __t, ${starts.map((x, j) => `${x} AS __lo${j}`).join(', ')}, ${scan.spineKeyAliases.join(', ')}`,
    `FROM ${KEYS_TABLE}`,
    `WHERE ${['__ts IS NOT NULL', ...scan.spineKeyAliases.map((a) => `${a} IS NOT NULL`)].join(' AND ')})`,
  ].join(' ');
  const on = [
    ...scan.spineKeyAliases.map((a, j) => `r.__k${j} = s.${a}`),
    'r.__e >= s.__lo',
    'r.__e <= s.__t',
  ].join(' AND ');
  // Only the events some spine row's window reaches (a range semi join, the same condition as the join below):
  // what the window function sorts grows with the spine, not with the source. It cannot change a result: an
  // event's next occurrence up to t lies in the same spine row's window, so it is kept too.
  const inSpine = `SELECT * FROM (${filtered}) r SEMI JOIN (${spine}) s ON ${on}`;
  const distinct = [
    ...new Set(
      scan.outputs
        .filter((o) => o.aggregation.fn === 'count_distinct')
        .map((o) => alias(o.aggregation.column) as string),
    ),
  ];
  // Next occurrence per distinct-counted column: the next row of the same entity in (value, time) order, when it
  // has the same value. Equal values sort together whatever their type (DuckDB's `=` and sort order agree, as
  // for DISTINCT: -0.0 = 0.0). Partitioned by entity, the window also delivers the events grouped by entity.
  const events =
    distinct.length === 0
      ? `${inSpine} ORDER BY ${keys}`
      : [
          `SELECT * EXCLUDE (${distinct.flatMap((c) => [`${c}_nt`, `${c}_nv`]).join(', ')}), `,
          distinct.map((c) => `CASE WHEN ${c}_nv = ${c} THEN ${c}_nt END AS ${nextAlias(c)}`).join(', '),
          ` FROM (SELECT *, `,
          distinct
            .map((c, d) => `lead(__e) OVER __w${d} AS ${c}_nt, lead(${c}) OVER __w${d} AS ${c}_nv`)
            .join(', '),
          ` FROM (${inSpine}) WINDOW `,
          distinct.map((c, d) => `__w${d} AS (PARTITION BY ${keys} ORDER BY ${c}, __e)`).join(', '),
          ')',
        ].join('');
  const outputs = scan.outputs.map(
    (o, n) => `${aggregateExpr(o, alias(o.aggregation.column), startColumn(o))} AS __out${n}`,
  );
  return [
    `CREATE OR REPLACE TEMP TABLE ${aggregationTable(i)} AS /* aggregation view ${scan.name.replaceAll('*/', '')} */`,
    `SELECT s.__rid, ${outputs.join(', ')}`,
    `FROM (${spine}) s`,
    `LEFT JOIN (${events}) r ON ${on}`,
    'GROUP BY s.__rid',
  ].join('\n');
}
