import { describe, expect, it } from 'vitest';
import { type Definition, emptyState, stateFromDefinitions } from '../../src/definitions/definition.js';
import { entity } from '../../src/definitions/entity.js';
import { featureService } from '../../src/definitions/feature-service.js';
import { featureView, type Schema } from '../../src/definitions/feature-view.js';
import { onDemandFeatureView } from '../../src/definitions/on-demand-feature-view.js';
import { parquetSource } from '../../src/definitions/source.js';
import { float64, int64, string } from '../../src/definitions/value-types.js';
import { changeSummary, nextObjectVersions, planChanges } from '../../src/registry/diff.js';

const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
const merchant = entity({ name: 'merchant', joinKeys: { merchant_id: string() } });
const orders = parquetSource({ name: 'orders', path: 'data/orders', timestampField: 'ts' });
const stats = (
  schema: Schema = { clicks: int64(), spend: float64() },
  extra: { ttl?: string; entities?: string[] } = {},
) =>
  featureView({
    name: 'user_stats',
    entities: extra.entities ?? ['user'],
    source: 'orders',
    ttl: extra.ttl ?? '1d',
    schema,
  });
const risk = (inputs = ['user_stats:spend']) =>
  onDemandFeatureView({
    name: 'risk',
    request: { amount: float64() },
    inputs,
    schema: { ratio: float64() },
    transformRef: { module: 'risk.ts', export: 'risk' },
  });
const ranker = (features = ['user_stats:clicks']) => featureService({ name: 'ranker', features });
const state = (...defs: Definition[]) => stateFromDefinitions('shop', defs);

describe('planChanges', () => {
  it('reports every object of an initial apply as added, without breaking findings', () => {
    const plan = planChanges(emptyState('shop'), state(user, orders, stats(), risk(), ranker()));
    expect(plan.changes.map((o) => [o.kind, o.name, o.change])).toEqual([
      ['Entity', 'user', 'added'],
      ['Source', 'orders', 'added'],
      ['FeatureView', 'user_stats', 'added'],
      ['OnDemandFeatureView', 'risk', 'added'],
      ['FeatureService', 'ranker', 'added'],
    ]);
    expect(plan).toMatchObject({ project: 'shop', baseVersion: 0, hasChanges: true, breaking: [] });
  });

  it('finds no changes between equal states, whatever the definition order or transform functions', () => {
    const withFn = onDemandFeatureView({
      name: 'risk',
      request: { amount: float64() },
      inputs: ['user_stats:spend'],
      schema: { ratio: float64() },
      transform: () => ({ ratio: 1 }),
      transformRef: { module: 'risk.ts', export: 'risk' },
    });
    const plan = planChanges(state(user, orders, stats(), risk()), state(withFn, stats(), orders, user), 4);
    expect(plan.hasChanges).toBe(false);
    expect(plan.baseVersion).toBe(4);
    expect(plan.changes.every((o) => o.change === 'unchanged' && o.fields.length === 0)).toBe(true);
  });

  it('lists field-level differences of a changed view', () => {
    const before = state(user, orders, stats());
    const after = state(user, orders, stats({ clicks: float64(), views: int64() }, { ttl: '7d' }));
    const diff = planChanges(before, after).changes.find((o) => o.name === 'user_stats');
    expect(diff?.change).toBe('changed');
    expect(diff?.fields).toEqual([
      { path: 'features[spend]', change: 'removed', before: { name: 'spend', type: 'float64' } },
      { path: 'features[clicks].type', change: 'changed', before: 'int64', after: 'float64' },
      { path: 'features[views]', change: 'added', after: { name: 'views', type: 'int64' } },
      { path: 'ttlMs', change: 'changed', before: 86_400_000, after: 604_800_000 },
    ]);
    expect(diff?.details).toEqual([
      'features[spend]: - {"name":"spend","type":"float64"}',
      'features[clicks].type: int64 -> float64',
      'features[views]: + {"name":"views","type":"int64"}',
      'ttlMs: 86400000 -> 604800000',
    ]);
  });

  it('reports entities added, removed and reordered', () => {
    const base = state(user, merchant, orders, stats());
    const added = planChanges(
      base,
      state(user, merchant, orders, stats(undefined, { entities: ['user', 'merchant'] })),
    );
    expect(added.changes.find((o) => o.name === 'user_stats')?.fields).toEqual([
      { path: 'entities', change: 'added', after: 'merchant' },
    ]);
    const two = state(user, merchant, orders, stats(undefined, { entities: ['user', 'merchant'] }));
    const swapped = planChanges(
      two,
      state(user, merchant, orders, stats(undefined, { entities: ['merchant', 'user'] })),
    );
    expect(swapped.changes.find((o) => o.name === 'user_stats')?.fields).toEqual([
      { path: 'entities', change: 'reordered', before: ['user', 'merchant'], after: ['merchant', 'user'] },
    ]);
    expect(swapped.breaking.map((b) => b.code)).toEqual(['entities-changed']);
  });

  it('reports nested metadata and service selections', () => {
    const tagged = featureView({
      name: 'user_stats',
      entities: ['user'],
      source: 'orders',
      ttl: '1d',
      schema: { clicks: int64(), spend: float64() },
      tags: { team: 'growth' },
      owner: 'ana',
    });
    const plan = planChanges(
      state(stats(), ranker()),
      state(tagged, ranker(['user_stats:clicks', 'user_stats:spend'])),
    );
    expect(plan.changes.find((o) => o.name === 'user_stats')?.fields).toEqual([
      { path: 'owner', change: 'changed', before: '', after: 'ana' },
      { path: 'tags.team', change: 'added', after: 'growth' },
    ]);
    expect(plan.changes.find((o) => o.name === 'ranker')?.fields).toEqual([
      { path: 'features', change: 'added', after: 'user_stats:spend' },
    ]);
  });

  it('treats a removed object as removed and a renamed one as removed plus added', () => {
    const renamed = featureView({
      name: 'user_stats_v2',
      entities: ['user'],
      source: 'orders',
      schema: { clicks: int64() },
    });
    const plan = planChanges(state(user, orders, stats()), state(user, orders, renamed));
    expect(plan.changes.filter((o) => o.change !== 'unchanged').map((o) => [o.name, o.change])).toEqual([
      ['user_stats', 'removed'],
      ['user_stats_v2', 'added'],
    ]);
    expect(plan.breaking).toEqual([]);
  });
});

