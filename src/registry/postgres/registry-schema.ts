import type pg from 'pg';
import { TesseraError } from '../../core/errors.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The registry's PostgreSQL schema name, checked and quoted for SQL. Every store kept in the registry database
 * (versions, validation runs, profiles) lives in this schema.
 *
 * @example registrySchema('tessera') // '"tessera"'
 */
export function registrySchema(schema = 'tessera'): string {
  if (!IDENTIFIER.test(schema)) {
    throw new TesseraError(
      `invalid registry schema name ${JSON.stringify(schema)}`,
      { field: 'registry.schema', expected: 'letters, digits and underscores, not starting with a digit' },
      'INVALID_CONFIG',
    );
  }
  return `"${schema}"`;
}

/**
 * Creates the schema and `tables` (each `name` with its `CREATE TABLE IF NOT EXISTS` / index DDL) unless they
 * all exist. Existing tables need no DDL and no CREATE privilege, so a read-mostly user can work with a
 * registry an admin set up. Concurrent CREATE … IF NOT EXISTS can still collide on the catalog's unique
 * indexes, so processes starting together take turns on an advisory lock.
 *
 * @example await ensureTables(pool, '"tessera"', 'profiles', { profiles: ['CREATE TABLE IF NOT EXISTS …'] });
 */
export async function ensureTables(
  pool: pg.Pool,
  schema: string,
  what: string,
  tables: Readonly<Record<string, readonly string[]>>,
): Promise<void> {
  const names = Object.keys(tables);
  const found = await pool.query<{ ok: boolean }>(
    `SELECT ${names.map((_, i) => `to_regclass($${i + 1}) IS NOT NULL`).join(' AND ')} AS ok`,
    names.map((n) => `${schema}.${n}`),
  );
  if (found.rows[0]?.ok === true) return;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tessera.${what}.${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    for (const ddl of Object.values(tables).flat()) await client.query(ddl);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw new TesseraError(
      `cannot create the ${what} tables in schema ${schema}: ${(err as Error).message}`,
      {
        field: 'registry.schema',
        hint: 'the database user needs CREATE on the database, or create the schema and tables first',
      },
      'BACKEND',
      err,
    );
  } finally {
    client.release();
  }
}

/**
 * Runs `setup` once, on first use, shared by concurrent callers; a failed setup is retried by the next call.
 *
 * @example private readonly ready = once(() => ensureTables(…)); … await this.ready();
 */
export function once(setup: () => Promise<void>): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= setup().catch((err: unknown) => {
      ready = undefined;
      throw err;
    });
    return ready;
  };
}
