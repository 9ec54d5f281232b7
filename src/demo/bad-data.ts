import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/**
 * The demo's bad data, written into the generated lake as an upstream mistake would be: a partner upload of
 * events with broken rows, and an item snapshot whose prices moved to another scale. Both copy real generated
 * rows (same columns and types) and change only what the story needs, so what catches them is the checks.
 */

/** What {@link writeBrokenUpload} wrote. */
export interface BrokenUpload {
  readonly path: string;
  readonly rows: number;
  /** Rows broken on purpose, per defect. */
  readonly broken: {
    readonly nullUserId: number;
    readonly unknownEventType: number;
    readonly negativePrice: number;
  };
}

/**
 * Writes `rows` events with event times spread over [from, to) to `data/events/date=<from's day>/partner_upload.parquet`:
 * every 40th has no user_id, every 60th the event type 'hover', every 90th a negative price.
 */
export async function writeBrokenUpload(
  repo: string,
  from: Date,
  to: Date,
  rows = 5000,
): Promise<BrokenUpload> {
  const day = from.toISOString().slice(0, 10);
  const dir = join(repo, 'data', 'events', `date=${day}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'partner_upload.parquet');
  const spanUs = Math.max(1, Math.floor((to.getTime() - from.getTime()) * 1000));
  await withDuckDb(async (run) => {
    await run(`COPY (
        WITH picked AS (
          SELECT *, row_number() OVER (ORDER BY event_id) - 1 AS i
          FROM read_parquet('${sqlPath(join(repo, 'data', 'events', '*', 'part_*.parquet'))}', hive_partitioning = false)
          ORDER BY event_id LIMIT ${rows})
        SELECT event_id + 1000000000000 AS event_id,
               CASE WHEN i % 40 = 0 THEN NULL ELSE user_id END AS user_id,
               item_id,
               CASE WHEN i % 60 = 1 THEN 'hover' ELSE event_type END AS event_type,
               CASE WHEN i % 90 = 2 THEN -price ELSE price END AS price,
               make_timestamp(${from.getTime() * 1000} + (i * ${spanUs}) // ${rows}) AS event_ts
        FROM picked ORDER BY i
      ) TO '${sqlPath(path)}' (FORMAT parquet)`);
  });
  const count = (every: number, offset: number) => Math.floor((rows - 1 - offset) / every) + 1;
  return {
    path,
    rows,
    broken: { nullUserId: count(40, 0), unknownEventType: count(60, 1), negativePrice: count(90, 2) },
  };
}

/**
 * Writes a snapshot of every item at `at` to `data/item_stats/date=<day>/repriced.parquet`, copied from the
 * latest generated snapshot with prices × 100 (a job that started writing cents): every row stays valid.
 */
export async function writeRepricedSnapshot(repo: string, at: Date): Promise<{ path: string; rows: number }> {
  const day = at.toISOString().slice(0, 10);
  const dir = join(repo, 'data', 'item_stats', `date=${day}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'repriced.parquet');
  const rows = await withDuckDb(async (run) => {
    const source = `read_parquet('${sqlPath(join(repo, 'data', 'item_stats', '*', 'part_*.parquet'))}', hive_partitioning = false)`;
    await run(`COPY (
        SELECT * REPLACE (price * 100 AS price, make_timestamp(${at.getTime() * 1000}) AS event_ts)
        FROM ${source} WHERE event_ts = (SELECT max(event_ts) FROM ${source}) ORDER BY item_id
      ) TO '${sqlPath(path)}' (FORMAT parquet)`);
    return Number((await run(`SELECT count(*) AS n FROM read_parquet('${sqlPath(path)}')`))[0]?.['n']);
  });
  return { path, rows };
}

async function withDuckDb<T>(
  f: (run: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>,
): Promise<T> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    return await f(async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson());
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

const sqlPath = (p: string) => p.replaceAll("'", "''");
