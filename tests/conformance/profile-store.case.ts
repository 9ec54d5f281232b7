import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Profile } from '../../src/monitoring/profile.js';
import type { ProfileStore } from '../../src/monitoring/profile-store.js';

/**
 * The behaviour every `ProfileStore` must have. Stores `create` returns share one storage (one file, one
 * schema); tests isolate themselves by project name.
 *
 * @example runProfileStoreConformance('sqlite', async () => new SqliteProfileStore(file));
 */
export function runProfileStoreConformance(name: string, create: () => Promise<ProfileStore>): void {
  describe(`ProfileStore conformance: ${name}`, () => {
    const opened: ProfileStore[] = [];
    const open = async (): Promise<ProfileStore> => {
      const store = await create();
      opened.push(store);
      return store;
    };
    const project = (): string => `p_${randomUUID().replaceAll('-', '')}`;

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('has nothing before the first save', async () => {
      const store = await open();
      const p = project();
      expect(await store.get(p, 'orders')).toBeUndefined();
      expect(await store.list(p)).toEqual([]);
      expect(await store.history(p, 'orders')).toEqual([]);
    });

    it('round-trips a profile exactly, versions each save and keeps history', async () => {
      const store = await open();
      const p = project();
      const first = await store.save(p, 'orders_q1', sample(1000, 1.5));
      const second = await store.save(p, 'orders_q1', sample(2000, 2.5));
      await store.save(p, 'clicks', sample(10, 0.1));
      expect([first.version, second.version]).toEqual([1, 2]);
      expect(second).toMatchObject({ name: 'orders_q1', target: 'source orders', rowCount: 2000 });

      // Read back through a second handle: what is stored, not what is cached.
      const other = await open();
      expect((await other.get(p, 'orders_q1'))?.profile).toEqual(sample(2000, 2.5));
      expect((await other.get(p, 'orders_q1', 1))?.profile).toEqual(sample(1000, 1.5));
      expect(await other.get(p, 'orders_q1', 3)).toBeUndefined();
      expect((await other.list(p)).map((i) => [i.name, i.version, i.rowCount])).toEqual([
        ['clicks', 1, 10],
        ['orders_q1', 2, 2000],
      ]);
      const history = await other.history(p, 'orders_q1');
      expect(history.map((h) => h.version)).toEqual([2, 1]);
      expect(history[0]?.savedAt).toBeInstanceOf(Date);
      expect((await other.history(p, 'orders_q1', 1)).map((h) => h.version)).toEqual([2]);
      expect(await other.list(project())).toEqual([]);
    });

    it('gives concurrent saves of one name distinct versions', async () => {
      const stores = await Promise.all([open(), open(), open()]);
      const p = project();
      const saved = await Promise.all(
        Array.from({ length: 9 }, (_, i) => (stores[i % 3] as ProfileStore).save(p, 'race', sample(i, i))),
      );
      expect(saved.map((s) => s.version).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });
  });
}

/** A small but complete profile: a numeric and a categorical column with every field set. */
function sample(rows: number, mean: number): Profile {
  return {
    format: 1,
    target: { kind: 'source', source: 'orders' },
    createdAt: '2024-05-01T00:00:00.000Z',
    window: { start: '2024-04-01T00:00:00.000Z', end: '2024-05-01T00:00:00.000Z' },
    rowCount: rows,
    columns: [
      {
        name: 'amount',
        type: 'DOUBLE',
        kind: 'numeric',
        count: rows - 1,
        nulls: 1,
        distinct: 7,
        min: 0.1,
        max: 99.5,
        mean,
        stddev: 0.30000000000000004,
        quantiles: { levels: [0, 0.5, 1], values: [0.1, 3, 99.5] },
        histogram: { edges: [0.1, 49.8, 99.5], counts: [0, rows - 2, 1, 0] },
        cdf: { points: [0.1, 3, 99.5], below: [0, 1, rows - 2], atOrBelow: [1, 4, rows - 1] },
      },
      {
        name: 'device',
        sourceColumn: 'device_type',
        type: 'VARCHAR',
        kind: 'categorical',
        count: rows,
        nulls: 0,
        distinct: 3,
        topValues: [
          { value: 'web', count: rows - 1 },
          { value: 'it\'s "quoted" ✓', count: 1 },
        ],
        otherCount: 0,
      },
    ],
  };
}
