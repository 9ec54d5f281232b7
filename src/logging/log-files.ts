import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { type BatchViews, batchViews, type LogBatch, STATUS_NAMES } from './log-batch.js';
import { LOG_FIXED_COLUMNS, type LogLayout } from './log-layout.js';
import type { LogSink } from './log-sink.js';
import type { BlockColumn, LogBlock, LogColumn, LogFileWriter } from './log-writer.js';

/** What became of a file's rows: written to `path`, or lost with `error`. */
export type FileOutcome =
  | { readonly rows: number; readonly path: string }
  | { readonly rows: number; readonly error: string };

const DAY_MS = 86_400_000;

/** Rows `from` to `to` of a batch: whole requests, all served on one UTC day. */
interface Piece {
  readonly batch: LogBatch;
  readonly views: BatchViews;
  readonly from: number;
  readonly to: number;
}

/**
 * Turns logged requests into Parquet files (docs/feature-logging.md): one file per UTC day of `served_at` and
 * per `maxFileRows` rows (a request's rows are never split, so a request larger than that is a file of its own),
 * the union of the requests' columns, null where a request did not serve one. Knows nothing of threads: the
 * feature logger runs it on a worker thread (src/logging/log-worker.ts), or in process when given a writer. A
 * file that cannot be written is reported, never thrown; either way the batches' buffers are given back.
 *
 * @example
 * const files = new LogFiles({ dir: '/repo/feature_logs', maxFileRows: 100_000, writer: new DuckDbLogWriter(),
 *   onFiles: (outcomes) => console.log(outcomes) }); // [{ rows: 3, path: '/repo/feature_logs/date=2024-05-01/….parquet' }]
 * files.defineLayout(0, layout);
 * files.add(batch);
 * await files.flush();
 */
export class LogFiles implements LogSink {
  private readonly layouts = new Map<number, LogLayout>();
  private batches: LogBatch[] = [];
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
      /** Told what became of each file's rows, as files complete, and given the written batches' buffers. */
      readonly onFiles: (outcomes: FileOutcome[], buffers: ArrayBuffer[]) => void;
    },
  ) {}

  defineLayout(id: number, layout: LogLayout): void {
    this.layouts.set(id, layout);
  }

  /** Holds a batch of requests' rows; a flush starts as soon as `maxFileRows` rows are held. */
  add(batch: LogBatch): void {
    this.batches.push(batch);
    this.rows += batch.rows;
    if (this.rows >= this.opts.maxFileRows && !this.flushDue) {
      this.flushDue = true;
      void this.flush();
    }
  }

  /** Writes every row held so far, after any flush in progress; resolves once their outcomes are reported. */
  flush(): Promise<void> {
    const run = this.flushing.then(async () => {
      this.flushDue = false;
      const batches = this.batches;
      this.batches = [];
      this.rows = 0;
      if (batches.length > 0) {
        const outcomes = await this.write(batches);
        this.opts.onFiles(
          outcomes,
          batches.map((b) => b.buffer),
        );
      }
    });
    this.flushing = run.catch(() => undefined); // a failed flush must not stop the ones after it
    return run;
  }

  close(): Promise<void> {
    return this.opts.writer.close();
  }

  /** One file per day and per `maxFileRows` rows; one outcome per file (or group of rows that failed). */
  private async write(batches: readonly LogBatch[]): Promise<FileOutcome[]> {
    const outcomes: FileOutcome[] = [];
    for (const [day, pieces] of byDay(batches)) {
      for (const file of files(pieces, this.opts.maxFileRows)) {
        const rows = file.reduce((s, p) => s + p.to - p.from, 0);
        const date = new Date(day * DAY_MS).toISOString().slice(0, 10);
        const path = join(this.opts.dir, `date=${date}`, `${randomUUID()}.parquet`);
        try {
          const { columns, blocks } = this.toBlocks(file);
          await this.opts.writer.write(columns, blocks, path);
          outcomes.push({ rows, path });
        } catch (e) {
          outcomes.push({ rows, error: e instanceof Error ? e.message : String(e) });
        }
      }
    }
    return outcomes;
  }

  /**
   * The columns of a file (fixed ones, then each new key or feature as met) and one block per piece: its
   * columns as they came (packed numbers, codes, plain values), placed in the file's columns; a column the
   * piece's layout does not serve is absent (null) in its block.
   */
  private toBlocks(pieces: readonly Piece[]): { columns: LogColumn[]; blocks: LogBlock[] } {
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
    const placed = pieces.map((piece) => {
      const layout = this.layouts.get(piece.batch.layout);
      if (layout === undefined)
        throw new Error(`feature log: no layout ${piece.batch.layout} (an internal error)`);
      return {
        piece,
        layout,
        values: [...layout.joinKeys, ...layout.features.map((f) => ({ name: f.column, type: f.type }))].map(
          (c) => column(c.name, c.type),
        ),
        statuses: layout.features.map((f) => column(f.statusColumn, 'VARCHAR', STATUS_NAMES)),
      };
    });
    const blocks = placed.map(({ piece, layout, values, statuses }): LogBlock => {
      const { batch, views, from, to } = piece;
      const cap = batch.capacity;
      const cols: (BlockColumn | undefined)[] = new Array(columns.length);
      cols[0] = { values: requestIds(views.starts, from, to) };
      cols[1] = { numbers: views.servedAt.subarray(from, to) };
      cols[2] = { constant: layout.featureService };
      values.forEach((at, c) => {
        const plain = batch.plain[c];
        cols[at] = plain
          ? { values: plain.slice(from, to) }
          : { numbers: views.numbers.subarray(c * cap + from, c * cap + to) };
      });
      statuses.forEach((at, f) => {
        cols[at] = { codes: views.statuses.subarray(f * cap + from, f * cap + to) };
      });
      return { rows: to - from, columns: cols };
    });
    return { columns, blocks };
  }
}

