import { type DuckDBConnection, DuckDBInstance, DuckDBTypeId, type JS } from '@duckdb/node-api';
import { encodeEntityKey } from '../../core/entity-key.js';
import { TesseraError } from '../../core/errors.js';
import type { JoinKey } from '../../definitions/entity.js';
import { sourceColumn } from '../../definitions/feature-view.js';
import type { AggregationSelection, ViewSelection } from '../../definitions/resolve.js';
import type { Source } from '../../definitions/source.js';
import {
  type OnlineColumn,
  type OnlineColumns,
  type OnlineRow,
  rowsFromColumns,
} from '../../online/online-store.js';
import type {
  HistoricalRequest,
  HistoricalResult,
  OfflineStore,
  OfflineWriter,
  PullEventsRequest,
  PullLatestRequest,
  SourceColumn,
  SourceContext,
  SourceEvent,
} from '../offline-store.js';
import { aggregationTable, compileAggregationJoin, lookbackMs, rowFilterSql } from './aggregation-sql.js';
import { DuckDbHistoricalResult } from './historical-result.js';
import { appendToParquetSource, writeParquetAtomically } from './lake-writer.js';
import {
  compileCleanup,
  compileLatest,
  compilePointInTime,
  compileSpineKeys,
  compileSpineRange,
  type PitPlan,
  type PitStrategy,
  type PitView,
  type SourceScan,
  spineKeyColumns,
  type TimeRange,
  timeRangeFilter,
} from './point-in-time-sql.js';
import { connectionUrl, describePostgres, importPostgres } from './postgres-import.js';
import { fileRelation } from './source-relation.js';
import { describeTable, loadSpine } from './spine.js';
import { keySqlType, quoteIdent, timestamptzLiteral } from './sql.js';
import {
  copyInt64Keys,
  copyMillis,
  copyNumbers,
  keyJs,
  NUMERIC_TYPES,
  strictJs,
  UnsafeIntegerError,
} from './values.js';

/** Options of {@link DuckDbOfflineStore}. */
export interface DuckDbOfflineStoreOptions {
  /** DuckDB `memory_limit`, e.g. `'4GB'`; DuckDB spills to `tempDirectory` beyond it. */
  readonly memoryLimit?: string;
  /** Worker threads (default: DuckDB's, one per core). */
  readonly threads?: number;
  /** Where DuckDB spills larger-than-memory joins and sorts. */
  readonly tempDirectory?: string;
  /**
   * How each view is joined: `asof` (DuckDB ASOF join, the default: fastest in bench/historical.ts) or `window`
   * (one sorted stream per view with `last_value`). Both give identical results; kept for benchmarking.
   */
  readonly strategy?: PitStrategy;
}

const SPINE_TABLE = '__tessera_spine';
const RESULT_TABLE = '__tessera_result';
const DEFAULT_CHUNK_ROWS = 10_000;

/**
 * The embedded offline store: DuckDB in-process reads Parquet, CSV and (copied through `pg`) PostgreSQL sources
 * and computes point-in-time joins with ASOF joins. One DuckDB instance per store; each operation gets its own
 * connection, so concurrent calls do not block each other (DuckDB runs them on its thread pool).
 *
 * @example
 * const store = new DuckDbOfflineStore({ repoPath: '/repo', connections: {} }, { memoryLimit: '4GB' });
 * const result = await store.getHistoricalFeatures({
 *   spine: { kind: 'file', path: 'data/spine.parquet' },
 *   views: resolveFeatures(state, { features: ['user_stats:clicks'] }).views,
 * });
 * await result.writeParquet('training.parquet');
 * await result.close();
 */
export class DuckDbOfflineStore implements OfflineStore, OfflineWriter {
  readonly kind = 'duckdb';
  private instance: Promise<DuckDBInstance> | undefined;
  private readonly connections = new Set<DuckDBConnection>();
  private closed = false;

  constructor(
    private readonly ctx: SourceContext,
    private readonly options: DuckDbOfflineStoreOptions = {},
  ) {}

