import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { serializeState, stateFromDefinitions } from '../../src/definitions/definition.js';
import { entity } from '../../src/definitions/entity.js';
import { featureService } from '../../src/definitions/feature-service.js';
import { featureView } from '../../src/definitions/feature-view.js';
import { onDemandFeatureView } from '../../src/definitions/on-demand-feature-view.js';
import { parquetSource } from '../../src/definitions/source.js';
import { float64, int64, list, string } from '../../src/definitions/value-types.js';
import {
  RegistryConflictError,
  type RegistryStore,
  type VersionSnapshot,
} from '../../src/registry/registry-store.js';

/**
 * The behaviour every `RegistryStore` must have. Every store `create` returns must see the same storage (one
 * file, one schema): tests isolate themselves by project name, and some open several stores to race them.
 *
 * @example runRegistryStoreConformance('sqlite', async () => new SqliteRegistryStore(file));
 */
export function runRegistryStoreConformance(name: string, create: () => Promise<RegistryStore>): void {
  describe(`RegistryStore conformance: ${name}`, () => {
    const opened: RegistryStore[] = [];
    const open = async (): Promise<RegistryStore> => {
      const store = await create();
      opened.push(store);
      return store;
    };
    const project = (): string => `p_${randomUUID().replaceAll('-', '')}`;

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('has no versions and no bookmarks before the first commit', async () => {
      const store = await open();
      const p = project();
      expect(await store.latest(p)).toBeUndefined();
      expect(await store.get(p, 1)).toBeUndefined();
      expect(await store.history(p)).toEqual([]);
      expect(await store.getBookmark(p, 'user_stats')).toBeUndefined();
    });

    it('round-trips commits through latest, get and history', async () => {
      const store = await open();
      const p = project();
      const first = snapshot(p, 1);
      const second = snapshot(p, 2);

      const t0 = Date.now();
      const v1 = await store.commit(p, 0, first);
      const v2 = await store.commit(p, 1, second);
      const t1 = Date.now();
      expect([v1.version, v2.version]).toEqual([1, 2]);
      expect(v1.snapshot).toEqual(first);

      const latest = await store.latest(p);
      expect(latest?.version).toBe(2);
      expect(latest?.snapshot).toEqual(second);
      // The stored JSON is the committed JSON, unicode and all (JSONB may reorder keys, not change values).
      expect(JSON.parse(JSON.stringify(latest?.snapshot.state))).toEqual(
        JSON.parse(JSON.stringify(second.state)),
      );
      expect(latest?.author).toBe(second.author);
      expect(latest?.message).toBe(second.message);
      expect(latest?.changes).toEqual(second.changes);

      const got = await store.get(p, 1);
      expect(got?.version).toBe(1);
      expect(got?.snapshot).toEqual(first);
      expect(await store.get(p, 3)).toBeUndefined();

      for (const v of [v1, v2, latest, got]) {
        expect(v?.appliedAt).toBeInstanceOf(Date);
        // Database clocks may differ slightly from ours; the timestamp must still be "now".
        expect(v?.appliedAt.getTime()).toBeGreaterThanOrEqual(t0 - 2_000);
        expect(v?.appliedAt.getTime()).toBeLessThanOrEqual(t1 + 2_000);
      }
      expect(latest?.appliedAt.getTime()).toBeGreaterThanOrEqual(got?.appliedAt.getTime() ?? Number.NaN);

      const history = await store.history(p);
      expect(history.map((h) => h.version)).toEqual([2, 1]);
      expect(history[0]).toMatchObject({
        author: second.author,
        message: second.message,
        changes: second.changes,
      });
      expect(history[1]?.appliedAt).toBeInstanceOf(Date);
      expect(history.every((h) => !('snapshot' in h))).toBe(true);
      expect((await store.history(p, 1)).map((h) => h.version)).toEqual([2]);
    });

    it('sees commits made through another store instance', async () => {
      const [a, b] = [await open(), await open()];
      const p = project();
      await a.commit(p, 0, snapshot(p, 1));
      expect((await b.latest(p))?.version).toBe(1);
      await b.commit(p, 1, snapshot(p, 2));
      expect((await a.latest(p))?.snapshot).toEqual(snapshot(p, 2));
    });

    it('rejects a commit whose expected version is not the latest', async () => {
      const store = await open();
      const p = project();
      await store.commit(p, 0, snapshot(p, 1));
      await expect(store.commit(p, 0, snapshot(p, 2))).rejects.toBeInstanceOf(RegistryConflictError);
      await expect(store.commit(p, 5, snapshot(p, 2))).rejects.toBeInstanceOf(RegistryConflictError);
      const err = await store.commit(p, 0, snapshot(p, 2)).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'RegistryConflictError', project: p, expectedVersion: 0 });
      // The failed commits left nothing behind.
      expect((await store.latest(p))?.snapshot).toEqual(snapshot(p, 1));
      expect((await store.history(p)).length).toBe(1);
      expect((await store.commit(p, 1, snapshot(p, 3))).version).toBe(2);
    });

    it('keeps projects apart', async () => {
      const store = await open();
      const [p, q] = [project(), project()];
      await store.commit(p, 0, snapshot(p, 1));
      await store.commit(p, 1, snapshot(p, 2));
      await store.commit(q, 0, snapshot(q, 7));
      expect((await store.latest(p))?.version).toBe(2);
      expect((await store.latest(q))?.snapshot).toEqual(snapshot(q, 7));
      expect((await store.history(q)).map((h) => h.version)).toEqual([1]);
      expect(await store.get(q, 2)).toBeUndefined();
      await store.setBookmark(p, 'user_stats', 1_000);
      expect(await store.getBookmark(q, 'user_stats')).toBeUndefined();
    });

    it('stores bookmarks per view and overwrites them', async () => {
      const store = await open();
      const p = project();
      const now = Date.UTC(2030, 0, 1, 12, 30, 45, 123);
      await store.setBookmark(p, 'user_stats', now);
      await store.setBookmark(p, 'item_stats', 5);
      expect(await store.getBookmark(p, 'user_stats')).toBe(now);
      await store.setBookmark(p, 'user_stats', now + 3_600_000);
      expect(await store.getBookmark(p, 'user_stats')).toBe(now + 3_600_000);
      expect(await store.getBookmark(p, 'item_stats')).toBe(5);
      expect(await store.getBookmark(p, 'other')).toBeUndefined();
      expect(await (await open()).getBookmark(p, 'user_stats')).toBe(now + 3_600_000);
    });

    it('lets exactly one of 20 concurrent commits on the same version win', async () => {
      const stores = await Promise.all([open(), open(), open(), open()]);
      const p = project();
      await stores[0]?.commit(p, 0, snapshot(p, 0));
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          (stores[i % stores.length] as RegistryStore).commit(p, 1, snapshot(p, i + 1)),
        ),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RegistryConflictError);
      }
      const latest = await stores[1]?.latest(p);
      expect(latest?.version).toBe(2);
      expect(latest?.snapshot).toEqual(snapshot(p, (won[0] as number) + 1));
      expect((await stores[2]?.history(p))?.map((h) => h.version)).toEqual([2, 1]);
    });
  });
}

