import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../../src/core/errors.js';
import { featureView } from '../../src/definitions/feature-view.js';
import type { ViewSelection } from '../../src/definitions/resolve.js';
import { parquetSource, postgresSource } from '../../src/definitions/source.js';
import { bytes, float64, int64, list, string, timestamp } from '../../src/definitions/value-types.js';
import { DuckDbOfflineStore } from '../../src/offline/duckdb/index.js';
import { formatUtcMicros } from '../../src/offline/duckdb/sql.js';
import type { OnlineRow } from '../../src/online/online-store.js';
import {
  BASE_US,
  genSource,
  genSpine,
  HOUR_US,
  int,
  pick,
  prng,
  selection,
  spineObjects,
  TTLS,
  ttlUs,
  user,
  writeSource,
} from '../helpers/pit-data.js';
import { type RefSourceRow, referenceLatest, referencePointInTime } from '../helpers/pit-reference.js';
import { postgresUrl } from '../helpers/services.js';

const schema = `tessera_pit_${randomBytes(4).toString('hex')}`;
let client: pg.Client;
let dir: string;

beforeAll(async () => {
  client = new pg.Client({ connectionString: postgresUrl() });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  dir = await mkdtemp(join(tmpdir(), 'tessera-pg-pit-'));
});
afterAll(async () => {
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
  await rm(dir, { recursive: true, force: true });
});

const us = (v: number | null | undefined) =>
  v === null || v === undefined ? null : formatUtcMicros(BigInt(v));

/** Creates `schema.name` and inserts generated rows, timestamps as exact text (µs). */
async function writePgSource(
  name: string,
  rows: readonly RefSourceRow[],
  o: { tz: boolean; twoKeys: boolean; withCreated: boolean },
): Promise<string> {
  const tsType = o.tz ? 'timestamptz' : 'timestamp';
  const cols = [
    'user_id bigint',
    ...(o.twoKeys ? ['merchant_id text'] : []),
    `event_ts ${tsType}`,
    ...(o.withCreated ? [`created_ts ${tsType}`] : []),
    'f_int bigint',
    'f_float double precision',
    'f_str text',
  ];
  const table = `${schema}.${name}`;
  await client.query(`CREATE TABLE ${table} (${cols.join(', ')})`);
  const width = cols.length;
  for (let start = 0; start < rows.length; start += 500) {
    const batch = rows.slice(start, start + 500);
    const values: unknown[] = [];
    const tuples = batch.map((r, i) => {
      values.push(
        r.keys[0],
        ...(o.twoKeys ? [r.keys[1]] : []),
        us(r.eventUs),
        ...(o.withCreated ? [us(r.createdUs)] : []),
        r.values['f_int'],
        r.values['f_float'],
        r.values['f_str'],
      );
      return `(${Array.from({ length: width }, (_, j) => `$${i * width + j + 1}`).join(', ')})`;
    });
    await client.query(`INSERT INTO ${table} VALUES ${tuples.join(', ')}`, values);
  }
  return table;
}

const connections = () => ({ warehouse: postgresUrl() });

