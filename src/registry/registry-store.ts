/**
 * The storage contract of the registry (SQLite embedded default; PostgreSQL for teams).
 *
 * A registry is an append-only sequence of versions, each a full snapshot of a project's definitions. A new
 * version is written only if the latest is still `expectedVersion` (optimistic locking), atomically, so two
 * concurrent writers never lose an update: one wins, the other gets `RegistryConflictError` and retries on
 * the new state. Materialization bookmarks live beside the versions (they are run state, not definitions).
 *
 * Diffing, lineage and validation are computed from snapshots by `Registry`; they are not the store's job.
 */
export interface RegistryStore {
  readonly kind: string;

  /** The newest version of a project, or undefined before the first apply. */
  latest(project: string): Promise<StoredVersion | undefined>;

  /** One version of a project, or undefined when it does not exist. */
  get(project: string, version: number): Promise<StoredVersion | undefined>;

  /** Writes version `expectedVersion + 1`; throws RegistryConflictError when another writer got there first. */
  commit(project: string, expectedVersion: number, snapshot: VersionSnapshot): Promise<StoredVersion>;

  /** Versions newest first, without snapshots. */
  history(project: string, limit?: number): Promise<VersionInfo[]>;

  /** Materialization bookmark of a view: the end (epoch ms) of the last materialized interval. */
  getBookmark(project: string, view: string): Promise<number | undefined>;
  setBookmark(project: string, view: string, endMs: number): Promise<void>;

  close(): Promise<void>;
}

export interface VersionSnapshot {
  /** The serialized `RegistryState` (see `serializeState`). */
  readonly state: Record<string, unknown>;
  /** Per-object version numbers, keyed `Kind/name`. */
  readonly objectVersions: Readonly<Record<string, number>>;
  readonly author: string;
  readonly message: string;
  /** Summary of what changed, for history listings. */
  readonly changes: readonly { readonly kind: string; readonly name: string; readonly change: string }[];
}

export interface VersionInfo {
  readonly version: number;
  readonly appliedAt: Date;
  readonly author: string;
  readonly message: string;
  readonly changes: VersionSnapshot['changes'];
}

export interface StoredVersion extends VersionInfo {
  readonly snapshot: VersionSnapshot;
}

export class RegistryConflictError extends Error {
  constructor(
    readonly project: string,
    readonly expectedVersion: number,
  ) {
    super(
      `registry of project '${project}' moved past version ${expectedVersion} while this change was prepared; re-run plan/apply`,
    );
    this.name = 'RegistryConflictError';
  }
}
