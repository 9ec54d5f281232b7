import {
  type DuckDBConnection,
  DuckDBDataChunkWriter,
  DuckDBInstance,
  type JS,
  JSToDuckDBValueConverter,
} from '@duckdb/node-api';
import { TesseraError } from '../../core/errors.js';
import { quoteIdent, quoteLiteral } from './sql.js';

/** A column of a table built from JS rows: name and DuckDB type (`BIGINT`, `TIMESTAMPTZ`, `VARCHAR[]`, …). */
export interface ColumnSpec {
  readonly name: string;
  readonly type: string;
}

type Kind = 'int' | 'float' | 'bigint' | 'bool' | 'string' | 'date' | 'bytes' | 'list' | 'object';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function kindOf(v: unknown): Kind {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'bigint';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  if (v instanceof Date) return 'date';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return 'list';
  return 'object';
}

/** The narrowest DuckDB type holding every non-null value given; VARCHAR when they disagree. */
function typeOf(values: Iterable<unknown>): string {
  const kinds = new Set<Kind>();
  const elements: unknown[] = [];
  let hugeBigint = false;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    const k = kindOf(v);
    kinds.add(k);
    if (k === 'list') elements.push(...(v as unknown[]));
    if (k === 'bigint' && ((v as bigint) < INT64_MIN || (v as bigint) > INT64_MAX)) hugeBigint = true;
  }
  if (kinds.size === 0) return 'VARCHAR';
  const only = (...ks: Kind[]) => [...kinds].every((k) => ks.includes(k));
  if (only('int')) return 'BIGINT';
  if (only('int', 'bigint')) return hugeBigint ? 'HUGEINT' : 'BIGINT';
  if (only('int', 'float')) return 'DOUBLE';
  if (only('bool')) return 'BOOLEAN';
  if (only('date')) return 'TIMESTAMPTZ';
  if (only('bytes')) return 'BLOB';
  if (only('list')) {
    const inner = typeOf(elements);
    return `${inner}[]`;
  }
  return 'VARCHAR';
}

/**
 * Column names (first-seen order over all rows) and inferred DuckDB types of JS rows. Numbers that are all
 * safe integers → BIGINT, other numbers → DOUBLE, bigint → BIGINT, Date → TIMESTAMPTZ, Uint8Array → BLOB,
 * arrays → LIST of the element type; mixed kinds and objects → VARCHAR (objects as JSON text).
 *
 * @example inferColumns([{ user_id: 1, event_timestamp: new Date() }]) // [{name:'user_id',type:'BIGINT'}, …]
 */
export function inferColumns(rows: readonly Readonly<Record<string, unknown>>[]): ColumnSpec[] {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    for (const name of Object.keys(row)) {
      if (!seen.has(name)) {
        seen.add(name);
        names.push(name);
      }
    }
  }
  return names.map((name) => ({ name, type: typeOf(rowsColumn(rows, name)) }));
}

function* rowsColumn(rows: readonly Readonly<Record<string, unknown>>[], name: string): Iterable<unknown> {
  for (const row of rows) yield row[name];
}

const INTEGER_TYPES = new Set(['TINYINT', 'SMALLINT', 'INTEGER', 'UTINYINT', 'USMALLINT', 'UINTEGER']);
const FLOAT_TYPES = new Set(['FLOAT', 'DOUBLE', 'REAL']);
const WIDE_TYPES = new Set(['BIGINT', 'HUGEINT', 'UBIGINT', 'UHUGEINT']);

/** Converts one JS value to what the DuckDB JS converter expects for a column of `type`. */
function toInput(v: unknown, type: string): JS {
  if (v === null || v === undefined) return null;
  if (type.endsWith('[]')) {
    if (!Array.isArray(v)) return null;
    const inner = type.slice(0, -2);
    return v.map((e) => toInput(e, inner));
  }
  if (WIDE_TYPES.has(type)) return typeof v === 'bigint' ? v : BigInt(v as number | string);
  if (INTEGER_TYPES.has(type) || FLOAT_TYPES.has(type)) return Number(v);
  switch (type) {
    case 'BOOLEAN':
      return v as boolean;
    case 'TIMESTAMPTZ':
      return v instanceof Date ? v : new Date(v as number);
    case 'BLOB':
      return v as Uint8Array;
    default:
      if (typeof v === 'string') return v;
      if (v instanceof Date) return v.toISOString();
      if (typeof v === 'object')
        return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
      return String(v);
  }
}

/** Creates (or replaces) TEMP table `table` with `columns`. */
export async function createTempTable(
  connection: DuckDBConnection,
  table: string,
  columns: readonly ColumnSpec[],
): Promise<void> {
  if (columns.length === 0) {
    throw new TesseraError('rows have no columns', { expected: 'at least one column' });
  }
  const defs = columns.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
  await connection.run(`CREATE OR REPLACE TEMP TABLE ${quoteIdent(table)} (${defs})`);
}

/**
 * Appends rows (arrays in `columns` order) to TEMP table `table` through the DuckDB appender, in chunks: no
 * SQL text is built from the values, so any size and any string content is safe.
 */
export async function appendRowArrays(
  connection: DuckDBConnection,
  table: string,
  rows: Iterable<readonly unknown[]>,
  columns: readonly ColumnSpec[],
): Promise<void> {
  // Temp tables live in catalog `temp`, schema `main`.
  const appender = await connection.createAppender(table, 'main', 'temp');
  try {
    const writer = DuckDBDataChunkWriter.forAppender(appender, { converter: JSToDuckDBValueConverter });
    const values: JS[] = new Array(columns.length);
    for (const row of rows) {
      for (let i = 0; i < columns.length; i++) values[i] = toInput(row[i], (columns[i] as ColumnSpec).type);
      writer.appendRow(values);
    }
    writer.flush();
  } finally {
    appender.closeSync();
  }
}

/** Creates TEMP table `table` with `columns` and appends JS row objects to it (see {@link appendRowArrays}). */
export async function createTableFromRows(
  connection: DuckDBConnection,
  table: string,
  rows: readonly Readonly<Record<string, unknown>>[],
  columns: readonly ColumnSpec[],
): Promise<void> {
  await createTempTable(connection, table, columns);
  function* arrays(): Iterable<unknown[]> {
    for (const row of rows) yield columns.map((c) => row[c.name]);
  }
  await appendRowArrays(connection, table, arrays(), columns);
}

/**
 * Writes JS rows to one Parquet file (types inferred by {@link inferColumns} unless given), using an embedded
 * DuckDB. Handy for tests, examples and exports.
 *
 * @example
 * await writeRowsToParquet([{ user_id: 1, event_ts: new Date('2024-05-01T00:00:00Z'), clicks: 3 }], 'data/clicks.parquet');
 */
export async function writeRowsToParquet(
  rows: readonly Readonly<Record<string, unknown>>[],
  path: string,
  options: { columns?: readonly ColumnSpec[] } = {},
): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run("SET TimeZone = 'UTC'");
    await createTableFromRows(connection, 'rows', rows, options.columns ?? inferColumns(rows));
    await connection.run(`COPY ${quoteIdent('rows')} TO ${quoteLiteral(path)} (FORMAT parquet)`);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
