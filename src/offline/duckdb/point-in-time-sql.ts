import { dateLiteral, isNaiveTimestampType, isTemporalType, quoteIdent, timestamptzLiteral } from './sql.js';

/**
 * Compiles point-in-time joins and latest-value queries into DuckDB SQL. Pure functions from a plan (plain data)
 * to SQL text: no I/O here, so the SQL shape is unit-tested on its own and the store only executes it.
 *
 * The semantics are in docs/semantics.md ("Point-in-time joins", "Materialization"). In short, for each spine
 * row and view: the source row with equal join keys and the greatest ordering key
 * `(event_ts, created_ts, hash(values))` whose event timestamp is ≤ the spine timestamp, dropped when older than
 * `spine ts − ttl`.
 */

/** How the per-view join is computed; both give identical results (see bench/historical.ts). */
export type PitStrategy = 'asof' | 'window';

/** What a compiled statement needs to know about one source: where it is and which columns to read. */
export interface SourceScan {
  /** View name, used in comments only (keeps EXPLAIN output readable). */
  readonly name: string;
  /** SQL text placed after FROM: a table function call (`read_parquet(…)`) or a table name. */
  readonly relation: string;
  /** Join keys: the column name (same in spine and source) and the DuckDB type both sides are cast to. */
  readonly joinKeys: readonly { readonly name: string; readonly sqlType: string }[];
  readonly timestampField: string;
  /** DuckDB type of the event-timestamp column: decides how time bounds are written so DuckDB can prune. */
  readonly timestampType: string;
  readonly createdTimestampField?: string;
  /** Distinct source columns to read, with their DuckDB types. */
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  /** A hive partition column holding the event's UTC day (`date=2024-05-01/`), used to skip files. */
  readonly datePartitionColumn?: string;
}

export interface PitView extends SourceScan {
  /** 0 = no bound. */
  readonly ttlMs: number;
  /** Output columns: the source column (one of `columns`) each is read from, and the output name. */
  readonly features: readonly { readonly column: string; readonly output: string }[];
}

export interface PitPlan {
  /** Table holding the spine as loaded; its `rowid` is the spine input order. */
  readonly spineTable: string;
  /** Spine columns in order, with DuckDB types. */
  readonly spineColumns: readonly { readonly name: string; readonly type: string }[];
  readonly timestampColumn: string;
  readonly views: readonly PitView[];
  /** Output column names of each aggregation view, whose values are in `__tessera_agg_{i}` (aggregation-sql.ts). */
  readonly aggregationOutputs?: readonly (readonly string[])[];
  readonly resultTable: string;
  readonly strategy: PitStrategy;
}

/** The spine's earliest and latest timestamps, epoch microseconds. */
export interface TimeRange {
  readonly minUs: bigint;
  readonly maxUs: bigint;
}

export interface CompiledStatement {
  readonly phase: string;
  readonly sql: string;
}

/** Internal table names; temp tables are private to the operation's connection, so fixed names are safe. */
export const KEYS_TABLE = '__tessera_keys';
const viewTable = (i: number) => `__tessera_view_${i}`;

/** 2^64: shifts the event time above a 64-bit tie-breaker inside one HUGEINT ordering key. */
const SHIFT_64 = '18446744073709551616::HUGEINT';
const MAX_UBIGINT = '18446744073709551615::HUGEINT';

/** What the spine-keys step needs: known before any source is read. */
export interface SpineKeysPlan {
  readonly spineTable: string;
  readonly timestampColumn: string;
  readonly views: readonly { readonly joinKeys: SourceScan['joinKeys'] }[];
}

/** Spine key columns: one per distinct (name, type) across views, since two entities may type a name differently. */
export function spineKeyColumns(plan: SpineKeysPlan): { name: string; sqlType: string; alias: string }[] {
  const out: { name: string; sqlType: string; alias: string }[] = [];
  for (const v of plan.views) {
    for (const k of v.joinKeys) {
      if (!out.some((o) => o.name === k.name && o.sqlType === k.sqlType)) {
        out.push({ ...k, alias: `__k${out.length}` });
      }
    }
  }
  return out;
}