/** A new id per request, repeated on each of its rows. */
function requestIds(starts: Uint8Array, from: number, to: number): string[] {
  const ids: string[] = new Array(to - from);
  let id = '';
  for (let r = from; r < to; r++) {
    if (r === from || starts[r] === 1) id = randomUUID();
    ids[r - from] = id;
  }
  return ids;
}

/** The batches' rows cut into pieces by UTC day of serving (a request's rows share their time), days in order met. */
function byDay(batches: readonly LogBatch[]): Map<number, Piece[]> {
  const days = new Map<number, Piece[]>();
  const add = (day: number, piece: Piece) => {
    const list = days.get(day);
    if (list) list.push(piece);
    else days.set(day, [piece]);
  };
  for (const batch of batches) {
    const views = batchViews(batch);
    let from = 0;
    let day = Math.floor((views.servedAt[0] as number) / DAY_MS);
    for (let r = 1; r <= batch.rows; r++) {
      const next = r < batch.rows ? Math.floor((views.servedAt[r] as number) / DAY_MS) : Number.NaN;
      if (next === day) continue;
      if (r > from) add(day, { batch, views, from, to: r });
      from = r;
      day = next;
    }
  }
  return days;
}

/**
 * Groups pieces into files of at most `maxRows` rows, cutting a piece only where a request begins; a request
 * larger than `maxRows` is a file of its own.
 */
function* files(pieces: readonly Piece[], maxRows: number): Iterable<Piece[]> {
  let file: Piece[] = [];
  let rows = 0;
  for (const piece of pieces) {
    const { starts } = piece.views;
    let from = piece.from;
    while (from < piece.to) {
      let cut = piece.to;
      if (piece.to - from > maxRows - rows) {
        // The last request start that keeps the file within maxRows.
        cut = from + (maxRows - rows);
        while (cut > from && starts[cut] !== 1) cut--;
        if (cut === from) {
          if (rows > 0) {
            yield file;
            file = [];
            rows = 0;
            continue;
          }
          // One request larger than a file: all of it.
          cut = from + 1;
          while (cut < piece.to && starts[cut] !== 1) cut++;
        }
      }
      file.push({ ...piece, from, to: cut });
      rows += cut - from;
      from = cut;
      if (rows >= maxRows) {
        yield file;
        file = [];
        rows = 0;
      }
    }
  }
  if (file.length > 0) yield file;
}
