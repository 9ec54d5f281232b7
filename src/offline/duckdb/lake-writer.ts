import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { TesseraError } from '../../core/errors.js';
import type { Source } from '../../definitions/source.js';
import type { SourceColumn } from '../offline-store.js';
import { type ColumnSpec, createTableFromRows } from './rows-table.js';
import { quoteIdent, quoteLiteral } from './sql.js';

/** The appender wants DuckDB's short type names; results describe timestamps with the long ones. */
function appenderColumns(columns: readonly SourceColumn[]): ColumnSpec[] {
  return columns.map((c) => {
    const t = c.type.toUpperCase();
    const type = t === 'TIMESTAMP WITH TIME ZONE' || t === 'TIMESTAMP' ? 'TIMESTAMPTZ' : c.type;
    return { name: c.name, type };
  });
}

/**
 * Writes rows as one Parquet file, atomically: to a temporary name in the target folder, then renamed, so a
 * reader (or a glob over the folder) never sees a partial file.
 */
export async function writeParquetAtomically(
  connection: DuckDBConnection,
  rows: readonly Readonly<Record<string, unknown>>[],
  columns: readonly SourceColumn[],
  path: string,
): Promise<void> {
  const table = `rows_${randomUUID().replaceAll('-', '')}`;
  mkdirSync(dirname(path), { recursive: true });
  // Not *.parquet while being written: globs like data/**/*.parquet must not pick it up.
  const tmp = `${path}.${randomUUID()}.tmp`;
  try {
    await createTableFromRows(connection, table, rows, appenderColumns(columns));
    await connection.run(`COPY ${quoteIdent(table)} TO ${quoteLiteral(tmp)} (FORMAT parquet)`);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
    await connection.run(`DROP TABLE IF EXISTS ${quoteIdent(table)}`);
  }
}

/**
 * Appends pushed rows to a Parquet source's folder: one new file per call, or per `date=YYYY-MM-DD` partition
 * (UTC day of the event time) when the folder is hive-partitioned by date. Returns the number of rows written.
 */
export async function appendToParquetSource(
  connection: DuckDBConnection,
  source: Source,
  repoPath: string,
  rows: readonly Readonly<Record<string, unknown>>[],
  columns: readonly SourceColumn[],
): Promise<number> {
  if (source.type !== 'parquet') {
    throw new TesseraError(`offline push needs a parquet source; '${source.name}' is ${source.type}`, {
      field: 'to',
      hint: "push with to: 'online', or give the view a parquet directory source",
    });
  }
  const dir = isAbsolute(source.path) ? source.path : resolve(repoPath, source.path);
  if (
    source.path.includes('*') ||
    (existsSync(dir) && !statSync(dir).isDirectory()) ||
    dir.endsWith('.parquet')
  ) {
    throw new TesseraError(`offline push needs a directory source; '${source.name}' reads ${source.path}`, {
      field: 'path',
      hint: 'point the source at a folder of Parquet files (hive partitions by date are kept)',
    });
  }
  if (rows.length === 0) return 0;
  const partitioned = existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('date='));
  const batch = `push-${Date.now()}-${randomUUID().slice(0, 8)}.parquet`;
  if (!partitioned) {
    await writeParquetAtomically(connection, rows, columns, join(dir, batch));
    return rows.length;
  }
  const byDay = new Map<string, Readonly<Record<string, unknown>>[]>();
  for (const row of rows) {
    const ts = row[source.timestampField];
    const day = (ts instanceof Date ? ts : new Date(ts as string | number)).toISOString().slice(0, 10);
    const list = byDay.get(day);
    if (list) list.push(row);
    else byDay.set(day, [row]);
  }
  for (const [day, dayRows] of byDay) {
    await writeParquetAtomically(connection, dayRows, columns, join(dir, `date=${day}`, batch));
  }
  return rows.length;
}
