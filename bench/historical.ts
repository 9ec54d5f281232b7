/**
 * Historical retrieval (point-in-time join) benchmark for the DuckDB offline store.
 *
 *   node --import tsx bench/historical.ts [--spine 1000000] [--source 10000000] [--runs 3]
 *                                          [--strategy asof|window|both] [--threads N] [--memory 8GB]
 *
 * Data (generated once with DuckDB SQL from hashes of the row number, so identical on every machine, and cached
 * under .bench-data/): three Parquet sources over 90 days and 200 000 users (one per 50 source rows), written in
 * event-time order as append logs are:
 *   - user_activity  50% of rows, hive-partitioned by date, created_ts present, ttl 7d  (clicks, spend)
 *   - user_profile   30% of rows, one file, no created_ts, no ttl                     (country, age)
 *   - user_merchant  20% of rows, one file, two join keys, ttl 30d                    (txn_count)
 * and a spine of user_id, merchant_id, event_timestamp (uniform over the same 90 days) and a label.
 *
 * Measured: getHistoricalFeatures until the result table is complete (not converting rows to JS). Prints one
 * line per run, then a JSON summary with the median.
 */
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { version as duckdbVersion } from '@duckdb/node-api';
import { entity } from '../src/definitions/entity.js';
import { featureView } from '../src/definitions/feature-view.js';
import type { ViewSelection } from '../src/definitions/resolve.js';
import { parquetSource } from '../src/definitions/source.js';
import { float64, int32, int64, string } from '../src/definitions/value-types.js';
import { DuckDbOfflineStore, type PitStrategy } from '../src/offline/duckdb/index.js';
import { generateOnce } from './bench-data.js';
import { median } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    spine: { type: 'string', default: '1000000' },
    source: { type: 'string', default: '10000000' },
    runs: { type: 'string', default: '3' },
    strategy: { type: 'string', default: 'asof' },
    threads: { type: 'string' },
    memory: { type: 'string' },
  },
});
const spineRows = Number(args.spine);
const sourceRows = Number(args.source);
const runs = Math.max(1, Number(args.runs));
const strategies: PitStrategy[] =
  args.strategy === 'both' ? ['asof', 'window'] : [args.strategy as PitStrategy];

const DAYS = 90;
const USERS = Math.max(1000, Math.floor(sourceRows / 50));
const MERCHANTS = 50;
const dataDir = resolve('.bench-data', `historical-v2-spine${spineRows}-source${sourceRows}`);

/** Deterministic pseudo-random expressions: DuckDB's hash of a distinct integer per (row, salt) (hash(i, salt) would correlate columns). */
const h = (salt: number) => `hash(i * 1000 + ${salt})`;
const tsExpr = (salt: number) =>
  `TIMESTAMP '2024-01-01' + to_microseconds((${h(salt)} % ${DAYS * 86_400_000_000})::BIGINT)`;

const generate = () =>
  generateOnce(dataDir, async (c, file) => {
    const a = Math.floor(sourceRows * 0.5);
    const b = Math.floor(sourceRows * 0.3);
    const m = sourceRows - a - b;
    await c.run(`COPY (
      SELECT *, strftime(event_ts, '%Y-%m-%d') AS date FROM (
        SELECT (${h(1)} % ${USERS})::BIGINT AS user_id, ${tsExpr(2)} AS event_ts,
               ${tsExpr(2)} + to_microseconds((${h(3)} % 3600000000)::BIGINT) AS created_ts,
               (${h(4)} % 500)::BIGINT AS clicks, (${h(5)} % 100000)::DOUBLE / 100 AS spend
        FROM range(${a}) t(i)) ORDER BY event_ts)
    TO ${file('user_activity')} (FORMAT parquet, PARTITION_BY (date))`);
    await c.run(`COPY (
      SELECT (${h(11)} % ${USERS})::BIGINT AS user_id, ${tsExpr(12)} AS event_ts,
             ['DE', 'FR', 'US', 'JP', 'BR'][1 + (${h(13)} % 5)::INTEGER] AS country, (18 + ${h(14)} % 60)::INTEGER AS age
      FROM range(${b}) t(i) ORDER BY event_ts)
    TO ${file('user_profile.parquet')} (FORMAT parquet)`);
    await c.run(`COPY (
      SELECT (${h(21)} % ${USERS})::BIGINT AS user_id, 'm' || (${h(22)} % ${MERCHANTS}) AS merchant_id,
             ${tsExpr(23)} AS event_ts, (${h(24)} % 1000)::BIGINT AS txn_count
      FROM range(${m}) t(i) ORDER BY event_ts)
    TO ${file('user_merchant.parquet')} (FORMAT parquet)`);
    await c.run(`COPY (
      SELECT i AS row_id, (${h(31)} % ${USERS})::BIGINT AS user_id, 'm' || (${h(32)} % ${MERCHANTS}) AS merchant_id,
             ${tsExpr(33)} AS event_timestamp, (${h(34)} % 2)::INTEGER AS label
      FROM range(${spineRows}) t(i) ORDER BY i)
    TO ${file('spine.parquet')} (FORMAT parquet)`);
  });

