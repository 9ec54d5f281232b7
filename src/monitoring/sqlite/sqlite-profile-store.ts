import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { createSchema, useWalJournal } from '../../core/sqlite-file.js';
import type { Profile } from '../profile.js';
import { describeTarget, type ProfileInfo, type ProfileStore, type StoredProfile } from '../profile-store.js';

interface ProfileRow {
  name: string;
  version: number;
  saved_at: number;
  target: string;
  row_count: number;
  profile?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS profiles (
  project   TEXT    NOT NULL,
  name      TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  saved_at  INTEGER NOT NULL,
  target    TEXT    NOT NULL,
  row_count INTEGER NOT NULL,
  profile   TEXT    NOT NULL,
  PRIMARY KEY (project, name, version)
);`;

/**
 * Reference profiles in the embedded registry's SQLite file (its own `profiles` table; the registry's tables
 * are untouched). WAL mode and a busy timeout, like the registry store, so several processes can share it.
 *
 * @example
 * const store = new SqliteProfileStore('.tessera/registry.db');
 * await store.save('shop', 'orders_q1', profile);
 */
export class SqliteProfileStore implements ProfileStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;
  private readonly saveTx: (project: string, name: string, profile: Profile) => StoredProfile;

  constructor(path: string, options: { busyTimeoutMs?: number } = {}) {
    if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 10_000));
    this.db.pragma(`busy_timeout = ${busyTimeoutMs}`);
    useWalJournal(this.db, busyTimeoutMs);
    createSchema(this.db, SCHEMA);
    const latest = this.db.prepare<[string, string], { v: number | null }>(
      'SELECT MAX(version) AS v FROM profiles WHERE project = ? AND name = ?',
    );
    const insert = this.db.prepare(
      'INSERT INTO profiles (project, name, version, saved_at, target, row_count, profile) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const tx = this.db.transaction((project: string, name: string, profile: Profile): StoredProfile => {
      const version = (latest.get(project, name)?.v ?? 0) + 1;
      const savedAt = new Date();
      const target = describeTarget(profile);
      insert.run(
        project,
        name,
        version,
        savedAt.getTime(),
        target,
        profile.rowCount,
        JSON.stringify(profile),
      );
      return { name, version, savedAt, target, rowCount: profile.rowCount, profile };
    });
    // IMMEDIATE: the write lock is taken before reading the latest version, so two savers never pick the same one.
    this.saveTx = (project, name, profile) => tx.immediate(project, name, profile);
  }

  async save(project: string, name: string, profile: Profile): Promise<StoredProfile> {
    return this.saveTx(project, name, profile);
  }

  async get(project: string, name: string, version?: number): Promise<StoredProfile | undefined> {
    const row =
      version === undefined
        ? this.db
            .prepare<[string, string], ProfileRow>(
              'SELECT * FROM profiles WHERE project = ? AND name = ? ORDER BY version DESC LIMIT 1',
            )
            .get(project, name)
        : this.db
            .prepare<[string, string, number], ProfileRow>(
              'SELECT * FROM profiles WHERE project = ? AND name = ? AND version = ?',
            )
            .get(project, name, version);
    return row === undefined
      ? undefined
      : { ...toInfo(row), profile: JSON.parse(row.profile as string) as Profile };
  }

  async list(project: string): Promise<ProfileInfo[]> {
    return this.db
      .prepare<[string], ProfileRow>(
        `SELECT p.name, p.version, p.saved_at, p.target, p.row_count FROM profiles p
         WHERE p.project = ? AND p.version = (SELECT MAX(version) FROM profiles q WHERE q.project = p.project AND q.name = p.name)
         ORDER BY p.name`,
      )
      .all(project)
      .map(toInfo);
  }

  async history(project: string, name: string, limit?: number): Promise<ProfileInfo[]> {
    return this.db
      .prepare<[string, string, number], ProfileRow>(
        `SELECT name, version, saved_at, target, row_count FROM profiles
         WHERE project = ? AND name = ? ORDER BY version DESC LIMIT ?`,
      )
      .all(project, name, limit ?? -1)
      .map(toInfo);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function toInfo(row: ProfileRow): ProfileInfo {
  return {
    name: row.name,
    version: row.version,
    savedAt: new Date(row.saved_at),
    target: row.target,
    rowCount: row.row_count,
  };
}
