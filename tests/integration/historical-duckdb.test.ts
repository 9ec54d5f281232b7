import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../../src/core/errors.js';
import { featureView } from '../../src/definitions/feature-view.js';
import type { ViewSelection } from '../../src/definitions/resolve.js';
import { csvSource, parquetSource, type Source } from '../../src/definitions/source.js';
import { int64, timestamp } from '../../src/definitions/value-types.js';
import { DuckDbOfflineStore, type PitStrategy } from '../../src/offline/duckdb/index.js';
import type { HistoricalRequest, SpineInput } from '../../src/offline/offline-store.js';
import {
  BASE_US,
  type FileFormat,
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
  writeSpine,
} from '../helpers/pit-data.js';
import { type RefSourceRow, type RefSpineRow, referencePointInTime } from '../helpers/pit-reference.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-pit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FEATURES = ['f_int', 'f_float', 'f_str'] as const;

async function retrieve(
  strategy: PitStrategy,
  request: HistoricalRequest,
): Promise<{ rows: Record<string, unknown>[]; columns: { name: string; type: string }[] }> {
  const store = new DuckDbOfflineStore({ repoPath: dir, connections: {} }, { strategy, threads: 2 });
  try {
    const result = await store.getHistoricalFeatures(request);
    const rows = await result.rows();
    expect(result.rowCount).toBe(rows.length);
    const columns = [...result.columns];
    await result.close();
    return { rows, columns };
  } finally {
    await store.close();
  }
}

/** Asserts each output row carries one of the reference's acceptable values for every view. */
function expectMatchesReference(
  rows: readonly Record<string, unknown>[],
  spine: readonly RefSpineRow[],
  views: readonly { sel: ViewSelection; source: readonly RefSourceRow[]; ttlUs: number; prefix: string }[],
): { matched: number; ties: number } {
  expect(rows.length).toBe(spine.length);
  const stats = { matched: 0, ties: 0 };
  for (const v of views) {
    // The spine carries (user_id, merchant_id); a one-key view joins on user_id only.
    const width = v.sel.joinKeys.length;
    const viewSpine = spine.map((s) => ({ ...s, keys: s.keys.slice(0, width) }));
    const expected = referencePointInTime(viewSpine, v.source, v.ttlUs);
    rows.forEach((row, i) => {
      const got = FEATURES.map((f) => row[`${v.prefix}${f}`]);
      const candidates = (expected[i] ?? []).map((r) => FEATURES.map((f) => r.values[f] ?? null));
      const context = { seedRow: i, view: v.sel.view.name, spine: spine[i], got, candidates };
      if (candidates.length > 0) stats.matched++;
      if (candidates.length > 1) stats.ties++;
      if (candidates.length === 0) expect(got, JSON.stringify(context)).toEqual([null, null, null]);
      else
        expect(
          candidates.some((c) => JSON.stringify(c) === JSON.stringify(got)),
          JSON.stringify(context),
        ).toBe(true);
    });
  }
  return stats;
}

