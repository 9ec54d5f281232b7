import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aggregationView } from '../../src/definitions/aggregation-view.js';
import { featureView } from '../../src/definitions/feature-view.js';
import { int64 } from '../../src/definitions/value-types.js';
import type { FeatureStore } from '../../src/feature-store.js';
import type { FreshnessReport } from '../../src/metrics/freshness-report.js';
import { monitoringRepo } from '../helpers/monitoring-repo.js';
import { plainCliEnv } from '../helpers/run-cli.js';

const ROOT = join(import.meta.dirname, '../..');

/** `tessera freshness --json` in a child process, as an operator or a cron job runs it. */
function freshnessCli(
  dir: string,
  ...args: string[]
): { code: number; report: FreshnessReport; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), '--repo', dir, 'freshness', '--json', ...args],
    { cwd: ROOT, encoding: 'utf8', timeout: 120_000, env: plainCliEnv() },
  );
  return {
    code: r.status ?? -1,
    report: JSON.parse(r.stdout || 'null') as FreshnessReport,
    stderr: r.stderr,
  };
}

describe('freshness thresholds in definitions', () => {
  it('are parsed from TS and stored in milliseconds; absent thresholds leave the definition unchanged', () => {
    const v = featureView({
      name: 'v',
      entities: ['user'],
      source: 's',
      schema: { x: int64() },
      freshness: { maxAge: '10m', maxLag: '30s' },
    });
    expect(v.freshness).toEqual({ maxAgeMs: 600_000, maxLagMs: 30_000 });
    expect(
      'freshness' in featureView({ name: 'w', entities: ['user'], source: 's', schema: { x: int64() } }),
    ).toBe(false);
    const a = aggregationView({
      name: 'a',
      entities: ['user'],
      source: 's',
      aggregations: { n: { fn: 'count', windows: ['1h'] } },
      freshness: { maxLag: '1m' },
    });
    expect(a.freshness).toEqual({ maxLagMs: 60_000 });
  });

  it('refuses a zero or malformed bound, naming the field', () => {
    const make = (maxAge: string) =>
      featureView({
        name: 'v',
        entities: ['user'],
        source: 's',
        schema: { x: int64() },
        freshness: { maxAge },
      });
    expect(() => make('0')).toThrow(/freshness.maxAge of view 'v' must be a positive duration/);
    expect(() => make('ten minutes')).toThrow(/invalid duration/);
  });
});

describe('tessera freshness', () => {
  let dir: string;
  let store: FeatureStore;
  let project: string;
  const now = Date.now();

  beforeAll(async () => {
    ({ dir, store, project } = await monitoringRepo());
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads thresholds from YAML into the registry state', () => {
    const state = store.currentState();
    expect(state.featureViews.find((v) => v.name === 'user_stats')?.freshness).toEqual({ maxAgeMs: 600_000 });
    expect(state.aggregationViews.find((v) => v.name === 'activity')?.freshness).toEqual({
      maxLagMs: 300_000,
    });
  });

  it('breaches max_age while nothing is online, and on old data; passes once fresh data is written', async () => {
    const empty = freshnessCli(dir);
    expect(empty.code, empty.stderr).toBe(5);
    expect(empty.report.views.find((v) => v.view === 'user_stats')?.breaches).toEqual([
      { check: 'age', message: 'no value online yet' },
    ]);

    await store.push({
      view: 'user_stats',
      rows: [{ user_id: 1, ts: new Date(now - 2 * 3_600_000).toISOString(), clicks: 1, country: 'NZ' }],
    });
    const old = freshnessCli(dir);
    expect(old.code, old.stderr).toBe(5);
    expect(old.report.breached).toBe(true);
    const stats = old.report.views.find((v) => v.view === 'user_stats');
    expect(stats?.newestEventAt).toBe(new Date(now - 2 * 3_600_000).toISOString());
    expect(stats?.ageSeconds).toBeGreaterThanOrEqual(7200);
    expect(stats?.maxAgeSeconds).toBe(600);
    expect(stats?.breaches.map((b) => b.check)).toEqual(['age']);

    await store.push({
      view: 'user_stats',
      rows: [{ user_id: 2, ts: new Date().toISOString(), clicks: 3, country: 'FR' }],
    });
    const fresh = freshnessCli(dir);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.report.breached).toBe(false);
    expect(fresh.report.views.find((v) => v.view === 'user_stats')?.ageSeconds).toBeLessThan(600);
  }, 120_000);

  it("breaches max_lag from the stream checkpoints' watermarks of the consumer group", async () => {
    // What `tessera stream` commits for partition events/0: tiles, next offset and a watermark 10 minutes ago.
    const watermark = Date.now() - 600_000;
    await store.online.writeTiles(
      [
        {
          view: { project, name: 'activity', ttlMs: 0 },
          tiles: [
            {
              entityKey: '1',
              hopMs: 300_000,
              start: watermark - (watermark % 300_000),
              value: new Uint8Array([0]),
              expiresAt: Date.now() + 3_600_000,
            },
          ],
          newestEventTs: watermark,
        },
      ],
      {
        consumer: `${project}.events`,
        offsets: [
          { partition: 'events/0', expected: null, next: 5, meta: JSON.stringify({ watermark, files: [] }) },
        ],
      },
    );
    const lagging = freshnessCli(dir);
    expect(lagging.code, lagging.stderr).toBe(5);
    const activity = lagging.report.views.find((v) => v.view === 'activity');
    expect(activity?.streamLagSeconds).toBeGreaterThanOrEqual(600);
    expect(activity?.breaches.map((b) => b.check)).toEqual(['lag']);
    expect(lagging.report.streams).toEqual([
      expect.objectContaining({
        source: 'events',
        consumer: `${project}.events`,
        partition: 'events/0',
        next: 5,
        watermark: new Date(watermark).toISOString(),
      }),
    ]);
    // Another group has committed nothing: its lag is unknown, which is not a breach.
    const other = freshnessCli(dir, '--group', 'events=somebody.else');
    expect(other.code, other.stderr).toBe(0);
    expect(other.report.streams).toEqual([]);
  }, 120_000);
});
