/**
 * Online read of windowed aggregations: 10 aggregations × 3 windows for one entity, on SQLite and Redis.
 *
 *   source $(bash scripts/services.sh start redis) && node --import tsx bench/aggregation-online-read.ts
 *     [--entities 1000] [--runs 5] [--iterations 2000] [--stores sqlite,redis] [--json]
 *
 * Redis comes from TESSERA_BENCH_REDIS_URL or TESSERA_TEST_REDIS_URL; without one only SQLite runs.
 *
 * View: count, sum, avg, min, max, last, last_k (k = 5), count_distinct, variance and stddev over `amount` /
 * `item`, each over 1h, 1d and 7d with default hops (5m, 1h, 6h): 30 features from 3 hop layouts of 10 slots.
 *
 * Data: events generated with DuckDB SQL into Parquet, relative to the current time, so that every tile a
 * read covers exists: per entity 24 events in the last hour, 48 over the last day and 84 over the last week
 * (156 per entity). Tiles are then built with `materializeAggregationView` (the batch path: DuckDB pulls the
 * events ordered by entity, the stream's tile code builds the tiles, `writeTiles` stores them). A read covers
 * 13 + 25 + 29 = 67 tiles of the entity (one `readTiles` call: one MGET on Redis, one statement on SQLite).
 *
 * Measured, sequentially (closed loop: one request in flight, the next sent when the previous answered), for a
 * random entity each time, after a warm-up of 500 requests; percentiles per run, then the median over runs:
 *  - `readTiles`: the store call alone (round trip and tile bytes, no decoding);
 *  - `readAggregates`: readTiles + decoding the 67 tiles + merging them into the 30 window values;
 *  - `SDK`: `OnlineServing.get` for the 30 features of one entity (plan cache, key encoding, readAggregates,
 *    statuses and the SDK result shape), as `FeatureStore.getOnlineFeatures` serves it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { type AggregateRead, readAggregates, tileRange } from '../src/aggregation/read-aggregates.js';
import { tilePlan } from '../src/aggregation/tiles.js';
import { encodeEntityKey } from '../src/core/entity-key.js';
import { aggregationView } from '../src/definitions/aggregation-view.js';
import { stateFromDefinitions } from '../src/definitions/definition.js';
import { entity } from '../src/definitions/entity.js';
import { type AggregationSelection, resolveFeatures } from '../src/definitions/resolve.js';
import { parquetSource } from '../src/definitions/source.js';
import { float64, int64 } from '../src/definitions/value-types.js';
import { materializeAggregationView } from '../src/materialize/materialize-aggregates.js';
import { DuckDbOfflineStore } from '../src/offline/duckdb/index.js';
import type { OnlineStore, OnlineViewRef } from '../src/online/online-store.js';
import { RedisOnlineStore } from '../src/online/redis/redis-online-store.js';
import { SqliteOnlineStore } from '../src/online/sqlite/sqlite-online-store.js';
import { OnlineServing } from '../src/serving/online-serving.js';
import { median, percentile } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    entities: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '5' },
    iterations: { type: 'string', default: '2000' },
    stores: { type: 'string', default: 'sqlite,redis' },
    json: { type: 'boolean', default: false },
  },
});
const ENTITIES = Number(args.entities);
const RUNS = Math.max(1, Number(args.runs));
const ITERATIONS = Number(args.iterations);
const WARMUP = 500;

const WINDOWS = ['1h', '1d', '7d'];
const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
const clicks = parquetSource({ name: 'clicks', path: 'clicks.parquet', timestampField: 'ts' });
const view = aggregationView({
  name: 'user_activity',
  entities: [user],
  source: clicks,
  aggregations: {
    clicks: { fn: 'count', windows: WINDOWS },
    spend: { fn: 'sum', column: 'amount', type: float64(), windows: WINDOWS },
    avg_amount: { fn: 'avg', column: 'amount', type: float64(), windows: WINDOWS },
    min_amount: { fn: 'min', column: 'amount', type: float64(), windows: WINDOWS },
    max_amount: { fn: 'max', column: 'amount', type: float64(), windows: WINDOWS },
    last_item: { fn: 'last', column: 'item', type: int64(), windows: WINDOWS },
    recent_amounts: { fn: 'last_k', column: 'amount', type: float64(), k: 5, windows: WINDOWS },
    items: { fn: 'count_distinct', column: 'item', type: int64(), windows: WINDOWS },
    amount_var: { fn: 'variance', column: 'amount', type: float64(), windows: WINDOWS },
    amount_std: { fn: 'stddev', column: 'amount', type: float64(), windows: WINDOWS },
  },
});
const featureNames = view.features.map((f) => f.name);
const plan = tilePlan(view);

interface Latency {
  p50: number;
  p99: number;
  max: number;
  /** This process's CPU time per request (user + system; Redis's own work is not in it), ms. */
  cpu: number;
}

