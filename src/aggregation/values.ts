import type { ScalarType } from '../definitions/value-types.js';

/**
 * A value as the aggregation core holds it: numbers (int64 and timestamps as integer numbers, timestamps in
 * epoch milliseconds), strings, booleans. Plain data, so states serialize as they are.
 */
export type AggValue = number | string | boolean;

/**
 * Converts an input value to its aggregation form, or `undefined` when it does not count: null, a non-finite
 * float (NaN and ±Infinity are ignored like nulls, in SQL as in JS), or a value of the wrong JS type.
 */
export function toAggValue(type: ScalarType, v: unknown): AggValue | undefined {
  if (v === null || v === undefined) return undefined;
  switch (type) {
    case 'int32':
    case 'int64':
      if (typeof v === 'bigint') return Number(v);
      return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
    case 'float32':
    case 'float64':
      if (typeof v === 'bigint') return Number(v);
      return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    case 'timestamp':
      if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.getTime();
      return typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : undefined;
    case 'string':
      return typeof v === 'string' ? v : undefined;
    case 'bool':
      return typeof v === 'boolean' ? v : undefined;
    case 'bytes':
      return undefined;
  }
}

/**
 * Total order used by min, max and the tie-breaks of last / last_k. Strings compare by Unicode code point,
 * which is the byte order of their UTF-8 form, as in DuckDB; false < true.
 */
export function compareValues(a: AggValue, b: AggValue): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  return Number(a) - Number(b);
}

function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // UTF-16 order differs from code point order only when a surrogate meets a code unit ≥ U+E000.
    const sx = x >= 0xd800 && x <= 0xdfff;
    const sy = y >= 0xd800 && y <= 0xdfff;
    if (sx !== sy) return sx ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Converts a result value back to its public JS type (timestamps to Date). */
export function fromAggValue(type: ScalarType, v: AggValue): unknown {
  return type === 'timestamp' ? new Date(v as number) : v;
}
