import type { FeatureStatus } from '../serving/types.js';
import type { LogLayout } from './log-layout.js';

/**
 * Statuses travel as one byte each (index in this list) and are written to the files as these names (a DuckDB
 * ENUM, a dictionary-encoded text column in Parquet).
 */
export const STATUS_NAMES: readonly FeatureStatus[] = [
  'PRESENT',
  'NULL_VALUE',
  'NOT_FOUND',
  'OUTSIDE_MAX_AGE',
  'DEFAULTED',
];

/** The byte of a status (see STATUS_NAMES); identity comparisons of interned strings, PRESENT first. */
export function statusCode(status: FeatureStatus): number {
  if (status === 'PRESENT') return 0;
  if (status === 'NULL_VALUE') return 1;
  if (status === 'NOT_FOUND') return 2;
  if (status === 'OUTSIDE_MAX_AGE') return 3;
  return 4;
}

/**
 * One logged request as the log's thread receives it, column-major. Numbers, booleans and times are packed in
 * one Float64Array and statuses in one Uint8Array, both moved to the thread without copying (transferred), so
 * that the serving thread's cost is a pass over the values rather than a structured clone of every value
 * (measured: 94 µs for 100 rows of 51 values). Other values (text, lists, bytes, and any value that does not
 * match its column's declared type) travel as plain arrays, copied by structured clone.
 */
export interface LogEntry {
  readonly servedAtMs: number;
  readonly layout: number;
  readonly featureService: string | null;
  /** Entity rows. */
  readonly rows: number;
  /**
   * numbers[c * rows + i]: output column c (join keys, then features, as the layout lists them) of entity row i,
   * for the columns packed as numbers (see PackedValue): NaN for null.
   */
  readonly numbers: Float64Array;
  /** Per output column: its values (one per entity row) when it is not packed in `numbers`, else null. */
  readonly values: readonly (readonly unknown[] | null)[];
  /** statuses[f * rows + i]: the STATUS_NAMES index of the status of feature f of entity row i. */
  readonly statuses: Uint8Array;
}

/**
 * How a column's values are packed as numbers, by declared type: a number as itself, a boolean as 1 or 0, a time
 * (a Date, or a number of epoch milliseconds) as epoch milliseconds. Null (or undefined) is NaN, and so is NaN itself: both are logged as null.
 */
export type PackedKind = 'number' | 'boolean' | 'time' | null;

const NUMERIC_TYPES = new Set(['DOUBLE', 'FLOAT', 'BIGINT', 'INTEGER', 'SMALLINT', 'TINYINT']);

/** The packed kind of a declared DuckDB type, or null for the types that travel as plain values. */
export function packedKind(type: string): PackedKind {
  if (NUMERIC_TYPES.has(type)) return 'number';
  if (type === 'BOOLEAN') return 'boolean';
  if (type === 'TIMESTAMPTZ') return 'time';
  return null;
}

/** The packed kind of each output column of a layout (join keys, then features). */
export function packedKinds(layout: LogLayout): PackedKind[] {
  return [...layout.joinKeys, ...layout.features].map((c) => packedKind(c.type));
}

/**
 * A served result's values as a LogEntry's `numbers` and `values`: `values[i][c]` is output column c of entity
 * row i. A column whose values do not all fit its packed kind travels as plain values instead (checked, and
 * written or refused, on the log's thread).
 *
 * @example
 * packValues(['number', null], [[1, 'a'], [null, 'b']], 2) // { numbers: [1, NaN, 0, 0], values: [null, ['a', 'b']] }
 */
export function packValues(
  kinds: readonly PackedKind[],
  values: readonly (readonly unknown[])[],
  rows: number,
): { numbers: Float64Array; values: (readonly unknown[] | null)[] } {
  const width = kinds.length;
  const numbers = new Float64Array(rows * width);
  // Per column, 0: travels as plain values (not packable, or met a value that does not fit); 1 number;
  // 2 boolean; 3 time.
  const mode = new Uint8Array(width);
  for (let c = 0; c < width; c++) {
    const k = kinds[c];
    mode[c] = k === 'number' ? 1 : k === 'boolean' ? 2 : k === 'time' ? 3 : 0;
  }
  for (let i = 0; i < rows; i++) {
    const row = values[i] as readonly unknown[];
    for (let c = 0; c < width; c++) {
      const m = mode[c];
      if (m === 0) continue;
      const v = row[c];
      let x: number;
      if (typeof v === 'number' && m !== 2)
        x = v; // a number, or a time as epoch milliseconds
      else if (v === null || v === undefined) x = Number.NaN;
      else if (m === 2 && typeof v === 'boolean') x = v ? 1 : 0;
      else if (m === 3 && v instanceof Date) x = v.getTime();
      else {
        mode[c] = 0;
        continue;
      }
      numbers[c * rows + i] = x;
    }
  }
  const plain: (readonly unknown[] | null)[] = new Array(width);
  for (let c = 0; c < width; c++)
    plain[c] =
      mode[c] !== 0 ? null : Array.from({ length: rows }, (_, i) => (values[i] as readonly unknown[])[c]);
  return { numbers, values: plain };
}
