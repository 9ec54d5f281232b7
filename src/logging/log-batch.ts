import type { ServedColumns } from '../serving/online-serving.js';
import type { FeatureStatus, OnlineFeaturesResult } from '../serving/types.js';
import type { LogLayout } from './log-layout.js';

/**
 * Statuses travel as one byte each (index in this list) and are written to the files as these names (a DuckDB
 * ENUM, a dictionary-encoded text column in Parquet).
 */
export const STATUS_NAMES: readonly FeatureStatus[] = [
  'PRESENT',
  'NULL_VALUE',
  'NOT_FOUND',
  'OUTSIDE_MAX_AGE',
  'DEFAULTED',
];

/** The byte of a status (see STATUS_NAMES); identity comparisons of interned strings, PRESENT first. */
function statusCode(status: FeatureStatus): number {
  if (status === 'PRESENT') return 0;
  if (status === 'NULL_VALUE') return 1;
  if (status === 'NOT_FOUND') return 2;
  if (status === 'OUTSIDE_MAX_AGE') return 3;
  return 4;
}

/**
 * How a column's values are packed as numbers, by declared type: a number as itself, a boolean as 1 or 0, a time
 * (a Date, or a number of epoch milliseconds) as epoch milliseconds. Null (or undefined) is NaN, and so is NaN
 * itself: both are logged as null.
 */
export type PackedKind = 'number' | 'boolean' | 'time' | null;

const NUMERIC_TYPES = new Set(['DOUBLE', 'FLOAT', 'BIGINT', 'INTEGER', 'SMALLINT', 'TINYINT']);

/** The packed kind of a declared DuckDB type, or null for the types that travel as plain values. */
export function packedKind(type: string): PackedKind {
  if (NUMERIC_TYPES.has(type)) return 'number';
  if (type === 'BOOLEAN') return 'boolean';
  if (type === 'TIMESTAMPTZ') return 'time';
  return null;
}

/** The packed kind of each output column of a layout (join keys, then features). */
export function packedKinds(layout: LogLayout): PackedKind[] {
  return [...layout.joinKeys, ...layout.features].map((c) => packedKind(c.type));
}

/**
 * Requests of one layout (a served selection) as they travel to the log's thread: their entity rows, column-major,
 * in one ArrayBuffer that is moved there rather than copied, then moved back to be filled again once copied there.
 * Numbers, booleans and times are packed as doubles and statuses as one byte each, so that logging a request
 * costs the serving thread one pass over its values and no allocation: nothing of a result outlives its request,
 * and there is no object per request for the collector to trace (see {@link BatchBuilder}). Other values (text,
 * lists, bytes, and any value that does not fit its column's declared type) travel as plain arrays, copied by
 * structured clone. {@link batchViews} divides the buffer.
 */
export interface LogBatch {
  /** The layout's id (defined to the log's thread before its first batch). */
  readonly layout: number;
  /** Entity rows filled. */
  readonly rows: number;
  /** Rows the buffer has room for: the stride of its columns. */
  readonly capacity: number;
  /** Output columns (join keys, then features). */
  readonly width: number;
  /** Feature columns (the last `features` output columns), each with a status. */
  readonly features: number;
  readonly buffer: ArrayBuffer;
  /** Per output column: its values (one per row) when it is not packed in the buffer, else null. */
  readonly plain: readonly (readonly unknown[] | null)[];
}

/** The parts of a batch's buffer, each indexed [column * capacity + row]. */
export interface BatchViews {
  /** Packed output columns: NaN for null. Meaningless for a column that travels plain. */
  readonly numbers: Float64Array;
  /** Per row: when its request was served, epoch ms. */
  readonly servedAt: Float64Array;
  /** statuses[f * capacity + r]: the STATUS_NAMES index of feature f's status in row r. */
  readonly statuses: Uint8Array;
  /** Per row: 1 where a request's rows begin, else 0. */
  readonly starts: Uint8Array;
}

/** Bytes a buffer needs per row: the doubles (output columns and served-at), the status bytes, the start flag. */
function bytesPerRow(width: number, features: number): number {
  return 8 * (width + 1) + features + 1;
}

/** Rows a buffer of `bytes` bytes holds, for a layout of `width` columns of which `features` are features. */
export function capacityOf(bytes: number, width: number, features: number): number {
  return Math.floor(bytes / bytesPerRow(width, features));
}

