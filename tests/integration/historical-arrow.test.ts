import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { type DataType, type List, type Table, Type, tableFromIPC, tableToIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureStore } from '../../src/feature-store.js';

/*
 * A repo whose one view has a feature of every value type (and lists of several), read with a Parquet spine
 * that carries labels of several types: toArrow() must hold the same values as rows(), typed as documented.
 */

const FEATURES_TS = `import { bool, bytes, entity, featureView, float32, float64, int32, int64, list, onDemandFeatureView,
  parquetSource, string, timestamp } from 'tessera';
export const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
export const src = parquetSource({ name: 'all_types_src', path: 'data/all_types.parquet', timestampField: 'event_ts' });
export const allTypes = featureView({
  name: 'all_types', entities: [user], source: src, ttl: '30d',
  schema: {
    i32: int32(), i64: int64(), f32: float32(), f64: float64(), flag: bool(), name: string(), blob: bytes(),
    seen_at: timestamp(), i64s: list(int64()), names: list(string()), times: list(timestamp()),
  },
});
export const scaled = onDemandFeatureView({
  name: 'scaled', request: { amount: float64() }, inputs: [allTypes.refs.f64, allTypes.refs.name],
  schema: { amount_x_f64: float64(), shout: string(), has_f64: bool() },
  transform: (r) => ({
    amount_x_f64: r.f64 === null || r.amount === null ? null : (r.amount as number) * (r.f64 as number),
    shout: r.name === null ? null : String(r.name).toUpperCase(),
    has_f64: r.f64 !== null,
  }),
});
`;

// Source: users 1..6, two rows each (the later one wins), user 3's latest row all nulls, user 4 past 2^53.
const SOURCE_SQL = `
  SELECT u::BIGINT AS user_id,
    TIMESTAMPTZ '2024-05-01 00:00:00+00' + to_hours(u) + to_days(k) AS event_ts,
    CASE WHEN u = 3 AND k = 1 THEN NULL ELSE (u * 10 + k)::INTEGER END AS i32,
    CASE WHEN u = 3 AND k = 1 THEN NULL WHEN u = 4 THEN 9007199254740993 + k ELSE u * 1000 + k END::BIGINT AS i64,
    CASE WHEN u = 3 AND k = 1 THEN NULL ELSE (u + 0.25)::FLOAT END AS f32,
    CASE WHEN u = 3 AND k = 1 THEN NULL ELSE u / 3 + k END::DOUBLE AS f64,
    CASE WHEN u = 3 AND k = 1 THEN NULL ELSE u % 2 = 0 END AS flag,
    CASE WHEN u = 3 AND k = 1 THEN NULL ELSE 'user-' || u || '-é' END AS name,
    CASE WHEN u = 3 AND k = 1 THEN NULL ELSE from_hex(printf('%02x00ff', u)) END AS blob,
    CASE WHEN u = 3 AND k = 1 THEN NULL
      ELSE TIMESTAMPTZ '2024-04-01 12:34:56.789+00' + to_minutes(u) END AS seen_at,
    CASE WHEN u = 3 AND k = 1 THEN NULL WHEN u = 5 THEN []::BIGINT[]
      ELSE [u, NULL, 1152921504606846976 + u]::BIGINT[] END AS i64s,
    CASE WHEN u = 3 AND k = 1 THEN NULL ELSE ['a' || u, NULL, ''] END AS names,
    CASE WHEN u = 3 AND k = 1 THEN NULL
      ELSE [TIMESTAMPTZ '2024-01-01 00:00:00.001+00' + to_days(u), NULL] END AS times
  FROM range(1, 7) r(u), range(0, 2) s(k)`;

// Spine: users 1..7 (7 has no data) at two times, one before any data; labels of several DuckDB types.
const SPINE_SQL = `
  SELECT u::BIGINT AS user_id,
    TIMESTAMPTZ '2024-05-01 00:00:00+00' + to_days(d) AS event_timestamp,
    (u + d) % 2 = 0 AS label,
    CASE WHEN u = 2 THEN NULL ELSE u * 1.5 END::DOUBLE AS amount,
    CASE WHEN u = 6 THEN 9223372036854775807 ELSE u END::BIGINT AS big_label,
    CASE WHEN u = 5 THEN NULL ELSE 'note ' || u END AS note,
    DATE '2024-05-01' + d::INTEGER AS day,
    u::SMALLINT AS small,
    (u / 7)::DECIMAL(10, 3) AS dec
  FROM range(1, 8) r(u), range(0, 5, 4) s(d)
  ORDER BY d, u`;

let dir: string;
let store: FeatureStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-arrow-'));
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'tessera.yaml'), 'project: arrow\ndefinitions: [features.ts]\n');
  writeFileSync(join(dir, 'features.ts'), FEATURES_TS);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  await con.run("SET TimeZone = 'UTC'");
  await con.run(`COPY (${SOURCE_SQL}) TO '${join(dir, 'data/all_types.parquet')}' (FORMAT parquet)`);
  await con.run(`COPY (${SPINE_SQL}) TO '${join(dir, 'data/spine.parquet')}' (FORMAT parquet)`);
  con.closeSync();
  db.closeSync();
  store = await FeatureStore.open(dir);
  await store.apply({});
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An Arrow cell as plain JS: lists as arrays (recursively); everything else as apache-arrow returns it. */
function fromArrow(v: unknown, type: DataType): unknown {
  if (v === null || v === undefined) return null;
  if (type.typeId === Type.List) {
    const child = (type as List).valueType;
    return Array.from(v as Iterable<unknown>, (x) => fromArrow(x, child));
  }
  return v;
}