  private async connect(): Promise<DuckDBConnection> {
    if (this.closed) throw new TesseraError('the offline store is closed', {}, 'INVALID_INPUT');
    if (this.instance === undefined) {
      const config: Record<string, string> = {};
      if (this.options.memoryLimit !== undefined) config['memory_limit'] = this.options.memoryLimit;
      if (this.options.threads !== undefined) config['threads'] = String(this.options.threads);
      if (this.options.tempDirectory !== undefined) config['temp_directory'] = this.options.tempDirectory;
      this.instance = DuckDBInstance.create(':memory:', config);
    }
    const connection = await (await this.instance).connect();
    this.connections.add(connection);
    // Session setting: every naive timestamp is read as UTC and TIMESTAMPTZ values print in UTC.
    await connection.run("SET TimeZone = 'UTC'");
    return connection;
  }

  private release(connection: DuckDBConnection): void {
    if (this.connections.delete(connection)) connection.closeSync();
  }

  async getHistoricalFeatures(request: HistoricalRequest): Promise<HistoricalResult> {
    const timestampColumn = request.timestampColumn ?? 'event_timestamp';
    const aggregations = request.aggregations ?? [];
    const total = request.views.length + aggregations.length + 2;
    const progress = (phase: string, done: number) => request.onProgress?.({ phase, done, total });
    const connection = await this.connect();
    try {
      progress('spine', 0);
      const allKeys = [...request.views, ...aggregations].flatMap((v) => v.joinKeys);
      const spine = await loadSpine(connection, request.spine, this.ctx.repoPath, SPINE_TABLE, {
        timestampColumn,
        joinKeys: allKeys.filter((k, i) => allKeys.findIndex((o) => o.name === k.name) === i),
      });
      const outputs = outputNames(
        [...request.views, ...aggregations],
        spine.columns,
        request.fullFeatureNames ?? false,
      );
      const keysPlan = {
        spineTable: SPINE_TABLE,
        timestampColumn,
        views: [...request.views, ...aggregations].map((v) => ({ joinKeys: sqlJoinKeys(v.joinKeys) })),
      };
      await runWithSpineContext(connection, compileSpineKeys(keysPlan), spine.label);
      const range = await spineRange(connection);

      const views: PitView[] = [];
      for (const [i, selection] of request.views.entries()) {
        const lowerUs =
          range === undefined || selection.view.ttlMs <= 0
            ? undefined
            : range.minUs - BigInt(selection.view.ttlMs) * 1000n;
        const scan = await this.prepareScan(
          connection,
          scanRequestOf(selection),
          i,
          lowerUs,
          range?.maxUs,
          range === undefined,
        );
        views.push({
          ...scan,
          ttlMs: selection.view.ttlMs,
          features: selection.features.map((f, n) => ({
            column: sourceColumn(f),
            output: outputs[i]?.[n] as string,
          })),
        });
      }
      const plan: PitPlan = {
        spineTable: SPINE_TABLE,
        spineColumns: spine.columns,
        timestampColumn,
        views,
        aggregationOutputs: aggregations.map((_, a) => outputs[request.views.length + a] as string[]),
        resultTable: RESULT_TABLE,
        strategy: this.options.strategy ?? 'asof',
      };
      const aliases = spineKeyColumns(keysPlan);
      for (const [a, selection] of aggregations.entries()) {
        progress(`aggregation:${selection.view.name}`, request.views.length + a + 1);
        const outs = aggregationOutputsOf(selection, outputs[request.views.length + a] as string[]);
        const joinKeys = sqlJoinKeys(selection.joinKeys);
        const lookback = BigInt(lookbackMs({ outputs: outs })) * 1000n;
        const scan = await this.prepareScan(
          connection,
          aggregationScanRequest(selection),
          request.views.length + a,
          range === undefined ? undefined : range.minUs - lookback,
          range?.maxUs,
          range === undefined,
        );
        const sql = compileAggregationJoin(
          {
            ...scan,
            where: selection.view.where,
            outputs: outs,
            spineKeyAliases: joinKeys.map(
              (k) => aliases.find((o) => o.name === k.name && o.sqlType === k.sqlType)?.alias as string,
            ),
          },
          a,
          range,
        );
        await runWithSpineContext(connection, sql, spine.label);
      }
      for (const [step, statement] of compilePointInTime(plan, range).entries()) {
        progress(statement.phase, aggregations.length + step + 1);
        await runWithSpineContext(connection, statement.sql, spine.label);
      }
      for (const sql of compileCleanup(plan)) await connection.run(sql);
      for (const [a] of aggregations.entries())
        await connection.run(`DROP TABLE IF EXISTS ${aggregationTable(a)}`);
      progress('done', total);
      const columns = await describeTable(connection, quoteIdent(RESULT_TABLE));
      const count = await connection.runAndReadAll(`SELECT count(*) FROM ${quoteIdent(RESULT_TABLE)}`);
      const rowCount = Number(count.getRows()[0]?.[0] ?? 0);
      return new DuckDbHistoricalResult(connection, RESULT_TABLE, columns, rowCount, () =>
        this.release(connection),
      );
    } catch (e) {
      this.release(connection);
      throw e;
    }
  }