function views(): ViewSelection[] {
  const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
  const pair = entity({ name: 'user_merchant', joinKeys: { user_id: int64(), merchant_id: string() } });
  const activitySrc = parquetSource({
    name: 'user_activity',
    path: 'user_activity',
    timestampField: 'event_ts',
    createdTimestampField: 'created_ts',
  });
  const profileSrc = parquetSource({
    name: 'user_profile',
    path: 'user_profile.parquet',
    timestampField: 'event_ts',
  });
  const merchantSrc = parquetSource({
    name: 'user_merchant',
    path: 'user_merchant.parquet',
    timestampField: 'event_ts',
  });
  const activity = featureView({
    name: 'user_activity',
    entities: [user],
    source: activitySrc,
    schema: { clicks: int64(), spend: float64() },
    ttl: '7d',
  });
  const profile = featureView({
    name: 'user_profile',
    entities: [user],
    source: profileSrc,
    schema: { country: string(), age: int32() },
  });
  const merchant = featureView({
    name: 'user_merchant',
    entities: [pair],
    source: merchantSrc,
    schema: { txn_count: int64() },
    ttl: '30d',
  });
  return [
    { view: activity, source: activitySrc, joinKeys: user.joinKeys, features: activity.features },
    { view: profile, source: profileSrc, joinKeys: user.joinKeys, features: profile.features },
    { view: merchant, source: merchantSrc, joinKeys: pair.joinKeys, features: merchant.features },
  ];
}

await generate();
const selections = views();
const summaries = [];
for (const strategy of strategies) {
  const store = new DuckDbOfflineStore(
    { repoPath: dataDir, connections: {} },
    {
      strategy,
      ...(args.threads === undefined ? {} : { threads: Number(args.threads) }),
      ...(args.memory === undefined ? {} : { memoryLimit: args.memory }),
    },
  );
  const seconds: number[] = [];
  let matched: Record<string, number> = {};
  try {
    for (let run = 1; run <= runs; run++) {
      const started = performance.now();
      const result = await store.getHistoricalFeatures({
        spine: { kind: 'file', path: 'spine.parquet' },
        views: selections,
      });
      const s = (performance.now() - started) / 1000;
      seconds.push(s);
      if (run === 1) {
        // Non-null counts: a sanity check that the join found values, not a timed part.
        const rows = await result.rows();
        matched = Object.fromEntries(
          ['clicks', 'country', 'txn_count'].map((f) => [f, rows.filter((r) => r[f] !== null).length]),
        );
      }
      await result.close();
      console.error(
        `${strategy} run ${run}: ${s.toFixed(2)} s (${Math.round(spineRows / s).toLocaleString()} spine rows/s)`,
      );
    }
  } finally {
    await store.close();
  }
  const med = median(seconds);
  summaries.push({
    benchmark: 'historical',
    strategy,
    spineRows,
    sourceRows,
    views: selections.length,
    runs: seconds.map((s) => Number(s.toFixed(3))),
    medianSeconds: Number(med.toFixed(3)),
    spineRowsPerSecond: Math.round(spineRows / med),
    nonNullFeatures: matched,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGB: Math.round(os.totalmem() / 2 ** 30),
      loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
      node: process.version,
      duckdb: duckdbVersion(),
      threads: args.threads ?? 'default',
    },
  });
}
for (const s of summaries) {
  console.log(
    `${s.strategy}: median ${s.medianSeconds} s, ${s.spineRowsPerSecond.toLocaleString()} spine rows/s`,
  );
}
console.log(JSON.stringify(summaries.length === 1 ? summaries[0] : summaries));