describe('DuckDbOfflineStore with PostgreSQL sources: randomized against the reference', () => {
  const seeds = Array.from({ length: 10 }, (_, i) => i + 1);
  it.each(seeds)('seed %i', async (seed) => {
    const rng = prng(500 + seed);
    const users = int(rng, 3, 12);
    const configs = [
      { name: `pa${seed}`, twoKeys: false, withCreated: rng() < 0.6, ttl: pick(rng, TTLS), tz: rng() < 0.5 },
      { name: `pc${seed}`, twoKeys: true, withCreated: rng() < 0.5, ttl: pick(rng, TTLS), tz: rng() < 0.5 },
    ];
    const views = [];
    for (const [i, c] of configs.entries()) {
      const rows = genSource(rng, {
        rows: int(rng, 50, 300),
        users,
        twoKeys: c.twoKeys,
        withCreated: c.withCreated,
        nullTs: true,
      });
      const table = await writePgSource(c.name, rows, c);
      const def = {
        name: `${c.name}_src`,
        connection: 'warehouse',
        timestampField: 'event_ts',
        ...(c.withCreated ? { createdTimestampField: 'created_ts' } : {}),
      };
      // One view reads the table, the other a query over it.
      const source =
        i === 0
          ? postgresSource({ ...def, table })
          : postgresSource({ ...def, query: `SELECT * FROM ${table} WHERE true` });
      views.push({
        sel: selection(c.name, source, c.twoKeys, c.ttl === '0' ? 0 : c.ttl),
        rows,
        ttlUs: ttlUs(c.ttl),
      });
    }
    // A Parquet view in the same request: sources of different kinds join into one result.
    const fileRows = genSource(rng, { rows: 200, users, twoKeys: false, withCreated: true });
    const path = await writeSource(dir, `pf${seed}`, fileRows, {
      format: 'parquet',
      tz: false,
      twoKeys: false,
      withCreated: true,
    });
    const fileSel = selection(
      `pf${seed}`,
      parquetSource({
        name: `pf${seed}_src`,
        path,
        timestampField: 'event_ts',
        createdTimestampField: 'created_ts',
      }),
      false,
      '2h',
    );
    views.push({ sel: fileSel, rows: fileRows, ttlUs: 2 * HOUR_US });

    const spine = views.flatMap((v) =>
      genSpine(rng, { rows: int(rng, 20, 80), users, source: v.rows, ttlUs: v.ttlUs }),
    );
    const store = new DuckDbOfflineStore({ repoPath: dir, connections: connections() });
    try {
      const result = await store.getHistoricalFeatures({
        spine: { kind: 'rows', rows: spineObjects(rng, spine, 'offset') },
        views: views.map((v) => v.sel),
        fullFeatureNames: true,
      });
      const out = await result.rows();
      await result.close();
      expect(out.map((r) => r['row_no'])).toEqual(spine.map((_, i) => i));
      let matched = 0;
      for (const v of views) {
        const width = v.sel.joinKeys.length;
        const expected = referencePointInTime(
          spine.map((s) => ({ ...s, keys: s.keys.slice(0, width) })),
          v.rows,
          v.ttlUs,
        );
        out.forEach((row, i) => {
          const got = ['f_int', 'f_float', 'f_str'].map((f) => row[`${v.sel.view.name}__${f}`]);
          const candidates = (expected[i] ?? []).map((r) =>
            ['f_int', 'f_float', 'f_str'].map((f) => r.values[f] ?? null),
          );
          const context = JSON.stringify({ row: i, view: v.sel.view.name, spine: spine[i], got, candidates });
          if (candidates.length === 0) expect(got, context).toEqual([null, null, null]);
          else {
            matched++;
            expect(
              candidates.some((c) => JSON.stringify(c) === JSON.stringify(got)),
              context,
            ).toBe(true);
          }
        });
      }
      expect(matched).toBeGreaterThan(spine.length / 3);

      // pullLatest over the same PostgreSQL source.
      const first = views[0] as (typeof views)[number];
      const startUs = BASE_US + int(rng, 0, 30) * (HOUR_US / 2);
      const endUs = startUs + int(rng, 1, 60) * (HOUR_US / 2);
      const chunks: OnlineRow[][] = [];
      for await (const c of store.pullLatest({
        view: first.sel,
        startMs: startUs / 1000,
        endMs: endUs / 1000,
        chunkRows: 4,
      })) {
        chunks.push(c);
      }
      const latest = referenceLatest(first.rows, startUs, endUs);
      const rows = chunks.flat();
      expect(rows.map((r) => r.entityKey).sort()).toEqual([...latest.keys()].sort());
      for (const r of rows) {
        const ok = (latest.get(r.entityKey) ?? []).some(
          (c) =>
            Math.floor((c.eventUs as number) / 1000) === r.eventTs &&
            (c.values['f_int'] ?? null) === r.values['f_int'],
        );
        expect(ok, JSON.stringify(r)).toBe(true);
      }
    } finally {
      await store.close();
    }
  });
});

