import { definitionError } from '../core/errors.js';
import { type Expectation, type ExpectationInput, normalizeExpectations } from '../quality/expectations.js';
import { assertName, type CommonMeta, commonMeta } from './common.js';

interface SourceBase extends CommonMeta {
  readonly kind: 'Source';
  readonly name: string;
  /** Column holding the event time: when the feature values became true. */
  readonly timestampField: string;
  /** Optional column holding when the row was written; breaks ties between equal event times. */
  readonly createdTimestampField?: string;
  /** Where the same events arrive live, for the stream engine (`tessera stream`). */
  readonly stream?: StreamConfig;
  /** Data-quality checks on the source's rows (docs/semantics.md, "Data quality expectations"). */
  readonly expectations?: readonly Expectation[];
}

/**
 * A Kafka topic carrying the source's events as JSON objects (one per record, keyed by the entity key);
 * `connection` names an entry of `connections` in tessera.yaml whose url is `kafka://host:port[,host:port…]`.
 */
export interface StreamConfig {
  readonly type: 'kafka';
  readonly topic: string;
  readonly connection: string;
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
  stream?: { type?: 'kafka'; topic: string; connection?: string };
  expectations?: readonly ExpectationInput[];
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
    ...(input.stream ? { stream: streamConfig(input.name, input.stream) } : {}),
    ...(input.expectations?.length
      ? { expectations: normalizeExpectations(input.expectations, `source '${input.name}'`) }
      : {}),
    ...commonMeta(input),
  };
}

function streamConfig(name: string, s: NonNullable<BaseInput['stream']>): StreamConfig {
  if ((s.type ?? 'kafka') !== 'kafka') {
    throw definitionError(`unknown stream type '${s.type}' of source '${name}'`, {
      field: 'stream.type',
      expected: 'kafka',
    });
  }
  if (typeof s.topic !== 'string' || s.topic === '') {
    throw definitionError(`stream of source '${name}' has no topic`, {
      field: 'stream.topic',
      expected: 'a Kafka topic name',
    });
  }
  return Object.freeze({ type: 'kafka', topic: s.topic, connection: s.connection ?? 'default' });
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
