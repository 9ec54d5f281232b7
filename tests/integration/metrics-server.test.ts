import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureStore } from '../../src/feature-store.js';
import { TesseraMetrics } from '../../src/metrics/metrics.js';
import { buildServer } from '../../src/server/http-server.js';
import { monitoringRepo, sample } from '../helpers/monitoring-repo.js';
import { redisUrl } from '../helpers/services.js';

const backends = [
  { name: 'sqlite', online: () => '' },
  {
    name: 'redis',
    online: () => `online_store: { type: redis, url: "${redisUrl()}", key_prefix: metrics${process.pid} }`,
  },
];

describe.each(backends)('GET /metrics of the HTTP server on $name', ({ name, online }) => {
  let dir: string;
  let store: FeatureStore;
  let app: FastifyInstance;
  let url: string;
  let metrics: TesseraMetrics;
  const now = Date.now();

  beforeAll(async () => {
    ({ dir, store } = await monitoringRepo(online()));
    // user 1: fresh; user 2: older than the 1h TTL (OUTSIDE_MAX_AGE); user 3: never written (NOT_FOUND).
    await store.push({
      view: 'user_stats',
      rows: [
        { user_id: 1, ts: new Date(now - 60_000).toISOString(), clicks: 5, country: 'NZ' },
        { user_id: 2, ts: new Date(now - 2 * 3_600_000).toISOString(), clicks: 7, country: 'FR' },
      ],
    });
    metrics = new TesseraMetrics();
    app = await buildServer(store, { metrics });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app?.close();
    await store?.online.deleteView({ project: store.config.project, name: 'user_stats', ttlMs: 0 });
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const scrape = async (): Promise<string> => {
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };
  const getFeatures = (body: unknown) =>
    fetch(`${url}/get-online-features`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('counts requests, statuses served, fallbacks and store reads by the right amounts', async () => {
    const before = await scrape();
    const res = await getFeatures({
      features: ['user_stats:clicks', 'user_stats:country'],
      entities: { user_id: [1, 2, 3] },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: { statuses: string[] }[] };
    // clicks (with a fallback): PRESENT, DEFAULTED, DEFAULTED; country: PRESENT, OUTSIDE_MAX_AGE, NOT_FOUND.
    expect(body.results[1]?.statuses).toEqual(['PRESENT', 'DEFAULTED', 'DEFAULTED']);
    expect(body.results[2]?.statuses).toEqual(['PRESENT', 'OUTSIDE_MAX_AGE', 'NOT_FOUND']);
    expect((await getFeatures({ features: 'nope' })).status).toBe(400);
    expect((await fetch(`${url}/no/such/path`)).status).toBe(404);
    const after = await scrape();

    const delta = (metric: string, labels: Record<string, string> = {}) =>
      sample(after, metric, labels) - sample(before, metric, labels);
    const route = (status: string) => ({ route: '/get-online-features', method: 'POST', status });
    expect(delta('tessera_http_requests_total', route('200'))).toBe(1);
    expect(delta('tessera_http_requests_total', route('400'))).toBe(1);
    expect(delta('tessera_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBe(
      1,
    );
    expect(delta('tessera_http_request_duration_seconds_count', route('200'))).toBe(1);
    // Every request lands in the +Inf bucket, and a sub-second one in the 1 s bucket too.
    expect(delta('tessera_http_request_duration_seconds_bucket', { ...route('200'), le: '+Inf' })).toBe(1);
    expect(delta('tessera_http_request_duration_seconds_bucket', { ...route('200'), le: '1' })).toBe(1);
    expect(delta('tessera_http_request_duration_seconds_sum', route('200'))).toBeGreaterThan(0);

    const served = (status: string) =>
      delta('tessera_feature_values_served_total', { view: 'user_stats', status });
    expect(served('PRESENT')).toBe(2);
    expect(served('DEFAULTED')).toBe(2);
    expect(served('OUTSIDE_MAX_AGE')).toBe(1);
    expect(served('NOT_FOUND')).toBe(1);
    expect(served('NULL_VALUE')).toBe(0);
    expect(delta('tessera_fallbacks_total', { view: 'user_stats', feature: 'clicks' })).toBe(2);
    // One store read per request (the 400 never reached the store).
    expect(delta('tessera_online_store_read_duration_seconds_count', { store: name })).toBe(1);
    expect(delta('tessera_online_store_read_errors_total', { store: name })).toBe(0);
    // Node's default process metrics are there too.
    expect(after).toMatch(/^process_cpu_user_seconds_total /m);
    expect(after).toMatch(/^nodejs_heap_size_used_bytes /m);
  });

  it('exports freshness gauges against the view thresholds', async () => {
    const text = await scrape();
    const age = sample(text, 'tessera_feature_view_freshness_seconds', { view: 'user_stats' });
    // Newest value written for user_stats is one minute old (user 1), measured at scrape time.
    expect(age).toBeGreaterThanOrEqual(60);
    expect(age).toBeLessThan(60 + (Date.now() - now) / 1000 + 1);
    expect(sample(text, 'tessera_feature_view_freshness_max_age_seconds', { view: 'user_stats' })).toBe(600);
    expect(
      sample(text, 'tessera_feature_view_freshness_breached', { view: 'user_stats', check: 'age' }),
    ).toBe(0);
    expect(sample(text, 'tessera_feature_view_freshness_max_lag_seconds', { view: 'activity' })).toBe(300);
    // Nothing streamed yet: no age and no lag for activity.
    expect(text).not.toMatch(/tessera_feature_view_freshness_seconds\{view="activity"\}/);
  });
});
