import type { RegistryState } from '../definitions/definition.js';
import { recordFeatureLogDropped } from '../metrics/metrics.js';
import { servedColumns } from '../serving/online-serving.js';
import type { OnlineFeaturesRequest, OnlineFeaturesResult } from '../serving/types.js';
import { type FileOutcome, type LogEntry, LogFiles, statusCode } from './log-files.js';
import { logLayout } from './log-layout.js';
import { type LogSink, WorkerLogSink } from './log-sink.js';
import type { LogFileWriter } from './log-writer.js';

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
  /**
   * Writes the files in this thread with this writer, instead of the log's own thread (which uses a
   * DuckDbLogWriter): for tests and embedders that control writing.
   */
  readonly writer?: LogFileWriter;
  /** Called (never awaited) when rows are lost (a file cannot be written); they are counted in `failedRows`. */
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

/** A sampled request waiting for the next hand-over: references only, so logging adds no work to the request. */
interface Pending {
  readonly servedAtMs: number;
  readonly state: RegistryState;
  readonly featureService: string | undefined;
  readonly features: readonly string[] | undefined;
  readonly result: OnlineFeaturesResult;
}

/**
 * Feature logging: what online serving served, sampled per request, written to the lake as Parquet
 * (docs/feature-logging.md gives the file layout). `log` is O(1) and never throws: a request never waits for,
 * or fails because of, logging. Sampled requests are handed, after the current turn of the event loop (so
 * after the request's answer), to the log's own thread as plain data: the served values by structured clone
 * and the statuses as one byte each. That thread encodes and writes the files. Rows count against `queueSize`
 * from the moment they are logged until written; a request that does not fit is dropped and counted.
 * `close` writes whatever is held.
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
  private pending: Pending[] = [];
  private pendingRows = 0;
  private handOverScheduled = false;
  /** Rows logged and not yet written or failed: what counts against the queue size. */
  private heldRows = 0;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private readonly sink: LogSink;
  private readonly random: () => number;
  /** Layout ids per registry state and selection; the sink is told each layout once. */
  private readonly layouts = new WeakMap<RegistryState, Map<string, number>>();
  private nextLayout = 0;

  constructor(private readonly opts: FeatureLoggerOptions) {
    const onFiles = (outcomes: FileOutcome[]) => this.settle(outcomes);
    this.sink =
      opts.writer !== undefined
        ? new LogFiles({ dir: opts.dir, maxFileRows: opts.maxFileRows, writer: opts.writer, onFiles })
        : new WorkerLogSink({ dir: opts.dir, maxFileRows: opts.maxFileRows }, onFiles, (error) =>
            this.fail(this.heldRows - this.pendingRows, error),
          );
    this.random = opts.random ?? Math.random;
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs);
    this.timer.unref();
  }

  /**
   * Offers a served request to the log: sampled, then held if it fits. Never throws, never waits.
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
    if (this.closed || this.heldRows + n > this.opts.queueSize) {
      this.counters.droppedRows += n;
      recordFeatureLogDropped(n, this.closed ? 'closed' : 'queue_full');
      return;
    }
    this.pending.push({ servedAtMs, state, featureService: service, features: request.features, result });
    this.heldRows += n;
    this.pendingRows += n;
    this.counters.loggedRows += n;
    if (!this.handOverScheduled) {
      this.handOverScheduled = true;
      setImmediate(() => this.handOver());
    }
  }

  /** Writes everything logged so far; resolves when written (or failed: see `counters`). Never rejects. */
  flush(): Promise<void> {
    this.handOver();
    return this.sink.flush();
  }

  /** Stops the timer and writes what is held; later requests are dropped and counted. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
    await this.sink.close().catch(() => undefined);
  }

  /** Gives the sink the requests logged since the last hand-over. */
  private handOver(): void {
    this.handOverScheduled = false;
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    const entries: LogEntry[] = [];
    for (const p of pending) {
      try {
        entries.push(this.entryOf(p));
      } catch (e) {
        this.fail(p.result.rows.length, e);
      }
    }
    try {
      this.sink.add(entries);
    } catch {
      // One value that cannot be copied (an on-demand transform returning a function, say) must cost only its
      // own request: hand the entries over one by one.
      for (const entry of entries) {
        try {
          this.sink.add([entry]);
        } catch (e) {
          this.fail(entry.values.length, e);
        }
      }
    }
  }

  /** A pending request as plain data: its layout's id, its values, its statuses as bytes. */
  private entryOf(p: Pending): LogEntry {
    const { result } = p;
    const n = result.rows.length;
    const cols = servedColumns(result);
    const values =
      cols !== undefined ? cols.values : Array.from({ length: n }, (_, i) => outputValues(result, i));
    const width = n === 0 ? 0 : (values[0] as readonly unknown[]).length;
    const statuses = new Uint8Array(n * width);
    for (let i = 0; i < n; i++) {
      const row = result.statuses[i] ?? [];
      for (let c = 0; c < width; c++) {
        const s = row[c];
        if (s !== 'PRESENT' && s !== undefined) statuses[i * width + c] = statusCode(s);
      }
    }
    return {
      servedAtMs: p.servedAtMs,
      layout: this.layoutId(p),
      featureService: p.featureService ?? null,
      values,
      statuses,
    };
  }

  private layoutId(p: Pending): number {
    let byState = this.layouts.get(p.state);
    if (byState === undefined) {
      byState = new Map();
      this.layouts.set(p.state, byState);
    }
    const key =
      p.featureService !== undefined ? `service:${p.featureService}` : `features:${p.features?.join('\n')}`;
    let id = byState.get(key);
    if (id === undefined) {
      const layout = logLayout(p.state, {
        ...(p.features !== undefined ? { features: p.features } : {}),
        ...(p.featureService !== undefined ? { featureService: p.featureService } : {}),
      });
      id = this.nextLayout++;
      this.sink.defineLayout(id, layout);
      byState.set(key, id);
    }
    return id;
  }

  /** Counts what became of written files' rows. */
  private settle(outcomes: readonly FileOutcome[]): void {
    for (const o of outcomes) {
      if ('path' in o) {
        this.heldRows -= o.rows;
        this.counters.writtenRows += o.rows;
        this.counters.files++;
      } else this.fail(o.rows, new Error(o.error));
    }
  }

  /** Rows lost: counted, reported to `onError`, never thrown. */
  private fail(rows: number, e: unknown): void {
    const error = e instanceof Error ? e : new Error(String(e));
    this.heldRows -= rows;
    this.counters.failedRows += rows;
    recordFeatureLogDropped(rows, 'write_failed');
    this.counters.lastError = error.message;
    try {
      this.opts.onError?.(error);
    } catch {
      // a failing error callback must not stop logging either
    }
  }
}

/** A result row's values in `featureNames` order, for results without their column view (built by hand). */
function outputValues(result: OnlineFeaturesResult, i: number): unknown[] {
  const row = result.rows[i] as Readonly<Record<string, unknown>>;
  return result.featureNames.map((n) => row[n]);
}
