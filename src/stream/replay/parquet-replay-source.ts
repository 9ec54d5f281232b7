import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, JSDuckDBValueConverter } from '@duckdb/node-api';
import { TesseraError } from '../../core/errors.js';
import type { StreamHandler, StreamRecord, StreamSource } from '../stream-source.js';

export interface ParquetReplayOptions {
  /** A Parquet file, a folder of them (hive partitions are read as columns), or a glob. */
  readonly path: string;
  /** The events' timestamp column: records are replayed in its order. */
  readonly timestampField: string;
  /** Names the replay's single partition (`replay:<name>/0`), so its checkpoint is its own. */
  readonly name: string;
  readonly batchSize?: number;
}

/**
 * Replays events from Parquet through the stream engine, as one partition whose offsets are positions in a
 * deterministic order (event time, then the record's JSON text): a restarted replay resumes exactly where its
 * checkpoint says, like a Kafka partition. Each row becomes one JSON record (timestamps as ISO-8601), the form
 * the engine decodes. The replay ends when every row has been handed over.
 *
 * @example await new ParquetReplaySource({ path: 'backfill/clicks', timestampField: 'ts', name: 'clicks' }).consume(worker, signal)
 */
export class ParquetReplaySource implements StreamSource {
  readonly kind = 'parquet-replay';

  constructor(private readonly opts: ParquetReplayOptions) {}

  get partition(): string {
    return `replay:${this.opts.name}/0`;
  }

  async consume(handler: StreamHandler, signal: AbortSignal): Promise<void> {
    const [start] = [...(await handler.assigned([this.partition])).values()];
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      await connection.run("SET TimeZone = 'UTC'");
      const reader = await this.#rows(connection, start ?? 0);
      const columns = reader.columnNames();
      const batchSize = this.opts.batchSize ?? 2000;
      let offset = start ?? 0;
      let batch: StreamRecord[] = [];
      for (;;) {
        if (signal.aborted) return;
        const chunk = await reader.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        for (const values of chunk.convertRows(JSDuckDBValueConverter)) {
          const row = Object.fromEntries(columns.map((c, i) => [c, values[i]]));
          batch.push({
            partition: this.partition,
            offset: offset++,
            key: null,
            value: toJson(row),
            timestamp: Date.now(),
          });
          if (batch.length === batchSize) {
            await handler.batch(batch);
            batch = [];
            if (signal.aborted) return;
          }
        }
      }
      if (batch.length > 0) await handler.batch(batch);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  }

  async close(): Promise<void> {}

  async #rows(connection: DuckDBConnection, from: number) {
    const { path, timestampField } = this.opts;
    const glob = existsSync(path) && statSync(path).isDirectory() ? join(path, '**', '*.parquet') : path;
    const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
    const ts = `"${timestampField.replaceAll('"', '""')}"`;
    try {
      return await connection.stream(
        `SELECT * EXCLUDE (__order) FROM (
           SELECT *, to_json(t)::VARCHAR AS __order FROM read_parquet(${quote(glob)}, hive_partitioning = true, union_by_name = true) t
         ) ORDER BY ${ts}, __order OFFSET ${Math.max(0, Math.trunc(from))}`,
      );
    } catch (e) {
      throw new TesseraError(
        `cannot replay '${path}'`,
        {
          file: path,
          actual: (e as Error).message.split('\n')[0] ?? '',
          hint: `a Parquet file, folder or glob with column '${timestampField}'`,
        },
        'INVALID_INPUT',
        e,
      );
    }
  }
}

/** One row as JSON text: Dates as ISO-8601, int64 as numbers (exact within ±2^53) or decimal text beyond. */
function toJson(row: Record<string, unknown>): string {
  return JSON.stringify(row, (_key, v) =>
    typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
  );
}
