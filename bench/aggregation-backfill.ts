/**
 * Point-in-time window aggregations (offline backfill) benchmark for the DuckDB offline store.
 *
 *   node --import tsx bench/aggregation-backfill.ts [--spine 1000000] [--events 10000000] [--runs 3] [--threads N]
 *
 * Data (generated once with DuckDB SQL from hashes of the row number, cached under .bench-data/): click events
 * over 30 days for 100 000 users (one per 100 events), hive-partitioned by date, in event-time order; a spine of
 * user_id and event_timestamp uniform over the last 23 days, and a label.
 * View: 4 aggregations (count, sum(amount), max(amount), count_distinct(item)) × 3 windows (1h, 1d, 7d), with
 * default hops (5m, 1h, 6h).
 *
 * Measured: getHistoricalFeatures until the result table is complete. One line per run, then a JSON summary.
 */
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { version as duckdbVersion } from '@duckdb/node-api';
import { aggregationView } from '../src/definitions/aggregation-view.js';
import { entity } from '../src/definitions/entity.js';
import { parquetSource } from '../src/definitions/source.js';
import { float64, int64 } from '../src/definitions/value-types.js';
import { DuckDbOfflineStore } from '../src/offline/duckdb/index.js';
import { generateOnce } from './bench-data.js';
import { median } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    spine: { type: 'string', default: '1000000' },
    events: { type: 'string', default: '10000000' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string' },
  },
});
const spineRows = Number(args.spine);
const eventRows = Number(args.events);
const runs = Math.max(1, Number(args.runs));
const DAYS = 30;
const USERS = Math.max(1000, Math.floor(eventRows / 100));
const dataDir = resolve('.bench-data', `aggregation-v1-spine${spineRows}-events${eventRows}`);

const h = (salt: number) => `hash(i * 1000 + ${salt})`;

const generate = () =>
  generateOnce(dataDir, async (c, file) => {
    await c.run(`COPY (
      SELECT *, strftime(ts, '%Y-%m-%d') AS date FROM (
        SELECT (${h(1)} % ${USERS})::BIGINT AS user_id,
               TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_microseconds((${h(2)} % ${DAYS * 86_400_000_000})::BIGINT) AS ts,
               (${h(3)} % 100000)::DOUBLE / 100 AS amount, (${h(4)} % 500)::BIGINT AS item
        FROM range(${eventRows}) t(i)) ORDER BY ts)
    TO ${file('clicks')} (FORMAT parquet, PARTITION_BY (date))`);
    await c.run(`COPY (
      SELECT i AS row_id, (${h(31)} % ${USERS})::BIGINT AS user_id,
             TIMESTAMPTZ '2024-01-08 00:00:00+00' + to_microseconds((${h(33)} % ${(DAYS - 7) * 86_400_000_000})::BIGINT) AS event_timestamp,
             (${h(34)} % 2)::INTEGER AS label
      FROM range(${spineRows}) t(i) ORDER BY i)
    TO ${file('spine.parquet')} (FORMAT parquet)`);
  });

const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
const clicks = parquetSource({ name: 'clicks', path: 'clicks', timestampField: 'ts' });
const activity = aggregationView({
  name: 'user_clicks',
  entities: [user],
  source: clicks,
  aggregations: {
    clicks: { fn: 'count', windows: ['1h', '1d', '7d'] },
    spend: { fn: 'sum', column: 'amount', type: float64(), windows: ['1h', '1d', '7d'] },
    top_amount: { fn: 'max', column: 'amount', type: float64(), windows: ['1h', '1d', '7d'] },
    items: { fn: 'count_distinct', column: 'item', type: int64(), windows: ['1h', '1d', '7d'] },
  },
});

await generate();
const store = new DuckDbOfflineStore(
  { repoPath: dataDir, connections: {} },
  args.threads === undefined ? {} : { threads: Number(args.threads) },
);
const seconds: number[] = [];
let meanClicks7d = 0;
try {
  for (let run = 1; run <= runs; run++) {
    const started = performance.now();
    const result = await store.getHistoricalFeatures({
      spine: { kind: 'file', path: 'spine.parquet' },
      views: [],
      aggregations: [
        { view: activity, source: clicks, joinKeys: user.joinKeys, features: activity.features },
      ],
    });
    const s = (performance.now() - started) / 1000;
    seconds.push(s);
    if (run === 1) {
      // A sanity check that windows found events (not timed).
      const rows = await result.rows();
      meanClicks7d = rows.reduce((t, r) => t + Number(r['clicks_7d']), 0) / rows.length;
    }
    await result.close();
    console.error(
      `run ${run}: ${s.toFixed(2)} s (${Math.round(spineRows / s).toLocaleString()} spine rows/s)`,
    );
  }
} finally {
  await store.close();
}
const med = median(seconds);
console.log(`median ${med.toFixed(2)} s, ${Math.round(spineRows / med).toLocaleString()} spine rows/s`);
console.log(
  JSON.stringify({
    benchmark: 'aggregation-backfill',
    spineRows,
    eventRows,
    aggregations: 4,
    windows: 3,
    runs: seconds.map((s) => Number(s.toFixed(3))),
    medianSeconds: Number(med.toFixed(3)),
    spineRowsPerSecond: Math.round(spineRows / med),
    meanClicks7d: Number(meanClicks7d.toFixed(2)),
    machine: {
      cpus: os.cpus().length,
      loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
      node: process.version,
      duckdb: duckdbVersion(),
    },
  }),
);