/** A realistic snapshot (every kind of definition, unicode, quotes), distinct per `n`. */
function snapshot(project: string, n: number): VersionSnapshot {
  const user = entity({
    name: 'user',
    joinKeys: { user_id: int64() },
    description: 'a shopper — «ünïcödé» "quoted"',
  });
  const orders = parquetSource({ name: 'orders', path: `data/orders_${n}`, timestampField: 'event_ts' });
  const stats = featureView({
    name: 'user_stats',
    entities: [user],
    source: orders,
    ttl: '7d',
    schema: { orders_7d: int64(), spend_7d: float64('spend, in €'), recent: list(string()) },
    tags: { team: 'growth', n: String(n) },
  });
  const risk = onDemandFeatureView({
    name: 'order_risk',
    request: { amount: float64() },
    inputs: [stats.refs.spend_7d],
    schema: { ratio: float64() },
    transformRef: { module: 'features/transforms.ts', export: 'orderRisk' },
  });
  const ranker = featureService({ name: 'ranker', features: [stats, risk.refs.ratio] });
  const state = stateFromDefinitions(project, [user, orders, stats, risk, ranker]);
  return {
    state: serializeState(state),
    objectVersions: { 'Entity/user': 1, 'Source/orders': n, 'FeatureView/user_stats': n + 1 },
    author: `alice-${n}`,
    message: `change #${n}: it's "quoted"\nsecond line`,
    changes: [{ kind: 'Source', name: 'orders', change: n === 1 ? 'added' : 'changed' }],
  };
}
