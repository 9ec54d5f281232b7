import { DuckDBTypeId, type DuckDBValueConverter, type JS, JSDuckDBValueConverter } from '@duckdb/node-api';

/**
 * DuckDB values → plain JavaScript: integers → number (int64 beyond ±2^53 → see below), DECIMAL → number,
 * timestamps and dates → Date (millisecond precision), lists → arrays, BLOB → Uint8Array, UUID → string.
 */

const WIDE_INTEGERS = new Set<DuckDBTypeId>([
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.UBIGINT,
  DuckDBTypeId.HUGEINT,
  DuckDBTypeId.UHUGEINT,
  DuckDBTypeId.BIGNUM,
]);

/** Thrown by the strict converter; callers add which view and feature it came from. */
export class UnsafeIntegerError extends Error {
  constructor(readonly value: bigint) {
    super(`integer ${value} is outside the safe JavaScript range (±2^53)`);
  }
}

const safe = (v: bigint): boolean =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER);

/** Node Buffers (what the bindings return for BLOB) become plain Uint8Arrays, the documented type. */
function plain(v: JS): JS {
  return v instanceof Uint8Array && v.constructor !== Uint8Array ? new Uint8Array(v) : v;
}

/** int64 as number when it is a safe integer, else bigint (results of historical retrieval). */
export const lenientJs: DuckDBValueConverter<JS> = (value, type) => {
  if (value === null) return null;
  if (WIDE_INTEGERS.has(type.typeId) && typeof value === 'bigint') return safe(value) ? Number(value) : value;
  // Passing ourselves as the recursion hook makes list elements and struct fields follow the same rules.
  return plain(JSDuckDBValueConverter(value, type, lenientJs));
};

/** int64 as number, throwing {@link UnsafeIntegerError} beyond ±2^53 (values loaded online must be exact). */
export const strictJs: DuckDBValueConverter<JS> = (value, type) => {
  if (value === null) return null;
  if (WIDE_INTEGERS.has(type.typeId) && typeof value === 'bigint') {
    if (!safe(value)) throw new UnsafeIntegerError(value);
    return Number(value);
  }
  return plain(JSDuckDBValueConverter(value, type, strictJs));
};

/** Join keys keep int64 exactly (bigint), since entity keys are encoded from their exact value. */
export const keyJs: DuckDBValueConverter<JS> = (value, type) => {
  if (value === null) return null;
  return plain(JSDuckDBValueConverter(value, type, keyJs));
};
