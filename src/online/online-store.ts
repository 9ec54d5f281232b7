import { TesseraError } from '../core/errors.js';

/**
 * The contract every online store implements (SQLite embedded, Redis, …).
 *
 * In the contract: writing the latest feature row per entity of a view, batched reads of many entities across
 * many views, removal of a view's data. Each implementation chooses its own layout and encoding.
 *
 * Deliberately not in the contract: TTL evaluation and statuses (the serving layer applies the same rule as
 * training, on the event timestamps returned here), typing of values, on-demand transforms. A store may expire
 * rows on its own to reclaim space, but only once they are past `ttlMs + retentionMs` (see docs/semantics.md),
 * so that serving can still tell "too old" (OUTSIDE_MAX_AGE) from "never seen" (NOT_FOUND) for `retentionMs`.
 */
export interface OnlineStore {
  /** Short name used in config and docs: `sqlite`, `redis`. */
  readonly kind: string;

  /**
   * Upserts rows. A row replaces the stored one only when (eventTs, createdTs) is greater than or equal to
   * the stored (eventTs, createdTs): an older value never overwrites a newer one, whatever the write order.
   * Rows in one call may repeat an entity; the newest wins.
   */
  write(view: OnlineViewRef, rows: readonly OnlineRow[]): Promise<void>;

  /**
   * Optional fast path of {@link write} for rows given column by column (what materialization reads from the
   * offline store), with exactly the semantics of `write(view, rowsFromColumns(batch))`. A store implements it
   * when it can encode values straight from columns, without building an object per row.
   */
  writeColumns?(view: OnlineViewRef, batch: OnlineColumns): Promise<void>;

  /**
   * Reads, for each request, the stored row per entity key (null when absent), in request and key order.
   * Implementations answer all requests in one round trip to the backend.
   */
  read(requests: readonly OnlineReadRequest[]): Promise<(StoredRow | null)[][]>;

  /** Removes every stored row and tile of a view (used when a view is removed or re-created incompatibly). */
  deleteView(view: OnlineViewRef): Promise<void>;

  /**
   * Stores tiles of aggregation views (docs/semantics.md, "Windowed aggregations"): opaque values per
   * (view, entity, hop, tile start), each replacing the stored one. A tile past its `expiresAt` is never read
   * back and may be dropped; one written already expired is not stored.
   *
   * With `commit`, the write is also an exactly-once checkpoint of a stream consumer: atomically, every
   * partition's stored next offset must equal `expected` (null: none stored yet), and then the tiles of every
   * batch and the new checkpoints (offset and meta) are stored together. On any mismatch nothing is written and the call fails with a
   * `TesseraError` of code `CONFLICT` (another worker has moved the partition on: reload and resume).
   */
  writeTiles(batches: readonly TileBatch[], commit?: OffsetCommit): Promise<void>;

  /**
   * For each request and each of its entities, the live tiles of one hop whose start is in [fromStart,
   * toStart], ascending by start, in one round trip for all requests.
   */
  readTiles(requests: readonly TileReadRequest[]): Promise<StoredTile[][][]>;

  /** Per partition id, the checkpoint last committed by `writeTiles` for this consumer. */
  readCheckpoints(consumer: string): Promise<Map<string, Checkpoint>>;

  /**
   * Per view name, the newest event time ever written for the view (rows by `write`/`writeColumns`, tiles by
   * `writeTiles`) and when that last happened; views never written are absent. Maintained at write time, once
   * per write call (not per row), so reading it is one small lookup: the basis of freshness monitoring
   * (docs/monitoring.md). `deleteView` forgets it.
   *
   * @example
   * const f = await store.freshness([view]);
   * const ageMs = Date.now() - (f.get(view.name)?.newestEventTs ?? Number.NaN);
   */
  freshness(views: readonly OnlineViewRef[]): Promise<Map<string, ViewFreshness>>;

  close(): Promise<void>;
}

/** What a store needs to know about a view: its identity and expiry policy. */
export interface OnlineViewRef {
  readonly project: string;
  readonly name: string;
  /** The view's TTL (0 = none). */
  readonly ttlMs: number;
}