  /**
   * Makes one view's source readable on `connection` with only the columns needed: a file relation as is (DuckDB
   * prunes by the filters compiled later), a PostgreSQL source copied for [lowerUs, upperUs].
   */
  private async prepareScan(
    connection: DuckDBConnection,
    selection: ScanRequest,
    index: number,
    lowerUs: bigint | undefined,
    upperUs: bigint | undefined,
    empty = false,
  ): Promise<SourceScan> {
    const { source } = selection;
    const joinKeys = sqlJoinKeys(selection.joinKeys);
    const needed = [
      ...joinKeys.map((k) => k.name),
      source.timestampField,
      ...(source.createdTimestampField === undefined ? [] : [source.createdTimestampField]),
      ...selection.columns,
      ...selection.extraColumns,
    ].filter((c, i, all) => all.indexOf(c) === i);
    let relation: string;
    let present: SourceColumn[];
    let datePartitionColumn: string | undefined;
    if (source.type === 'postgres') {
      const table = `__tessera_source_${index}`;
      const url = connectionUrl(source, this.ctx.connections);
      // An empty spine needs no rows, only the column types: an inverted range reads none.
      const [lo, hi] = empty ? [1n, 0n] : [lowerUs, upperUs];
      present = await importPostgres(connection, table, source, url, {
        columns: needed,
        timestampField: source.timestampField,
        ...(lo === undefined ? {} : { lowerUs: lo }),
        ...(hi === undefined ? {} : { upperUs: hi }),
      });
      relation = quoteIdent(table);
    } else {
      const rel = await fileRelation(source, this.ctx.repoPath);
      relation = rel.sql;
      datePartitionColumn = rel.datePartitionColumn;
      present = await describeFileSource(connection, source, rel.sql, rel.path);
    }
    const typeOf = (name: string): string => {
      const c = present.find((p) => p.name === name);
      if (!c) {
        throw new TesseraError(
          `source '${source.name}' (view '${selection.name}') has no column '${name}'`,
          { field: name, hint: `columns present: ${present.map((p) => p.name).join(', ')}` },
          'SCHEMA_MISMATCH',
        );
      }
      return c.type;
    };
    for (const c of needed) typeOf(c);
    const featureColumns = selection.columns.filter((c, i, all) => all.indexOf(c) === i);
    return {
      name: selection.name,
      relation,
      joinKeys,
      timestampField: source.timestampField,
      timestampType: typeOf(source.timestampField),
      ...(source.createdTimestampField === undefined
        ? {}
        : { createdTimestampField: source.createdTimestampField }),
      columns: featureColumns.map((name) => ({ name, type: typeOf(name) })),
      ...(datePartitionColumn === undefined ? {} : { datePartitionColumn }),
    };
  }