const spineKeyAlias = (plan: SpineKeysPlan, k: { name: string; sqlType: string }): string => {
  const found = spineKeyColumns(plan).find((o) => o.name === k.name && o.sqlType === k.sqlType);
  if (!found) throw new Error(`internal: no spine key column for ${k.name}`);
  return found.alias;
};

/**
 * Step 1: a narrow copy of the spine (row id, normalized timestamp, keys cast to their join types), which every
 * per-view join reads instead of the wide spine.
 */
export function compileSpineKeys(plan: SpineKeysPlan): string {
  const cols = [
    'rowid AS __rid',
    `CAST(${quoteIdent(plan.timestampColumn)} AS TIMESTAMPTZ) AS __ts`,
    ...spineKeyColumns(plan).map((k) => `CAST(${quoteIdent(k.name)} AS ${k.sqlType}) AS ${k.alias}`),
  ];
  return `CREATE OR REPLACE TEMP TABLE ${KEYS_TABLE} AS SELECT ${cols.join(', ')} FROM ${quoteIdent(plan.spineTable)}`;
}

/** Step 2: the spine's time range, as two BIGINT epoch-µs values (NULL when the spine has no timestamps). */
export const compileSpineRange = (): string =>
  `SELECT epoch_us(min(__ts)) AS min_us, epoch_us(max(__ts)) AS max_us FROM ${KEYS_TABLE}`;

/**
 * The filter that restricts a source scan to [lowerUs, upperUs] (either side optional), written against the
 * raw column so DuckDB pushes it into Parquet row-group statistics and hive partition pruning. It may keep a
 * few rows outside the range (bounds are rounded to the column's precision); exact checks come later.
 */
export function timeRangeFilter(
  scan: SourceScan,
  lowerUs: bigint | undefined,
  upperUs: bigint | undefined,
): string {
  const parts: string[] = [];
  const col = quoteIdent(scan.timestampField);
  const raw = isTemporalType(scan.timestampType);
  const bound = (us: bigint) =>
    raw ? `CAST(${timestamptzLiteral(us)} AS ${scan.timestampType})` : timestamptzLiteral(us);
  const expr = raw ? col : `CAST(${col} AS TIMESTAMPTZ)`;
  if (lowerUs !== undefined) parts.push(`${expr} >= ${bound(lowerUs)}`);
  if (upperUs !== undefined) parts.push(`${expr} <= ${bound(upperUs)}`);
  if (parts.length === 0) parts.push(`${expr} IS NOT NULL`);
  if (scan.datePartitionColumn !== undefined) {
    // One day of slack on each side: partitions cut by a local calendar day still get every row they hold.
    const p = quoteIdent(scan.datePartitionColumn);
    if (lowerUs !== undefined) parts.push(`${p} >= ${dateLiteral(lowerUs, -1)}`);
    if (upperUs !== undefined) parts.push(`${p} <= ${dateLiteral(upperUs, 1)}`);
  }
  return parts.join(' AND ');
}

/** Alias of the m-th distinct source column in a scan. */
const featureAlias = (m: number) => `__f${m}`;

/**
 * The ordering key that decides which source row is "latest": event time, then created time (NULL lowest), then
 * a hash of the feature values, so that even exact ties resolve the same way on every run, whatever the file
 * order or thread count. Without a created timestamp the pair (event µs, hash) packs into one HUGEINT, which
 * DuckDB sorts almost as fast as a plain timestamp; with one, a struct keeps all three exactly.
 */