export interface OnlineRow {
  /** Canonical entity key from `encodeEntityKey`. */
  readonly entityKey: string;
  /** Event time, epoch milliseconds. */
  readonly eventTs: number;
  /** Created (write) time, epoch milliseconds; 0 when the source has none. */
  readonly createdTs: number;
  /** Feature values by feature name; null for missing values. */
  readonly values: Readonly<Record<string, unknown>>;
}

export type StoredRow = OnlineRow;

/**
 * Rows of one view column by column: row `r` is `{ entityKey: entityKeys[r], eventTs: eventTs[r],
 * createdTs: createdTs[r], values: { [c.name]: value of c at r, for c of features } }`.
 *
 * @example
 * const batch: OnlineColumns = {
 *   length: 2,
 *   entityKeys: ['1', '2'],
 *   eventTs: new Float64Array([1000, 2000]),
 *   createdTs: new Float64Array(2),
 *   features: [
 *     { name: 'ctr', values: new Float64Array([0.5, 0]), valid: new Uint8Array([1, 0]) }, // ctr of '2' is null
 *     { name: 'country', values: ['NZ', null] },
 *   ],
 * };
 * await store.writeColumns?.(view, batch);
 */
export interface OnlineColumns {
  readonly length: number;
  readonly entityKeys: readonly string[];
  readonly eventTs: ArrayLike<number>;
  readonly createdTs: ArrayLike<number>;
  /** One column per feature, in the order values are to be stored; names are distinct. */
  readonly features: readonly OnlineColumn[];
  /**
   * True when no entity key appears twice (the producer guarantees it, as `pullLatest` does), so a store may
   * skip deduplication. When false or absent, repeated keys resolve as in {@link OnlineStore.write}.
   */
  readonly distinctKeys?: boolean;
}

/** One feature's values by row: numbers in a `Float64Array`, or any values a row may hold (null for missing). */
export interface OnlineColumn {
  readonly name: string;
  readonly values: Float64Array | readonly unknown[];
  /** With a `Float64Array`: 0 where the value is null. Absent: no nulls. */
  readonly valid?: Uint8Array;
}

/** Row `r` of a column batch as an {@link OnlineRow}: what `writeColumns` must be equivalent to writing. */
export function rowsFromColumns(batch: OnlineColumns): OnlineRow[] {
  const build = valuesBuilder(batch.features);
  const rows: OnlineRow[] = new Array(batch.length);
  for (let r = 0; r < batch.length; r++) {
    rows[r] = {
      entityKey: batch.entityKeys[r] as string,
      eventTs: batch.eventTs[r] as number,
      createdTs: batch.createdTs[r] as number,
      values: build(batch.features, r),
    };
  }
  return rows;
}

type ValuesBuilder = (features: readonly OnlineColumn[], r: number) => Record<string, unknown>;
const builders = new Map<string, ValuesBuilder>();

/**
 * A generated function building row `r`'s values as one object literal, so every row of a view shares one
 * fast V8 shape (an object filled key by key turns into a slow dictionary beyond a dozen properties).
 */
function valuesBuilder(features: readonly OnlineColumn[]): ValuesBuilder {
  const id = features
    .map((c) => `${c.name}\u0000${c.values instanceof Float64Array ? 'f' : 'a'}${c.valid ? 'v' : ''}`)
    .join('\u0001');
  let build = builders.get(id);
  if (build === undefined) {
    // JSON.stringify gives a valid JS string literal for any name, so names cannot inject code; a computed key
    // keeps '__proto__' an own property.
    const props = features.map((c, i) => {
      const key = c.name === '__proto__' ? `[${JSON.stringify(c.name)}]` : JSON.stringify(c.name);
      const value =
        c.values instanceof Float64Array
          ? c.valid
            ? `f[${i}].valid[r] === 0 ? null : f[${i}].values[r]`
            : `f[${i}].values[r]`
          : `f[${i}].values[r] ?? null`;
      return `${key}: ${value}`;
    });
    build = new Function('f', 'r', `return {${props.join(',')}};`) as ValuesBuilder;
    if (builders.size >= 1024) builders.clear();
    builders.set(id, build);
  }
  return build;
}

/** Tiles of one view, for {@link OnlineStore.writeTiles}. */
export interface TileBatch {
  readonly view: OnlineViewRef;
  readonly tiles: readonly TileWrite[];
  /**
   * The newest event time folded into these tiles, for {@link OnlineStore.freshness}; absent: the latest tile
   * start is used (a lower bound of it).
   */
  readonly newestEventTs?: number;
}