  /**
   * Streams the latest row per entity in [startMs, endMs) in chunks of `chunkRows` (default 10 000), reading
   * DuckDB's result vector by vector. int64 feature values beyond ±2^53 fail with a TesseraError naming the
   * view and feature rather than losing precision.
   *
   * @example
   * for await (const rows of store.pullLatest({ view, startMs: 0, endMs: Date.now(), chunkRows: 5000 })) {
   *   await online.write(viewRef, rows);
   * }
   */
  async *pullLatest(request: PullLatestRequest): AsyncIterable<OnlineRow[]> {
    for await (const batch of this.pullLatestColumns(request)) yield rowsFromColumns(batch);
  }

  /**
   * {@link pullLatest} column by column: the same rows, as {@link OnlineColumns} batches of `chunkRows` rows
   * (every batch but the last full). Numeric columns are copied from DuckDB's vectors into `Float64Array`s,
   * so no JavaScript value is made per cell; an online store's `writeColumns` encodes straight from them.
   *
   * @example
   * for await (const batch of store.pullLatestColumns({ view, startMs: 0, endMs: Date.now() })) {
   *   await online.writeColumns?.(viewRef, batch);
   * }
   */
  async *pullLatestColumns(request: PullLatestRequest): AsyncIterable<OnlineColumns> {
    const { view: selection } = request;
    const chunkRows = Math.max(1, Math.trunc(request.chunkRows ?? DEFAULT_CHUNK_ROWS));
    for (const [name, v] of [
      ['startMs', request.startMs],
      ['endMs', request.endMs],
    ] as const) {
      if (!Number.isFinite(v)) {
        throw new TesseraError('invalid time bound', {
          field: name,
          expected: 'epoch milliseconds',
          actual: String(v),
        });
      }
    }
    const startUs = BigInt(Math.floor(request.startMs)) * 1000n;
    const endUs = BigInt(Math.floor(request.endMs)) * 1000n;
    // An empty interval has no rows; answering here also avoids a DuckDB 1.5 planner assertion on a window
    // over an always-false filter.
    if (endUs <= startUs) return;
    const connection = await this.connect();
    try {
      const scan = await this.prepareScan(connection, scanRequestOf(selection), 0, startUs, endUs);
      const result = await connection.stream(compileLatest({ ...scan, startUs, endUs }));
      const nKeys = scan.joinKeys.length;
      // Feature name → index of its source column among the scan's columns (f0…).
      const featureIndex = selection.features.map((f) => ({
        name: f.name,
        m: scan.columns.findIndex((c) => c.name === sourceColumn(f)),
      }));
      const numeric = scan.columns.map((_, m) => NUMERIC_TYPES.has(result.columnTypeId(nKeys + 2 + m)));
      const singleIntKey =
        nKeys === 1 &&
        (selection.joinKeys[0]?.type === 'int64' || selection.joinKeys[0]?.type === 'int32') &&
        result.columnTypeId(0) === DuckDBTypeId.BIGINT;
      const unsafeInteger = (m: number, value: bigint) => {
        const column = scan.columns[m]?.name ?? `f${m}`;
        const features = selection.features.filter((f) => sourceColumn(f) === column).map((f) => f.name);
        return new TesseraError(
          `view '${selection.view.name}' feature '${features.join("', '")}' has an int64 value JavaScript cannot hold exactly`,
          { field: features[0] ?? column, actual: value.toString(), hint: 'values must be within ±2^53 - 1' },
          'SCHEMA_MISMATCH',
        );
      };

      let out = newLatestBatch(chunkRows, numeric);
      let filled = 0;
      const keyRow: Record<string, JS> = {};
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        const rowCount = chunk.rowCount;
        // Columns without a numeric fast path become JS values once per DuckDB chunk.
        const keys = singleIntKey
          ? []
          : Array.from({ length: nKeys }, (_, j) => chunk.convertColumnValues(j, keyJs));
        const converted = scan.columns.map((_, m) => {
          if (numeric[m]) return undefined;
          try {
            return chunk.convertColumnValues(nKeys + 2 + m, strictJs);
          } catch (e) {
            if (e instanceof UnsafeIntegerError) throw unsafeInteger(m, e.value);
            throw e;
          }
        });
        // Copy this DuckDB chunk (at most 2048 rows) into the output batch, spilling into the next one.
        for (let from = 0; from < rowCount; ) {
          const take = Math.min(rowCount - from, chunkRows - filled);
          if (singleIntKey) {
            copyInt64Keys(chunk.getColumnVector(0), from, take, out.entityKeys, filled, selection.joinKeys);
          } else {
            for (let r = 0; r < take; r++) {
              for (let j = 0; j < nKeys; j++) {
                keyRow[(scan.joinKeys[j] as { name: string }).name] = keys[j]?.[from + r] ?? null;
              }
              out.entityKeys[filled + r] = encodeEntityKey(selection.joinKeys, keyRow);
            }
          }
          copyMillis(chunk.getColumnVector(nKeys), from, take, out.eventTs, filled);
          copyMillis(chunk.getColumnVector(nKeys + 1), from, take, out.createdTs, filled);
          for (let m = 0; m < scan.columns.length; m++) {
            const column = out.columns[m] as LatestColumn;
            if (column.numbers !== undefined) {
              const bad = copyNumbers(
                chunk.getColumnVector(nKeys + 2 + m),
                from,
                take,
                column.numbers,
                column.valid as Uint8Array,
                filled,
              );
              if (bad !== undefined) throw unsafeInteger(m, bad);
            } else {
              const values = converted[m] as (JS | null)[];
              const target = column.values as unknown[];
              for (let r = 0; r < take; r++) target[filled + r] = values[from + r] ?? null;
            }
          }
          filled += take;
          from += take;
          if (filled === chunkRows) {
            yield latestColumns(out, filled, featureIndex);
            out = newLatestBatch(chunkRows, numeric);
            filled = 0;
          }
        }
      }
      if (filled > 0) yield latestColumns(out, filled, featureIndex);
    } finally {
      this.release(connection);
    }
  }

  /**
   * Column names and DuckDB types of a source: the Parquet footer, the CSV sniffer's result, or PostgreSQL's
   * column types mapped to DuckDB names.
   *
   * @example await store.describeSource(orders) // [{ name: 'user_id', type: 'BIGINT' }, { name: 'ts', type: 'TIMESTAMP' }]
   */
  /** Appends pushed rows to a Parquet source's folder (see `OfflineWriter.append`). */
  async append(
    source: Source,
    rows: readonly Readonly<Record<string, unknown>>[],
    schema: readonly SourceColumn[],
  ): Promise<number> {
    const connection = await this.connect();
    try {
      return await appendToParquetSource(connection, source, this.ctx.repoPath, rows, schema);
    } finally {
      this.release(connection);
    }
  }

  /** Writes JS rows as one Parquet file with the given column types, atomically. */
  async writeParquet(
    rows: readonly Readonly<Record<string, unknown>>[],
    columns: readonly SourceColumn[],
    path: string,
  ): Promise<void> {
    const connection = await this.connect();
    try {
      await writeParquetAtomically(connection, rows, columns, path);
    } finally {
      this.release(connection);
    }
  }

  /**
   * Events of an aggregation view in [startMs, endMs), filtered and ordered by entity key columns then time
   * (see the contract). Values are converted like materialized values: int64 beyond ±2^53 fails.
   */
  async *pullEvents(request: PullEventsRequest): AsyncIterable<SourceEvent[]> {
    const { view: selection } = request;
    const chunkRows = Math.max(1, Math.trunc(request.chunkRows ?? DEFAULT_CHUNK_ROWS));
    const startUs = BigInt(Math.floor(request.startMs)) * 1000n;
    const endUs = BigInt(Math.floor(request.endMs)) * 1000n;
    if (!(endUs > startUs)) return;
    const connection = await this.connect();
    try {
      // Row-filter columns are read too: the caller applies the filter again with the stream engine's code.
      const base = aggregationScanRequest(selection);
      const scanRequest = { ...base, columns: [...base.columns, ...base.extraColumns] };
      const scan = await this.prepareScan(connection, scanRequest, 0, startUs, endUs);
      const ts = `CAST(${quoteIdent(scan.timestampField)} AS TIMESTAMPTZ)`;
      const keys = scan.joinKeys.map((k, j) => `CAST(${quoteIdent(k.name)} AS ${k.sqlType}) AS __k${j}`);
      const columns = scan.columns.map((c, m) => `${quoteIdent(c.name)} AS __c${m}`);
      const sql = [
        `SELECT ${[...keys, `epoch_ms(${ts}) AS __e`, ...columns].join(', ')}`,
        `FROM ${scan.relation}`,
        `WHERE ${[
          timeRangeFilter(scan, startUs, endUs),
          `${ts} >= ${timestamptzLiteral(startUs)}`,
          `${ts} < ${timestamptzLiteral(endUs)}`,
          ...scan.joinKeys.map((k) => `${quoteIdent(k.name)} IS NOT NULL`),
          rowFilterSql(selection.view.where),
        ].join(' AND ')}`,
        `ORDER BY ${[...scan.joinKeys.map((_, j) => `__k${j}`), '__e'].join(', ')}`,
      ].join('\n');
      const result = await connection.stream(sql);
      const nKeys = scan.joinKeys.length;
      let out: SourceEvent[] = [];
      const keyRow: Record<string, JS> = {};
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        const keyValues = Array.from({ length: nKeys }, (_, j) => chunk.convertColumnValues(j, keyJs));
        const times = chunk.convertColumnValues(nKeys, strictJs);
        const values = scan.columns.map((c, m) => {
          try {
            return chunk.convertColumnValues(nKeys + 1 + m, strictJs);
          } catch (e) {
            if (e instanceof UnsafeIntegerError) {
              throw new TesseraError(
                `source '${selection.source.name}' column '${c.name}' has an int64 value JavaScript cannot hold exactly`,
                { field: c.name, actual: e.value.toString(), hint: 'values must be within ±2^53 - 1' },
                'SCHEMA_MISMATCH',
              );
            }
            throw e;
          }
        });
        for (let r = 0; r < chunk.rowCount; r++) {
          for (let j = 0; j < nKeys; j++)
            keyRow[(scan.joinKeys[j] as { name: string }).name] = keyValues[j]?.[r] ?? null;
          const row: Record<string, unknown> = {};
          scan.columns.forEach((c, m) => {
            row[c.name] = values[m]?.[r] ?? null;
          });
          out.push({
            entityKey: encodeEntityKey(selection.joinKeys, keyRow),
            ts: Number(times[r]),
            values: row,
          });
          if (out.length === chunkRows) {
            yield out;
            out = [];
          }
        }
      }
      if (out.length > 0) yield out;
    } finally {
      this.release(connection);
    }
  }

  async sampleEntities(
    source: Source,
    joinKeys: readonly JoinKey[],
    sinceMs: number,
    limit: number,
  ): Promise<Record<string, unknown>[]> {
    const connection = await this.connect();
    try {
      const sinceUs = BigInt(Math.floor(sinceMs)) * 1000n;
      const scan = await this.prepareScan(
        connection,
        { name: source.name, source, joinKeys, columns: [], extraColumns: [] },
        0,
        sinceUs,
        undefined,
      );
      const keys = scan.joinKeys.map((k) => quoteIdent(k.name)).join(', ');
      const sql = `SELECT DISTINCT ${keys} FROM ${scan.relation}
        WHERE ${timeRangeFilter(scan, sinceUs, undefined)} AND ${scan.joinKeys.map((k) => `${quoteIdent(k.name)} IS NOT NULL`).join(' AND ')}
        ORDER BY hash(${keys}) LIMIT ${Math.max(0, Math.trunc(limit))}`;
      const reader = await connection.runAndReadAll(sql);
      return reader
        .getRowObjectsJS()
        .map((r) =>
          Object.fromEntries(
            Object.entries(r).map(([k, v]) => [
              k,
              typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : v,
            ]),
          ),
        );
    } finally {
      this.release(connection);
    }
  }

  async describeSource(source: Source): Promise<SourceColumn[]> {
    if (source.type === 'postgres')
      return describePostgres(source, connectionUrl(source, this.ctx.connections));
    const rel = await fileRelation(source, this.ctx.repoPath);
    const connection = await this.connect();
    try {
      return await describeFileSource(connection, source, rel.sql, rel.path);
    } finally {
      this.release(connection);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.connections) c.closeSync();
    this.connections.clear();
    if (this.instance !== undefined) (await this.instance).closeSync();
  }
}

