import pg from 'pg';
import { TesseraError } from '../../core/errors.js';
import { ensureTables, once, registrySchema } from '../../registry/postgres/registry-schema.js';
import {
  DEFAULT_LIST_LIMIT,
  type ValidationListFilter,
  type ValidationResultsStore,
} from '../results-store.js';
import type { ValidationRun } from '../validation-result.js';

/**
 * Validation history in the team registry's PostgreSQL schema (table `validation_runs`, runs as JSONB), created on
 * first use.
 *
 * @example const store = new PostgresResultsStore({ url: process.env.REGISTRY_URL!, schema: 'tessera' });
 */
export class PostgresResultsStore implements ValidationResultsStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly schema: string;

  constructor(options: { readonly url: string; readonly schema?: string }) {
    this.schema = registrySchema(options.schema);
    this.pool = new pg.Pool({ connectionString: options.url, max: 2 });
    this.pool.on('error', () => {}); // an idle client's lost connection: the next query reconnects
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    await this.ensureTable();
    try {
      return (await this.pool.query<R>(text, values)).rows;
    } catch (e) {
      throw new TesseraError(
        'validation results store query failed',
        { actual: (e as Error).message },
        'BACKEND',
        e,
      );
    }
  }

  private readonly ensureTable = once(() =>
    ensureTables(this.pool, this.schema, 'validation results', {
      validation_runs: [
        `CREATE TABLE IF NOT EXISTS ${this.schema}.validation_runs (
        project      TEXT        NOT NULL,
        id           TEXT        NOT NULL,
        started_at   TIMESTAMPTZ NOT NULL,
        seq          BIGSERIAL,
        subject_kind TEXT        NOT NULL,
        subject_name TEXT        NOT NULL,
        passed       BOOLEAN     NOT NULL,
        run          JSONB       NOT NULL,
        PRIMARY KEY (project, id))`,
        `CREATE INDEX IF NOT EXISTS validation_runs_recent ON ${this.schema}.validation_runs (project, started_at DESC)`,
      ],
    }),
  );

  async save(run: ValidationRun): Promise<void> {
    await this.query(
      `INSERT INTO ${this.schema}.validation_runs (project, id, started_at, subject_kind, subject_name, passed, run)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        run.project,
        run.id,
        run.startedAt,
        run.subject.kind,
        run.subject.name,
        run.passed,
        JSON.stringify(run),
      ],
    );
  }

  async list(project: string, filter: ValidationListFilter = {}): Promise<ValidationRun[]> {
    const where = ['project = $1'];
    const args: unknown[] = [project];
    if (filter.subject !== undefined) {
      args.push(filter.subject);
      where.push(`subject_name = $${args.length}`);
    }
    if (filter.failedOnly) where.push('NOT passed');
    args.push(Math.max(0, Math.trunc(filter.limit ?? DEFAULT_LIST_LIMIT)));
    const rows = await this.query<{ run: ValidationRun }>(
      `SELECT run FROM ${this.schema}.validation_runs WHERE ${where.join(' AND ')}
       ORDER BY started_at DESC, seq DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map((r) => r.run);
  }

  async get(project: string, id: string): Promise<ValidationRun | undefined> {
    const rows = await this.query<{ run: ValidationRun }>(
      `SELECT run FROM ${this.schema}.validation_runs WHERE project = $1 AND id = $2`,
      [project, id],
    );
    return rows[0]?.run;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
