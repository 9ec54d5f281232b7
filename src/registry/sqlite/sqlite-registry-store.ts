import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { createSchema, useWalJournal } from '../../core/sqlite-file.js';
import {
  RegistryConflictError,
  type RegistryStore,
  type StoredVersion,
  type VersionInfo,
  type VersionSnapshot,
} from '../registry-store.js';

export interface SqliteRegistryStoreOptions {
  /** How long (ms) a writer waits for another process's write lock before failing. Default 10 s. */
  readonly busyTimeoutMs?: number;
}

interface VersionRow {
  version: number;
  applied_at: number;
  author: string;
  message: string;
  changes: string;
  snapshot?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS versions (
  project    TEXT    NOT NULL,
  version    INTEGER NOT NULL,
  applied_at INTEGER NOT NULL,
  author     TEXT    NOT NULL,
  message    TEXT    NOT NULL,
  changes    TEXT    NOT NULL,
  snapshot   TEXT    NOT NULL,
  PRIMARY KEY (project, version)
);
CREATE TABLE IF NOT EXISTS bookmarks (
  project TEXT    NOT NULL,
  view    TEXT    NOT NULL,
  end_ms  INTEGER NOT NULL,
  PRIMARY KEY (project, view)
);`;

/**
 * The embedded registry: one SQLite file, shareable by several processes on one machine (WAL mode, and a
 * busy timeout so a writer waits for another process's write lock instead of failing at once).
 *
 * Calls are synchronous underneath (better-sqlite3); they are short, and the async signature is the contract's.
 *
 * @example
 * const store = new SqliteRegistryStore('.tessera/registry.db');
 * const v = await store.commit('shop', 0, snapshot); // v.version === 1
 */
export class SqliteRegistryStore implements RegistryStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly commitTx: (project: string, expectedVersion: number, s: VersionSnapshot) => StoredVersion;

  constructor(path: string, options: SqliteRegistryStoreOptions = {}) {
    if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    // The busy timeout must be set first: switching to WAL and creating tables take locks another process may hold.
    const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 10_000));
    this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    useWalJournal(this.db, busyTimeoutMs);
    this.db.pragma('synchronous = NORMAL');
    createSchema(this.db, SCHEMA);

    const latest = this.db.prepare<[string], { v: number | null }>(
      'SELECT MAX(version) AS v FROM versions WHERE project = ?',
    );
    const insert = this.db.prepare(
      'INSERT INTO versions (project, version, applied_at, author, message, changes, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const tx = this.db.transaction(
      (project: string, expectedVersion: number, s: VersionSnapshot): StoredVersion => {
        const current = latest.get(project)?.v ?? 0;
        if (current !== expectedVersion) throw new RegistryConflictError(project, expectedVersion);
        const appliedAt = new Date();
        const version = expectedVersion + 1;
        insert.run(
          project,
          version,
          appliedAt.getTime(),
          s.author,
          s.message,
          JSON.stringify(s.changes),
          encode(s),
        );
        return { version, appliedAt, author: s.author, message: s.message, changes: s.changes, snapshot: s };
      },
    );
    // IMMEDIATE takes the write lock before the read, so check-then-insert cannot interleave with another
    // process (a DEFERRED transaction would fail with SQLITE_BUSY on lock upgrade instead of waiting).
    this.commitTx = (project, expectedVersion, s) => tx.immediate(project, expectedVersion, s);
  }

  async latest(project: string): Promise<StoredVersion | undefined> {
    const row = this.db
      .prepare<[string], VersionRow>('SELECT * FROM versions WHERE project = ? ORDER BY version DESC LIMIT 1')
      .get(project);
    return row === undefined ? undefined : toStored(row);
  }

  async get(project: string, version: number): Promise<StoredVersion | undefined> {
    const row = this.db
      .prepare<[string, number], VersionRow>('SELECT * FROM versions WHERE project = ? AND version = ?')
      .get(project, version);
    return row === undefined ? undefined : toStored(row);
  }

  async commit(project: string, expectedVersion: number, snapshot: VersionSnapshot): Promise<StoredVersion> {
    return this.commitTx(project, expectedVersion, snapshot);
  }

  async history(project: string, limit?: number): Promise<VersionInfo[]> {
    return this.db
      .prepare<[string, number], VersionRow>(
        `SELECT version, applied_at, author, message, changes FROM versions
         WHERE project = ? ORDER BY version DESC LIMIT ?`,
      )
      .all(project, limit ?? -1)
      .map(toInfo);
  }

  async getBookmark(project: string, view: string): Promise<number | undefined> {
    return this.db
      .prepare<[string, string], { end_ms: number }>(
        'SELECT end_ms FROM bookmarks WHERE project = ? AND view = ?',
      )
      .get(project, view)?.end_ms;
  }

  async setBookmark(project: string, view: string, endMs: number): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO bookmarks (project, view, end_ms) VALUES (?, ?, ?)
         ON CONFLICT (project, view) DO UPDATE SET end_ms = excluded.end_ms`,
      )
      .run(project, view, endMs);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** Author, message and changes have their own columns; the snapshot column keeps the rest. */
const encode = (s: VersionSnapshot): string =>
  JSON.stringify({ state: s.state, objectVersions: s.objectVersions });

function toInfo(row: VersionRow): VersionInfo {
  return {
    version: row.version,
    appliedAt: new Date(row.applied_at),
    author: row.author,
    message: row.message,
    changes: JSON.parse(row.changes) as VersionInfo['changes'],
  };
}

function toStored(row: VersionRow): StoredVersion {
  const info = toInfo(row);
  const { state, objectVersions } = JSON.parse(row.snapshot as string) as Pick<
    VersionSnapshot,
    'state' | 'objectVersions'
  >;
  return {
    ...info,
    snapshot: { state, objectVersions, author: info.author, message: info.message, changes: info.changes },
  };
}