/** What a rows() value must look like in Arrow: int64 as bigint, timestamps and dates as epoch ms. */
function expectedInArrow(v: unknown, type: DataType): unknown {
  if (v === null || v === undefined) return null;
  switch (type.typeId) {
    case Type.List:
      return (v as unknown[]).map((x) => expectedInArrow(x, (type as List).valueType));
    case Type.Int:
      return (type as unknown as { bitWidth: number }).bitWidth === 64 ? BigInt(v as number | bigint) : v;
    case Type.Timestamp:
    case Type.Date:
      return (v as Date).getTime();
    default:
      return v;
  }
}

async function trainingSet(fullFeatureNames = false) {
  return store.getHistoricalFeatures({
    spine: { kind: 'file', path: join(dir, 'data/spine.parquet') },
    features: ['all_types:*', 'scaled:*'],
    fullFeatureNames,
  });
}

function expectSameAsRows(table: Table, rows: readonly Record<string, unknown>[], names: readonly string[]) {
  expect(table.schema.fields.map((f) => f.name)).toEqual(names);
  expect(table.numRows).toBe(rows.length);
  for (const field of table.schema.fields) {
    const column = table.getChild(field.name);
    expect(column, field.name).not.toBeNull();
    expect(field.nullable).toBe(true);
    rows.forEach((row, i) => {
      expect(fromArrow(column?.get(i), field.type), `${field.name}[${i}]`).toEqual(
        expectedInArrow(row[field.name], field.type),
      );
    });
  }
}

describe('TrainingSet.toArrow', () => {
  it('holds the same columns, types and values as rows(), nulls, lists, timestamps and int64 included', async () => {
    const set = await trainingSet();
    const rows = await set.rows();
    const table = await set.toArrow();
    const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
    expect(types).toEqual({
      user_id: 'Int64',
      event_timestamp: 'Timestamp<MILLISECOND, UTC>',
      label: 'Bool',
      amount: 'Float64',
      big_label: 'Int64',
      note: 'Utf8',
      day: 'Date32<DAY>',
      small: 'Int16',
      dec: 'Float64',
      i32: 'Int32',
      i64: 'Int64',
      f32: 'Float32',
      f64: 'Float64',
      flag: 'Bool',
      name: 'Utf8',
      blob: 'Binary',
      seen_at: 'Timestamp<MILLISECOND, UTC>',
      i64s: 'List<Int64>',
      names: 'List<Utf8>',
      times: 'List<Timestamp<MILLISECOND, UTC>>',
      amount_x_f64: 'Float64',
      shout: 'Utf8',
      has_f64: 'Bool',
    });
    expectSameAsRows(table, rows, set.columnNames);

    // Spot checks against the data as generated, independent of rows().
    const rowOf = (user: number, day: number) =>
      rows.findIndex(
        (r) => r['user_id'] === user && (r['day'] as Date).getTime() === Date.UTC(2024, 4, 1 + day),
      );
    const at = (column: string, user: number, day = 4) => table.getChild(column)?.get(rowOf(user, day));
    expect(at('i64', 4)).toBe(9007199254740994n); // beyond 2^53: exact
    expect(at('big_label', 6)).toBe(9223372036854775807n);
    expect(at('i64', 3)).toBeNull(); // the latest row of user 3 is all nulls
    expect(at('i64s', 3)).toBeNull();
    expect(at('i64', 7)).toBeNull(); // no data for user 7
    expect(at('i64', 1, 0)).toBeNull(); // the spine row at day 0 is before user 1's first row (1 h later)
    expect(Array.from(at('i64s', 2) as Iterable<unknown>)).toEqual([2n, null, 1152921504606846978n]);
    expect(Array.from(at('i64s', 5) as Iterable<unknown>)).toEqual([]);
    expect(at('seen_at', 2)).toBe(Date.parse('2024-04-01T12:36:56.789Z'));
    expect(at('blob', 2)).toEqual(new Uint8Array([2, 0, 255]));
    expect(at('f32', 2)).toBe(2.25);
    expect(at('shout', 2)).toBe('USER-2-É');
    expect(at('amount_x_f64', 2)).toBeNull(); // amount is null for user 2
    expect(at('has_f64', 7)).toBe(false);
    expect(table.getChild('amount')?.nullCount).toBe(2);
    expect(table.getChild('i64')?.nullCount).toBe(rows.filter((r) => r['i64'] === null).length);
    await set.close();
  });

  it('survives an Arrow IPC round trip and names columns view__feature with full feature names', async () => {
    const set = await trainingSet(true);
    const rows = await set.rows();
    const table = tableFromIPC(tableToIPC(await set.toArrow(), 'file'));
    expect(table.schema.fields.map((f) => f.name)).toContain('all_types__i64s');
    expect(table.schema.fields.map((f) => f.name)).toContain('scaled__shout');
    expectSameAsRows(table, rows, set.columnNames);
    await set.close();
  });

  it('gives an empty table with the same schema for an empty spine', async () => {
    const set = await store.getHistoricalFeatures({
      spine: {
        kind: 'sql',
        query: `SELECT * FROM read_parquet('${join(dir, 'data/spine.parquet')}') LIMIT 0`,
      },
      features: ['all_types:i64', 'all_types:times', 'scaled:shout'],
    });
    const table = await set.toArrow();
    expect(table.numRows).toBe(0);
    expect(table.schema.fields.map((f) => `${f.name}: ${f.type}`)).toContain(
      'times: List<Timestamp<MILLISECOND, UTC>>',
    );
    expect(table.schema.fields.map((f) => f.name)).toEqual(set.columnNames);
    await set.close();
  });
});
