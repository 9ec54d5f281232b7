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
    case 'count_distinct':
      return `least(count(DISTINCT ${v}) ${filter}, ${a.maxDistinct})`;
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
  const events = [
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
