import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  BIGINT,
  BOOLEAN,
  DOUBLE,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  UTINYINT,
  VARCHAR,
} from '@duckdb/node-api';
import type { ColumnSpec } from '../offline/duckdb/rows-table.js';
import { quoteIdent, quoteLiteral } from '../offline/duckdb/sql.js';

/**
 * A column of a log file. With `codes`, its values are indexes into `codes` (small integers, cheap to move and to
 * hand to DuckDB) and the file holds the text they name, in a VARCHAR column: how statuses are written.
 */
export interface LogColumn extends ColumnSpec {
  readonly codes?: readonly string[];
}

/** Writes one Parquet file of rows (arrays in `columns` order) at `path`, atomically. */
export interface LogFileWriter {
  write(columns: readonly LogColumn[], rows: Iterable<readonly unknown[]>, path: string): Promise<void>;
  close(): Promise<void>;
}

/** Rows per DuckDB data chunk (DuckDB's standard vector size). */
const CHUNK_ROWS = 2048;

/**
 * How a declared column travels into DuckDB: the type of its staging column, the conversion of a JS value to it
 * (null when the value is null), and the SQL that turns the staging column into the declared type. Numbers,
 * booleans, text and times go as typed vectors; other types (bytes, lists, …) as JSON text cast by DuckDB.
 */
interface Staging {
  readonly type: DuckDBType;
  readonly convert: (v: unknown) => DuckDBValue;
  readonly select: (column: string) => string;
}

const asIs = (column: string) => column;

function stagingOf(column: LogColumn): Staging {
  const { type, codes } = column;
  if (codes !== undefined) {
    const names = `[${codes.map(quoteLiteral).join(', ')}]`;
    return {
      type: UTINYINT,
      convert: (v) => {
        if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < codes.length) return v;
        throw mismatch(`code of ${codes.length}`, v);
      },
      select: (c) => `${names}[${c} + 1]`,
    };
  }
  switch (type) {
    case 'DOUBLE':
    case 'FLOAT':
      // NaN and ±Infinity are logged as null (docs/feature-logging.md).
      return {
        type: DOUBLE,
        convert: (v) => {
          if (typeof v !== 'number' && typeof v !== 'bigint') throw mismatch(type, v);
          const x = Number(v);
          return Number.isFinite(x) ? x : null;
        },
        select: type === 'FLOAT' ? (c) => `${c}::FLOAT` : asIs,
      };
    case 'BIGINT':
      return {
        type: BIGINT,
        convert: (v) => {
          if (typeof v === 'bigint') return v;
          if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
          throw mismatch(type, v);
        },
        select: asIs,
      };
    case 'INTEGER':
      return {
        type: INTEGER,
        convert: (v) => {
          if (typeof v === 'number' && Number.isInteger(v)) return v;
          if (typeof v === 'bigint') return Number(v);
          throw mismatch(type, v);
        },
        select: asIs,
      };
    case 'BOOLEAN':
      return {
        type: BOOLEAN,
        convert: (v) => {
          if (typeof v === 'boolean') return v;
          throw mismatch(type, v);
        },
        select: asIs,
      };
    case 'VARCHAR':
      // Any value is logged as its text: a time as ISO text, other non-strings as JSON.
      return {
        type: VARCHAR,
        convert: (v) => (typeof v === 'string' ? v : v instanceof Date ? v.toISOString() : textOf(v)),
        select: asIs,
      };
    case 'TIMESTAMPTZ':
      // Epoch microseconds.
      return {
        type: BIGINT,
        convert: (v) => {
          const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : Number.NaN;
          if (!Number.isFinite(ms)) throw mismatch(type, v);
          return BigInt(Math.round(ms * 1000));
        },
        select: (c) => `make_timestamptz(${c})`,
      };
    case 'BLOB':
      return { type: VARCHAR, convert: textOf, select: (c) => `from_base64(${c})` };
    case 'BLOB[]':
      return {
        type: VARCHAR,
        convert: textOf,
        select: (c) => `list_transform(${c}::JSON::VARCHAR[], x -> from_base64(x))`,
      };
    default:
      return { type: VARCHAR, convert: textOf, select: (c) => `${c}::JSON::${type}` };
  }
}

