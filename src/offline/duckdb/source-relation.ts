import { readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { TesseraError } from '../../core/errors.js';
import type { CsvSource, ParquetSource } from '../../definitions/source.js';
import { quoteLiteral } from './sql.js';

/** How DuckDB reads a file source: the table-function call placed after FROM, and what pruning it allows. */
export interface FileRelation {
  /** e.g. `read_parquet('/repo/data/orders/**\/*.parquet', hive_partitioning = true)` */
  readonly sql: string;
  /** The absolute path or glob read, for messages. */
  readonly path: string;
  /** Hive partition keys found in the folder names (`date=2024-05-01/` → `date`), outermost first. */
  readonly partitionKeys: readonly string[];
  /** Set when a `date=YYYY-MM-DD` partition level exists: the column to prune on. */
  readonly datePartitionColumn?: string;
}

const GLOB = /[*?[{]/;
const HIVE_DIR = /^([^=/\\]+)=(.*)$/;
const DATE_VALUE = /^\d{4}-\d{2}-\d{2}$/;

export const resolvePath = (path: string, repoPath: string): string =>
  isAbsolute(path) ? path : resolve(repoPath, path);

const notFound = (what: string, path: string, hint?: string) =>
  new TesseraError(
    `${what}: path not found`,
    { file: path, field: 'path', ...(hint ? { hint } : {}) },
    'NOT_FOUND',
  );

/**
 * Hive partition keys under `dir`, following the first `k=v` folder of each level. A `date` key whose folder
 * values look like `YYYY-MM-DD` is reported as prunable.
 */
async function hiveLayout(dir: string): Promise<{ keys: string[]; date: boolean }> {
  const keys: string[] = [];
  let date = false;
  let current = dir;
  for (let depth = 0; depth < 8; depth++) {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      break;
    }
    const part = entries.filter((e) => e.isDirectory()).find((e) => HIVE_DIR.test(e.name));
    if (!part) break;
    const m = HIVE_DIR.exec(part.name) as RegExpExecArray;
    const key = m[1] as string;
    keys.push(key);
    if (key === 'date') {
      const values = entries
        .filter((e) => e.isDirectory() && e.name.startsWith('date='))
        .map((e) => e.name.slice(5));
      date = values.length > 0 && values.every((v) => DATE_VALUE.test(v));
    }
    current = resolve(current, part.name);
  }
  return { keys, date };
}

/**
 * The DuckDB relation for a Parquet or CSV source: a file, a directory (read recursively) or a glob, resolved
 * against the repo. Hive-style partition folders are read as columns.
 *
 * @example await fileRelation(parquetSource({ name: 'orders', path: 'data/orders', timestampField: 'ts' }), '/repo')
 */
export async function fileRelation(
  source: ParquetSource | CsvSource,
  repoPath: string,
): Promise<FileRelation> {
  const what = `source '${source.name}'`;
  const abs = resolvePath(source.path, repoPath);
  const ext = source.type === 'parquet' ? 'parquet' : 'csv';
  let pattern = abs;
  let layout = { keys: [] as string[], date: false };
  if (GLOB.test(abs)) {
    // The folder above the first wildcard must exist; DuckDB reports an empty match itself.
    const base = dirname(abs.slice(0, abs.search(GLOB) + 1));
    const st = await stat(base).catch(() => undefined);
    if (!st?.isDirectory()) throw notFound(what, abs, `folder ${base} does not exist`);
    layout = await hiveLayout(base);
  } else {
    const st = await stat(abs).catch(() => undefined);
    if (!st) throw notFound(what, abs);
    if (st.isDirectory()) {
      pattern = `${abs.replace(/[\\/]+$/, '')}/**/*.${ext}`;
      layout = await hiveLayout(abs);
    }
  }
  const hive = layout.keys.length > 0;
  const options = [`hive_partitioning = ${hive}`];
  if (hive && layout.date) options.push(`hive_types = {'date': DATE}`);
  if (source.type === 'csv') options.unshift('header = true', `delim = ${quoteLiteral(source.delimiter)}`);
  const fn = source.type === 'parquet' ? 'read_parquet' : 'read_csv';
  return {
    sql: `${fn}(${quoteLiteral(pattern)}, ${options.join(', ')})`,
    path: pattern,
    partitionKeys: layout.keys,
    ...(hive && layout.date ? { datePartitionColumn: 'date' } : {}),
  };
}

/**
 * The DuckDB relation for a spine file, chosen by extension: `.parquet`/`.pq` or `.csv`/`.tsv`/`.txt`.
 *
 * @example await spineFileRelation('spine.parquet', '/repo') // { sql: "read_parquet('/repo/spine.parquet')", … }
 */
export async function spineFileRelation(
  path: string,
  repoPath: string,
): Promise<{ sql: string; path: string }> {
  const abs = resolvePath(path, repoPath);
  const lower = abs.toLowerCase();
  const st = GLOB.test(abs) ? undefined : await stat(abs).catch(() => undefined);
  if (!GLOB.test(abs) && !st) throw notFound('spine file', abs);
  if (/\.(parquet|pq|parq)$/.test(lower)) return { sql: `read_parquet(${quoteLiteral(abs)})`, path: abs };
  if (/\.(csv|txt)$/.test(lower)) return { sql: `read_csv(${quoteLiteral(abs)}, header = true)`, path: abs };
  if (lower.endsWith('.tsv'))
    return { sql: `read_csv(${quoteLiteral(abs)}, header = true, delim = '\t')`, path: abs };
  throw new TesseraError(
    'unsupported spine file type',
    {
      file: abs,
      expected: 'a .parquet or .csv file',
      hint: "or pass { kind: 'sql', query } to read anything DuckDB reads",
    },
    'INVALID_INPUT',
  );
}
