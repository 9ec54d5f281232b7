import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { emptyState, serializeState, stateFromDefinitions } from '../../src/definitions/definition.js';
import { entity } from '../../src/definitions/entity.js';
import { featureService } from '../../src/definitions/feature-service.js';
import { featureView } from '../../src/definitions/feature-view.js';
import { onDemandFeatureView } from '../../src/definitions/on-demand-feature-view.js';
import { parquetSource } from '../../src/definitions/source.js';
import { float64, int64 } from '../../src/definitions/value-types.js';
import { Registry } from '../../src/registry/registry.js';
import { RegistryConflictError, type RegistryStore } from '../../src/registry/registry-store.js';
import { SqliteRegistryStore } from '../../src/registry/sqlite/sqlite-registry-store.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-registry-service-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
const orders = parquetSource({ name: 'orders', path: 'data/orders', timestampField: 'event_ts' });
const stats = featureView({
  name: 'user_stats',
  entities: [user],
  source: orders,
  ttl: '7d',
  schema: { orders_7d: int64(), spend_7d: float64() },
});
const risk = onDemandFeatureView({
  name: 'order_risk',
  request: { amount: float64() },
  inputs: [stats.refs.spend_7d],
  schema: { ratio: float64() },
  transform: (r) => ({ ratio: (r['amount'] as number) / ((r['spend_7d'] as number) || 1) }),
  transformRef: { module: 'features/risk.ts', export: 'orderRisk' },
});
const ranker = featureService({ name: 'ranker', features: [stats.refs.orders_7d, risk] });
const base = stateFromDefinitions('shop', [user, orders, stats, risk, ranker]);

let n = 0;
let store: RegistryStore;
let registry: Registry;
beforeEach(async () => {
  await store?.close();
  store = new SqliteRegistryStore(join(dir, `r${n++}.db`));
  registry = new Registry(store, 'shop');
});