/** Join keys with the DuckDB type both sides are cast to. */
const sqlJoinKeys = (keys: readonly JoinKey[]) =>
  keys.map((k) => ({ name: k.name, sqlType: keySqlType(k.type) }));

/** What to read from one source: the view's name (for errors), keys, value columns and other needed columns. */
interface ScanRequest {
  readonly name: string;
  readonly source: Source;
  readonly joinKeys: readonly JoinKey[];
  /** Value columns, in output order; they become the scan's `columns`. */
  readonly columns: readonly string[];
  /** Columns only checked for presence (row-filter columns). */
  readonly extraColumns: readonly string[];
}

const scanRequestOf = (v: ViewSelection): ScanRequest => ({
  name: v.view.name,
  source: v.source,
  joinKeys: v.joinKeys,
  columns: v.features.map(sourceColumn),
  extraColumns: [],
});

const aggregationScanRequest = (v: AggregationSelection): ScanRequest => ({
  name: v.view.name,
  source: v.source,
  joinKeys: v.joinKeys,
  columns: v.view.aggregations.flatMap((a) => (a.column === undefined ? [] : [a.column])),
  extraColumns: v.view.where.map((c) => c.column),
});

/** The selected features of an aggregation view as (aggregation, window, output column). */
function aggregationOutputsOf(selection: AggregationSelection, names: readonly string[]) {
  return selection.features.map((f, n) => {
    for (const aggregation of selection.view.aggregations) {
      const window = aggregation.windows.find((w) => `${aggregation.name}_${w.label}` === f.name);
      if (window) return { aggregation, window, output: names[n] as string };
    }
    throw new Error(`internal: feature ${f.name} is not an aggregation of ${selection.view.name}`);
  });
}