export function sourceOrderingKey(scan: SourceScan, tsExpr: string, createdExpr: string | undefined): string {
  const h = `hash(${scan.columns.map((c) => quoteIdent(c.name)).join(', ')})`;
  if (createdExpr === undefined) return `epoch_us(${tsExpr})::HUGEINT * ${SHIFT_64} + ${h}::HUGEINT`;
  return `{'t': ${tsExpr}, 'c': coalesce(${createdExpr}, '-infinity'::TIMESTAMPTZ), 'h': ${h}}`;
}

/** The spine side of the ordering key: greater than or equal to every source key at the same instant. */
export function spineOrderingKey(scan: SourceScan, tsExpr: string): string {
  if (scan.createdTimestampField === undefined)
    return `epoch_us(${tsExpr})::HUGEINT * ${SHIFT_64} + ${MAX_UBIGINT}`;
  return `{'t': ${tsExpr}, 'c': 'infinity'::TIMESTAMPTZ, 'h': 18446744073709551615::UBIGINT}`;
}

/**
 * The source rows of one scan, projected to `__k{i}` (keys, cast), `__ts`, `__c` (created, if any), `__o`
 * (ordering key) and `__f{m}` (feature columns; naive timestamps become TIMESTAMPTZ), restricted by `filter`.
 * Rows with a NULL key never match anything, so they are dropped here.
 */
export function compileSourceScan(scan: SourceScan, filter: string): string {
  const ts = `CAST(${quoteIdent(scan.timestampField)} AS TIMESTAMPTZ)`;
  const created =
    scan.createdTimestampField === undefined
      ? undefined
      : `CAST(${quoteIdent(scan.createdTimestampField)} AS TIMESTAMPTZ)`;
  const cols = [
    ...scan.joinKeys.map((k, i) => `CAST(${quoteIdent(k.name)} AS ${k.sqlType}) AS __k${i}`),
    `${ts} AS __ts`,
    ...(created === undefined ? [] : [`${created} AS __c`]),
    `${sourceOrderingKey(scan, ts, created)} AS __o`,
    ...scan.columns.map((c, m) => {
      const q = quoteIdent(c.name);
      return `${isNaiveTimestampType(c.type) ? `CAST(${q} AS TIMESTAMPTZ)` : q} AS ${featureAlias(m)}`;
    }),
  ];
  const notNull = scan.joinKeys.map((k) => `${quoteIdent(k.name)} IS NOT NULL`);
  return `SELECT ${cols.join(', ')} FROM ${scan.relation} WHERE ${[filter, ...notNull].join(' AND ')}`;
}

const columnIndex = (view: PitView, column: string): number => {
  const m = view.columns.findIndex((c) => c.name === column);
  if (m < 0) throw new Error(`internal: feature column ${column} not in scan of ${view.name}`);
  return m;
};

/** Keeps a matched value only when it is within ttl of the spine time (both ends inclusive). */
const withinTtl = (ttlMs: number, srcTs: string, spineTs: string, value: string): string =>
  ttlMs > 0
    ? `CASE WHEN epoch_us(${srcTs}) >= epoch_us(${spineTs}) - ${BigInt(ttlMs) * 1000n} THEN ${value} END`
    : value;