describe('DuckDbOfflineStore with PostgreSQL sources: types and errors', () => {
  it('describes a table with PostgreSQL types mapped to DuckDB type names', async () => {
    await client.query(`CREATE TABLE ${schema}.typed (
      id bigint, n integer, s smallint, t text, v varchar(10), b boolean, d double precision, r real,
      price numeric(10,2), anynum numeric, tstz timestamptz, ts timestamp, day date, raw bytea, doc jsonb,
      uid uuid, ints integer[], names text[], bigs bigint[])`);
    const store = new DuckDbOfflineStore({ repoPath: dir, connections: connections() });
    try {
      const cols = await store.describeSource(
        postgresSource({
          name: 'typed',
          table: `${schema}.typed`,
          connection: 'warehouse',
          timestampField: 'tstz',
        }),
      );
      expect(cols).toEqual([
        { name: 'id', type: 'BIGINT' },
        { name: 'n', type: 'INTEGER' },
        { name: 's', type: 'SMALLINT' },
        { name: 't', type: 'VARCHAR' },
        { name: 'v', type: 'VARCHAR' },
        { name: 'b', type: 'BOOLEAN' },
        { name: 'd', type: 'DOUBLE' },
        { name: 'r', type: 'FLOAT' },
        { name: 'price', type: 'DECIMAL(10,2)' },
        { name: 'anynum', type: 'DOUBLE' },
        { name: 'tstz', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'ts', type: 'TIMESTAMP' },
        { name: 'day', type: 'DATE' },
        { name: 'raw', type: 'BLOB' },
        { name: 'doc', type: 'VARCHAR' },
        { name: 'uid', type: 'UUID' },
        { name: 'ints', type: 'INTEGER[]' },
        { name: 'names', type: 'VARCHAR[]' },
        { name: 'bigs', type: 'BIGINT[]' },
      ]);
      const q = await store.describeSource(
        postgresSource({
          name: 'q',
          query: 'SELECT 1::bigint AS a, now() AS b',
          connection: 'warehouse',
          timestampField: 'b',
        }),
      );
      expect(q).toEqual([
        { name: 'a', type: 'BIGINT' },
        { name: 'b', type: 'TIMESTAMP WITH TIME ZONE' },
      ]);
    } finally {
      await store.close();
    }
  });

  it('copies values exactly: µs timestamps, int64 beyond 2^53, numeric, arrays, bytea', async () => {
    await client.query(`CREATE TABLE ${schema}.vals (
      user_id bigint, event_ts timestamp, big bigint, price numeric(12,3), tags text[], raw bytea, seen timestamptz)`);
    await client.query(
      `INSERT INTO ${schema}.vals VALUES
        (1, '2024-05-01 00:00:00.000001', 9007199254740993, 12.345, '{a,b}', '\\x0102', '2024-01-01 00:00:00.5+02'),
        (1, '2024-05-01 00:00:00.000002', 5, 1, '{}', NULL, NULL)`,
    );
    const src = postgresSource({
      name: 'vals',
      table: `${schema}.vals`,
      connection: 'warehouse',
      timestampField: 'event_ts',
    });
    const view = featureView({
      name: 'vals',
      entities: [user],
      source: src,
      schema: { big: int64(), price: float64(), tags: list(string()), raw: bytes(), seen: timestamp() },
    });
    const sel: ViewSelection = { view, source: src, joinKeys: user.joinKeys, features: view.features };
    const store = new DuckDbOfflineStore({ repoPath: dir, connections: connections() });
    try {
      const result = await store.getHistoricalFeatures({
        spine: {
          kind: 'rows',
          // 1 µs after the first row: only it qualifies; the second is 1 µs later still.
          rows: [{ user_id: 1, event_timestamp: '2024-05-01T02:00:00.000001+02:00' }],
        },
        views: [sel],
      });
      expect(await result.rows()).toEqual([
        {
          user_id: 1,
          event_timestamp: new Date('2024-05-01T00:00:00.000Z'),
          big: 9007199254740993n,
          price: 12.345,
          tags: ['a', 'b'],
          raw: new Uint8Array([1, 2]),
          seen: new Date('2023-12-31T22:00:00.500Z'),
        },
      ]);
      await result.close();
    } finally {
      await store.close();
    }
  });

  it('names the source on unknown connections and missing columns', async () => {
    await client.query(`CREATE TABLE ${schema}.small (user_id bigint, event_ts timestamptz, f_int bigint)`);
    const spine = { kind: 'rows' as const, rows: [{ user_id: 1, event_timestamp: '2024-05-01T00:00:00Z' }] };
    const store = new DuckDbOfflineStore({ repoPath: dir, connections: connections() });
    try {
      const badConn = postgresSource({
        name: 'badconn',
        table: `${schema}.small`,
        connection: 'nope',
        timestampField: 'event_ts',
      });
      const e1 = await store
        .getHistoricalFeatures({ spine, views: [selection('badconn', badConn, false, 0)] })
        .catch((e) => e);
      expect(e1).toBeInstanceOf(TesseraError);
      expect(e1.message).toMatch(
        /postgres source 'badconn' uses unknown connection 'nope'.*known connections: warehouse/,
      );
      const noCols = postgresSource({
        name: 'small',
        table: `${schema}.small`,
        connection: 'warehouse',
        timestampField: 'event_ts',
      });
      const e2 = await store
        .getHistoricalFeatures({ spine, views: [selection('small', noCols, false, 0)] })
        .catch((e) => e);
      expect(e2.code).toBe('SCHEMA_MISMATCH');
      expect(e2.message).toMatch(
        /postgres source 'small' has no column 'f_float'.*columns present: user_id, event_ts, f_int/,
      );
    } finally {
      await store.close();
    }
  });
});
