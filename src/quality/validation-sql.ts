import { isCompatible } from '../definitions/validate.js';
// The quoting and timestamp text of the DuckDB store are valid PostgreSQL too.
import { quoteIdent, quoteLiteral, timestamptzLiteral } from '../offline/duckdb/sql.js';
import type { Expectation } from './expectations.js';

/**
 * Compiles every expectation of one subject into SQL: ONE aggregate query computing the observed value of every
 * check in a single scan, plus, for each row-level or unique check that failed, a query for a few failing rows.
 * Two dialects: DuckDB (files, training sets) and PostgreSQL (run on the database itself); they differ in the
 * regex operator, the quantile aggregate and the NaN test. Pure: unit-tested on the text, integration-tested on
 * results (docs/semantics.md, "Data quality expectations").
 *
 * @example
 * const plan = compileValidation({ relation: "read_parquet('/d/*.parquet')", dialect: 'duckdb',
 *   expectations: [checks.notNull('user_id')], columnTypes: new Map([['user_id', 'BIGINT']]) });
 * plan.aggregateSql // SELECT count(*) AS "n", count(*) FILTER (WHERE "user_id" IS NULL) AS "e0_fail" FROM …
 */
export type Dialect = 'duckdb' | 'postgres';

export interface ValidationSqlInput {
  /** The FROM item: a table function call, a table name or a parenthesized subquery with an alias. */
  readonly relation: string;
  readonly dialect: Dialect;
  readonly expectations: readonly Expectation[];
  /** Engine column types by name (DuckDB type names; PostgreSQL sources are described in them too). */
  readonly columnTypes: ReadonlyMap<string, string>;
  /** Column of the event timestamp: range filter and default staleness column. */
  readonly timestampField?: string;
  /** Rows with timestampField in [startUs, endUs) only (epoch microseconds). */
  readonly startUs?: bigint;
  readonly endUs?: bigint;
}

/** How to read one check's observed values from the aggregate row. */
export interface CompiledCheck {
  readonly expectation: Expectation;
  /** Aggregate-row columns holding this check's values, by meaning (`fail`, `value`, `min`, `max`). */
  readonly outputs: Readonly<Record<string, string>>;
  /** SQL condition true for a failing row (row-level checks), for samples and quarantine. */
  readonly failingRow?: string;
  /** Query for up to `limit` failing rows (or duplicate keys for `unique`). */
  sampleSql?(limit: number): string;
}

export interface ValidationPlan {
  readonly aggregateSql: string;
  readonly checks: readonly CompiledCheck[];
  /** The WHERE condition of the range (or `TRUE`). */
  readonly where: string;
}

export { quoteIdent, quoteLiteral };

const numberLiteral = (n: number): string => {
  if (Number.isFinite(n)) return String(n);
  // Infinite bounds are no bounds; callers never pass NaN (the builders refuse it).
  return n > 0 ? "CAST('Infinity' AS DOUBLE PRECISION)" : "CAST('-Infinity' AS DOUBLE PRECISION)";
};

function setLiteral(v: string | number | boolean): string {
  if (typeof v === 'string') return quoteLiteral(v);
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  return numberLiteral(v);
}

const isFloatType = (t: string | undefined): boolean =>
  t !== undefined && /^(FLOAT|DOUBLE|REAL|FLOAT4|FLOAT8)$/i.test(t.trim());

/** The range filter on the event timestamp. */
export function rangeWhere(input: Pick<ValidationSqlInput, 'timestampField' | 'startUs' | 'endUs'>): string {
  const parts: string[] = [];
  if (input.timestampField !== undefined) {
    const ts = quoteIdent(input.timestampField);
    if (input.startUs !== undefined) parts.push(`${ts} >= ${timestamptzLiteral(input.startUs)}`);
    if (input.endUs !== undefined) parts.push(`${ts} < ${timestamptzLiteral(input.endUs)}`);
  }
  return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
}

/**
 * The SQL condition a failing row of a row-level check satisfies. Nulls never fail these checks (only
 * `not_null` looks at nulls); NaN fails `between` (it lies in no range).
 */
export function failingRowSql(
  e: Expectation,
  dialect: Dialect,
  columnTypes: ReadonlyMap<string, string>,
): string | undefined {
  switch (e.check) {
    case 'not_null':
      return `${quoteIdent(e.column)} IS NULL`;
    case 'between': {
      const c = quoteIdent(e.column);
      const parts: string[] = [];
      if (e.min !== undefined) parts.push(`${c} < ${numberLiteral(e.min)}`);
      if (e.max !== undefined) parts.push(`${c} > ${numberLiteral(e.max)}`);
      if (isFloatType(columnTypes.get(e.column)))
        parts.push(dialect === 'duckdb' ? `isnan(${c})` : `${c} = CAST('NaN' AS DOUBLE PRECISION)`);
      return `(${parts.join(' OR ')})`;
    }
    case 'in_set': {
      const c = quoteIdent(e.column);
      return `(${c} IS NOT NULL AND ${c} NOT IN (${e.values.map(setLiteral).join(', ')}))`;
    }
    case 'matches': {
      const c = quoteIdent(e.column);
      const p = quoteLiteral(e.pattern);
      if (dialect === 'postgres') return `(${c} IS NOT NULL AND NOT (CAST(${c} AS TEXT) ~ ${p}))`;
      // `^…$` without alternation is a full match, which RE2 decides about twice as fast as a search.
      const inner = fullMatchBody(e.pattern);
      return inner !== undefined
        ? `(${c} IS NOT NULL AND NOT regexp_full_match(CAST(${c} AS VARCHAR), ${quoteLiteral(inner)}))`
        : `(${c} IS NOT NULL AND NOT regexp_matches(CAST(${c} AS VARCHAR), ${p}))`;
    }
    default:
      return undefined;
  }
}

