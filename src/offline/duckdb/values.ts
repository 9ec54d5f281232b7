import {
  DuckDBTypeId,
  type DuckDBValueConverter,
  type DuckDBVector,
  type JS,
  JSDuckDBValueConverter,
} from '@duckdb/node-api';
import { encodeEntityKey } from '../../core/entity-key.js';
import type { JoinKey } from '../../definitions/entity.js';

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

/*
 * Column copies for materialization: numbers straight from DuckDB's vectors into Float64Arrays, with no JS value
 * per cell. The vector classes keep their typed array (`items`) and validity bits (`validity.data`) in fields
 * that are private to their TypeScript types; we read them when they have the expected shape and fall back to
 * the public getItem() otherwise (a different library version), which gives the same values, only slower.
 * (getItem() itself tests validity with BigInt arithmetic, about 50 ns a cell.)
 */

/** DuckDB types whose values are JavaScript numbers (int64 when within ±2^53, see {@link strictJs}). */
export const NUMERIC_TYPES: ReadonlySet<DuckDBTypeId> = new Set([
  DuckDBTypeId.DOUBLE,
  DuckDBTypeId.FLOAT,
  DuckDBTypeId.BIGINT,
  DuckDBTypeId.INTEGER,
  DuckDBTypeId.SMALLINT,
  DuckDBTypeId.TINYINT,
  DuckDBTypeId.UINTEGER,
  DuckDBTypeId.USMALLINT,
  DuckDBTypeId.UTINYINT,
]);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface RawVector {
  /** The values, or undefined when the vector does not have the expected layout. */
  readonly items: ArrayLike<number> | BigInt64Array | undefined;
  /** Validity bits (bit r of byte r >> 3... little-endian words), null when every row is valid. */
  readonly valid: Uint8Array | null;
}

function raw(vector: DuckDBVector): RawVector {
  const v = vector as unknown as { items?: unknown; validity?: { data?: unknown; offset?: unknown } };
  const none: RawVector = { items: undefined, valid: null };
  const validity = v.validity;
  if (!LITTLE_ENDIAN || validity === undefined || validity.offset !== 0) return none;
  let valid: Uint8Array | null;
  if (validity.data === null) valid = null;
  else if (validity.data instanceof BigUint64Array) {
    valid = new Uint8Array(validity.data.buffer, validity.data.byteOffset, validity.data.byteLength);
  } else return none;
  const items = v.items;
  if (items instanceof BigInt64Array) return { items, valid };
  if (
    ArrayBuffer.isView(items) &&
    !(items instanceof DataView) &&
    !(items instanceof BigUint64Array) &&
    (items as unknown as ArrayLike<number>).length >= vector.itemCount
  ) {
    return { items: items as unknown as ArrayLike<number>, valid };
  }
  return none;
}

/**
 * Copies rows [from, from + n) of a numeric vector to `out[at…]`, `valid[at…]` (0 for null, whose number is 0).
 * Returns the first int64 value beyond ±2^53, if any, leaving the copy incomplete.
 */
export function copyNumbers(
  vector: DuckDBVector,
  from: number,
  n: number,
  out: Float64Array,
  valid: Uint8Array,
  at: number,
): bigint | undefined {
  const { items, valid: bits } = raw(vector);
  if (items instanceof BigInt64Array) {
    // Two int32 halves per value: a BigInt per cell would be allocated otherwise.
    const halves = new Int32Array(items.buffer, items.byteOffset, items.length * 2);
    for (let r = from; r < from + n; r++) {
      const ok = bits === null || ((bits[r >> 3] as number) >> (r & 7)) & 1;
      if (!ok) {
        out[at] = 0;
        valid[at++] = 0;
        continue;
      }
      const hi = halves[2 * r + 1] as number;
      const v = hi * 4294967296 + ((halves[2 * r] as number) >>> 0);
      // Beyond ±2^53 the sum may round, but never back into the safe range.
      if (!Number.isSafeInteger(v)) return items[r] as bigint;
      out[at] = v;
      valid[at++] = 1;
    }
    return undefined;
  }
  if (items !== undefined) {
    for (let r = from; r < from + n; r++) {
      const ok = bits === null || ((bits[r >> 3] as number) >> (r & 7)) & 1;
      out[at] = ok ? (items[r] as number) : 0;
      valid[at++] = ok ? 1 : 0;
    }
    return undefined;
  }
  for (let r = from; r < from + n; r++) {
    const v = vector.getItem(r);
    if (v === null) {
      out[at] = 0;
      valid[at++] = 0;
    } else if (typeof v === 'bigint') {
      if (!safe(v)) return v;
      out[at] = Number(v);
      valid[at++] = 1;
    } else {
      out[at] = Number(v);
      valid[at++] = 1;
    }
  }
  return undefined;
}

/** Copies epoch milliseconds (BIGINT) to `out[at…]`, null as 0. */
export function copyMillis(
  vector: DuckDBVector,
  from: number,
  n: number,
  out: Float64Array,
  at: number,
): void {
  const valid = new Uint8Array(n);
  const bad = copyNumbers(vector, from, n, out, valid, at);
  if (bad !== undefined) throw new UnsafeIntegerError(bad);
}

/** Copies a single BIGINT join key column as encoded entity keys (`encodeEntityKey` of each value). */
export function copyInt64Keys(
  vector: DuckDBVector,
  from: number,
  n: number,
  out: string[],
  at: number,
  joinKeys: readonly JoinKey[],
): void {
  const { items, valid: bits } = raw(vector);
  const halves =
    items instanceof BigInt64Array
      ? new Int32Array(items.buffer, items.byteOffset, items.length * 2)
      : undefined;
  for (let r = from; r < from + n; r++) {
    if (halves !== undefined && (bits === null || ((bits[r >> 3] as number) >> (r & 7)) & 1)) {
      const v = (halves[2 * r + 1] as number) * 4294967296 + ((halves[2 * r] as number) >>> 0);
      // A safe integer prints the same digits as its bigint, which is what encodeEntityKey writes.
      out[at++] = Number.isSafeInteger(v) ? String(v) : (items as BigInt64Array)[r]!.toString();
      continue;
    }
    const name = (joinKeys[0] as JoinKey).name;
    out[at++] = encodeEntityKey(joinKeys, { [name]: vector.getItem(r) });
  }
}