/** Bytes a buffer needs to hold `rows` rows of a layout. */
export function bytesFor(rows: number, width: number, features: number): number {
  return rows * bytesPerRow(width, features);
}

/** Views on a batch's buffer (see LogBatch): doubles first (8-byte aligned), then the bytes. */
export function batchViews(batch: Pick<LogBatch, 'buffer' | 'capacity' | 'width' | 'features'>): BatchViews {
  const { buffer, capacity: cap, width, features } = batch;
  const numbers = new Float64Array(buffer, 0, width * cap);
  const servedAt = new Float64Array(buffer, width * cap * 8, cap);
  const bytes = (width + 1) * cap * 8;
  return {
    numbers,
    servedAt,
    statuses: new Uint8Array(buffer, bytes, features * cap),
    starts: new Uint8Array(buffer, bytes + features * cap, cap),
  };
}

/** Per column: 0 travels as plain values; 1 number; 2 boolean; 3 time (see PackedKind). */
function modeOf(kind: PackedKind): number {
  return kind === 'number' ? 1 : kind === 'boolean' ? 2 : kind === 'time' ? 3 : 0;
}

/**
 * Fills a batch's buffer, request by request, for one layout. The buffer may be one used before (recycled by the
 * logger): every cell of a filled row is written, so nothing of an earlier batch shows through. A column whose
 * values stop fitting its packed kind turns plain for the rest of the batch: the rows packed so far are unpacked
 * into its plain array (values come back as they were, but for NaN, logged as null either way).
 *
 * @example
 * const builder = new BatchBuilder(0, ['number', 'number'], 1, new ArrayBuffer(1 << 18));
 * if (builder.room() >= result.rows.length) builder.append(result, servedColumns(result), Date.now());
 * const batch = builder.take(); // postMessage(batch, [batch.buffer])
 */
export class BatchBuilder {
  readonly capacity: number;
  readonly width: number;
  readonly features: number;
  private rows = 0;
  private readonly mode: Uint8Array;
  private readonly plain: (unknown[] | null)[];
  private readonly views: BatchViews;

  constructor(
    readonly layout: number,
    private readonly kinds: readonly PackedKind[],
    private readonly keys: number,
    readonly buffer: ArrayBuffer,
  ) {
    this.width = kinds.length;
    this.features = this.width - keys;
    this.capacity = capacityOf(buffer.byteLength, this.width, this.features);
    this.mode = Uint8Array.from(kinds, modeOf);
    this.plain = Array.from(this.mode, (m) => (m === 0 ? [] : null));
    this.views = batchViews(this);
  }

  /** Rows that still fit. */
  room(): number {
    return this.capacity - this.rows;
  }

  get filled(): number {
    return this.rows;
  }

  /**
   * Adds a served request's rows (at most `room()` of them): values from its column view when it has one (what
   * OnlineServing returns), else from its rows by feature name; statuses likewise.
   */
  append(result: OnlineFeaturesResult, cols: ServedColumns | undefined, servedAtMs: number): void {
    const n = result.rows.length;
    const r0 = this.rows;
    if (n > this.capacity - r0)
      throw new Error(`feature log: ${n} rows do not fit a batch (an internal error)`);
    const { numbers, servedAt, starts } = this.views;
    const { width, capacity: cap, mode, plain } = this;
    for (let i = 0; i < n; i++) {
      const row = cols !== undefined ? (cols.values[i] as readonly unknown[]) : outputValues(result, i);
      const r = r0 + i;
      for (let c = 0; c < width; c++) {
        const m = mode[c] as number;
        const v = row[c];
        if (m === 0) {
          (plain[c] as unknown[])[r] = v;
          continue;
        }
        let x: number;
        if (typeof v === 'number' && m !== 2)
          x = v; // a number, or a time as epoch milliseconds
        else if (v === null || v === undefined) x = Number.NaN;
        else if (m === 2 && typeof v === 'boolean') x = v ? 1 : 0;
        else if (m === 3 && v instanceof Date) x = v.getTime();
        else {
          this.unpackColumn(c, r);
          (plain[c] as unknown[])[r] = v;
          continue;
        }
        numbers[c * cap + r] = x;
      }
    }
    this.appendStatuses(result, cols, r0, n);
    servedAt.fill(servedAtMs, r0, r0 + n);
    starts.fill(0, r0, r0 + n);
    starts[r0] = 1;
    this.rows = r0 + n;
  }