/** Step 3 (one per view): `__tessera_view_i(__rid, __f…)` with the point-in-time value of each output feature. */
export function compileViewJoin(plan: PitPlan, i: number, range: TimeRange | undefined): string {
  const view = plan.views[i];
  if (!view) throw new Error(`internal: no view ${i}`);
  const filter =
    range === undefined
      ? 'false'
      : timeRangeFilter(
          view,
          view.ttlMs > 0 ? range.minUs - BigInt(view.ttlMs) * 1000n : undefined,
          range.maxUs,
        );
  const keyAliases = view.joinKeys.map((k) => spineKeyAlias(plan, k));
  // Only source rows of entities the spine asks about: a hash semi join is far cheaper than sorting rows no
  // spine row can match (a 10k-row spine over 100k entities keeps about a tenth of the source).
  const scan = `SELECT x.* FROM (${compileSourceScan(view, filter)}) x SEMI JOIN (SELECT DISTINCT ${keyAliases.join(', ')} FROM ${KEYS_TABLE}) k ON ${keyAliases.map((a, j) => `x.__k${j} = k.${a}`).join(' AND ')}`;
  const head = `CREATE OR REPLACE TEMP TABLE ${viewTable(i)} AS`;
  const comment = `/* view ${view.name.replaceAll('*/', '')} */`;
  const outputs = view.features.map((f, n) => ({ m: columnIndex(view, f.column), n }));

  // Spine rows with a NULL timestamp or key get no row here (DuckDB's ASOF would match a NULL timestamp as
  // "latest"); the assembly's LEFT JOIN gives them NULL features.
  const spineFilter = ['__ts IS NOT NULL', ...keyAliases.map((a) => `${a} IS NOT NULL`)].join(' AND ');

  if (plan.strategy === 'asof') {
    const on = [...keyAliases.map((a, j) => `s.${a} = r.__k${j}`), 's.__o >= r.__o'].join(' AND ');
    const values = outputs.map(
      ({ m, n }) => `${withinTtl(view.ttlMs, 'r.__ts', 's.__ts', `r.${featureAlias(m)}`)} AS __out${n}`,
    );
    return [
      `${head} ${comment}`,
      `SELECT s.__rid, ${values.join(', ')}`,
      `FROM (SELECT __rid, __ts, ${keyAliases.join(', ')}, ${spineOrderingKey(view, '__ts')} AS __o FROM ${KEYS_TABLE}`,
      `  WHERE ${spineFilter}) s`,
      `ASOF LEFT JOIN (${scan}) r`,
      `ON ${on}`,
    ].join('\n');
  }

  // Window strategy: spine and source rows in one stream per entity, ordered by the ordering key; each spine
  // row takes the last source row seen before it. Spine rows sort after source rows with an equal key.
  const partition = view.joinKeys.map((_, j) => `__j${j}`).join(', ');
  const spineSide = [
    '__rid',
    '__ts',
    ...keyAliases.map((a, j) => `${a} AS __j${j}`),
    `${spineOrderingKey(view, '__ts')} AS __o`,
    '1 AS __side',
  ];
  const payload = [`'ts': __ts`, ...view.columns.map((_, m) => `'f${m}': ${featureAlias(m)}`)].join(', ');
  const sourceSide = [
    ...view.joinKeys.map((_, j) => `__k${j} AS __j${j}`),
    '__o',
    '0 AS __side',
    `{${payload}} AS __m`,
  ];
  const values = outputs.map(
    ({ m, n }) => `${withinTtl(view.ttlMs, 'w.__m.ts', 'w.__ts', `w.__m.f${m}`)} AS __out${n}`,
  );
  return [
    `${head} ${comment}`,
    `SELECT w.__rid, ${values.join(', ')} FROM (`,
    `  SELECT __rid, __ts, __side, last_value(__m IGNORE NULLS) OVER (PARTITION BY ${partition} ORDER BY __o, __side`,
    '    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS __m',
    `  FROM (SELECT ${spineSide.join(', ')} FROM ${KEYS_TABLE} WHERE ${spineFilter}`,
    `    UNION ALL BY NAME SELECT ${sourceSide.join(', ')} FROM (${scan}))`,
    ') w WHERE w.__side = 1',
  ].join('\n');
}