describe('DuckDbOfflineStore.getHistoricalFeatures: randomized against the brute-force reference', () => {
  const seeds = Array.from({ length: 24 }, (_, i) => i + 1);
  it.each(seeds)('seed %i', async (seed) => {
    const rng = prng(seed);
    const format: FileFormat = pick(rng, ['parquet', 'csv', 'hive'] as const);
    const tz = rng() < 0.5;
    const users = int(rng, 3, 15);
    const configs = [
      { name: `a${seed}`, twoKeys: false, withCreated: rng() < 0.6, ttl: pick(rng, TTLS) },
      { name: `b${seed}`, twoKeys: false, withCreated: rng() < 0.3, ttl: pick(rng, TTLS) },
      { name: `c${seed}`, twoKeys: true, withCreated: rng() < 0.5, ttl: pick(rng, TTLS) },
    ];
    const views = [];
    for (const c of configs) {
      const rows = genSource(rng, {
        rows: int(rng, 50, 400),
        users,
        twoKeys: c.twoKeys,
        withCreated: c.withCreated,
      });
      const path = await writeSource(dir, c.name, rows, { format, tz, ...c });
      const base = { name: `${c.name}_src`, path, timestampField: 'event_ts' };
      const withCreated = c.withCreated ? { ...base, createdTimestampField: 'created_ts' } : base;
      const source: Source = format === 'csv' ? csvSource(withCreated) : parquetSource(withCreated);
      views.push({
        sel: selection(c.name, source, c.twoKeys, c.ttl === '0' ? 0 : c.ttl),
        source: rows,
        ttlUs: ttlUs(c.ttl),
        prefix: `${c.name}__`,
      });
    }
    const spine = views.flatMap((v) =>
      genSpine(rng, { rows: int(rng, 20, 120), users, source: v.source, ttlUs: v.ttlUs }),
    );
    const kind = pick(rng, ['rows', 'parquet', 'csv', 'sql'] as const);
    let spineInput: SpineInput;
    if (kind === 'rows') {
      spineInput = { kind: 'rows', rows: spineObjects(rng, spine, pick(rng, ['naive', 'offset'] as const)) };
    } else {
      const ts = pick(rng, ['tz', 'naive', 'offset'] as const);
      const path = await writeSpine(rng, dir, spine, { ts, format: kind === 'csv' ? 'csv' : 'parquet' });
      spineInput =
        kind === 'sql'
          ? { kind: 'sql', query: `SELECT * FROM read_parquet('${join(dir, path)}') ORDER BY row_no;` }
          : { kind: 'file', path };
    }
    const request: HistoricalRequest = {
      spine: spineInput,
      views: views.map((v) => v.sel),
      fullFeatureNames: true,
    };
    const asof = await retrieve('asof', request);
    expect(asof.rows.map((r) => r['row_no'])).toEqual(spine.map((_, i) => i));
    expect(asof.rows.map((r) => r['label'])).toEqual(spine.map((_, i) => `l${i}`));
    expect(asof.rows.map((r) => (r['event_timestamp'] as Date | null)?.getTime() ?? null)).toEqual(
      spine.map((s) => (s.tsUs === null ? null : Math.floor(s.tsUs / 1000))),
    );
    expect(asof.columns.find((c) => c.name === 'event_timestamp')?.type).toBe('TIMESTAMP WITH TIME ZONE');
    const stats = expectMatchesReference(asof.rows, spine, views);
    // The edge-aimed spine must actually hit values, or the comparison proves little.
    expect(stats.matched).toBeGreaterThan(spine.length / 3);
    // Both strategies apply the same tie-break, so they agree exactly, exact ties included.
    const window = await retrieve('window', request);
    expect(window.rows).toEqual(asof.rows);
  });
});

/** A single-view case written by hand: parquet source from rows, in-memory spine. */
async function handCase(
  name: string,
  source: RefSourceRow[],
  spine: Record<string, unknown>[],
  o: {
    ttl?: string | 0;
    withCreated?: boolean;
    twoKeys?: boolean;
    tz?: boolean;
    strategy?: PitStrategy;
  } = {},
) {
  const withCreated = o.withCreated ?? source.some((r) => r.createdUs !== undefined);
  const path = await writeSource(dir, name, source, {
    format: 'parquet',
    tz: o.tz ?? false,
    twoKeys: o.twoKeys ?? false,
    withCreated,
  });
  const src = parquetSource({
    name: `${name}_src`,
    path,
    timestampField: 'event_ts',
    ...(withCreated ? { createdTimestampField: 'created_ts' } : {}),
  });
  const sel = selection(name, src, o.twoKeys ?? false, o.ttl ?? 0);
  return retrieve(o.strategy ?? 'asof', { spine: { kind: 'rows', rows: spine }, views: [sel] });
}

