import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type LogEntry, STATUS_NAMES } from './log-entry.js';
import { LOG_FIXED_COLUMNS, type LogLayout } from './log-layout.js';
import type { LogSink } from './log-sink.js';
import type { BlockColumn, LogBlock, LogColumn, LogFileWriter } from './log-writer.js';

/** What became of a file's rows: written to `path`, or lost with `error`. */
export type FileOutcome =
  | { readonly rows: number; readonly path: string }
  | { readonly rows: number; readonly error: string };

const DAY_MS = 86_400_000;

/**
 * Turns logged requests into Parquet files (docs/feature-logging.md): one file per UTC day of `served_at` and
 * per `maxFileRows` rows, the union of the requests' columns, null where a request did not serve one. Knows
 * nothing of threads: the feature logger runs it on a worker thread (src/logging/log-worker.ts), or in process
 * when given a writer. A file that cannot be written is reported, never thrown.
 *
 * @example
 * const files = new LogFiles({ dir: '/repo/feature_logs', maxFileRows: 100_000, writer: new DuckDbLogWriter(),
 *   onFiles: (outcomes) => console.log(outcomes) }); // [{ rows: 3, path: '/repo/feature_logs/date=2024-05-01/….parquet' }]
 * files.defineLayout(0, layout);
 * files.add([entry]);
 * await files.flush();
 */
export class LogFiles implements LogSink {
  private readonly layouts = new Map<number, LogLayout>();
  private entries: LogEntry[] = [];
  /** Entity rows added and not yet taken by a flush. */
  private rows = 0;
  /** The flush in progress (flushes run one after another), and whether one is already due. */
  private flushing: Promise<void> = Promise.resolve();
  private flushDue = false;

  constructor(
    private readonly opts: {
      readonly dir: string;
      readonly maxFileRows: number;
      readonly writer: LogFileWriter;
      /** Told what became of each file's rows, as files complete. */
      readonly onFiles: (outcomes: FileOutcome[]) => void;
    },
  ) {}

  defineLayout(id: number, layout: LogLayout): void {
    this.layouts.set(id, layout);
  }

  /** Holds requests' rows; a flush starts as soon as `maxFileRows` rows are held. */
  add(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      this.entries.push(entry);
      this.rows += entry.rows;
    }
    if (this.rows >= this.opts.maxFileRows && !this.flushDue) {
      this.flushDue = true;
      void this.flush();
    }
  }

  /** Writes every row held so far, after any flush in progress; resolves once their outcomes are reported. */
  flush(): Promise<void> {
    const run = this.flushing.then(async () => {
      this.flushDue = false;
      const entries = this.entries;
      this.entries = [];
      this.rows = 0;
      if (entries.length > 0) this.opts.onFiles(await this.write(entries));
    });
    this.flushing = run.catch(() => undefined); // a failed flush must not stop the ones after it
    return run;
  }

  close(): Promise<void> {
    return this.opts.writer.close();
  }

  /** One file per day and per `maxFileRows` rows; one outcome per file (or group of rows that failed). */
  private async write(entries: readonly LogEntry[]): Promise<FileOutcome[]> {
    const byDay = new Map<number, LogEntry[]>();
    for (const e of entries) {
      const day = Math.floor(e.servedAtMs / DAY_MS);
      const list = byDay.get(day);
      if (list) list.push(e);
      else byDay.set(day, [e]);
    }
    const outcomes: FileOutcome[] = [];
    for (const [day, dayEntries] of byDay) {
      for (const chunk of chunks(dayEntries, this.opts.maxFileRows)) {
        const rows = chunk.reduce((s, e) => s + e.rows, 0);
        const date = new Date(day * DAY_MS).toISOString().slice(0, 10);
        const path = join(this.opts.dir, `date=${date}`, `${randomUUID()}.parquet`);
        try {
          const file = this.toBlocks(chunk);
          await this.opts.writer.write(file.columns, file.blocks, path);
          outcomes.push({ rows, path });
        } catch (e) {
          outcomes.push({ rows, error: e instanceof Error ? e.message : String(e) });
        }
      }
    }
    return outcomes;
  }

  /**
   * The columns of a file (fixed ones, then each new key or feature as met) and one block per request: its
   * values as they came (packed numbers, codes, plain values), placed in the file's columns; a column the
   * request did not serve is absent (null) in its block.
   */
  private toBlocks(entries: readonly LogEntry[]): { columns: LogColumn[]; blocks: LogBlock[] } {
    const index = new Map<string, number>();
    const columns: LogColumn[] = [];
    const column = (name: string, type: string, codes?: readonly string[]): number => {
      let i = index.get(name);
      if (i === undefined) {
        i = columns.length;
        index.set(name, i);
        columns.push(codes === undefined ? { name, type } : { name, type, codes });
      }
      return i;
    };
    for (const c of LOG_FIXED_COLUMNS) column(c.name, c.type);
    const placed = entries.map((entry) => {
      const layout = this.layouts.get(entry.layout);
      if (layout === undefined) throw new Error(`feature log: no layout ${entry.layout} (an internal error)`);
      return {
        entry,
        values: [...layout.joinKeys, ...layout.features.map((f) => ({ name: f.column, type: f.type }))].map(
          (c) => column(c.name, c.type),
        ),
        statuses: layout.features.map((f) => column(f.statusColumn, 'VARCHAR', STATUS_NAMES)),
      };
    });
    const blocks = placed.map(({ entry, values, statuses }): LogBlock => {
      const n = entry.rows;
      const cols: (BlockColumn | undefined)[] = new Array(columns.length);
      cols[0] = { constant: randomUUID() };
      cols[1] = { constant: new Date(entry.servedAtMs) };
      cols[2] = { constant: entry.featureService };
      values.forEach((at, c) => {
        const plain = entry.values[c];
        cols[at] = plain ? { values: plain } : { numbers: entry.numbers.subarray(c * n, (c + 1) * n) };
      });
      statuses.forEach((at, f) => {
        cols[at] = { codes: entry.statuses.subarray(f * n, (f + 1) * n) };
      });
      return { rows: n, columns: cols };
    });
    return { columns, blocks };
  }
}

/** Splits entries into groups of at most `maxRows` entity rows (an entry is never split). */
function* chunks(entries: readonly LogEntry[], maxRows: number): Iterable<LogEntry[]> {
  let chunk: LogEntry[] = [];
  let rows = 0;
  for (const e of entries) {
    const n = e.rows;
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