describe('Registry', () => {
  it('starts at version 0 with an empty state', async () => {
    expect(await registry.state()).toEqual({ version: 0, state: emptyState('shop'), objectVersions: {} });
    expect(await registry.history()).toEqual([]);
  });

  it('applies a state, numbers objects, and does not write a version for a no-op', async () => {
    const r1 = await registry.apply(base, { author: 'alice', message: 'first' });
    expect(r1).toMatchObject({ version: 1, created: true, attempts: 1 });
    expect(r1.objectVersions).toEqual({
      'Entity/user': 1,
      'Source/orders': 1,
      'FeatureView/user_stats': 1,
      'OnDemandFeatureView/order_risk': 1,
      'FeatureService/ranker': 1,
    });
    const { version, state, objectVersions } = await registry.state();
    expect(version).toBe(1);
    expect(serializeState(state)).toEqual(serializeState(base));
    expect(state.featureViews[0]?.refs.orders_7d?.ref).toBe('user_stats:orders_7d');
    expect(objectVersions).toEqual(r1.objectVersions);

    const again = await registry.apply(base, { author: 'bob' });
    expect(again).toMatchObject({ version: 1, created: false });
    expect(again.plan.hasChanges).toBe(false);
    expect((await registry.history()).map((h) => [h.version, h.author, h.message])).toEqual([
      [1, 'alice', 'first'],
    ]);
  });

  it('increments the version of changed objects only and remembers removed ones', async () => {
    await registry.apply(base);
    const stats2 = featureView({
      name: 'user_stats',
      entities: [user],
      source: orders,
      ttl: '1d',
      schema: { orders_7d: int64(), spend_7d: float64() },
    });
    const r2 = await registry.apply(stateFromDefinitions('shop', [user, orders, stats2, risk, ranker]));
    expect(r2.objectVersions['FeatureView/user_stats']).toBe(2);
    expect(r2.objectVersions['FeatureService/ranker']).toBe(1);
    const r3 = await registry.apply(stateFromDefinitions('shop', [user, orders, stats2]), {
      message: 'drop',
    });
    expect(r3.version).toBe(3);
    // Removed objects keep their last number, so re-adding one continues the sequence.
    expect(r3.objectVersions).toEqual({
      'Entity/user': 1,
      'Source/orders': 1,
      'FeatureView/user_stats': 2,
      'OnDemandFeatureView/order_risk': 1,
      'FeatureService/ranker': 1,
    });
    // The removed service used the removed on-demand view: clients of the service break, so it is flagged.
    expect(r3.plan.breaking.map((b) => [b.code, b.name, b.usedBy])).toEqual([
      ['view-removed-in-use', 'order_risk', ['FeatureService/ranker']],
    ]);
    const [latest] = await registry.history(1);
    expect(latest?.changes).toEqual([
      { kind: 'OnDemandFeatureView', name: 'order_risk', change: 'removed' },
      { kind: 'FeatureService', name: 'ranker', change: 'removed' },
    ]);
    expect((await registry.at(1)).objectVersions['FeatureView/user_stats']).toBe(1);
    expect((await registry.at(2)).state.featureViews[0]?.ttlMs).toBe(86_400_000);
  });

  it('rejects an apply planned on a stale version, even when it would change nothing', async () => {
    const plan = await registry.plan(base);
    expect(plan.baseVersion).toBe(0);
    await registry.apply(base, { expectedVersion: plan.baseVersion });
    await expect(registry.apply(base, { expectedVersion: 0 })).rejects.toBeInstanceOf(RegistryConflictError);
    const other = stateFromDefinitions('shop', [user, orders]);
    await expect(registry.apply(other, { expectedVersion: 0 })).rejects.toBeInstanceOf(RegistryConflictError);
    expect((await registry.apply(other, { expectedVersion: 1 })).version).toBe(2);
  });

  it('retries update on a conflict and keeps both changes', async () => {
    await registry.apply(stateFromDefinitions('shop', [user, orders]));
    const rival = new Registry(store, 'shop');
    let raced = false;
    // Another writer commits between this registry's read and its commit, once.
    const racing = withCommit(store, async (project, expected, snapshot) => {
      if (!raced) {
        raced = true;
        await rival.update((s) => ({
          ...s,
          entities: [...s.entities, entity({ name: 'shop', joinKeys: { id: int64() } })],
        }));
      }
      return store.commit(project, expected, snapshot);
    });
    const r = await new Registry(racing, 'shop').update((s) => ({
      ...s,
      featureViews: [...s.featureViews, stats],
    }));
    expect(r).toMatchObject({ attempts: 2, version: 3, created: true });
    const { state } = await registry.state();
    expect(state.featureViews.map((v) => v.name)).toEqual(['user_stats']);
    expect(state.entities.map((e) => e.name).sort()).toEqual(['shop', 'user']);
    expect((await registry.history()).map((h) => h.version)).toEqual([3, 2, 1]);
  });

  it('gives up after maxAttempts conflicts', async () => {
    const hopeless = withCommit(store, async () => Promise.reject(new RegistryConflictError('shop', 0)));
    const reg = new Registry(hopeless, 'shop', { maxAttempts: 3 });
    let calls = 0;
    await expect(
      reg.update((s) => {
        calls++;
        return { ...s, entities: [user] };
      }),
    ).rejects.toBeInstanceOf(RegistryConflictError);
    expect(calls).toBe(3);
  });

  it('reads past versions and reports missing ones', async () => {
    await registry.apply(base);
    expect((await registry.at(0)).state).toEqual(emptyState('shop'));
    expect((await registry.at(1)).version).toBe(1);
    await expect(registry.at(9)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses a state of another project', async () => {
    await expect(registry.apply(emptyState('other'))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(registry.plan(emptyState('other'))).rejects.toThrow(/project 'other'/);
  });

  it('plans breaking changes against the latest version', async () => {
    await registry.apply(base);
    const slim = featureView({
      name: 'user_stats',
      entities: [user],
      source: orders,
      schema: { spend_7d: float64() },
    });
    const plan = await registry.plan(stateFromDefinitions('shop', [user, orders, slim, risk, ranker]));
    expect(plan.baseVersion).toBe(1);
    expect(plan.breaking.map((b) => b.code)).toEqual(['feature-removed-in-use']);
    expect(plan.changes.find((o) => o.name === 'user_stats')?.change).toBe('changed');
  });

  it('derives lineage from the latest state', async () => {
    await registry.apply(base);
    const g = await registry.lineageOf('FeatureService', 'ranker', 'upstream');
    expect(g.nodes.map((x) => x.id)).toEqual([
      'Entity/user',
      'FeatureService/ranker',
      'FeatureView/user_stats',
      'OnDemandFeatureView/order_risk',
      'Source/orders',
    ]);
    expect((await registry.lineage()).edges).toHaveLength(5);
  });

  it('passes bookmarks through to the store', async () => {
    expect(await registry.getBookmark('user_stats')).toBeUndefined();
    await registry.setBookmark('user_stats', 1_700_000_000_000);
    expect(await registry.getBookmark('user_stats')).toBe(1_700_000_000_000);
    expect(await new Registry(store, 'other').getBookmark('user_stats')).toBeUndefined();
  });
});

/** A store that delegates to `inner` except for `commit`. */
function withCommit(inner: RegistryStore, commit: RegistryStore['commit']): RegistryStore {
  return {
    kind: inner.kind,
    latest: (p) => inner.latest(p),
    get: (p, v) => inner.get(p, v),
    commit,
    history: (p, l) => inner.history(p, l),
    getBookmark: (p, v) => inner.getBookmark(p, v),
    setBookmark: (p, v, e) => inner.setBookmark(p, v, e),
    close: () => inner.close(),
  };
}