async function describeFileSource(
  connection: DuckDBConnection,
  source: Source,
  relation: string,
  path: string,
): Promise<SourceColumn[]> {
  try {
    return await describeTable(connection, relation);
  } catch (e) {
    const message = (e as Error).message;
    const missing = /No files found/i.test(message);
    throw new TesseraError(
      missing ? `source '${source.name}': no files match` : `source '${source.name}': cannot read`,
      { file: path, field: 'path', actual: message.split('\n')[0] ?? message },
      missing ? 'NOT_FOUND' : 'INVALID_INPUT',
      e,
    );
  }
}

async function spineRange(connection: DuckDBConnection): Promise<TimeRange | undefined> {
  const row = (await connection.runAndReadAll(compileSpineRange())).getRows()[0];
  const [min, max] = [row?.[0], row?.[1]];
  if (typeof min !== 'bigint' || typeof max !== 'bigint') return undefined;
  return { minUs: min, maxUs: max };
}

/** Runs a statement that reads the spine; conversion errors (a key or timestamp that does not cast) name it. */
async function runWithSpineContext(connection: DuckDBConnection, sql: string, label: string): Promise<void> {
  try {
    await connection.run(sql);
  } catch (e) {
    const message = (e as Error).message;
    if (/Conversion Error|Could not convert|invalid timestamp/i.test(message)) {
      throw new TesseraError(
        `a value of the ${label} does not convert to the type it is joined as`,
        { actual: message.split('\n')[0] ?? message, hint: 'check the spine timestamp and join key columns' },
        'INVALID_INPUT',
        e,
      );
    }
    throw new TesseraError('historical retrieval failed', { actual: message }, 'BACKEND', e);
  }
}

