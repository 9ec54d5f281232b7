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
   * Reads, for each request, the stored row per entity key (null when absent), in request and key order.
   * Implementations answer all requests in one round trip to the backend.
   */
  read(requests: readonly OnlineReadRequest[]): Promise<(StoredRow | null)[][]>;

  /** Removes every stored row of a view (used when a view is removed or re-created incompatibly). */
  deleteView(view: OnlineViewRef): Promise<void>;

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
