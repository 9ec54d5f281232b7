import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraError } from '../../src/core/errors.js';
import { featureView } from '../../src/definitions/feature-view.js';
import type { ViewSelection } from '../../src/definitions/resolve.js';
import { csvSource, parquetSource, type Source } from '../../src/definitions/source.js';
import { bytes, float64, int64, list, string, timestamp } from '../../src/definitions/value-types.js';
import { DuckDbOfflineStore } from '../../src/offline/duckdb/index.js';
import type { OnlineRow } from '../../src/online/online-store.js';
import {
  BASE_US,
  type FileFormat,
  genSource,
  HOUR_US,
  int,
  pick,
  prng,
  selection,
  user,
  writeSource,
} from '../helpers/pit-data.js';
import { type RefSourceRow, referenceLatest } from '../helpers/pit-reference.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-latest-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function pullAll(
  sel: ViewSelection,
  startMs: number,
  endMs: number,
  chunkRows: number,
): Promise<{ chunks: OnlineRow[][] }> {
  const store = new DuckDbOfflineStore({ repoPath: dir, connections: {} });
  try {
    const chunks: OnlineRow[][] = [];
    for await (const chunk of store.pullLatest({ view: sel, startMs, endMs, chunkRows })) chunks.push(chunk);
    return { chunks };
  } finally {
    await store.close();
  }
}

/** Checks chunking and that every entity appears once, with one of the reference's tied-latest rows. */
function expectLatest(
  chunks: readonly OnlineRow[][],
  chunkRows: number,
  expected: Map<string, RefSourceRow[]>,
): void {
  chunks.forEach((c, i) => {
    if (i < chunks.length - 1) expect(c.length).toBe(chunkRows);
    else expect(c.length).toBeGreaterThan(0);
    expect(c.length).toBeLessThanOrEqual(chunkRows);
  });
  const rows = chunks.flat();
  const keys = rows.map((r) => r.entityKey);
  expect(new Set(keys).size).toBe(keys.length);
  expect([...keys].sort()).toEqual([...expected.keys()].sort());
  for (const r of rows) {
    const candidates = expected.get(r.entityKey) ?? [];
    const ok = candidates.some(
      (c) =>
        Math.floor((c.eventUs as number) / 1000) === r.eventTs &&
        (c.createdUs === null || c.createdUs === undefined ? 0 : Math.floor(c.createdUs / 1000)) ===
          r.createdTs &&
        JSON.stringify([c.values['f_int'], c.values['f_float'], c.values['f_str']].map((v) => v ?? null)) ===
          JSON.stringify([r.values['f_int'], r.values['f_float'], r.values['f_str']]),
    );
    expect(ok, JSON.stringify({ got: r, candidates })).toBe(true);
  }
}

describe('DuckDbOfflineStore.pullLatest: randomized against the reference', () => {
  const seeds = Array.from({ length: 20 }, (_, i) => i + 1);
  it.each(seeds)('seed %i', async (seed) => {
    const rng = prng(1000 + seed);
    const format: FileFormat = pick(rng, ['parquet', 'csv', 'hive'] as const);
    const twoKeys = rng() < 0.4;
    const withCreated = rng() < 0.6;
    const source = genSource(rng, {
      rows: int(rng, 20, 600),
      users: int(rng, 2, 40),
      twoKeys,
      withCreated,
      nullTs: format !== 'hive',
    });
    const path = await writeSource(dir, `latest${seed}`, source, {
      format,
      tz: rng() < 0.5,
      twoKeys,
      withCreated,
    });
    const def = {
      name: `latest${seed}_src`,
      path,
      timestampField: 'event_ts',
      ...(withCreated ? { createdTimestampField: 'created_ts' } : {}),
    };
    const src: Source = format === 'csv' ? csvSource(def) : parquetSource(def);
    const sel = selection(`latest${seed}`, src, twoKeys, '1h');
    // Bounds on the 30-minute grid half the time, so rows sit exactly on start (included) and end (excluded).
    const startUs = BASE_US + int(rng, -4, 60) * (HOUR_US / 2) + (rng() < 0.5 ? 0 : int(rng, 1, 999) * 1000);
    const endUs = startUs + int(rng, 0, 60) * (HOUR_US / 2);
    const chunkRows = int(rng, 1, 13);
    const { chunks } = await pullAll(sel, startUs / 1000, endUs / 1000, chunkRows);
    const expected = referenceLatest(source, startUs, endUs);
    expectLatest(chunks, chunkRows, expected);
  });
});