const row = (
  keys: (string | number | null)[],
  eventUs: number,
  v: number,
  createdUs?: number | null,
): RefSourceRow => ({
  keys,
  eventUs,
  ...(createdUs === undefined ? {} : { createdUs }),
  values: { f_int: v, f_float: v / 2, f_str: `v${v}` },
});
const at = (us: number) => new Date(us / 1000).toISOString();

describe('DuckDbOfflineStore.getHistoricalFeatures: semantics by example', () => {
  it.each(['asof', 'window'] as const)(
    'ties on event time go to the greatest created time, NULL lowest (%s)',
    async (strategy) => {
      const t0 = BASE_US + HOUR_US;
      const source = [
        row([1], t0, 1, null),
        row([1], t0, 3, t0 + 2 * HOUR_US),
        row([1], t0, 2, t0 + HOUR_US),
        row([1], t0 - HOUR_US, 9, t0 + 9 * HOUR_US), // newer write of an older event: loses
        row([2], t0, 4, null),
        row([2], t0, 5, t0),
        row([3], t0, 6, null),
        row([3], t0, 7, null),
      ];
      const spine = [1, 2, 3].map((u) => ({ user_id: u, event_timestamp: at(t0) }));
      const { rows } = await handCase(`ties_${strategy}`, source, spine, { withCreated: true, strategy });
      expect(rows.map((r) => r['f_int'])).toEqual([3, 5, expect.any(Number)]);
      expect([6, 7]).toContain(rows[2]?.['f_int']);
      // The full tie resolves the same way every time.
      const again = await handCase(`ties_${strategy}_again`, source, spine, { withCreated: true, strategy });
      expect(again.rows).toEqual(rows);
    },
  );

  it.each(['asof', 'window'] as const)('ttl bounds are inclusive at both ends (%s)', async (strategy) => {
    const t0 = BASE_US + 3 * HOUR_US + 123_000;
    const source = [row([1], t0, 1)];
    const spine = [
      { user_id: 1, event_timestamp: at(t0) }, // at the event: included
      { user_id: 1, event_timestamp: at(t0 + 2 * HOUR_US) }, // exactly ttl later: included
      { user_id: 1, event_timestamp: at(t0 + 2 * HOUR_US + 1000) }, // 1 ms outside
      { user_id: 1, event_timestamp: at(t0 - 1000) }, // before the event
    ];
    const { rows } = await handCase(`ttl_${strategy}`, source, spine, { ttl: '2h', strategy });
    expect(rows.map((r) => r['f_int'])).toEqual([1, 1, null, null]);
  });

  it('ttl edges hold to the microsecond (spine as offset text)', async () => {
    const t0 = BASE_US + 3 * HOUR_US + 123_456;
    const ttl = 2 * HOUR_US;
    const spine = [t0 + ttl, t0 + ttl + 1, t0 - 1, t0].map((us) => ({
      user_id: 1,
      event_timestamp: `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}Z`,
    }));
    const { rows } = await handCase('ttl_us', [row([1], t0, 1)], spine, { ttl: '2h' });
    expect(rows.map((r) => r['f_int'])).toEqual([1, null, null, 1]);
  });

  it('ttl = 0 looks back without limit', async () => {
    const t0 = BASE_US;
    const { rows } = await handCase(
      'ttl0',
      [row([1], t0, 1)],
      [{ user_id: 1, event_timestamp: at(t0 + 400 * 24 * HOUR_US) }],
    );
    expect(rows[0]?.['f_int']).toBe(1);
  });

  it('NULL join keys never match, on either side', async () => {
    const t0 = BASE_US;
    const source = [row([null], t0, 1), row([1], t0, 2)];
    const spine = [
      { user_id: null, event_timestamp: at(t0 + HOUR_US) },
      { user_id: 1, event_timestamp: at(t0 + HOUR_US) },
      { user_id: 7, event_timestamp: at(t0 + HOUR_US) },
    ];
    for (const strategy of ['asof', 'window'] as const) {
      const { rows } = await handCase(`nullkeys_${strategy}`, source, spine, { strategy });
      expect(rows.map((r) => r['f_int'])).toEqual([null, 2, null]);
      expect(rows.map((r) => r['user_id'])).toEqual([null, 1, 7]);
    }
  });

  it('joins on two keys; a NULL in either never matches', async () => {
    const t0 = BASE_US;
    const source = [row([1, 'm0'], t0, 1), row([1, 'm1'], t0, 2), row([1, null], t0, 3)];
    const spine = [
      { user_id: 1, merchant_id: 'm1', event_timestamp: at(t0) },
      { user_id: 1, merchant_id: 'm0', event_timestamp: at(t0) },
      { user_id: 1, merchant_id: null, event_timestamp: at(t0) },
      { user_id: 2, merchant_id: 'm0', event_timestamp: at(t0) },
    ];
    const { rows } = await handCase('twokeys', source, spine, { twoKeys: true });
    expect(rows.map((r) => r['f_int'])).toEqual([2, 1, null, null]);
  });

  it('keeps duplicate spine rows, each with its values, in input order', async () => {
    const t0 = BASE_US;
    const source = [row([1], t0, 1), row([2], t0, 2), row([1], t0 + HOUR_US, 3)];
    const spine = [2, 1, 1, 2, 1].map((u, i) => ({
      user_id: u,
      event_timestamp: at(i === 4 ? t0 + 2 * HOUR_US : t0 + 1000),
      label: i,
    }));
    const { rows } = await handCase('dups', source, spine);
    expect(rows.map((r) => [r['label'], r['f_int']])).toEqual([
      [0, 2],
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 3],
    ]);
  });

  it('reads every timestamp as an instant: offsets, TIMESTAMPTZ, naive = UTC, Date', async () => {
    const t0 = BASE_US; // 2024-05-01T00:00:00Z
    const spine = [
      { user_id: 1, event_timestamp: '2024-05-01T01:59:59.999999+02:00' }, // 1 µs before: nothing
      { user_id: 1, event_timestamp: '2024-05-01T02:00:00+02:00' }, // the same instant: match
      { user_id: 1, event_timestamp: '2024-04-30T17:00:00-07:00' }, // the same instant
      { user_id: 1, event_timestamp: '2024-04-30 23:59:59' }, // naive, UTC: before
      { user_id: 1, event_timestamp: '2024-05-01 00:00:00' }, // naive, UTC: match
    ];
    for (const tz of [false, true]) {
      const { rows, columns } = await handCase(`zones_${tz}`, [row([1], t0, 1)], spine, { tz });
      expect(rows.map((r) => r['f_int'])).toEqual([null, 1, 1, null, 1]);
      expect(columns.find((c) => c.name === 'event_timestamp')?.type).toBe('TIMESTAMP WITH TIME ZONE');
      expect(rows[1]?.['event_timestamp']).toEqual(new Date('2024-05-01T00:00:00.000Z'));
    }
    const dates = [new Date(t0 / 1000 - 1), new Date(t0 / 1000), t0 / 1000 + 1].map((d) => ({
      user_id: 1,
      event_timestamp: d,
    }));
    const { rows } = await handCase('zones_dates', [row([1], t0, 1)], dates);
    expect(rows.map((r) => r['f_int'])).toEqual([null, 1, 1]);
  });

  it('uses another spine timestamp column when asked, and spines from CSV and SQL', async () => {
    const t0 = BASE_US;
    const path = await writeSource(dir, 'other_ts', [row([1], t0, 1)], {
      format: 'parquet',
      tz: false,
      twoKeys: false,
      withCreated: false,
    });
    const sel = selection(
      'other',
      parquetSource({ name: 'other_src', path, timestampField: 'event_ts' }),
      false,
      0,
    );
    await writeFile(
      join(dir, 'spine.csv'),
      'user_id,as_of,y\n1,2024-05-01T00:00:00Z,1\n1,2024-04-30T00:00:00Z,0\n',
    );
    for (const spine of [
      { kind: 'file', path: 'spine.csv' },
      { kind: 'sql', query: `SELECT * FROM read_csv('${join(dir, 'spine.csv')}')` },
    ] as const) {
      const { rows } = await retrieve('asof', { spine, timestampColumn: 'as_of', views: [sel] });
      expect(rows.map((r) => [r['y'], r['f_int']])).toEqual([
        [1, 1],
        [0, null],
      ]);
    }
  });

  it('names columns view__feature with fullFeatureNames, and refuses colliding names without it', async () => {
    const t0 = BASE_US;
    const rows = [row([1], t0, 1)];
    const opts = { format: 'parquet' as const, tz: false, twoKeys: false, withCreated: false };
    const pa = await writeSource(dir, 'col_a', rows, opts);
    const pb = await writeSource(dir, 'col_b', rows, opts);
    const a = selection(
      'col_a',
      parquetSource({ name: 'col_a_src', path: pa, timestampField: 'event_ts' }),
      false,
      0,
    );
    const b = selection(
      'col_b',
      parquetSource({ name: 'col_b_src', path: pb, timestampField: 'event_ts' }),
      false,
      0,
    );
    const spine: SpineInput = { kind: 'rows', rows: [{ user_id: 1, event_timestamp: at(t0) }] };
    const err = await retrieve('asof', { spine, views: [a, b] }).catch((e) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toMatch(/f_int.*col_a.*col_b.*fullFeatureNames/);
    const full = await retrieve('asof', { spine, views: [a, b], fullFeatureNames: true });
    expect(full.columns.map((c) => c.name)).toEqual([
      'user_id',
      'event_timestamp',
      'col_a__f_int',
      'col_a__f_float',
      'col_a__f_str',
      'col_b__f_int',
      'col_b__f_float',
      'col_b__f_str',
    ]);
    expect(full.rows[0]).toMatchObject({ col_a__f_int: 1, col_b__f_str: 'v1' });
    const clash: SpineInput = {
      kind: 'rows',
      rows: [{ user_id: 1, event_timestamp: at(t0), f_str: 'label' }],
    };
    const err2 = await retrieve('asof', { spine: clash, views: [a] }).catch((e) => e);
    expect(err2.message).toMatch(/f_str.*spine column/);
  });

  it('names the spine and the missing column, listing the columns present', async () => {
    const sel = selection(
      'missing',
      parquetSource({ name: 'm_src', path: 'x.parquet', timestampField: 'event_ts' }),
      false,
      0,
    );
    const noTs = await retrieve('asof', {
      spine: { kind: 'rows', rows: [{ user_id: 1, when: 'x' }] },
      views: [sel],
    }).catch((e) => e);
    expect(noTs).toBeInstanceOf(TesseraError);
    expect(noTs.message).toMatch(
      /in-memory spine has no timestamp column 'event_timestamp'.*columns present: user_id, when/,
    );
    await writeFile(join(dir, 'nokey.csv'), 'uid,event_timestamp\n1,2024-05-01\n');
    const noKey = await retrieve('asof', { spine: { kind: 'file', path: 'nokey.csv' }, views: [sel] }).catch(
      (e) => e,
    );
    expect(noKey.message).toMatch(
      /spine file .*nokey\.csv has no join key column 'user_id'.*columns present: uid, event_timestamp/,
    );
  });

  it('fails clearly on a missing source path or a missing source column', async () => {
    const spine: SpineInput = { kind: 'rows', rows: [{ user_id: 1, event_timestamp: at(BASE_US) }] };
    const missing = selection(
      'nofile',
      parquetSource({ name: 'nofile_src', path: 'nope/data', timestampField: 'event_ts' }),
      false,
      0,
    );
    const e1 = await retrieve('asof', { spine, views: [missing] }).catch((e) => e);
    expect(e1).toBeInstanceOf(TesseraError);
    expect(e1.code).toBe('NOT_FOUND');
    expect(e1.message).toMatch(/nope\/data.*source 'nofile_src': path not found/);
    const path = await writeSource(dir, 'nocol', [row([1], BASE_US, 1)], {
      format: 'parquet',
      tz: false,
      twoKeys: false,
      withCreated: false,
    });
    const wrongTs = selection(
      'nocol',
      parquetSource({ name: 'nocol_src', path, timestampField: 'ts' }),
      false,
      0,
    );
    const e2 = await retrieve('asof', { spine, views: [wrongTs] }).catch((e) => e);
    expect(e2.code).toBe('SCHEMA_MISMATCH');
    expect(e2.message).toMatch(
      /source 'nocol_src' \(view 'nocol'\) has no column 'ts'.*columns present: user_id, event_ts/,
    );
  });

  it('returns an empty result with typed columns for an empty spine', async () => {
    const path = await writeSource(dir, 'empty', [row([1], BASE_US, 1)], {
      format: 'parquet',
      tz: false,
      twoKeys: false,
      withCreated: false,
    });
    const sel = selection(
      'empty',
      parquetSource({ name: 'empty_src', path, timestampField: 'event_ts' }),
      false,
      '1h',
    );
    const { rows, columns } = await retrieve('asof', { spine: { kind: 'rows', rows: [] }, views: [sel] });
    expect(rows).toEqual([]);
    expect(columns.map((c) => c.name)).toEqual(['event_timestamp', 'user_id', 'f_int', 'f_float', 'f_str']);
  });

  it('outputs timestamp features as TIMESTAMPTZ and reads renamed columns', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    await c.run(
      `COPY (SELECT 1::BIGINT AS user_id, TIMESTAMP '2024-05-01 00:00:00' AS event_ts, TIMESTAMP '2024-04-01 12:00:00' AS signup_ts, 42::INTEGER AS n)
       TO '${join(dir, 'typed.parquet')}' (FORMAT parquet)`,
    );
    c.closeSync();
    instance.closeSync();
    const src = parquetSource({ name: 'typed_src', path: 'typed.parquet', timestampField: 'event_ts' });
    const view = featureView({
      name: 'typed',
      entities: [user],
      source: src,
      schema: { signup: timestamp(), count: int64() },
      columns: { signup: 'signup_ts', count: 'n' },
    });
    const sel: ViewSelection = { view, source: src, joinKeys: user.joinKeys, features: view.features };
    const { rows, columns } = await retrieve('asof', {
      spine: { kind: 'rows', rows: [{ user_id: 1, event_timestamp: '2024-05-02T00:00:00Z' }] },
      views: [sel],
    });
    expect(columns.find((x) => x.name === 'signup')?.type).toBe('TIMESTAMP WITH TIME ZONE');
    expect(rows[0]).toEqual({
      user_id: 1,
      event_timestamp: new Date('2024-05-02T00:00:00Z'),
      signup: new Date('2024-04-01T12:00:00Z'),
      count: 42,
    });
  });

  it('prunes hive date partitions outside the spine range (a corrupt far partition is never read)', async () => {
    const t0 = BASE_US;
    const path = await writeSource(dir, 'hive_prune', [row([1], t0, 1), row([1], t0 + 30 * HOUR_US, 2)], {
      format: 'hive',
      tz: false,
      twoKeys: false,
      withCreated: false,
    });
    await mkdir(join(dir, path, 'date=2030-01-01'), { recursive: true });
    await writeFile(join(dir, path, 'date=2030-01-01', 'corrupt.parquet'), 'not parquet');
    const src = parquetSource({ name: 'hive_prune_src', path, timestampField: 'event_ts' });
    const sel = selection('hive_prune', src, false, '6h');
    const { rows } = await retrieve('asof', {
      spine: { kind: 'rows', rows: [{ user_id: 1, event_timestamp: at(t0 + 31 * HOUR_US) }] },
      views: [sel],
    });
    expect(rows[0]?.['f_int']).toBe(2);
  });

  it('writes the result to Parquet in spine order and serves concurrent requests', async () => {
    const rng = prng(99);
    const source = genSource(rng, { rows: 300, users: 5, twoKeys: false, withCreated: true });
    const path = await writeSource(dir, 'conc', source, {
      format: 'parquet',
      tz: true,
      twoKeys: false,
      withCreated: true,
    });
    const src = parquetSource({
      name: 'conc_src',
      path,
      timestampField: 'event_ts',
      createdTimestampField: 'created_ts',
    });
    const sel = selection('conc', src, false, '2h');
    const spine = genSpine(rng, { rows: 200, users: 5, source, ttlUs: 2 * HOUR_US });
    const store = new DuckDbOfflineStore({ repoPath: dir, connections: {} });
    try {
      const results = await Promise.all(
        Array.from({ length: 4 }, () =>
          store.getHistoricalFeatures({
            spine: { kind: 'rows', rows: spineObjects(rng, spine, 'offset') },
            views: [sel],
          }),
        ),
      );
      const all = await Promise.all(results.map((r) => r.rows()));
      for (const rows of all) {
        expectMatchesReference(rows, spine, [{ sel, source, ttlUs: 2 * HOUR_US, prefix: '' }]);
        expect(rows.map((r) => r['label'])).toEqual(all[0]?.map((r) => r['label']));
      }
      const out = join(dir, 'out', 'result.parquet');
      await results[0]?.writeParquet(out);
      const instance = await DuckDBInstance.create(':memory:');
      const c = await instance.connect();
      const back = (await c.runAndReadAll(`SELECT row_no, f_int FROM read_parquet('${out}')`)).getRowsJS();
      c.closeSync();
      instance.closeSync();
      expect(back.map((r) => Number(r[0]))).toEqual(spine.map((_, i) => i));
      expect(back.map((r) => (r[1] === null ? null : Number(r[1])))).toEqual(all[0]?.map((r) => r['f_int']));
      for (const r of results) await r.close();
      await expect(results[0]?.rows()).rejects.toThrow(/closed/);
    } finally {
      await store.close();
    }
  });
});