/** Percentiles of one run of `ITERATIONS` sequential calls of `call` (entity chosen per call). */
async function measure(call: (entity: number) => Promise<void>): Promise<Latency> {
  for (let i = 0; i < WARMUP; i++) await call(Math.floor(Math.random() * ENTITIES));
  const times: number[] = new Array(ITERATIONS);
  const cpu = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i++) {
    const e = Math.floor(Math.random() * ENTITIES);
    const started = performance.now();
    await call(e);
    times[i] = performance.now() - started;
  }
  const used = process.cpuUsage(cpu);
  times.sort((a, b) => a - b);
  return {
    p50: percentile(times, 0.5),
    p99: percentile(times, 0.99),
    max: times[times.length - 1] as number,
    cpu: (used.user + used.system) / 1000 / ITERATIONS,
  };
}

/** Events relative to `nowMs` (see the file comment), written with DuckDB SQL. */
async function writeEvents(dir: string, nowMs: number): Promise<void> {
  const part = (salt: number, perEntity: number, spanMs: number) =>
    `SELECT e AS user_id, make_timestamptz((${nowMs} - (hash(e, r, ${salt}) % ${spanMs})::BIGINT) * 1000) AS ts,
            (hash(e, r, ${salt + 1}) % 100000)::DOUBLE / 100 AS amount, (hash(e, r, ${salt + 2}) % 500)::BIGINT AS item
     FROM range(${ENTITIES}) t(e), range(${perEntity}) u(r)`;
  const sql = `COPY (${part(10, 24, 3_600_000)} UNION ALL ${part(20, 48, 86_400_000)} UNION ALL ${part(30, 84, 7 * 86_400_000)})
    TO '${join(dir, 'clicks.parquet')}' (FORMAT parquet)`;
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run(sql);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

interface StoreResult {
  store: string;
  tilesPerRead: number;
  bytesPerRead: number;
  materializeSeconds: number;
  readTiles: Latency;
  readAggregates: Latency;
  sdk: Latency;
  runs: { readTiles: Latency[]; readAggregates: Latency[]; sdk: Latency[] };
}

async function benchStore(name: string, online: OnlineStore, dir: string): Promise<StoreResult> {
  const offline = new DuckDbOfflineStore({ repoPath: dir, connections: {} });
  const state = stateFromDefinitions(`bench_${process.pid}`, [user, clicks, view]);
  const selection = resolveFeatures(state, { features: [`${view.name}:*`] })
    .aggregations[0] as AggregationSelection;
  const ref: OnlineViewRef = { project: state.project, name: view.name, ttlMs: 0 };
  try {
    const started = performance.now();
    const events = await materializeAggregationView(
      { project: state.project, offline, online },
      selection,
      0,
      Date.now() + 1,
    );
    const materializeSeconds = (performance.now() - started) / 1000;
    process.stderr.write(`  ${name}: ${events} events → tiles in ${materializeSeconds.toFixed(1)} s\n`);
    const keys = Array.from({ length: ENTITIES }, (_, e) => encodeEntityKey(user.joinKeys, { user_id: e }));
    const read: AggregateRead = { ref, plan, features: new Set(featureNames) };
    const serving = new OnlineServing({
      store: online,
      state: () => state,
      loadTransform: () => Promise.reject(new Error('no on-demand views here')),
    });
    const features = featureNames.map((f) => `${view.name}:${f}`);

    // What one read covers, as a check that every tile is there.
    const sample = await online.readTiles(
      plan.hops.map((layout) => tileRange(ref, layout, [keys[0] as string], Date.now())),
    );
    const tilesPerRead = sample.reduce((n, hop) => n + (hop[0]?.length ?? 0), 0);
    const bytesPerRead = sample.reduce(
      (n, hop) => n + (hop[0] ?? []).reduce((b, t) => b + t.value.byteLength, 0),
      0,
    );

    const runs = { readTiles: [] as Latency[], readAggregates: [] as Latency[], sdk: [] as Latency[] };
    for (let r = 0; r < RUNS; r++) {
      runs.readTiles.push(
        await measure(async (e) => {
          const now = Date.now();
          const tiles = await online.readTiles(
            plan.hops.map((layout) => tileRange(ref, layout, [keys[e] as string], now)),
          );
          if (tiles[0]?.[0]?.length === 0) throw new Error('no tiles read');
        }),
      );
      runs.readAggregates.push(
        await measure(async (e) => {
          const [rows] = await readAggregates(online, [read], [[keys[e] as string]], Date.now());
          if (!((rows?.[0]?.values['clicks_7d'] as number) > 0)) throw new Error('empty window read');
        }),
      );
      runs.sdk.push(
        await measure(async (e) => {
          const result = await serving.get({ features, entities: [{ user_id: e }] });
          if (result.statuses[0]?.[1] !== 'PRESENT') throw new Error(`status ${result.statuses[0]?.[1]}`);
        }),
      );
      const f = (l: Latency | undefined) =>
        `${l?.p50.toFixed(3)} / ${l?.p99.toFixed(3)} / ${l?.max.toFixed(2)} (cpu ${l?.cpu.toFixed(3)})`;
      process.stderr.write(
        `  ${name} run ${r + 1}: p50 / p99 / max (cpu per request) ms — readTiles ${f(runs.readTiles[r])}, ` +
          `readAggregates ${f(runs.readAggregates[r])}, SDK ${f(runs.sdk[r])}\n`,
      );
    }
    await online.deleteView(ref);
    const med = (ls: Latency[]): Latency => ({
      p50: median(ls.map((l) => l.p50)),
      p99: median(ls.map((l) => l.p99)),
      max: median(ls.map((l) => l.max)),
      cpu: median(ls.map((l) => l.cpu)),
    });
    return {
      store: name,
      tilesPerRead,
      bytesPerRead,
      materializeSeconds: Number(materializeSeconds.toFixed(2)),
      readTiles: med(runs.readTiles),
      readAggregates: med(runs.readAggregates),
      sdk: med(runs.sdk),
      runs,
    };
  } finally {
    await offline.close();
  }
}

async function main(): Promise<void> {
  const stores = args.stores.split(',');
  const redisUrl = process.env['TESSERA_BENCH_REDIS_URL'] ?? process.env['TESSERA_TEST_REDIS_URL'];
  const dir = mkdtempSync(join(os.tmpdir(), 'tessera-bench-agg-read-'));
  const results: StoreResult[] = [];
  try {
    await writeEvents(dir, Date.now());
    for (const name of stores) {
      if (name === 'redis' && redisUrl === undefined) {
        process.stderr.write(
          'no Redis: set TESSERA_BENCH_REDIS_URL or TESSERA_TEST_REDIS_URL to include it\n',
        );
        continue;
      }
      const online =
        name === 'redis'
          ? new RedisOnlineStore({ url: redisUrl as string, keyPrefix: `tsr_bench_agg_${process.pid}` })
          : new SqliteOnlineStore({ path: join(dir, 'online.db') });
      try {
        results.push(await benchStore(name, online, dir));
      } finally {
        await online.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (l: Latency) =>
    `${l.p50.toFixed(3)} / ${l.p99.toFixed(3)} / ${l.max.toFixed(2)} (${l.cpu.toFixed(3)})`;
  console.log(
    '| store | tiles (bytes) per read | readTiles p50 / p99 / max (cpu/req) ms | readAggregates | SDK |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  for (const r of results) {
    console.log(
      `| ${r.store} | ${r.tilesPerRead} (${r.bytesPerRead}) | ${f(r.readTiles)} | ${f(r.readAggregates)} | ${f(r.sdk)} |`,
    );
  }
  console.log(
    JSON.stringify(
      {
        benchmark: 'aggregation-online-read',
        entities: ENTITIES,
        aggregations: view.aggregations.length,
        windows: WINDOWS.length,
        features: featureNames.length,
        runs: RUNS,
        iterations: ITERATIONS,
        mode: 'sequential (closed loop, one request in flight)',
        results: results.map(({ runs, ...r }) => (args.json ? { ...r, runs } : r)),
        machine: {
          cpus: os.cpus().length,
          loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
          node: process.version,
        },
      },
      null,
      args.json ? 2 : undefined,
    ),
  );
}

await main();
