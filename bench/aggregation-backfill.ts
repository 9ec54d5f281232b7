/**
 * Point-in-time window aggregations (offline backfill) benchmark for the DuckDB offline store.
 *
 *   node --import tsx bench/aggregation-backfill.ts [--spine 1000000] [--events 10000000] [--runs 3] [--threads N]
 *                                                   [--compare <checkout>]
 *
 * Data (generated once with DuckDB SQL from hashes of the row number, cached under .bench-data/): click events
 * over 30 days for 100 000 users (one per 100 events), hive-partitioned by date, in event-time order; a spine of
 * user_id and event_timestamp uniform over the last 23 days, and a label.
 * View: 4 aggregations (count, sum(amount), max(amount), count_distinct(item)) × 3 windows (1h, 1d, 7d), with
 * default hops (5m, 1h, 6h).
 *
 * Measured: getHistoricalFeatures until the result table is complete. One line per run, then a JSON summary.
 * With --compare, every run is repeated with another checkout's DuckDB offline store (its
 * src/offline/duckdb/index.ts, e.g. `git archive HEAD src | tar -x -C /tmp/base`), alternating run by run, so
 * before/after figures come from the same minutes of a noisy machine; the two results are then compared value
 * by value (exact, floating sums within a relative 1e-9).
 */
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
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
    compare: { type: 'string' },
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
const options = args.threads === undefined ? {} : { threads: Number(args.threads) };
const ctx = { repoPath: dataDir, connections: {} };
type Store = Pick<DuckDbOfflineStore, 'getHistoricalFeatures' | 'close'>;
const builds: { label: string; open: () => Store }[] = [
  { label: 'this', open: () => new DuckDbOfflineStore(ctx, options) },
];
if (args.compare !== undefined) {
  const mod = (await import(
    pathToFileURL(join(resolve(args.compare), 'src/offline/duckdb/index.ts')).href
  )) as { DuckDbOfflineStore: typeof DuckDbOfflineStore };
  builds.push({ label: 'base', open: () => new mod.DuckDbOfflineStore(ctx, options) });
}
const request = {
  spine: { kind: 'file', path: 'spine.parquet' },
  views: [],
  aggregations: [{ view: activity, source: clicks, joinKeys: user.joinKeys, features: activity.features }],
} as const;
const seconds: number[][] = builds.map(() => []);
const firstRows: Record<string, unknown>[][] = [];
let meanClicks7d = 0;
for (let run = 1; run <= runs; run++) {
  for (const [b, build] of builds.entries()) {
    // A fresh store (DuckDB instance) per run: no state carried between runs or builds.
    const store = build.open();
    try {
      const started = performance.now();
      // Phases as the store reports them: each lasts until the next one starts.
      const marks: { phase: string; at: number }[] = [];
      const result = await store.getHistoricalFeatures({
        ...request,
        onProgress: (p) => marks.push({ phase: p.phase, at: performance.now() }),
      });
      const s = (performance.now() - started) / 1000;
      seconds[b]?.push(s);
      const phases = marks.map(
        (m, j) => `${m.phase} ${(((marks[j + 1]?.at ?? m.at) - m.at) / 1000).toFixed(2)} s`,
      );
      if (run === 1) {
        // A sanity check that windows found events, and the rows for --compare (not timed).
        const rows = await result.rows();
        if (b === 0) meanClicks7d = rows.reduce((t, r) => t + Number(r['clicks_7d']), 0) / rows.length;
        if (builds.length > 1) firstRows.push(rows);
      }
      await result.close();
      console.error(
        `run ${run} ${build.label}: ${s.toFixed(2)} s (${Math.round(spineRows / s).toLocaleString()} spine rows/s; ` +
          `${phases.slice(0, -1).join(', ')})`,
      );
    } finally {
      await store.close();
    }
  }
}
let mismatches: number | undefined;
if (firstRows.length === 2) {
  const [a, b] = firstRows as [Record<string, unknown>[], Record<string, unknown>[]];
  mismatches = 0;
  for (let i = 0; i < a.length; i++) {
    for (const f of activity.features) {
      const x = a[i]?.[f.name];
      const y = b[i]?.[f.name];
      // Floating sums may differ in the last bits from run to run (DuckDB adds in parallel, in any order).
      const same =
        typeof x === 'number' && typeof y === 'number'
          ? Math.abs(x - y) <= 1e-9 * Math.abs(x)
          : String(x) === String(y);
      if (!same) mismatches++;
    }
  }
  console.error(`compared ${a.length} rows x ${activity.features.length} features: ${mismatches} differ`);
}
const med = median(seconds[0] as number[]);
console.log(`median ${med.toFixed(2)} s, ${Math.round(spineRows / med).toLocaleString()} spine rows/s`);
const baseSeconds = seconds[1];
if (baseSeconds !== undefined) console.log(`base median ${median(baseSeconds).toFixed(2)} s`);
console.log(
  JSON.stringify({
    benchmark: 'aggregation-backfill',
    spineRows,
    eventRows,
    aggregations: 4,
    windows: 3,
    runs: (seconds[0] as number[]).map((s) => Number(s.toFixed(3))),
    medianSeconds: Number(med.toFixed(3)),
    ...(baseSeconds === undefined
      ? {}
      : {
          baseRuns: baseSeconds.map((s) => Number(s.toFixed(3))),
          baseMedianSeconds: Number(median(baseSeconds).toFixed(3)),
          mismatches,
        }),
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