  /** The batch filled so far; the builder must not be used after. */
  take(): LogBatch {
    return {
      layout: this.layout,
      rows: this.rows,
      capacity: this.capacity,
      width: this.width,
      features: this.features,
      buffer: this.buffer,
      plain: this.plain,
    };
  }

  /**
   * Statuses, feature by feature. A feature whose status is its view's in every row (most of them: see
   * ServedColumns.adjusted) takes the view's codes, computed for the first such feature of the view and copied
   * for the others.
   */
  private appendStatuses(
    result: OnlineFeaturesResult,
    cols: ServedColumns | undefined,
    r0: number,
    n: number,
  ): void {
    const { statuses } = this.views;
    const cap = this.capacity;
    const firstOfView: number[] = [];
    for (let f = 0; f < this.features; f++) {
      const c = this.keys + f;
      const at = f * cap + r0;
      const view = cols !== undefined && cols.adjusted[c] !== true ? (cols.columnViews[c] ?? -1) : -1;
      if (cols !== undefined && view >= 0) {
        const first = firstOfView[view];
        if (first !== undefined) {
          statuses.copyWithin(at, first, first + n);
          continue;
        }
        firstOfView[view] = at;
        const byRow = cols.viewStatuses[view] ?? [];
        for (let i = 0; i < n; i++) {
          const s = byRow[i];
          statuses[at + i] = s === undefined || s === 'PRESENT' ? 0 : statusCode(s);
        }
      } else {
        for (let i = 0; i < n; i++) {
          const s = result.statuses[i]?.[c];
          statuses[at + i] = s === undefined || s === 'PRESENT' ? 0 : statusCode(s);
        }
      }
    }
  }

  /** Column c travels plain from now on: its packed rows before `upTo` come back as the values they stand for. */
  private unpackColumn(c: number, upTo: number): void {
    const { numbers } = this.views;
    const kind = this.kinds[c] as PackedKind;
    const values: unknown[] = new Array(upTo);
    for (let r = 0; r < upTo; r++) values[r] = unpack(kind, numbers[c * this.capacity + r] as number);
    this.plain[c] = values;
    this.mode[c] = 0;
  }
}

/** A packed number back as the value it stands for (null for NaN). */
export function unpack(kind: PackedKind, x: number): unknown {
  if (Number.isNaN(x)) return null;
  if (kind === 'boolean') return x !== 0;
  if (kind === 'time') return new Date(x);
  return x;
}

/** A result row's values in `featureNames` order, for results without their column view (built by hand). */
function outputValues(result: OnlineFeaturesResult, i: number): unknown[] {
  const row = result.rows[i] as Readonly<Record<string, unknown>>;
  return result.featureNames.map((n) => row[n]);
}

/**
 * A batch's rows `from` to `to` (the rows of whole requests) as a batch of their own, in a new buffer: how the
 * logger hands requests over one by one when a batch as a whole cannot be (a value structured clone refuses).
 */
export function sliceBatch(batch: LogBatch, from: number, to: number): LogBatch {
  const rows = to - from;
  const { width, features } = batch;
  const out = { ...batch, rows, capacity: rows, buffer: new ArrayBuffer(bytesFor(rows, width, features)) };
  const src = batchViews(batch);
  const dst = batchViews(out);
  for (let c = 0; c < width; c++)
    dst.numbers.set(src.numbers.subarray(c * batch.capacity + from, c * batch.capacity + to), c * rows);
  for (let f = 0; f < features; f++)
    dst.statuses.set(src.statuses.subarray(f * batch.capacity + from, f * batch.capacity + to), f * rows);
  dst.servedAt.set(src.servedAt.subarray(from, to));
  dst.starts.set(src.starts.subarray(from, to));
  return { ...out, plain: batch.plain.map((p) => (p === null ? null : p.slice(from, to))) };
}

/** The rows where each request of a batch begins, and the end: [0, …, rows]. */
export function requestBounds(batch: LogBatch): number[] {
  const { starts } = batchViews(batch);
  const bounds: number[] = [];
  for (let r = 0; r < batch.rows; r++) if (starts[r] === 1) bounds.push(r);
  bounds.push(batch.rows);
  return bounds;
}
