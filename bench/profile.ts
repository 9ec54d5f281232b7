/**
 * Profile and drift benchmark: `DataMonitor.profile` of a 10M-row Parquet source (3 numeric columns with
 * quantiles, histograms and CDF points, 1 categorical column with top values), then `compare` of a 1M-row window
 * of the same source with that profile.
 *
 *   node --import tsx bench/profile.ts [--rows 10000000] [--runs 3] [--threads N]
 *
 * Data (generated once with DuckDB SQL from hashes of the row number, cached under .bench-data/profile-<rows>/):
 * user_id BIGINT, ts TIMESTAMPTZ over 90 days, amount DOUBLE (normal-ish, 2 % NULL), items BIGINT (1–5),
 * score DOUBLE (uniform), device VARCHAR (5 values). Prints one line per run and a JSON summary with medians.
 */
import os from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { version as duckdbVersion } from '@duckdb/node-api';
import { stateFromDefinitions } from '../src/definitions/definition.js';
import { parquetSource } from '../src/definitions/source.js';
import { DataMonitor } from '../src/monitoring/data-monitor.js';
import { generateOnce } from './bench-data.js';
import { median } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string' },
  },
});
const rows = Number(args.rows);
const runs = Number(args.runs);
const dataDir = resolve(`.bench-data/profile-${rows}`);

await generateOnce(dataDir, async (c, file) => {
  const u = (salt: number) => `((hash(i * 7919 + ${salt}) % 1000000) + 0.5) / 1000000.0`;
  await c.run(`COPY (
    SELECT (hash(i) % 200000)::BIGINT AS user_id,
      TIMESTAMPTZ '2024-01-01' + to_microseconds((i * (90 * 86400000000 // ${rows}))::BIGINT) AS ts,
      CASE WHEN i % 50 = 0 THEN NULL ELSE 50 + 10 * sqrt(-2 * ln(${u(1)})) * cos(2 * pi() * ${u(2)}) END AS amount,
      (floor(${u(3)} * 5) + 1)::BIGINT AS items,
      ${u(4)} AS score,
      ['web', 'ios', 'android', 'tv', 'car'][1 + (hash(i + 5) % 5)::INTEGER] AS device
    FROM range(${rows}) t(i)
  ) TO ${file('orders.parquet')} (FORMAT parquet, ROW_GROUP_SIZE 122880)`);
});

const source = parquetSource({
  name: 'orders',
  path: resolve(dataDir, 'orders.parquet'),
  timestampField: 'ts',
});
const state = stateFromDefinitions('bench', [source]);
const monitor = new DataMonitor({
  repoPath: dataDir,
  connections: {},
  state,
  ...(args.threads ? { threads: Number(args.threads) } : {}),
});
console.error(
  `machine: ${os.cpus().length} cpus, load ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, DuckDB ${duckdbVersion()}`,
);

const profileSeconds: number[] = [];
const compareSeconds: number[] = [];
const windowDays = Math.max(1, Math.round(90 / (rows / 1_000_000)));
for (let run = 0; run < runs; run++) {
  let t0 = performance.now();
  const profile = await monitor.profile({
    kind: 'source',
    source: 'orders',
    columns: ['amount', 'items', 'score', 'device'],
  });
  profileSeconds.push((performance.now() - t0) / 1000);
  t0 = performance.now();
  const report = await monitor.compare(
    { name: 'bench', profile },
    {
      kind: 'source',
      source: 'orders',
      window: {
        start: new Date('2024-02-01T00:00:00Z'),
        end: new Date(Date.parse('2024-02-01T00:00:00Z') + windowDays * 86_400_000),
      },
    },
  );
  compareSeconds.push((performance.now() - t0) / 1000);
  console.error(
    `run ${run + 1}: profile ${profile.rowCount.toLocaleString('en-US')} rows × ${profile.columns.length} columns in ${profileSeconds.at(-1)?.toFixed(2)} s; ` +
      `compare ${report.current.rows.toLocaleString('en-US')} rows in ${compareSeconds.at(-1)?.toFixed(2)} s (breached: ${report.breached})`,
  );
}
await monitor.close();
console.log(
  JSON.stringify({
    rows,
    runs,
    profileSeconds,
    profileMedian: median(profileSeconds),
    profileRowsPerSecond: Math.round(rows / median(profileSeconds)),
    compareSeconds,
    compareMedian: median(compareSeconds),
  }),
);
