import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { RegistryState } from '../definitions/definition.js';
import { recordFeatureLogDropped } from '../metrics/metrics.js';
import type { ColumnSpec } from '../offline/duckdb/rows-table.js';
import { servedColumns } from '../serving/online-serving.js';
import type { OnlineFeaturesRequest, OnlineFeaturesResult } from '../serving/types.js';
import { LOG_FIXED_COLUMNS, type LogLayout, logLayout } from './log-layout.js';
import { DuckDbLogWriter, type LogFileWriter } from './log-writer.js';

export interface FeatureLoggerOptions {
  /** Absolute folder of the log: files go to `<dir>/date=YYYY-MM-DD/<uuid>.parquet`. */
  readonly dir: string;
  /** Share of requests logged, in [0, 1]. */
  readonly sampleRate: number;
  /** Sample rate per feature service, overriding `sampleRate` for requests naming it. */
  readonly serviceRates?: Readonly<Record<string, number>>;
  /** Entity rows held (queued or being written) at most; a request that does not fit is dropped and counted. */
  readonly queueSize: number;
  readonly flushIntervalMs: number;
  /** Rows per file at most; a flush starts as soon as this many rows are queued. */
  readonly maxFileRows: number;
  /** Random numbers in [0, 1) for sampling (default Math.random; tests pass a seeded generator). */
  readonly random?: () => number;
  readonly writer?: LogFileWriter;
  /** Called (never awaited) when a flush fails; the rows it held are counted in `failedRows`. */
  readonly onError?: (error: Error) => void;
}

/** What the logger did since it started. Rows are entity rows (one per entity of a request). */
export interface FeatureLogCounters {
  /** Requests sampled for logging (accepted or dropped). */
  sampledRequests: number;
  /** Rows accepted into the queue. */
  loggedRows: number;
  /** Rows dropped because the queue was full (or the logger closed). */
  droppedRows: number;
  /** Rows written to Parquet files. */
  writtenRows: number;
  /** Rows lost because a file could not be written (see `lastError`). */
  failedRows: number;
  files: number;
  lastError: string | undefined;
}

/** A served request waiting to be written: references only, so enqueueing costs no copying. */
interface Entry {
  readonly servedAtMs: number;
  readonly state: RegistryState;
  readonly featureService: string | undefined;
  readonly features: readonly string[] | undefined;
  readonly result: OnlineFeaturesResult;
}

const DAY_MS = 86_400_000;

/**
 * Feature logging: what online serving served, sampled per request, queued in memory and written to the lake
 * as Parquet by a background flusher (docs/feature-logging.md gives the file layout). `log` is O(1) and never
 * throws: a request never waits for, or fails because of, logging. The queue is bounded; a request that does not
 * fit is dropped and counted. `close` writes whatever is queued.
 *
 * @example
 * const logger = new FeatureLogger({ dir: '/repo/feature_logs', sampleRate: 0.1, queueSize: 10_000,
 *   flushIntervalMs: 1000, maxFileRows: 100_000 });
 * logger.log(state, request, result, Date.now());
 * await logger.close(); // logger.counters.writtenRows
 */
export class FeatureLogger {
  readonly counters: FeatureLogCounters = {
    sampledRequests: 0,
    loggedRows: 0,
    droppedRows: 0,
    writtenRows: 0,
    failedRows: 0,
    files: 0,
    lastError: undefined,
  };
  private queue: Entry[] = [];
  private queuedRows = 0;
  /** Rows of the flush in progress: they still count against the queue size until written. */
  private inFlightRows = 0;
  private flushing: Promise<void> | undefined;
  private flushRequested = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly writer: LogFileWriter;
  private readonly random: () => number;
  private readonly layouts = new WeakMap<RegistryState, Map<string, LogLayout>>();

