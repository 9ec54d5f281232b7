import type { JoinKey } from '../definitions/entity.js';
import type { AggregationSelection, ViewSelection } from '../definitions/resolve.js';
import type { Source } from '../definitions/source.js';
import type { OnlineRow } from '../online/online-store.js';

/**
 * The contract every offline store implements (DuckDB embedded; later Spark for scale-out).
 *
 * In the contract: point-in-time-correct historical retrieval for a spine, the latest row per entity over a
 * time interval (what materialization loads online), and the schema of a source (what `apply` validates).
 * Reading sources of every type (Parquet, CSV, PostgreSQL) is the store's job, so a store that pushes work
 * down to an engine can do it there.
 *
 * Not in the contract: on-demand transforms (applied on the result by the caller, the same code as serving),
 * feature reference resolution (callers pass resolved `ViewSelection`s).
 */
export interface OfflineStore {
  readonly kind: string;

  /** Appends, to every spine row, the point-in-time-correct value of each selected feature (docs/semantics.md). */
  getHistoricalFeatures(request: HistoricalRequest): Promise<HistoricalResult>;

  /**
   * The latest row per entity whose event timestamp is in [startMs, endMs), in chunks of at most `chunkRows`,
   * without holding the whole source in memory. Ties on event timestamp go to the greatest created timestamp.
   */
  pullLatest(request: PullLatestRequest): AsyncIterable<OnlineRow[]>;

  /**
   * The events of an aggregation view's source with event time in [startMs, endMs) that pass its row filter,
   * ordered by entity then event time, in chunks of at most `chunkRows`: what batch materialization turns into
   * tiles with the stream engine's own code.
   */
  pullEvents(request: PullEventsRequest): AsyncIterable<SourceEvent[]>;

  /**
   * Up to `limit` distinct entities (join key values, by name) with events at or after `sinceMs`, a sample that
   * does not depend on file order (ordered by a hash of the keys).
   */
  sampleEntities(
    source: Source,
    joinKeys: readonly JoinKey[],
    sinceMs: number,
    limit: number,
  ): Promise<Record<string, unknown>[]>;

  /** Column names and types of a source, read from the actual data (file footer, table catalog). */
  describeSource(source: Source): Promise<SourceColumn[]>;

  close(): Promise<void>;
}

/** Where sources' relative paths and named connections are resolved. */
export interface SourceContext {
  /** Absolute path of the feature repo; relative source paths are resolved against it. */
  readonly repoPath: string;
  /** Named PostgreSQL connections (`connection:` of a postgres source) → connection URL. */
  readonly connections: Readonly<Record<string, string>>;
}

/** The entity rows to enrich: keys, a timestamp, and any other columns (labels) carried through. */
export type SpineInput =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'sql'; readonly query: string }
  | { readonly kind: 'rows'; readonly rows: readonly Readonly<Record<string, unknown>>[] };

export interface HistoricalRequest {
  readonly spine: SpineInput;
  /** Spine column holding the as-of time; default `event_timestamp` (as in Feast). */
  readonly timestampColumn?: string;
  readonly views: readonly ViewSelection[];
  /** Windowed aggregations at each spine time (docs/semantics.md, "Windowed aggregations"). */
  readonly aggregations?: readonly AggregationSelection[];
  /** Name feature columns `view__feature` instead of `feature`. */
  readonly fullFeatureNames?: boolean;
  readonly onProgress?: (p: { phase: string; done: number; total: number }) => void;
}

/** The spine with feature columns appended, in spine order; a handle over data kept by the store. */
export interface HistoricalResult {
  readonly columns: readonly SourceColumn[];
  readonly rowCount: number;
  /** All rows as objects (timestamps as Date, int64 as number when safe, else bigint). */
  rows(): Promise<Record<string, unknown>[]>;
  /** Writes the result as one Parquet file. */
  writeParquet(path: string): Promise<void>;
  /** Releases what the store holds for this result. */
  close(): Promise<void>;
}

export interface PullLatestRequest {
  readonly view: ViewSelection;
  readonly startMs: number;
  readonly endMs: number;
  readonly chunkRows?: number;
}

export interface PullEventsRequest {
  readonly view: AggregationSelection;
  readonly startMs: number;
  readonly endMs: number;
  readonly chunkRows?: number;
}

/** One source event: its entity, event time (epoch ms) and the columns aggregations read, by column name. */
export interface SourceEvent {
  readonly entityKey: string;
  readonly ts: number;
  readonly values: Readonly<Record<string, unknown>>;
}

export interface SourceColumn {
  readonly name: string;
  /** The engine's type name, e.g. `BIGINT`, `TIMESTAMP WITH TIME ZONE`, `VARCHAR[]`. */
  readonly type: string;
}

/**
 * Writing, as opposed to reading: what `push` (to the offline lake) and training sets with on-demand features
 * need. Kept as a separate interface so read-only engines can still implement `OfflineStore`.
 */
export interface OfflineWriter {
  /**
   * Appends rows to a source's lake, for `push` with `to: 'offline'`. Parquet sources only: rows land in a new
   * file under the source directory (in the `date=YYYY-MM-DD` partition of their event time when the source is
   * partitioned), written to a temporary name and renamed, so readers never see a partial file.
   * Returns the number of rows written.
   */
  append(
    source: Source,
    rows: readonly Readonly<Record<string, unknown>>[],
    schema: readonly SourceColumn[],
  ): Promise<number>;

  /** Writes JS rows as one Parquet file with the given column types. */
  writeParquet(
    rows: readonly Readonly<Record<string, unknown>>[],
    columns: readonly SourceColumn[],
    path: string,
  ): Promise<void>;
}
