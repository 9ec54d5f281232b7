import type { DuckDBConnection, JS } from '@duckdb/node-api';
import pg from 'pg';
import { TesseraError } from '../../core/errors.js';
import type { PostgresSource } from '../../definitions/source.js';
import type { SourceColumn } from '../offline-store.js';
import { appendRowArrays, createTempTable } from './rows-table.js';
import { formatUtcMicros, quoteIdent } from './sql.js';

/**
 * Reads a PostgreSQL source into a DuckDB temp table. This DuckDB build has no postgres extension, so rows come
 * through `pg` with a server-side cursor (bounded memory) and go into DuckDB through the appender in batches.
 * Only the needed columns and the needed time range are read: the filter runs in PostgreSQL.
 *
 * Values travel as text where JS types would lose information (int8, numeric, timestamps, dates, uuid) and are
 * cast by DuckDB at the end, so microseconds and 64-bit integers arrive exactly.
 */

interface PgTypeMapping {
  /** The DuckDB type the column ends up with. */
  readonly duck: string;
  /** The type used while appending (VARCHAR when DuckDB casts the text afterwards). */
  readonly staging: string;
  readonly convert: (v: unknown) => JS;
}

const text = (v: unknown): JS => (v === null || v === undefined ? null : String(v));
const same = (v: unknown): JS => (v === null || v === undefined ? null : (v as JS));
const asBigints = (v: unknown): JS =>
  Array.isArray(v) ? v.map((e) => (e === null ? null : BigInt(e as string))) : null;
const viaText = (duck: string): PgTypeMapping => ({ duck, staging: 'VARCHAR', convert: text });
const direct = (duck: string, convert: (v: unknown) => JS = same): PgTypeMapping => ({
  duck,
  staging: duck,
  convert,
});

/** Type OIDs whose values we take as raw text (pg's default parsers would lose precision or apply local time). */
const RAW_TEXT = new Set([20, 1700, 1082, 1083, 1114, 1184, 1266, 1186, 2950, 114, 3802]);

/** PostgreSQL type (OID and type modifier) → DuckDB type. Unknown types become VARCHAR (their text form). */
export function mapPgType(oid: number, typmod = -1): PgTypeMapping {
  switch (oid) {
    case 16:
      return direct('BOOLEAN');
    case 21:
      return direct('SMALLINT');
    case 23:
      return direct('INTEGER');
    case 20:
      return { duck: 'BIGINT', staging: 'BIGINT', convert: (v) => (v === null ? null : BigInt(v as string)) };
    case 700:
      return direct('FLOAT');
    case 701:
      return direct('DOUBLE');
    case 1700: {
      // numeric(p, s) keeps its precision when DuckDB can hold it; unconstrained numeric becomes DOUBLE.
      if (typmod >= 4) {
        const p = ((typmod - 4) >> 16) & 0xffff;
        const s = (typmod - 4) & 0xffff;
        if (p >= 1 && p <= 38) return viaText(`DECIMAL(${p},${s})`);
      }
      return viaText('DOUBLE');
    }
    case 25:
    case 1043:
    case 1042:
    case 19:
    case 18:
    case 114:
    case 3802:
      return direct('VARCHAR', text);
    case 17:
      return direct('BLOB', (v) => (v === null ? null : new Uint8Array(v as Buffer)));
    case 2950:
      return viaText('UUID');
    case 1082:
      return viaText('DATE');
    case 1083:
      return viaText('TIME');
    case 1114:
      return viaText('TIMESTAMP');
    case 1184:
      return viaText('TIMESTAMP WITH TIME ZONE');
    case 1000:
      return direct('BOOLEAN[]');
    case 1005:
      return direct('SMALLINT[]');
    case 1007:
      return direct('INTEGER[]');
    case 1016:
      return { duck: 'BIGINT[]', staging: 'BIGINT[]', convert: asBigints };
    case 1021:
      return direct('FLOAT[]');
    case 1022:
      return direct('DOUBLE[]');
    case 1009:
    case 1015:
      return direct('VARCHAR[]');
    default:
      return direct('VARCHAR', text);
  }
}

/** Type parsers for `pg`: raw text for the types above, pg's defaults otherwise. */
const typeParsers = {
  getTypeParser: ((oid: number, format?: string) =>
    RAW_TEXT.has(oid)
      ? (v: string) => v
      : pg.types.getTypeParser(
          oid,
          (format ?? 'text') as 'text',
        )) as unknown as typeof pg.types.getTypeParser,
};

/** The FROM item for a source: its table (validated identifier) or its query as a subquery. */
export function pgRelation(source: PostgresSource): string {
  if (source.query !== undefined) return `(${source.query}) AS __tessera_q`;
  const table = source.table ?? '';
  const part = '(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")';
  if (!new RegExp(`^${part}(?:\\.${part}){0,2}$`).test(table)) {
    throw new TesseraError(
      `postgres source '${source.name}' has an invalid table name`,
      {
        field: 'table',
        expected: 'schema.table (identifiers, optionally double-quoted)',
        actual: JSON.stringify(table),
      },
      'INVALID_DEFINITION',
    );
  }
  return table;
}

