/**
 * Replay from Parquet through the stream engine (`tessera stream --replay`): resumable from its checkpoint, every
 * event counted once online and appended once to the lake, online = offline recomputation.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FeatureStore } from '../../src/feature-store.js';
import { randomEvents, T0, writeEvents } from '../helpers/aggregation-data.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stream engine without Kafka: Parquet replay and the in-process log', () => {
  it('resumes after an interruption and ends with online = offline over the lake', async () => {
    writeFileSync(join(dir, 'tessera.yaml'), 'project: replay\ndefinitions: [features.yaml]\n');
    writeFileSync(
      join(dir, 'features.yaml'),
      `entities:
  - name: user
    join_keys: { user_id: int64 }
sources:
  - name: events
    type: parquet
    path: lake/events
    timestamp_field: ts
aggregation_views:
  - name: activity
    entities: [user]
    source: events
    allowed_lateness: 1d
    aggregations:
      n: { fn: count, windows: [1h, 4h] }
      spend: { fn: sum, column: amount, type: float64, windows: [4h] }
      items: { fn: count_distinct, column: item, type: string, windows: [4h] }
      recent: { fn: last_k, column: qty, type: int64, k: 2, windows: [1h] }
`,
    );
    // Events over the last 3 hours, in a dump outside the lake.
    const shift = Date.now() - 3.5 * 3_600_000 - T0;
    const events = randomEvents(11, 3000, 6)
      .map((e) => ({ ...e, ts: e.ts + shift }))
      .filter((e) => e.ts < Date.now());
    const store = await FeatureStore.open(dir);
    try {
      await writeEvents(store.offline, join(dir, 'dump', 'part-0.parquet'), events);
      await store.apply();
      // First run interrupted after two batches, second run finishes, third finds nothing left.
      const ac = new AbortController();
      let batches = 0;
      const first = await store.stream({
        source: 'events',
        replay: 'dump',
        batchSize: 500,
        signal: ac.signal,
        onBatch: () => {
          if (++batches === 2) ac.abort();
        },
      });
      expect(first.events).toBe(1000);
      const second = await store.stream({
        source: 'events',
        replay: 'dump',
        batchSize: 500,
        signal: new AbortController().signal,
      });
      expect(first.events + second.events).toBe(events.length);
      const third = await store.stream({
        source: 'events',
        replay: 'dump',
        signal: new AbortController().signal,
      });
      expect(third.events).toBe(0);
      await expect(
        store.stream({ source: 'events', replay: 'lake/events', signal: new AbortController().signal }),
      ).rejects.toThrow(/from its own lake/);

      const lake = await store.getHistoricalFeatures({
        spine: {
          kind: 'sql',
          query: `SELECT user_id, ts AS event_timestamp FROM read_parquet('${dir}/lake/events/**/*.parquet')`,
        },
        features: ['activity:n_1h'],
      });
      expect(lake.rowCount).toBe(events.length);
      await lake.close();

      const report = await store.verifyConsistency();
      expect(report.views[0]?.entities).toBe(6);
      expect(report.views[0]?.mismatches).toEqual([]);
      expect(report.score).toBe(1);
      const online = await store.getOnlineFeatures({
        features: ['activity:n_4h'],
        entities: [{ user_id: 1 }],
      });
      expect(online.rows[0]?.['n_4h'] as number).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  }, 120_000);

  it('runs in-process on the embedded default: pushed events are counted online and appended to the lake', async () => {
    const store = await FeatureStore.open(dir);
    try {
      const lakeRows = async () => {
        const r = await store.getHistoricalFeatures({
          spine: {
            kind: 'sql',
            query: `SELECT user_id, ts AS event_timestamp FROM read_parquet('${dir}/lake/events/**/*.parquet')`,
          },
          features: ['activity:n_1h'],
        });
        await r.close();
        return r.rowCount;
      };
      const n1h = async (user_id: number) =>
        Number(
          (await store.getOnlineFeatures({ features: ['activity:n_1h'], entities: [{ user_id }] })).rows[0]?.[
            'n_1h'
          ],
        );
      const [lakeBefore, before] = [await lakeRows(), await n1h(42)];
      const live = await store.startLocalStream({ source: 'events' });
      const event = () => ({ user_id: 42, ts: new Date().toISOString(), amount: 1.5, item: 'a', qty: 1 });
      live.push(Array.from({ length: 250 }, event));
      // A bad event rejects the whole push: none of it is appended.
      expect(() => live.push([event(), { ...event(), qty: 'one' }])).toThrow(
        /event 1 .* 'qty' must be a int64/,
      );
      await live.flush();
      expect(await n1h(42)).toBe(before + 250);
      live.push([event()]);
      await live.flush();
      await live.stop();
      expect(live.counters.events).toBe(251);
      expect(await n1h(42)).toBe(before + 251);
      expect(await lakeRows()).toBe(lakeBefore + 251);
    } finally {
      await store.close();
    }
  }, 120_000);
});
