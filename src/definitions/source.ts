import { definitionError } from '../core/errors.js';
import { assertName, type CommonMeta, commonMeta } from './common.js';

interface SourceBase extends CommonMeta {
  readonly kind: 'Source';
  readonly name: string;
  /** Column holding the event time: when the feature values became true. */
  readonly timestampField: string;
  /** Optional column holding when the row was written; breaks ties between equal event times. */
  readonly createdTimestampField?: string;
}

/**
 * A Parquet file, a directory of files, or a glob. Hive-style partition folders (`date=2024-05-01/`) are
 * read as columns and used to prune partitions by time.
 */
export interface ParquetSource extends SourceBase {
  readonly type: 'parquet';
  readonly path: string;
}

export interface CsvSource extends SourceBase {
  readonly type: 'csv';
  readonly path: string;
  readonly delimiter: string;
}

/** A PostgreSQL table or query; `connection` names an entry of `connections` in tessera.yaml. */
export interface PostgresSource extends SourceBase {
  readonly type: 'postgres';
  readonly table?: string;
  readonly query?: string;
  readonly connection: string;
}

export type Source = ParquetSource | CsvSource | PostgresSource;
export type SourceType = Source['type'];

type BaseInput = Partial<CommonMeta> & {
  name: string;
  timestampField: string;
  createdTimestampField?: string;
};

function base(input: BaseInput): Omit<SourceBase, 'kind'> & { kind: 'Source' } {
  assertName(input.name, 'source');
  if (typeof input.timestampField !== 'string' || input.timestampField === '') {
    throw definitionError(`source '${input.name}' has no timestampField`, {
      field: 'timestampField',
      expected: 'the name of the event-timestamp column',
    });
  }
  return {
    kind: 'Source',
    name: input.name,
    timestampField: input.timestampField,
    ...(input.createdTimestampField ? { createdTimestampField: input.createdTimestampField } : {}),
    ...commonMeta(input),
  };
}

/** @example parquetSource({ name: 'orders', path: 'data/orders', timestampField: 'event_ts' }) */
export function parquetSource(input: BaseInput & { path: string }): ParquetSource {
  requirePath(input.name, input.path);
  return Object.freeze({ ...base(input), type: 'parquet', path: input.path });
}

/** @example csvSource({ name: 'profiles', path: 'data/profiles.csv', timestampField: 'updated_at' }) */
export function csvSource(input: BaseInput & { path: string; delimiter?: string }): CsvSource {
  requirePath(input.name, input.path);
  return Object.freeze({ ...base(input), type: 'csv', path: input.path, delimiter: input.delimiter ?? ',' });
}

/**
 * @example
 * postgresSource({ name: 'accounts', table: 'public.accounts', timestampField: 'updated_at', connection: 'warehouse' })
 */
export function postgresSource(
  input: BaseInput & { table?: string; query?: string; connection?: string },
): PostgresSource {
  if ((input.table === undefined) === (input.query === undefined)) {
    throw definitionError(`postgres source '${input.name}' needs exactly one of table or query`, {
      field: 'table',
      expected: "either table: 'schema.table' or query: 'SELECT …'",
    });
  }
  return Object.freeze({
    ...base(input),
    type: 'postgres',
    ...(input.table !== undefined ? { table: input.table } : {}),
    ...(input.query !== undefined ? { query: input.query } : {}),
    connection: input.connection ?? 'default',
  });
}

function requirePath(name: string, path: unknown): void {
  if (typeof path !== 'string' || path === '') {
    throw definitionError(`source '${name}' has no path`, {
      field: 'path',
      expected: 'a file, directory or glob',
    });
  }
}