  constructor(private readonly opts: FeatureLoggerOptions) {
    this.writer = opts.writer ?? new DuckDbLogWriter();
    this.random = opts.random ?? Math.random;
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Offers a served request to the log: sampled, then queued if it fits. Never throws, never waits.
   * `servedAtMs` is the request's time (its `now` when given).
   */
  log(
    state: RegistryState,
    request: OnlineFeaturesRequest,
    result: OnlineFeaturesResult,
    servedAtMs: number,
  ) {
    const service = request.featureService;
    const rate =
      service !== undefined
        ? (this.opts.serviceRates?.[service] ?? this.opts.sampleRate)
        : this.opts.sampleRate;
    if (rate < 1 && !(this.random() < rate)) return;
    this.counters.sampledRequests++;
    const n = result.rows.length;
    if (this.closed || this.queuedRows + this.inFlightRows + n > this.opts.queueSize) {
      this.counters.droppedRows += n;
      recordFeatureLogDropped(n, this.closed ? 'closed' : 'queue_full');
      return;
    }
    this.queue.push({ servedAtMs, state, featureService: service, features: request.features, result });
    this.queuedRows += n;
    this.counters.loggedRows += n;
    if (this.queuedRows >= this.opts.maxFileRows && !this.flushRequested) {
      this.flushRequested = true;
      setImmediate(() => void this.flush());
    }
  }

  /** Writes everything queued so far; resolves when written (or failed: see `counters`). Never rejects. */
  flush(): Promise<void> {
    const previous = this.flushing ?? Promise.resolve();
    const next = previous.then(() => this.flushQueued());
    this.flushing = next;
    void next.finally(() => {
      if (this.flushing === next) this.flushing = undefined;
    });
    return next;
  }

  /** Stops the timer and writes what is queued; later requests are dropped and counted. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
    await this.writer.close().catch(() => undefined);
  }

  private async flushQueued(): Promise<void> {
    this.flushRequested = false;
    if (this.queue.length === 0) return;
    const entries = this.queue;
    const rows = this.queuedRows;
    this.queue = [];
    this.queuedRows = 0;
    this.inFlightRows += rows;
    try {
      await this.writeEntries(entries);
    } finally {
      this.inFlightRows -= rows;
    }
  }

  /** One file per day (UTC, of served_at) and per `maxFileRows` rows; a failed file is counted, not thrown. */
  private async writeEntries(entries: readonly Entry[]): Promise<void> {
    const byDay = new Map<number, Entry[]>();
    for (const e of entries) {
      const day = Math.floor(e.servedAtMs / DAY_MS);
      const list = byDay.get(day);
      if (list) list.push(e);
      else byDay.set(day, [e]);
    }
    for (const [day, dayEntries] of byDay) {
      for (const chunk of chunks(dayEntries, this.opts.maxFileRows)) {
        const n = chunk.reduce((s, e) => s + e.result.rows.length, 0);
        try {
          const { columns, rows } = this.toRows(chunk);
          const date = new Date(day * DAY_MS).toISOString().slice(0, 10);
          await this.writer.write(
            columns,
            rows,
            join(this.opts.dir, `date=${date}`, `${randomUUID()}.parquet`),
          );
          this.counters.writtenRows += n;
          this.counters.files++;
        } catch (e) {
          const error = e instanceof Error ? e : new Error(String(e));
          this.counters.failedRows += n;
          recordFeatureLogDropped(n, 'write_failed');
          this.counters.lastError = error.message;
          try {
            this.opts.onError?.(error);
          } catch {
            // a failing error callback must not stop the flusher either
          }
        }
      }
    }
  }

  private layoutOf(e: Entry): LogLayout {
    let byState = this.layouts.get(e.state);
    if (byState === undefined) {
      byState = new Map();
      this.layouts.set(e.state, byState);
    }
    const key =
      e.featureService !== undefined ? `service:${e.featureService}` : `features:${e.features?.join('\n')}`;
    let layout = byState.get(key);
    if (layout === undefined) {
      layout = logLayout(e.state, {
        ...(e.features !== undefined ? { features: e.features } : {}),
        ...(e.featureService !== undefined ? { featureService: e.featureService } : {}),
      });
      byState.set(key, layout);
    }
    return layout;
  }

  /**
   * The rows of a file: the union of the entries' columns, null where an entry did not serve a column. Rows are
   * generated as the writer consumes them, so building them is sliced with the appending (see DuckDbLogWriter).
   */
  private toRows(entries: readonly Entry[]): { columns: ColumnSpec[]; rows: Iterable<unknown[]> } {
    const index = new Map<string, number>();
    const columns: ColumnSpec[] = [];
    const column = (name: string, type: string): number => {
      let i = index.get(name);
      if (i === undefined) {
        i = columns.length;
        index.set(name, i);
        columns.push({ name, type });
      }
      return i;
    };
    for (const c of LOG_FIXED_COLUMNS) column(c.name, c.type);
    const laid = entries.map((e) => {
      const layout = this.layoutOf(e);
      return {
        entry: e,
        keys: layout.joinKeys.map((k) => column(k.name, k.type)),
        values: layout.features.map((f) => column(f.column, f.type)),
        statuses: layout.features.map((f) => column(f.statusColumn, 'VARCHAR')),
      };
    });
    function* rows(): Iterable<unknown[]> {
      for (const { entry, keys, values, statuses } of laid) {
        const { result } = entry;
        const requestId = randomUUID();
        const servedAt = new Date(entry.servedAtMs);
        const cols = servedColumns(result);
        const nKeys = keys.length;
        for (let i = 0; i < result.rows.length; i++) {
          const row: unknown[] = new Array(columns.length).fill(null);
          row[0] = requestId;
          row[1] = servedAt;
          row[2] = entry.featureService ?? null;
          const served = cols?.values[i] ?? outputValues(result, i);
          const status = result.statuses[i] ?? [];
          for (let k = 0; k < nKeys; k++) row[keys[k] as number] = served[k] ?? null;
          for (let j = 0; j < values.length; j++) {
            row[values[j] as number] = served[nKeys + j] ?? null;
            row[statuses[j] as number] = status[nKeys + j] ?? null;
          }
          yield row;
        }
      }
    }
    return { columns, rows: rows() };
  }
}

/** A result row's values in `featureNames` order, for results without their column view (built by hand). */
function outputValues(result: OnlineFeaturesResult, i: number): unknown[] {
  const row = result.rows[i] as Readonly<Record<string, unknown>>;
  return result.featureNames.map((n) => row[n]);
}

/** Splits entries into groups of at most `maxRows` entity rows (an entry is never split). */
function* chunks(entries: readonly Entry[], maxRows: number): Iterable<Entry[]> {
  let chunk: Entry[] = [];
  let rows = 0;
  for (const e of entries) {
    const n = e.result.rows.length;
    if (chunk.length > 0 && rows + n > maxRows) {
      yield chunk;
      chunk = [];
      rows = 0;
    }
    chunk.push(e);
    rows += n;
  }
  if (chunk.length > 0) yield chunk;
}
