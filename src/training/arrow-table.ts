import {
  Binary,
  Bool,
  type DataType,
  DateDay,
  Field,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  List,
  makeBuilder,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Timestamp,
  TimeUnit,
  Type,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  Utf8,
} from 'apache-arrow';
import { TesseraError } from '../core/errors.js';
import { elementType, type ScalarType, type ValueType } from '../definitions/value-types.js';

/**
 * Training-set rows → an Apache Arrow `Table`, built with apache-arrow's own builders (`makeBuilder`).
 *
 * Timestamps are `Timestamp<MILLISECOND, "UTC">`: the same instants `rows()` gives as `Date`s (naive DuckDB
 * timestamps are read as UTC throughout Tessera). int64 is `Int64` with `bigint` values, whatever `rows()`
 * made of them (number when safe). Every field is nullable and nulls stay nulls.
 */

/** One output column: its name and Arrow type. */
export interface ArrowColumn {
  readonly name: string;
  readonly type: DataType;
}

/** UTC millisecond timestamps: the precision of the `Date`s in `rows()`. */
const timestampType = (): DataType => new Timestamp(TimeUnit.MILLISECOND, 'UTC');

/**
 * The Arrow type of a feature value type.
 *
 * @example arrowTypeOfValueType('list<int64>') // List<Int64>
 */
export function arrowTypeOfValueType(t: ValueType): DataType {
  const el = elementType(t);
  if (el !== undefined) return new List(new Field('item', scalarArrowType(el), true));
  return scalarArrowType(t as ScalarType);
}

function scalarArrowType(t: ScalarType): DataType {
  switch (t) {
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'float32':
      return new Float32();
    case 'float64':
      return new Float64();
    case 'bool':
      return new Bool();
    case 'string':
      return new Utf8();
    case 'bytes':
      return new Binary();
    case 'timestamp':
      return timestampType();
  }
}

const ENGINE_SCALARS: Readonly<Record<string, () => DataType>> = {
  BOOLEAN: () => new Bool(),
  TINYINT: () => new Int8(),
  SMALLINT: () => new Int16(),
  INTEGER: () => new Int32(),
  BIGINT: () => new Int64(),
  // rows() holds these as numbers, or bigints beyond ±2^53; values outside int64 fail when converted.
  HUGEINT: () => new Int64(),
  UTINYINT: () => new Uint8(),
  USMALLINT: () => new Uint16(),
  UINTEGER: () => new Uint32(),
  UBIGINT: () => new Uint64(),
  FLOAT: () => new Float32(),
  DOUBLE: () => new Float64(),
  VARCHAR: () => new Utf8(),
  UUID: () => new Utf8(),
  JSON: () => new Utf8(),
  BLOB: () => new Binary(),
  DATE: () => new DateDay(),
  TIMESTAMP: timestampType,
  'TIMESTAMP WITH TIME ZONE': timestampType,
  TIMESTAMPTZ: timestampType,
  TIMESTAMP_S: timestampType,
  TIMESTAMP_MS: timestampType,
  TIMESTAMP_NS: timestampType,
};

/**
 * The Arrow type of a DuckDB column type (spine columns): integers, floats, DECIMAL (as `Float64`, like
 * `rows()`), VARCHAR (and UUID, JSON, ENUM as strings), BLOB, DATE, timestamps and lists of these; `undefined`
 * for anything else (STRUCT, MAP, INTERVAL, TIME…).
 *
 * @example arrowTypeOfEngineType('TIMESTAMP WITH TIME ZONE') // Timestamp<MILLISECOND, UTC>
 */
export function arrowTypeOfEngineType(engineType: string): DataType | undefined {
  const t = engineType.trim().toUpperCase();
  const list = /^(.*)\[\d*\]$/.exec(t);
  if (list) {
    const child = arrowTypeOfEngineType(list[1] as string);
    return child === undefined ? undefined : new List(new Field('item', child, true));
  }
  if (t.startsWith('DECIMAL') || t.startsWith('NUMERIC')) return new Float64();
  if (t.startsWith('ENUM(')) return new Utf8();
  return ENGINE_SCALARS[t]?.();
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** A function that turns one `rows()` value into what apache-arrow's builder for `type` takes. */
function converter(type: DataType, column: string): (v: unknown) => unknown {
  switch (type.typeId) {
    case Type.Int: {
      if ((type as Int64).bitWidth !== 64) return (v) => (typeof v === 'bigint' ? Number(v) : v);
      const signed = (type as Int64).isSigned;
      const [min, max] = signed ? [INT64_MIN, INT64_MAX] : [0n, UINT64_MAX];
      return (v) => {
        if (v === null || v === undefined) return null;
        const b = typeof v === 'bigint' ? v : Number.isInteger(v) ? BigInt(v as number) : undefined;
        if (b === undefined || b < min || b > max) {
          throw new TesseraError(
            `column '${column}' has a value that is not an ${signed ? '' : 'unsigned '}int64`,
            {
              field: column,
              actual: String(v),
              hint: 'cast the spine column, or return integers from the on-demand transform',
            },
          );
        }
        return b;
      };
    }
    case Type.Timestamp:
    case Type.Date:
      return (v) => (v instanceof Date ? v.getTime() : (v ?? null));
    case Type.List: {
      const child = converter((type as List).valueType, column);
      return (v) => (Array.isArray(v) ? v.map(child) : (v ?? null));
    }
    case Type.Utf8:
      return (v) => (v === null || v === undefined || typeof v === 'string' ? (v ?? null) : String(v));
    default:
      return (v) => v ?? null;
  }
}

/**
 * Builds an Arrow table with `columns`, in their order, from row objects (one record batch, one builder per
 * column).
 *
 * @example
 * const table = arrowTable(
 *   [{ name: 'user_id', type: new Int64() }, { name: 'clicks', type: arrowTypeOfValueType('int64') }],
 *   [{ user_id: 1, clicks: 3 }, { user_id: 2, clicks: null }],
 * );
 * table.getChild('clicks')?.get(0); // 3n
 */
export function arrowTable(
  columns: readonly ArrowColumn[],
  rows: readonly Readonly<Record<string, unknown>>[],
): Table {
  const schema = new Schema(columns.map((c) => new Field(c.name, c.type, true)));
  const children = columns.map((c) => {
    const convert = converter(c.type, c.name);
    const builder = makeBuilder({ type: c.type, nullValues: [null, undefined] });
    for (const row of rows) builder.append(convert(row[c.name]));
    return builder.finish().flush();
  });
  // Columns are placed by position, so names that look like integers keep their place.
  const data = makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children });
  return new Table([new RecordBatch(schema, data)]);
}