describe('DuckDbOfflineStore.describeSource', () => {
  it('reads Parquet (hive columns included) and CSV schemas', async () => {
    const path = await writeSource(dir, 'desc_hive', [row([1, 'm0'], BASE_US, 1, BASE_US)], {
      format: 'hive',
      tz: true,
      twoKeys: true,
      withCreated: true,
    });
    const csvPath = await writeSource(dir, 'desc_csv', [row([1], BASE_US, 1)], {
      format: 'csv',
      tz: false,
      twoKeys: false,
      withCreated: false,
    });
    const store = new DuckDbOfflineStore({ repoPath: dir, connections: {} });
    try {
      expect(
        await store.describeSource(parquetSource({ name: 'h', path, timestampField: 'event_ts' })),
      ).toEqual([
        { name: 'user_id', type: 'BIGINT' },
        { name: 'merchant_id', type: 'VARCHAR' },
        { name: 'event_ts', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'created_ts', type: 'TIMESTAMP WITH TIME ZONE' },
        { name: 'f_int', type: 'BIGINT' },
        { name: 'f_float', type: 'DOUBLE' },
        { name: 'f_str', type: 'VARCHAR' },
        { name: 'date', type: 'DATE' },
      ]);
      expect(
        await store.describeSource(csvSource({ name: 'c', path: csvPath, timestampField: 'event_ts' })),
      ).toEqual([
        { name: 'user_id', type: 'BIGINT' },
        { name: 'event_ts', type: 'TIMESTAMP' },
        { name: 'f_int', type: 'BIGINT' },
        { name: 'f_float', type: 'DOUBLE' },
        { name: 'f_str', type: 'VARCHAR' },
      ]);
      const e = await store
        .describeSource(parquetSource({ name: 'gone', path: 'gone/*.parquet', timestampField: 'ts' }))
        .catch((x) => x);
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toMatch(/source 'gone'/);
    } finally {
      await store.close();
    }
  });
});
