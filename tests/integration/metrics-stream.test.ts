import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeatureStore, LocalStream } from '../../src/feature-store.js';
import { TesseraMetrics } from '../../src/metrics/metrics.js';
import { type MetricsServer, serveMetrics } from '../../src/metrics/metrics-server.js';
import { monitoringRepo, sample } from '../helpers/monitoring-repo.js';

describe('stream worker metrics (in-process stream, GET /metrics on its own port)', () => {
  let dir: string;
  let store: FeatureStore;
  let live: LocalStream;
  let server: MetricsServer;
  const metrics = new TesseraMetrics();
  const now = Date.now();
  const event = (user_id: number, ts: number, amount = 1) => ({
    user_id,
    ts: new Date(ts).toISOString(),
    amount,
  });

  beforeAll(async () => {
    ({ dir, store } = await monitoringRepo());
    live = await store.startLocalStream({ source: 'events', partitions: 2, metrics });
    server = await serveMetrics(metrics, { port: 0 });
  }, 120_000);

  afterAll(async () => {
    await live?.stop();
    await server?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };

  it('counts events, batches, dead letters by reason and late events; reports lags and freshness', async () => {
    const before = await scrape();
    live.push([event(1, now - 30_000), event(2, now - 20_000), event(3, now - 10_000)]);
    await live.flush();
    // User 1's partition now has a watermark of now − 30 s: an event 2 days older is late (allowed: 1 day),
    // one 2 days ahead is too far in the future. Both go to the dead letters; the third counts.
    live.push([event(1, now - 2 * 86_400_000), event(1, now + 2 * 86_400_000), event(1, now - 5_000)]);
    await live.flush();
    const text = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sample(text, name, labels) - sample(before, name, labels);
    const source = { source: 'events' };
    expect(delta('tessera_stream_events_total', source)).toBe(4);
    expect(delta('tessera_stream_dead_letters_total', { ...source, reason: 'late' })).toBe(1);
    expect(delta('tessera_stream_dead_letters_total', { ...source, reason: 'too_far_ahead' })).toBe(1);
    expect(delta('tessera_stream_dead_letters_total', { ...source, reason: 'malformed' })).toBe(0);
    expect(delta('tessera_stream_late_events_total', source)).toBe(1);
    const batches = delta('tessera_stream_batches_total', source);
    expect(batches).toBeGreaterThanOrEqual(2);
    expect(delta('tessera_stream_batch_duration_seconds_count', source)).toBe(batches);
    expect(sample(text, 'tessera_stream_rebalances_total', { ...source, change: 'assigned' })).toBe(1);
    expect(live.counters).toMatchObject({ events: 4, late: 1, malformed: 1 });

    // Everything pushed is committed: no consumer lag on either partition.
    for (const partition of ['events/0', 'events/1'])
      expect(text).toContain(
        `tessera_stream_consumer_lag_records{source="events",partition="${partition}"} 0`,
      );
    // Event-time lag per partition: now − watermark; the newest accepted event is 5 s old.
    const lags = ['events/0', 'events/1'].map((partition) =>
      sample(text, 'tessera_stream_event_lag_seconds', { ...source, partition }),
    );
    expect(Math.min(...lags)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...lags)).toBeLessThan(60);
    const age = sample(text, 'tessera_feature_view_freshness_seconds', { view: 'activity' });
    expect(age).toBeGreaterThanOrEqual(5);
    expect(age).toBeLessThan(60);
    expect(sample(text, 'tessera_feature_view_stream_lag_seconds', { view: 'activity' })).toBe(
      Math.max(...lags),
    );
    expect(sample(text, 'tessera_feature_view_freshness_breached', { view: 'activity', check: 'lag' })).toBe(
      0,
    );
    // The worker only reports its own views.
    expect(text).not.toContain('view="user_stats"');

    // A stopped worker no longer reports partitions it does not consume.
    await live.stop();
    const ended = await scrape();
    expect(ended).not.toContain('tessera_stream_consumer_lag_records{');
    expect((await fetch(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
  }, 120_000);
});
