import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { TesseraError } from '../../core/errors.js';
import type { HistoricalResult, SourceColumn } from '../offline-store.js';
import { quoteIdent, quoteLiteral } from './sql.js';
import { lenientJs } from './values.js';

/**
 * A historical-retrieval result kept as a DuckDB temp table on the connection that computed it (temp tables are
 * private to their connection, so the result owns it until `close`). Rows are in spine order.
 *
 * @example
 * const result = await store.getHistoricalFeatures(request);
 * console.log(result.rowCount, result.columns);
 * await result.writeParquet('out/training.parquet');
 * await result.close();
 */
export class DuckDbHistoricalResult implements HistoricalResult {
  private closed = false;

  constructor(
    private readonly connection: DuckDBConnection,
    private readonly table: string,
    readonly columns: readonly SourceColumn[],
    readonly rowCount: number,
    private readonly onClose: () => void,
  ) {}

  private check(): void {
    if (this.closed) throw new TesseraError('the historical result is closed', {}, 'INVALID_INPUT');
  }

  /** All rows as objects: timestamps as Date, int64 as number when safe else bigint, DECIMAL as number. */
  async rows(): Promise<Record<string, unknown>[]> {
    this.check();
    const reader = await this.connection.runAndReadAll(
      `SELECT * FROM ${quoteIdent(this.table)} ORDER BY rowid`,
    );
    return reader.convertRowObjects(lenientJs);
  }

  /** Writes the result, in spine order, as one Parquet file (parent folders are created). */
  async writeParquet(path: string): Promise<void> {
    this.check();
    const abs = resolve(path);
    await mkdir(dirname(abs), { recursive: true });
    await this.connection.run(
      `COPY (SELECT * FROM ${quoteIdent(this.table)} ORDER BY rowid) TO ${quoteLiteral(abs)} (FORMAT parquet)`,
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.connection.run(`DROP TABLE IF EXISTS ${quoteIdent(this.table)}`);
    } catch {
      // The store was closed first: closing the connection already freed the temp table.
    } finally {
      this.onClose();
    }
  }
}
