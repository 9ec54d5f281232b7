/**
 * Comparing Feast's historical results with Tessera's: reading Feast's Parquet output and deciding whether two
 * feature values are equal. Shared by the Feast oracle tests (feast-oracle, feast-ecommerce, feast-driver-stats).
 */
import { DuckDBInstance } from '@duckdb/node-api';

/**
 * Every row of a Parquet file as plain JavaScript objects (DuckDB's JS conversion: lists as arrays, timestamps as
 * Dates, 64-bit integers as bigint).
 *
 * @example
 * const feast = await readParquet(join(dir, 'feast.parquet'));
 */
export function readParquet(path: string): Promise<Record<string, unknown>[]> {
  return queryRows(`SELECT * FROM read_parquet('${path}')`);
}

/** The rows of a query run on a throwaway in-memory DuckDB, as plain JavaScript objects (see readParquet). */
export async function queryRows(sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    return (await con.runAndReadAll(sql)).getRowObjectsJS();
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/**
 * Equal as feature values: NULL only equals NULL, floats within a relative 1e-9, integers across number/bigint,
 * times by their instant, lists element by element.
 *
 * @example
 * sameValue(3n, 3); // true
 * sameValue(['a', 'b'], ['a', 'b']); // true
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === null || a === undefined || b === null || b === undefined) {
    return (a ?? null) === null && (b ?? null) === null;
  }
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    const x = Number(a);
    const y = Number(b);
    return x === y || Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y));
  }
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  return a === b;
}
