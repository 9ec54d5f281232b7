import pg from 'pg';
import { ensureTables, once, registrySchema } from '../../registry/postgres/registry-schema.js';
import type { Profile } from '../profile.js';
import { describeTarget, type ProfileInfo, type ProfileStore, type StoredProfile } from '../profile-store.js';

interface ProfileRow {
  name: string;
  version: number;
  saved_at: Date;
  target: string;
  row_count: string;
  profile?: Profile;
}

const UNIQUE_VIOLATION = '23505';

/**
 * Reference profiles in the PostgreSQL registry's schema (a `profiles` table of their own, JSONB documents).
 *
 * @example
 * const store = new PostgresProfileStore({ url: 'postgres://tessera@db/features', schema: 'tessera' });
 * const ref = await store.get('shop', 'orders_q1');
 */
export class PostgresProfileStore implements ProfileStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly schema: string;
  private closed = false;

  constructor(options: { readonly url: string; readonly schema?: string }) {
    this.schema = registrySchema(options.schema);
    this.pool = new pg.Pool({ connectionString: options.url, max: 3 });
    // An idle client losing its connection emits 'error' on the pool; the next query reconnects or fails.
    this.pool.on('error', () => {});
  }

  async save(project: string, name: string, profile: Profile): Promise<StoredProfile> {
    const target = describeTarget(profile);
    // One statement picks the next version; two savers racing collide on the primary key and the loser retries.
    for (let attempt = 0; ; attempt++) {
      try {
        const rows = await this.query<{ version: number; saved_at: Date }>(
          `INSERT INTO ${this.schema}.profiles (project, name, version, target, row_count, profile)
           SELECT $1::text, $2::text, COALESCE(MAX(version), 0) + 1, $3, $4, $5::jsonb
           FROM ${this.schema}.profiles WHERE project = $1::text AND name = $2::text
           RETURNING version, saved_at`,
          [project, name, target, profile.rowCount, JSON.stringify(profile)],
        );
        const row = rows[0] as { version: number; saved_at: Date };
        return {
          name,
          version: row.version,
          savedAt: row.saved_at,
          target,
          rowCount: profile.rowCount,
          profile,
        };
      } catch (err) {
        if ((err as { code?: string }).code !== UNIQUE_VIOLATION || attempt >= 10) throw err;
      }
    }
  }

  async get(project: string, name: string, version?: number): Promise<StoredProfile | undefined> {
    const rows = await this.query<ProfileRow>(
      version === undefined
        ? `SELECT * FROM ${this.schema}.profiles WHERE project = $1 AND name = $2 ORDER BY version DESC LIMIT 1`
        : `SELECT * FROM ${this.schema}.profiles WHERE project = $1 AND name = $2 AND version = $3`,
      version === undefined ? [project, name] : [project, name, version],
    );
    const row = rows[0];
    return row === undefined ? undefined : { ...toInfo(row), profile: row.profile as Profile };
  }

  async list(project: string): Promise<ProfileInfo[]> {
    const rows = await this.query<ProfileRow>(
      `SELECT DISTINCT ON (name) name, version, saved_at, target, row_count FROM ${this.schema}.profiles
       WHERE project = $1 ORDER BY name, version DESC`,
      [project],
    );
    return rows.map(toInfo);
  }

  async history(project: string, name: string, limit?: number): Promise<ProfileInfo[]> {
    const rows = await this.query<ProfileRow>(
      `SELECT name, version, saved_at, target, row_count FROM ${this.schema}.profiles
       WHERE project = $1 AND name = $2 ORDER BY version DESC LIMIT $3`,
      [project, name, limit ?? null],
    );
    return rows.map(toInfo);
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      await this.pool.end();
    }
  }

  private async query<R extends object>(sql: string, params: unknown[]): Promise<R[]> {
    await this.ensureTable();
    return (await this.pool.query<R>(sql, params)).rows;
  }

  private readonly ensureTable = once(() =>
    ensureTables(this.pool, this.schema, 'profiles', {
      profiles: [
        `CREATE TABLE IF NOT EXISTS ${this.schema}.profiles (
        project   TEXT        NOT NULL,
        name      TEXT        NOT NULL,
        version   INTEGER     NOT NULL,
        saved_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        target    TEXT        NOT NULL,
        row_count BIGINT      NOT NULL,
        profile   JSONB       NOT NULL,
        PRIMARY KEY (project, name, version)
      )`,
      ],
    }),
  );
}

function toInfo(row: ProfileRow): ProfileInfo {
  return {
    name: row.name,
    version: row.version,
    savedAt: row.saved_at,
    target: row.target,
    // BIGINT comes back as text; row counts stay far below 2^53.
    rowCount: Number(row.row_count),
  };
}
