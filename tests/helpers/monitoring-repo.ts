import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureStore } from '../../src/feature-store.js';

/**
 * A small feature repo for monitoring tests: `user_stats` (feature view, TTL 1h, fallback for `clicks`,
 * freshness max_age 10m) over a Parquet file, and `activity` (aggregation view, freshness max_lag 5m) over the
 * streamed source `events`. Applied, with an empty online store.
 *
 * @example const { dir, store } = await monitoringRepo('online_store: { type: sqlite }');
 */
export async function monitoringRepo(
  onlineStoreYaml = '',
): Promise<{ dir: string; store: FeatureStore; project: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-monitoring-'));
  const project = `mon${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  writeFileSync(
    join(dir, 'tessera.yaml'),
    `project: ${project}
definitions: [features.yaml]
${onlineStoreYaml}
connections:
  default: { url: "kafka://127.0.0.1:1" }
serving:
  fallbacks: { "user_stats:clicks": -1 }
`,
  );
  writeFileSync(
    join(dir, 'features.yaml'),
    `entities:
  - name: user
    join_keys: { user_id: int64 }
sources:
  - name: stats_src
    type: parquet
    path: data/stats.parquet
    timestamp_field: ts
  - name: events
    type: parquet
    path: lake/events
    timestamp_field: ts
    stream: { topic: events }
feature_views:
  - name: user_stats
    entities: [user]
    source: stats_src
    ttl: 1h
    schema: { clicks: int64, country: string }
    freshness: { max_age: 10m }
aggregation_views:
  - name: activity
    entities: [user]
    source: events
    allowed_lateness: 1d
    freshness: { max_lag: 5m }
    aggregations:
      n: { fn: count, windows: [1h] }
      spend: { fn: sum, column: amount, type: float64, windows: [1h] }
`,
  );
  const store = await FeatureStore.open(dir);
  await store.offline.writeParquet(
    [{ user_id: 1n, ts: new Date(0), clicks: 1n, country: 'NZ' }],
    [
      { name: 'user_id', type: 'BIGINT' },
      { name: 'ts', type: 'TIMESTAMPTZ' },
      { name: 'clicks', type: 'BIGINT' },
      { name: 'country', type: 'VARCHAR' },
    ],
    join(dir, 'data', 'stats.parquet'),
  );
  await store.apply();
  return { dir, store, project };
}

/**
 * The value of one sample in Prometheus text exposition format (0 when the series is absent, as a counter
 * that was never incremented reads). Labels must match exactly (all of them, any order).
 *
 * @example sample(text, 'tessera_http_requests_total', { route: '/health', method: 'GET', status: '200' })
 */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = (m[2] ?? '')
      .split(/,(?=[a-zA-Z_]+=")/)
      .filter((s) => s !== '')
      .sort()
      .join(',');
    if (got === want) return Number(m[3]);
  }
  return 0;
}
