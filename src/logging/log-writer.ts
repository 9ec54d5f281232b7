import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { appendRowArrays, type ColumnSpec, createTempTable } from '../offline/duckdb/rows-table.js';
import { quoteIdent, quoteLiteral } from '../offline/duckdb/sql.js';

/** Writes one Parquet file of rows (arrays in `columns` order) at `path`, atomically. */
export interface LogFileWriter {
  write(columns: readonly ColumnSpec[], rows: readonly (readonly unknown[])[], path: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The default log writer: an embedded DuckDB of its own (one thread, so a flush never competes with serving for
 * more than one core), rows appended through the DuckDB appender, `COPY … (FORMAT parquet)` to a temporary name
 * in the target folder, then renamed, so a reader globbing `**\/*.parquet` never sees a partial file.
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
    columns: readonly ColumnSpec[],
    rows: readonly (readonly unknown[])[],
    path: string,
  ): Promise<void> {
    const connection = await this.connect();
    const table = `log_${randomUUID().replaceAll('-', '')}`;
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${randomUUID()}.tmp`;
    try {
      await createTempTable(connection, table, columns);
      await appendRowArrays(connection, table, rows, columns);
      await connection.run(`COPY ${quoteIdent(table)} TO ${quoteLiteral(tmp)} (FORMAT parquet)`);
      renameSync(tmp, path);
    } finally {
      rmSync(tmp, { force: true });
      await connection.run(`DROP TABLE IF EXISTS ${quoteIdent(table)}`);
    }
  }

  async close(): Promise<void> {
    this.connection?.closeSync();
    this.instance?.closeSync();
    this.connection = undefined;
    this.instance = undefined;
  }
}