/** What {@link OnlineStore.freshness} knows of a view. */
export interface ViewFreshness {
  /** The newest event time (epoch ms) written online for the view, whatever write it came with. */
  readonly newestEventTs: number;
  /** Wall-clock time (epoch ms) of the last write call that carried rows or tiles of the view. */
  readonly updatedAt: number;
}

/** The newest event time a tile batch carries (see {@link TileBatch.newestEventTs}); -Infinity when empty. */
export function newestEventOf(batch: TileBatch): number {
  if (batch.newestEventTs !== undefined) return batch.newestEventTs;
  let newest = Number.NEGATIVE_INFINITY;
  for (const t of batch.tiles) if (t.start > newest) newest = t.start;
  return newest;
}

/** The newest event time among `count` values of `eventTs`; -Infinity when none. */
export function maxEventTs(eventTs: ArrayLike<number>, count = eventTs.length): number {
  let newest = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    const t = eventTs[i] as number;
    if (t > newest) newest = t;
  }
  return newest;
}

/** A stream consumer's position in one partition, and what else it stored with it. */
export interface Checkpoint {
  /** Next offset to consume. */
  readonly next: number;
  /** Opaque data committed with the offset (the worker's watermark and pending lake files); null when none. */
  readonly meta: string | null;
}

/** One tile to store: the encoded partial aggregates of an entity's events in [start, start + hopMs). */
export interface TileWrite {
  readonly entityKey: string;
  readonly hopMs: number;
  /** Tile start, epoch ms, a multiple of `hopMs`. */
  readonly start: number;
  readonly value: Uint8Array;
  /** Epoch ms after which the tile is no longer read (past the longest window that uses it). */
  readonly expiresAt: number;
}

export interface StoredTile {
  readonly start: number;
  readonly value: Uint8Array;
}

export interface TileReadRequest {
  readonly view: OnlineViewRef;
  readonly entityKeys: readonly string[];
  readonly hopMs: number;
  readonly fromStart: number;
  readonly toStart: number;
}

/**
 * A stream consumer's checkpoint, stored with the tiles it covers. `partition` ids are the consumer's own
 * (`topic/3`); offsets are the next offset to consume.
 */
export interface OffsetCommit {
  readonly consumer: string;
  readonly offsets: readonly {
    readonly partition: string;
    readonly expected: number | null;
    readonly next: number;
    readonly meta?: string;
  }[];
}

/** The error `writeTiles` fails with when a partition's stored offset is not the expected one. */
export function staleOffset(
  consumer: string,
  partition: string,
  expected: number | null,
  stored: number | null,
): TesseraError {
  return new TesseraError(
    `stream checkpoint of '${consumer}' is stale for partition ${partition}`,
    {
      field: partition,
      expected: expected === null ? 'no stored offset' : `next offset ${expected}`,
      actual: stored === null ? 'no stored offset' : `next offset ${stored}`,
      hint: 'another worker committed this partition since it was loaded: reload its state and resume from the stored offset',
    },
    'CONFLICT',
  );
}

/** Most tiles one read may cover per entity and hop: a window spans at most this many hops. */
export const MAX_TILES_PER_READ = 2_000;

export interface OnlineReadRequest {
  readonly view: OnlineViewRef;
  readonly entityKeys: readonly string[];
}

/** Extra time a store keeps a row after its TTL so reads report OUTSIDE_MAX_AGE rather than NOT_FOUND. */
export const DEFAULT_RETENTION_MS = 86_400_000;

/** Epoch ms after which a store may delete a row, or undefined for "never" (no TTL). */
export function expiresAt(
  view: OnlineViewRef,
  eventTs: number,
  retentionMs = DEFAULT_RETENTION_MS,
): number | undefined {
  return view.ttlMs > 0 ? eventTs + view.ttlMs + retentionMs : undefined;
}

/** True when (eventTs, createdTs) of `a` is at least that of `b`: the write-ordering rule of the contract. */
export const isNewerOrEqual = (
  a: Pick<OnlineRow, 'eventTs' | 'createdTs'>,
  b: Pick<OnlineRow, 'eventTs' | 'createdTs'>,
) => a.eventTs > b.eventTs || (a.eventTs === b.eventTs && a.createdTs >= b.createdTs);