describe('breaking findings', () => {
  const codes = (before: Definition[], after: Definition[]) =>
    planChanges(state(...before), state(...after)).breaking.map((b) => [b.code, b.kind, b.name, b.usedBy]);

  it('flags a feature type change even when nothing uses the feature', () => {
    const found = planChanges(state(stats()), state(stats({ clicks: string(), spend: float64() }))).breaking;
    expect(found).toEqual([
      {
        kind: 'FeatureView',
        name: 'user_stats',
        code: 'feature-type-changed',
        message: expect.stringContaining("'user_stats:clicks' changes type int64 -> string"),
        usedBy: [],
      },
    ]);
  });

  it('flags removing a feature a service uses, by name or through view:*', () => {
    expect(codes([stats(), ranker()], [stats({ spend: float64() }), ranker()])).toEqual([
      ['feature-removed-in-use', 'FeatureView', 'user_stats', ['FeatureService/ranker']],
    ]);
    expect(
      codes([stats(), ranker(['user_stats:*'])], [stats({ clicks: int64() }), ranker(['user_stats:*'])]),
    ).toEqual([['feature-removed-in-use', 'FeatureView', 'user_stats', ['FeatureService/ranker']]]);
  });

  it('does not flag removing a feature nobody uses', () => {
    expect(codes([stats(), ranker()], [stats({ clicks: int64() }), ranker()])).toEqual([]);
  });

  it('flags removing a feature an on-demand view reads', () => {
    expect(codes([stats(), risk()], [stats({ clicks: int64() }), risk()])).toEqual([
      ['feature-removed-in-use', 'FeatureView', 'user_stats', ['OnDemandFeatureView/risk']],
    ]);
  });

  it('counts users in the current state and in the desired state', () => {
    // The service is removed together with the feature: its deployed clients still break.
    expect(codes([stats(), ranker()], [stats({ spend: float64() })])).toEqual([
      ['feature-removed-in-use', 'FeatureView', 'user_stats', ['FeatureService/ranker']],
    ]);
    // A new service selects a feature this very apply removes.
    expect(codes([stats()], [stats({ spend: float64() }), ranker()])).toEqual([
      ['feature-removed-in-use', 'FeatureView', 'user_stats', ['FeatureService/ranker']],
    ]);
  });

  it('flags removing a whole view that is in use', () => {
    expect(codes([user, stats(), risk(), ranker(['risk:ratio'])], [user, ranker(['risk:ratio'])])).toEqual([
      ['view-removed-in-use', 'FeatureView', 'user_stats', ['OnDemandFeatureView/risk']],
      ['view-removed-in-use', 'OnDemandFeatureView', 'risk', ['FeatureService/ranker']],
    ]);
    expect(codes([user, stats()], [user])).toEqual([]);
  });

  it('flags a join-key change with the views keyed by the entity', () => {
    const rekeyed = entity({ name: 'user', joinKeys: { user_id: string() } });
    const found = planChanges(state(user, stats()), state(rekeyed, stats())).breaking;
    expect(found.map((b) => [b.code, b.name, b.usedBy])).toEqual([
      ['join-keys-changed', 'user', ['FeatureView/user_stats']],
    ]);
    expect(found[0]?.message).toContain('(user_id: int64) -> (user_id: string)');
  });

  it("flags a change of a view's entities", () => {
    expect(codes([stats(), ranker()], [stats(undefined, { entities: ['merchant'] }), ranker()])).toEqual([
      ['entities-changed', 'FeatureView', 'user_stats', ['FeatureService/ranker']],
    ]);
  });
});

describe('nextObjectVersions and changeSummary', () => {
  it('starts new objects at 1, bumps changed ones, keeps the rest, and remembers removed ones', () => {
    const before = state(user, orders, stats(), ranker());
    const after = state(user, merchant, orders, stats({ clicks: int64() }));
    const plan = planChanges(before, after, 3);
    const previous = {
      'Entity/user': 2,
      'Source/orders': 1,
      'FeatureView/user_stats': 5,
      'FeatureService/ranker': 1,
    };
    expect(nextObjectVersions(plan, previous)).toEqual({
      'Entity/user': 2,
      'Entity/merchant': 1,
      'Source/orders': 1,
      'FeatureView/user_stats': 6,
      // Removed, but remembered: re-adding it continues at 2 instead of reusing 1.
      'FeatureService/ranker': 1,
    });
    const readded = planChanges(
      after,
      state(user, merchant, orders, stats({ clicks: int64() }), ranker()),
      4,
    );
    expect(nextObjectVersions(readded, nextObjectVersions(plan, previous))['FeatureService/ranker']).toBe(2);
    expect(changeSummary(plan)).toEqual([
      { kind: 'Entity', name: 'merchant', change: 'added' },
      { kind: 'FeatureView', name: 'user_stats', change: 'changed' },
      { kind: 'FeatureService', name: 'ranker', change: 'removed' },
    ]);
  });
});