/** Step 4: the spine (timestamps normalized to TIMESTAMPTZ) with every view's features, in spine order. */
export function compileAssemble(plan: PitPlan): string {
  const cols = plan.spineColumns.map((c) => {
    const q = quoteIdent(c.name);
    return c.name === plan.timestampColumn || isNaiveTimestampType(c.type)
      ? `CAST(sp.${q} AS TIMESTAMPTZ) AS ${q}`
      : `sp.${q}`;
  });
  const joins: string[] = [];
  plan.views.forEach((v, i) => {
    joins.push(`LEFT JOIN ${viewTable(i)} v${i} ON v${i}.__rid = sp.rowid`);
    v.features.forEach((f, n) => {
      cols.push(`v${i}.__out${n} AS ${quoteIdent(f.output)}`);
    });
  });
  (plan.aggregationOutputs ?? []).forEach((outputs, i) => {
    joins.push(`LEFT JOIN __tessera_agg_${i} a${i} ON a${i}.__rid = sp.rowid`);
    outputs.forEach((name, n) => {
      cols.push(`a${i}.__out${n} AS ${quoteIdent(name)}`);
    });
  });
  return [
    `CREATE OR REPLACE TEMP TABLE ${quoteIdent(plan.resultTable)} AS`,
    `SELECT ${cols.join(', ')}`,
    `FROM ${quoteIdent(plan.spineTable)} sp`,
    ...joins,
    'ORDER BY sp.rowid',
  ].join('\n');
}

/** Drops the intermediate tables of a plan (not the result). */
export const compileCleanup = (plan: PitPlan): string[] => [
  `DROP TABLE IF EXISTS ${KEYS_TABLE}`,
  ...plan.views.map((_, i) => `DROP TABLE IF EXISTS ${viewTable(i)}`),
  `DROP TABLE IF EXISTS ${quoteIdent(plan.spineTable)}`,
];

/**
 * Every statement after the spine keys and range: one join per view, then the assembly.
 *
 * @example
 * const statements = compilePointInTime(plan, { minUs: 1714521600000000n, maxUs: 1714608000000000n });
 * for (const s of statements) await connection.run(s.sql);
 */
export function compilePointInTime(plan: PitPlan, range: TimeRange | undefined): CompiledStatement[] {
  return [
    ...plan.views.map((v, i) => ({ phase: `view:${v.name}`, sql: compileViewJoin(plan, i, range) })),
    { phase: 'assemble', sql: compileAssemble(plan) },
  ];
}

/** A latest-value query: one row per entity among source rows with event time in [startUs, endUs). */
export interface LatestPlan extends SourceScan {
  readonly startUs: bigint;
  readonly endUs: bigint;
}

/**
 * Latest row per entity in [start, end), by the same ordering key as point-in-time joins. Result columns, in
 * order: `k0…` (keys, cast to their join types), `event_ms`, `created_ms` (NULL when none), `f0…` (the scan's
 * `columns`, in order).
 *
 * @example compileLatest({ ...scan, startUs: 0n, endUs: 1714608000000000n })
 */
export function compileLatest(plan: LatestPlan): string {
  const filter = [
    timeRangeFilter(plan, plan.startUs, plan.endUs),
    `CAST(${quoteIdent(plan.timestampField)} AS TIMESTAMPTZ) >= ${timestamptzLiteral(plan.startUs)}`,
    `CAST(${quoteIdent(plan.timestampField)} AS TIMESTAMPTZ) < ${timestamptzLiteral(plan.endUs)}`,
  ].join(' AND ');
  const fields = [
    ...plan.joinKeys.map((_, i) => `'k${i}': __k${i}`),
    `'event_ms': epoch_ms(__ts)`,
    `'created_ms': ${plan.createdTimestampField === undefined ? 'NULL::BIGINT' : 'epoch_ms(__c)'}`,
    ...plan.columns.map((_, m) => `'f${m}': ${featureAlias(m)}`),
  ];
  const groupBy = plan.joinKeys.map((_, i) => `__k${i}`).join(', ');
  return [
    'SELECT unnest(__m) FROM (',
    `  SELECT max_by({${fields.join(', ')}}, __o) AS __m`,
    `  FROM (${compileSourceScan(plan, filter)})`,
    `  GROUP BY ${groupBy}`,
    ')',
  ].join('\n');
}