export function connectionUrl(source: PostgresSource, connections: Readonly<Record<string, string>>): string {
  const url = connections[source.connection];
  if (url === undefined || url === '') {
    throw new TesseraError(
      `postgres source '${source.name}' uses unknown connection '${source.connection}'`,
      { field: 'connection', hint: `known connections: ${Object.keys(connections).join(', ') || 'none'}` },
      'INVALID_CONFIG',
    );
  }
  return url;
}

async function withClient<T>(
  source: PostgresSource,
  url: string,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url, types: typeParsers });
  try {
    await client.connect();
  } catch (e) {
    throw new TesseraError(
      `postgres source '${source.name}': cannot connect`,
      { field: 'connection', actual: (e as Error).message },
      'BACKEND',
      e,
    );
  }
  try {
    // Naive `timestamp` columns compare against our UTC bounds as UTC, as everywhere else in Tessera.
    await client.query("SET TimeZone = 'UTC'");
    return await fn(client);
  } catch (e) {
    if (e instanceof TesseraError) throw e;
    throw new TesseraError(
      `postgres source '${source.name}': query failed`,
      { actual: (e as Error).message },
      'BACKEND',
      e,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

const describeFields = async (client: pg.Client, source: PostgresSource): Promise<pg.FieldDef[]> =>
  (await client.query({ text: `SELECT * FROM ${pgRelation(source)} LIMIT 0`, rowMode: 'array' })).fields;

/**
 * Column names and DuckDB types of a PostgreSQL source, from a `LIMIT 0` query (no rows are read).
 *
 * @example await describePostgres(accounts, 'postgres://localhost/warehouse') // [{ name: 'id', type: 'BIGINT' }, …]
 */
export async function describePostgres(source: PostgresSource, url: string): Promise<SourceColumn[]> {
  return withClient(source, url, async (client) =>
    (await describeFields(client, source)).map((f) => ({
      name: f.name,
      type: mapPgType(f.dataTypeID, f.dataTypeModifier).duck,
    })),
  );
}

export interface PostgresImport {
  readonly columns: readonly string[];
  readonly timestampField: string;
  /** Inclusive bounds on the event timestamp, epoch µs. */
  readonly lowerUs?: bigint;
  readonly upperUs?: bigint;
  /** Rows per FETCH / appender batch. */
  readonly batchRows?: number;
}

/**
 * Copies the needed columns and rows of a PostgreSQL source into DuckDB temp table `table`; returns its columns.
 * Missing columns fail before any row is read, naming the source and listing the columns present.
 *
 * @example await importPostgres(connection, '__src0', accounts, url, { columns: ['id', 'updated_at'], timestampField: 'updated_at' })
 */
export async function importPostgres(
  connection: DuckDBConnection,
  table: string,
  source: PostgresSource,
  url: string,
  request: PostgresImport,
): Promise<SourceColumn[]> {
  return withClient(source, url, async (client) => {
    const fields = await describeFields(client, source);
    const byName = new Map(fields.map((f) => [f.name, f]));
    for (const c of request.columns) {
      if (!byName.has(c)) {
        throw new TesseraError(
          `postgres source '${source.name}' has no column '${c}'`,
          { field: c, hint: `columns present: ${fields.map((f) => f.name).join(', ')}` },
          'SCHEMA_MISMATCH',
        );
      }
    }
    const mappings = request.columns.map((c) => {
      const f = byName.get(c) as pg.FieldDef;
      return { name: c, ...mapPgType(f.dataTypeID, f.dataTypeModifier) };
    });
    const ts = quoteIdent(request.timestampField);
    const where = [`${ts} IS NOT NULL`];
    if (request.lowerUs !== undefined)
      where.push(`${ts} >= '${formatUtcMicros(request.lowerUs)}'::timestamptz`);
    if (request.upperUs !== undefined)
      where.push(`${ts} <= '${formatUtcMicros(request.upperUs)}'::timestamptz`);
    const select = `SELECT ${request.columns.map(quoteIdent).join(', ')} FROM ${pgRelation(source)} WHERE ${where.join(' AND ')}`;

    const staging = `${table}__staging`;
    const stagingColumns = mappings.map((m) => ({ name: m.name, type: m.staging }));
    await createTempTable(connection, staging, stagingColumns);
    const batch = request.batchRows ?? 50_000;
    await client.query('BEGIN READ ONLY');
    try {
      await client.query(`DECLARE __tessera_cursor NO SCROLL CURSOR FOR ${select}`);
      for (;;) {
        const res = await client.query({ text: `FETCH ${batch} FROM __tessera_cursor`, rowMode: 'array' });
        if (res.rows.length === 0) break;
        const rows = (res.rows as unknown[][]).map((r) => mappings.map((m, i) => m.convert(r[i])));
        await appendRowArrays(connection, staging, rows, stagingColumns);
        if (res.rows.length < batch) break;
      }
    } finally {
      await client.query('COMMIT').catch(() => undefined);
    }
    const casts = mappings.map((m) =>
      m.staging === m.duck
        ? quoteIdent(m.name)
        : `CAST(${quoteIdent(m.name)} AS ${m.duck}) AS ${quoteIdent(m.name)}`,
    );
    await connection.run(
      `CREATE OR REPLACE TEMP TABLE ${quoteIdent(table)} AS SELECT ${casts.join(', ')} FROM ${quoteIdent(staging)}`,
    );
    await connection.run(`DROP TABLE IF EXISTS ${quoteIdent(staging)}`);
    return mappings.map((m) => ({ name: m.name, type: m.duck }));
  });
}