function mismatch(type: string, v: unknown): Error {
  return new Error(`feature log: a ${typeof v} value (${String(v).slice(0, 40)}) in a ${type} column`);
}

/** JSON text: bigints as decimal strings (DuckDB casts them exactly), bytes as base64, Dates as ISO text. */
function textOf(v: unknown): string {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return JSON.stringify(v, (_key, x: unknown) => {
    if (typeof x === 'bigint') return x.toString();
    if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
    return x;
  });
}

/**
 * The default log writer. Rows are transposed into DuckDB data chunks (typed vectors: doubles, integers, text,
 * epoch microseconds, one byte per coded value; JSON text for the rest) appended to a staging table of an embedded DuckDB of its own (one
 * thread), which then writes the Parquet file with the declared types to a temporary name in the target folder,
 * renamed when complete: a reader globbing `**\/*.parquet` never sees a partial file. It runs on the feature
 * log's thread (src/logging/log-worker.ts). Typed chunks instead of JSON lines read back by DuckDB: 2.4 times
 * less CPU (10 000 rows of 104 columns: 213 ms against 518 ms); statuses as codes rather than text: text vectors
 * were a third of what remained.
 *
 * @example
 * const writer = new DuckDbLogWriter();
 * await writer.write([{ name: 'request_id', type: 'VARCHAR' }], [['r1']], '/repo/feature_logs/date=2024-05-01/x.parquet');
 * await writer.close();
 */
export class DuckDbLogWriter implements LogFileWriter {
  private instance: DuckDBInstance | undefined;
  private connection: DuckDBConnection | undefined;

  private async connect(): Promise<DuckDBConnection> {
    if (this.connection === undefined) {
      this.instance = await DuckDBInstance.create(':memory:', { threads: '1' });
      this.connection = await this.instance.connect();
      await this.connection.run("SET TimeZone = 'UTC'");
    }
    return this.connection;
  }

  async write(
    columns: readonly LogColumn[],
    rows: Iterable<readonly unknown[]>,
    path: string,
  ): Promise<void> {
    const connection = await this.connect();
    mkdirSync(dirname(path), { recursive: true });
    // Not *.parquet while being written: globs like logs/**/*.parquet must not pick them up.
    const tmp = `${path}.${randomUUID()}.tmp`;
    const staging = columns.map(stagingOf);
    const table = 'feature_log_staging';
    try {
      await connection.run(
        `CREATE OR REPLACE TABLE ${table} (${staging.map((s, i) => `c${i} ${s.type.toString()}`).join(', ')})`,
      );
      const appender = await connection.createAppender(table);
      try {
        const types = staging.map((s) => s.type);
        const width = columns.length;
        let batch: (readonly unknown[])[] = [];
        const append = () => {
          const chunk = DuckDBDataChunk.create(types, batch.length);
          const vectors: DuckDBValue[][] = new Array(width);
          for (let c = 0; c < width; c++) {
            const convert = (staging[c] as Staging).convert;
            const out: DuckDBValue[] = new Array(batch.length);
            for (let r = 0; r < batch.length; r++) {
              const v = (batch[r] as readonly unknown[])[c];
              out[r] = v === null || v === undefined ? null : convert(v);
            }
            vectors[c] = out;
          }
          chunk.setColumns(vectors);
          appender.appendDataChunk(chunk);
          batch = [];
        };
        for (const row of rows) {
          batch.push(row);
          if (batch.length === CHUNK_ROWS) append();
        }
        if (batch.length > 0) append();
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      const select = columns.map(
        (c, i) => `${(staging[i] as Staging).select(`c${i}`)} AS ${quoteIdent(c.name)}`,
      );
      await connection.run(
        `COPY (SELECT ${select.join(', ')} FROM ${table}) TO ${quoteLiteral(tmp)} (FORMAT parquet)`,
      );
      renameSync(tmp, path);
    } finally {
      rmSync(tmp, { force: true });
      await connection.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.connection?.closeSync();
    this.instance?.closeSync();
    this.connection = undefined;
    this.instance = undefined;
  }
}
