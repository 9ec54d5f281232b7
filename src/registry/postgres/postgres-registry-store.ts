import pg from 'pg';
import {
  RegistryConflictError,
  type RegistryStore,
  type StoredVersion,
  type VersionInfo,
  type VersionSnapshot,
} from '../registry-store.js';
import { ensureTables, once, registrySchema } from './registry-schema.js';

export type PostgresRegistryStoreOptions = (
  | { /** A `postgres://` connection URL; the store owns (and closes) its pool. */ readonly url: string }
  | { /** A pool shared with the caller; `close()` leaves it open. */ readonly pool: pg.Pool }
) & {
  /** Schema holding the registry tables, created if missing. Default `tessera`. */
  readonly schema?: string;
};

interface VersionRow {
  version: number;
  applied_at: Date;
  author: string;
  message: string;
  changes: VersionInfo['changes'];
  snapshot?: Pick<VersionSnapshot, 'state' | 'objectVersions'>;
}

const UNIQUE_VIOLATION = '23505';

/**
 * The team registry: versions and bookmarks in PostgreSQL tables (snapshots as JSONB), shared by every
 * process that points at the same database and schema.
 *
 * @example
 * const store = new PostgresRegistryStore({ url: 'postgres://tessera@db/features', schema: 'tessera' });
 * const latest = await store.latest('shop');
 */
export class PostgresRegistryStore implements RegistryStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly schema: string;
  private closed = false;

  constructor(options: PostgresRegistryStoreOptions) {
    this.schema = registrySchema(options.schema);
    if ('pool' in options) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      this.pool = new pg.Pool({ connectionString: options.url, max: 5 });
      this.ownsPool = true;
      // An idle client losing its connection emits 'error' on the pool; unhandled, that kills the process.
      // The next query gets a fresh connection or a proper error, so there is nothing to do here.
      this.pool.on('error', () => {});
    }
  }

  async latest(project: string): Promise<StoredVersion | undefined> {
    const rows = await this.query<VersionRow>(
      `SELECT * FROM ${this.schema}.versions WHERE project = $1 ORDER BY version DESC LIMIT 1`,
      [project],
    );
    return rows[0] === undefined ? undefined : toStored(rows[0]);
  }

  async get(project: string, version: number): Promise<StoredVersion | undefined> {
    const rows = await this.query<VersionRow>(
      `SELECT * FROM ${this.schema}.versions WHERE project = $1 AND version = $2`,
      [project, version],
    );
    return rows[0] === undefined ? undefined : toStored(rows[0]);
  }

  async commit(project: string, expectedVersion: number, snapshot: VersionSnapshot): Promise<StoredVersion> {
    // One statement is one transaction: the check and the insert see the same snapshot. Two writers that
    // both pass the check race on the primary key; the loser waits for the winner and fails with 23505.
    let rows: { applied_at: Date }[];
    try {
      rows = await this.query<{ applied_at: Date }>(
        `INSERT INTO ${this.schema}.versions (project, version, author, message, changes, snapshot)
         SELECT $1::text, $2::int + 1, $3, $4, $5::jsonb, $6::jsonb
         WHERE COALESCE((SELECT MAX(version) FROM ${this.schema}.versions WHERE project = $1::text), 0) = $2::int
         RETURNING applied_at`,
        [
          project,
          expectedVersion,
          snapshot.author,
          snapshot.message,
          JSON.stringify(snapshot.changes),
          JSON.stringify({ state: snapshot.state, objectVersions: snapshot.objectVersions }),
        ],
      );
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION)
        throw new RegistryConflictError(project, expectedVersion);
      throw err;
    }
    const row = rows[0];
    if (row === undefined) throw new RegistryConflictError(project, expectedVersion);
    return {
      version: expectedVersion + 1,
      appliedAt: row.applied_at,
      author: snapshot.author,
      message: snapshot.message,
      changes: snapshot.changes,
      snapshot,
    };
  }

  async history(project: string, limit?: number): Promise<VersionInfo[]> {
    const rows = await this.query<VersionRow>(
      `SELECT version, applied_at, author, message, changes FROM ${this.schema}.versions
       WHERE project = $1 ORDER BY version DESC LIMIT $2`,
      [project, limit ?? null],
    );
    return rows.map(toInfo);
  }

  async getBookmark(project: string, view: string): Promise<number | undefined> {
    const rows = await this.query<{ end_ms: string }>(
      `SELECT end_ms FROM ${this.schema}.bookmarks WHERE project = $1 AND view = $2`,
      [project, view],
    );
    // BIGINT comes back as a string (it may exceed 2^53); epoch milliseconds never do.
    return rows[0] === undefined ? undefined : Number(rows[0].end_ms);
  }

  async setBookmark(project: string, view: string, endMs: number): Promise<void> {
    await this.query(
      `INSERT INTO ${this.schema}.bookmarks (project, view, end_ms) VALUES ($1, $2, $3)
       ON CONFLICT (project, view) DO UPDATE SET end_ms = EXCLUDED.end_ms`,
      [project, view, endMs],
    );
  }

  async close(): Promise<void> {
    if (this.ownsPool && !this.closed) {
      this.closed = true;
      await this.pool.end();
    }
  }

  private async query<R extends object>(sql: string, params: unknown[]): Promise<R[]> {
    await this.ensureSchema();
    return (await this.pool.query<R>(sql, params)).rows;
  }

  /** Creates the schema and tables on first use; retried on the next call if it failed. */
  private readonly ensureSchema = once(() =>
    ensureTables(this.pool, this.schema, 'registry', {
      versions: [
        `CREATE TABLE IF NOT EXISTS ${this.schema}.versions (
        project    TEXT        NOT NULL,
        version    INTEGER     NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        author     TEXT        NOT NULL,
        message    TEXT        NOT NULL,
        changes    JSONB       NOT NULL,
        snapshot   JSONB       NOT NULL,
        PRIMARY KEY (project, version)
      )`,
      ],
      bookmarks: [
        `CREATE TABLE IF NOT EXISTS ${this.schema}.bookmarks (
        project TEXT   NOT NULL,
        view    TEXT   NOT NULL,
        end_ms  BIGINT NOT NULL,
        PRIMARY KEY (project, view)
      )`,
      ],
    }),
  );
}

function toInfo(row: VersionRow): VersionInfo {
  return {
    version: row.version,
    appliedAt: row.applied_at,
    author: row.author,
    message: row.message,
    changes: row.changes,
  };
}

function toStored(row: VersionRow): StoredVersion {
  const info = toInfo(row);
  const snap = row.snapshot as NonNullable<VersionRow['snapshot']>;
  return {
    ...info,
    snapshot: {
      state: snap.state,
      objectVersions: snap.objectVersions,
      author: info.author,
      message: info.message,
      changes: info.changes,
    },
  };
}