/**
 * Output column names per view and feature: `feature`, or `view__feature` with full feature names. Fails on
 * a name used twice, or equal to a spine column, since one of the values would be silently lost.
 */
export function outputNames(
  views: readonly {
    readonly view: { readonly name: string };
    readonly features: readonly { name: string }[];
  }[],
  spineColumns: readonly SourceColumn[],
  fullFeatureNames: boolean,
): string[][] {
  const owners = new Map<string, string>();
  const spine = new Set(spineColumns.map((c) => c.name));
  return views.map((v) =>
    v.features.map((f) => {
      const name = fullFeatureNames ? `${v.view.name}__${f.name}` : f.name;
      const hint = fullFeatureNames
        ? 'rename the spine column or select fewer features'
        : 'set fullFeatureNames to name feature columns view__feature';
      if (spine.has(name)) {
        throw new TesseraError(
          `feature column '${name}' of view '${v.view.name}' collides with a spine column`,
          { field: name, hint },
          'CONFLICT',
        );
      }
      const owner = owners.get(name);
      if (owner !== undefined) {
        throw new TesseraError(
          `feature column '${name}' is produced by both view '${owner}' and view '${v.view.name}'`,
          { field: name, hint },
          'CONFLICT',
        );
      }
      owners.set(name, v.view.name);
      return name;
    }),
  );
}