/**
 * The body of a pattern anchored at both ends with no alternation and no escapes before the final `$`
 * (`^[a-z]+@x\.io$` → `[a-z]+@x\.io`), whose search is the same as a full match of the body; else undefined.
 */
export function fullMatchBody(pattern: string): string | undefined {
  if (!pattern.startsWith('^') || !pattern.endsWith('$') || pattern.includes('|')) return undefined;
  const body = pattern.slice(1, -1);
  // An odd run of backslashes before the `$` would make it a literal dollar.
  const slashes = /\\*$/.exec(body)?.[0].length ?? 0;
  if (slashes % 2 === 1 || body.startsWith('^') || body.includes('(?')) return undefined;
  return body;
}

/**
 * Compiles the expectations of one subject. `type` checks need no query (they are decided on the column types)
 * and produce no outputs.
 */
export function compileValidation(input: ValidationSqlInput): ValidationPlan {
  const { dialect } = input;
  const where = rangeWhere(input);
  const select: string[] = ['count(*) AS "n"'];
  const compiled: CompiledCheck[] = [];
  const dbl = (c: string) => `CAST(${quoteIdent(c)} AS DOUBLE PRECISION)`;
  // Statistics are over finite values: NaN and ±Infinity are left out like nulls (they have no mean).
  const finite = (c: string) =>
    !isFloatType(input.columnTypes.get(c))
      ? ''
      : dialect === 'duckdb'
        ? ` FILTER (WHERE isfinite(${quoteIdent(c)}))`
        : ` FILTER (WHERE ${quoteIdent(c)} NOT IN ('NaN', 'Infinity', '-Infinity'))`;
  const samples = (cond: string) => (limit: number) =>
    `SELECT * FROM ${input.relation} WHERE (${where}) AND ${cond} LIMIT ${Math.max(0, Math.trunc(limit))}`;

  input.expectations.forEach((e, i) => {
    const out = (k: string) => `e${i}_${k}`;
    const add = (k: string, sql: string) => select.push(`${sql} AS ${quoteIdent(out(k))}`);
    const outputs: Record<string, string> = {};
    const put = (k: string, sql: string) => {
      add(k, sql);
      outputs[k] = out(k);
    };
    switch (e.check) {
      case 'not_null':
      case 'between':
      case 'in_set':
      case 'matches': {
        const cond = failingRowSql(e, dialect, input.columnTypes) as string;
        put('fail', `count(*) FILTER (WHERE ${cond})`);
        if (e.check === 'between') {
          put('min', `min(${dbl(e.column)})`);
          put('max', `max(${dbl(e.column)})`);
        }
        compiled.push({ expectation: e, outputs, failingRow: cond, sampleSql: samples(cond) });
        return;
      }
      case 'unique': {
        const cols = e.columns.map(quoteIdent);
        const allSet = cols.map((c) => `${c} IS NOT NULL`).join(' AND ');
        const key = cols.length === 1 ? (cols[0] as string) : `ROW(${cols.join(', ')})`;
        // Duplicate rows: rows with a complete key minus distinct complete keys.
        put('fail', `count(*) FILTER (WHERE ${allSet}) - count(DISTINCT ${key}) FILTER (WHERE ${allSet})`);
        compiled.push({
          expectation: e,
          outputs,
          sampleSql: (limit) =>
            `SELECT ${cols.join(', ')}, count(*) AS "rows" FROM ${input.relation} WHERE (${where}) AND ${allSet} GROUP BY ${cols.join(', ')} HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT ${Math.max(0, Math.trunc(limit))}`,
        });
        return;
      }
      case 'row_count':
        compiled.push({ expectation: e, outputs: { value: 'n' } });
        return;
      case 'mean':
        put('value', `avg(${dbl(e.column)})${finite(e.column)}`);
        break;
      case 'stddev':
        put('value', `stddev_samp(${dbl(e.column)})${finite(e.column)}`);
        break;
      case 'quantile':
        put(
          'value',
          dialect === 'duckdb'
            ? `quantile_cont(${dbl(e.column)}, ${e.q})${finite(e.column)}`
            : `percentile_cont(${e.q}) WITHIN GROUP (ORDER BY ${dbl(e.column)})${finite(e.column)}`,
        );
        break;
      case 'max_staleness': {
        const col = e.column ?? input.timestampField;
        if (col !== undefined) put('value', `max(${quoteIdent(col)})`);
        break;
      }
      case 'type':
        break;
    }
    compiled.push({ expectation: e, outputs });
  });
  return {
    aggregateSql: `SELECT ${select.join(', ')} FROM ${input.relation} WHERE ${where}`,
    checks: compiled,
    where,
  };
}

/** Whether an engine column type satisfies a `type` check (the same rule as feature columns at apply). */
export const typeSatisfies = isCompatible;
