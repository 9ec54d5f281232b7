import type { ScalarType } from '../../definitions/value-types.js';

/**
 * Small SQL text helpers for DuckDB. Everything the store puts into SQL text goes through them, so names and
 * paths from definitions can never change the shape of a statement.
 */

/** Quotes an identifier: `quoteIdent('user id')` → `"user id"`. */
export const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Quotes a string literal: `quoteLiteral("it's")` → `'it''s'`. */
export const quoteLiteral = (text: string): string => `'${text.replaceAll("'", "''")}'`;

/** Floor division for bigints (BigInt `/` truncates toward zero, which is wrong before 1970). */
export function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/**
 * Formats epoch microseconds as a UTC timestamp text DuckDB and PostgreSQL both parse exactly.
 *
 * @example formatUtcMicros(1704067200123456n) // '2024-01-01 00:00:00.123456+00'
 */
export function formatUtcMicros(us: bigint): string {
  const seconds = floorDiv(us, 1_000_000n);
  const fraction = us - seconds * 1_000_000n;
  const iso = new Date(Number(seconds) * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${fraction.toString().padStart(6, '0')}+00`;
}

/** A `TIMESTAMPTZ` literal for epoch microseconds. */
export const timestamptzLiteral = (us: bigint): string => `TIMESTAMPTZ '${formatUtcMicros(us)}'`;

/** The UTC calendar day of epoch microseconds, as a `DATE` literal shifted by `days`. */
export function dateLiteral(us: bigint, days = 0): string {
  const day = floorDiv(us, 86_400_000_000n) + BigInt(days);
  return `DATE '${new Date(Number(day) * 86_400_000).toISOString().slice(0, 10)}'`;
}

/**
 * The DuckDB type both sides of a join are cast to for a join key, so that a spine read from CSV (`VARCHAR`),
 * JS rows (`BIGINT`) and a Parquet source (`INTEGER`) still compare equal on the same key value.
 */
export function keySqlType(type: ScalarType): string {
  switch (type) {
    case 'int32':
    case 'int64':
      return 'BIGINT';
    case 'float32':
    case 'float64':
      return 'DOUBLE';
    case 'bool':
      return 'BOOLEAN';
    case 'bytes':
      return 'BLOB';
    case 'timestamp':
      return 'TIMESTAMPTZ';
    case 'string':
      return 'VARCHAR';
  }
}

/** DuckDB timestamp types without a zone; their values are read as UTC. */
const NAIVE_TIMESTAMP = new Set(['TIMESTAMP', 'TIMESTAMP_S', 'TIMESTAMP_MS', 'TIMESTAMP_NS', 'DATETIME']);

export const isNaiveTimestampType = (type: string): boolean => NAIVE_TIMESTAMP.has(type.toUpperCase());

/** Types whose values compare directly against a cast `TIMESTAMPTZ` bound, letting DuckDB prune files. */
export const isTemporalType = (type: string): boolean => {
  const t = type.toUpperCase();
  return NAIVE_TIMESTAMP.has(t) || t === 'TIMESTAMP WITH TIME ZONE' || t === 'TIMESTAMPTZ' || t === 'DATE';
};
