/**
 * Stream validation: the row-level expectations of a streamed source are checked per event by the stream engine
 * (in-process log); failing events go to the dead letters with the reason and are counted, warn-level failures
 * are counted and kept, and the worker keeps going.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FeatureStore } from '../../src/feature-store.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-quality-stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stream validation per event', () => {
  it('dead-letters events failing error checks, counts warnings, never stops', async () => {
    writeFileSync(join(dir, 'tessera.yaml'), 'project: dqs\ndefinitions: [features.yaml]\n');
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
    expectations:
      - between: { column: amount, min: 0, max: 1000 }
      - matches: { column: country, pattern: '^[A-Z]{2}$' }
      - in_set: { column: item, values: [a, b, c] }
        severity: warn
      - not_null: item
        severity: warn
      - row_count: { min: 1 }
aggregation_views:
  - name: activity
    entities: [user]
    source: events
    aggregations:
      n: { fn: count, windows: [1h] }
      spend: { fn: sum, column: amount, type: float64, windows: [1h] }
      items: { fn: count_distinct, column: item, type: string, windows: [1h] }
`,
    );
    const store = await FeatureStore.open(dir);
    try {
      await store.apply();
      const live = await store.startLocalStream({ source: 'events', partitions: 2 });
      const now = Date.now();
      const event = (i: number, extra: Record<string, unknown> = {}) => ({
        user_id: i % 5,
        ts: new Date(now - 60_000 + i).toISOString(),
        amount: 2,
        item: 'a',
        country: 'FR',
        ...extra,
      });
      const good = Array.from({ length: 100 }, (_, i) => event(i));
      const bad = [
        event(100, { amount: -1 }),
        event(101, { amount: 5000, item: 'zzz' }), // error wins: one dead letter, no warning
        event(102, { country: 'france' }),
      ];
      const warned = [event(103, { item: 'zzz' }), event(104, { item: null })];
      // In event-time order (the view allows no lateness).
      const batch = [...good.slice(0, 50), ...bad, ...warned, ...good.slice(50)].map((e, i) => ({
        ...e,
        ts: new Date(now - 60_000 + i).toISOString(),
      }));
      live.push(batch);
      await live.flush();
      expect(live.counters).toMatchObject({ events: 102, invalid: 3, warned: 2, malformed: 0 });
      expect(live.counters.checkFailures).toEqual({
        'between(amount)': 2,
        'matches(country)': 1,
        'in_set(item)': 1,
        'not_null(item)': 1,
      });
      // The worker goes on after refusing events.
      live.push([{ ...event(200), ts: new Date(now - 30_000).toISOString() }]);
      await live.flush();
      await live.stop();
      expect(live.counters.events).toBe(103);

      const deadDir = join(dir, 'dead-letters', 'events');
      const dead = readdirSync(deadDir)
        .flatMap((f) => readFileSync(join(deadDir, f), 'utf8').trim().split('\n'))
        .map((l) => JSON.parse(l) as { reason: string; field: string; value: string; source: string });
      expect(dead).toHaveLength(3);
      const byAmount = dead
        .filter((d) => d.field === 'amount')
        .map((d) => d.reason)
        .sort();
      expect(byAmount).toEqual([
        'expectation between(amount) failed: got -1',
        'expectation between(amount) failed: got 5000',
      ]);
      const country = dead.find((d) => d.field === 'country');
      expect(country?.reason).toBe('expectation matches(country) failed: got "france"');
      expect(JSON.parse(country?.value ?? '{}')).toMatchObject({ country: 'france' });

      const online = await store.getOnlineFeatures({
        features: ['activity:n_1h', 'activity:spend_1h'],
        entities: [0, 1, 2, 3, 4].map((user_id) => ({ user_id })),
      });
      const total = online.rows.reduce((n, r) => n + Number(r['n_1h'] ?? 0), 0);
      expect(total).toBe(103); // 101 good + 2 warned, none of the refused
    } finally {
      await store.close();
    }
  });
});