/** One output batch of pullLatestColumns being filled: per scan column, numbers (with validity) or JS values. */
interface LatestColumn {
  readonly numbers?: Float64Array;
  readonly valid?: Uint8Array;
  readonly values?: unknown[];
}
interface LatestBatch {
  readonly entityKeys: string[];
  readonly eventTs: Float64Array;
  readonly createdTs: Float64Array;
  readonly columns: LatestColumn[];
}

function newLatestBatch(rows: number, numeric: readonly boolean[]): LatestBatch {
  return {
    entityKeys: new Array<string>(rows),
    eventTs: new Float64Array(rows),
    createdTs: new Float64Array(rows),
    columns: numeric.map((isNumeric) =>
      isNumeric
        ? { numbers: new Float64Array(rows), valid: new Uint8Array(rows) }
        : { values: new Array<unknown>(rows) },
    ),
  };
}

/** The first `n` rows of a batch, with one column per feature (features may share a source column). */
function latestColumns(
  batch: LatestBatch,
  n: number,
  features: readonly { name: string; m: number }[],
): OnlineColumns {
  const full = n === batch.eventTs.length;
  const columns = batch.columns.map((c): Omit<OnlineColumn, 'name'> => {
    if (c.numbers !== undefined) {
      const valid = c.valid as Uint8Array;
      return full
        ? { values: c.numbers, valid }
        : { values: c.numbers.subarray(0, n), valid: valid.subarray(0, n) };
    }
    const values = c.values as unknown[];
    if (!full) values.length = n;
    return { values };
  });
  if (!full) batch.entityKeys.length = n;
  return {
    length: n,
    entityKeys: batch.entityKeys,
    eventTs: full ? batch.eventTs : batch.eventTs.subarray(0, n),
    createdTs: full ? batch.createdTs : batch.createdTs.subarray(0, n),
    features: features.map(({ name, m }) => ({ name, ...(columns[m] as Omit<OnlineColumn, 'name'>) })),
    // compileLatest groups by the join keys, and equal keys encode equally: each entity appears once.
    distinctKeys: true,
  };
}