describe('DuckDbOfflineStore.pullLatest: values and errors', () => {
  it('converts values to plain JS and keys features by name (renamed columns)', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    await c.run("SET TimeZone = 'UTC'");
    await c.run(`COPY (SELECT * FROM (VALUES
        (1::BIGINT, TIMESTAMP '2024-05-01 00:00:00', 12.50::DECIMAL(10,2), [1, 2]::BIGINT[], '\\x01\\x02'::BLOB, TIMESTAMP '2024-01-01 10:00:00', 9007199254740991::BIGINT, 'x'),
        (2::BIGINT, TIMESTAMP '2024-05-01 00:00:00', NULL, NULL, NULL, NULL, NULL, NULL)
      ) t(user_id, event_ts, price, items, payload, seen, big, name)) TO '${join(dir, 'typed.parquet')}' (FORMAT parquet)`);
    c.closeSync();
    instance.closeSync();
    const src = parquetSource({ name: 'typed_src', path: 'typed.parquet', timestampField: 'event_ts' });
    const view = featureView({
      name: 'typed',
      entities: [user],
      source: src,
      schema: {
        price: float64(),
        items: list(int64()),
        payload: bytes(),
        seen: timestamp(),
        big: int64(),
        label: string(),
      },
      columns: { label: 'name' },
    });
    const sel: ViewSelection = { view, source: src, joinKeys: user.joinKeys, features: view.features };
    const { chunks } = await pullAll(sel, Date.UTC(2024, 0, 1), Date.UTC(2025, 0, 1), 100);
    const rows = chunks.flat().sort((a, b) => a.entityKey.localeCompare(b.entityKey));
    expect(rows).toEqual([
      {
        entityKey: '1',
        eventTs: Date.UTC(2024, 4, 1),
        createdTs: 0,
        values: {
          price: 12.5,
          items: [1, 2],
          payload: new Uint8Array([1, 2]),
          seen: new Date('2024-01-01T10:00:00Z'),
          big: 9007199254740991,
          label: 'x',
        },
      },
      {
        entityKey: '2',
        eventTs: Date.UTC(2024, 4, 1),
        createdTs: 0,
        values: { price: null, items: null, payload: null, seen: null, big: null, label: null },
      },
    ]);
  });

  it('refuses int64 values JavaScript cannot hold, naming the view and feature', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    await c.run(
      `COPY (SELECT 1::BIGINT AS user_id, TIMESTAMP '2024-05-01' AS event_ts, 9007199254740993::BIGINT AS clicks)
       TO '${join(dir, 'huge.parquet')}' (FORMAT parquet)`,
    );
    c.closeSync();
    instance.closeSync();
    const src = parquetSource({ name: 'huge_src', path: 'huge.parquet', timestampField: 'event_ts' });
    const view = featureView({ name: 'huge', entities: [user], source: src, schema: { clicks: int64() } });
    const sel: ViewSelection = { view, source: src, joinKeys: user.joinKeys, features: view.features };
    const err = await pullAll(sel, 0, Date.UTC(2030, 0, 1), 10).catch((e) => e);
    expect(err).toBeInstanceOf(TesseraError);
    expect(err.message).toMatch(/view 'huge' feature 'clicks'.*9007199254740993/);
  });

  it('stops reading when the consumer stops early', async () => {
    const rng = prng(7);
    const source = genSource(rng, { rows: 500, users: 200, twoKeys: false, withCreated: false });
    const path = await writeSource(dir, 'early', source, {
      format: 'parquet',
      tz: false,
      twoKeys: false,
      withCreated: false,
    });
    const sel = selection(
      'early',
      parquetSource({ name: 'early_src', path, timestampField: 'event_ts' }),
      false,
      0,
    );
    const store = new DuckDbOfflineStore({ repoPath: dir, connections: {} });
    try {
      for await (const chunk of store.pullLatest({
        view: sel,
        startMs: 0,
        endMs: Date.UTC(2030, 0, 1),
        chunkRows: 5,
      })) {
        expect(chunk).toHaveLength(5);
        break;
      }
      // The store is still usable afterwards (the streaming connection was released).
      const cols = await store.describeSource(sel.source);
      expect(cols.map((x) => x.name)).toContain('f_int');
    } finally {
      await store.close();
    }
  });
});
