import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { createSchema, useWalJournal } from '../../core/sqlite-file.js';
import {
  DEFAULT_LIST_LIMIT,
  type ValidationListFilter,
  type ValidationResultsStore,
} from '../results-store.js';
import type { ValidationRun } from '../validation-result.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS validation_runs (
  project      TEXT    NOT NULL,
  id           TEXT    NOT NULL,
  started_at   TEXT    NOT NULL,
  subject_kind TEXT    NOT NULL,
  subject_name TEXT    NOT NULL,
  passed       INTEGER NOT NULL,
  run          TEXT    NOT NULL,
  PRIMARY KEY (project, id)
);
CREATE INDEX IF NOT EXISTS validation_runs_recent ON validation_runs (project, started_at DESC);`;

/**
 * Validation history in the embedded registry's SQLite file (its own table; WAL mode lets the registry and this
 * store share the file).
 *
 * @example const store = new SqliteResultsStore('.tessera/registry.db'); await store.save(run);
 */
export class SqliteResultsStore implements ValidationResultsStore {
  readonly kind = 'sqlite';
  private readonly db: Database.Database;

  constructor(path: string) {
    if (path !== ':memory:' && path !== '') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 10000');
    useWalJournal(this.db, 10_000);
    createSchema(this.db, SCHEMA);
  }

  async save(run: ValidationRun): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO validation_runs (project, id, started_at, subject_kind, subject_name, passed, run) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(
        run.project,
        run.id,
        run.startedAt,
        run.subject.kind,
        run.subject.name,
        run.passed ? 1 : 0,
        JSON.stringify(run),
      );
  }

  async list(project: string, filter: ValidationListFilter = {}): Promise<ValidationRun[]> {
    const where = ['project = ?'];
    const args: unknown[] = [project];
    if (filter.subject !== undefined) {
      where.push('subject_name = ?');
      args.push(filter.subject);
    }
    if (filter.failedOnly) where.push('passed = 0');
    args.push(Math.max(0, Math.trunc(filter.limit ?? DEFAULT_LIST_LIMIT)));
    const rows = this.db
      .prepare<unknown[], { run: string }>(
        `SELECT run FROM validation_runs WHERE ${where.join(' AND ')} ORDER BY started_at DESC, rowid DESC LIMIT ?`,
      )
      .all(...args);
    return rows.map((r) => JSON.parse(r.run) as ValidationRun);
  }

  async get(project: string, id: string): Promise<ValidationRun | undefined> {
    const row = this.db
      .prepare<[string, string], { run: string }>(
        'SELECT run FROM validation_runs WHERE project = ? AND id = ?',
      )
      .get(project, id);
    return row === undefined ? undefined : (JSON.parse(row.run) as ValidationRun);
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
