import { describe, expect, it } from 'vitest';
import { emptyState, stateFromDefinitions } from '../../src/definitions/definition.js';
import { entity } from '../../src/definitions/entity.js';
import { featureService } from '../../src/definitions/feature-service.js';
import { featureView } from '../../src/definitions/feature-view.js';
import { onDemandFeatureView } from '../../src/definitions/on-demand-feature-view.js';
import { parquetSource } from '../../src/definitions/source.js';
import { float64, int64, string } from '../../src/definitions/value-types.js';
import { lineageGraph, lineageOf } from '../../src/registry/lineage.js';

const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
const item = entity({ name: 'item', joinKeys: { item_id: string() } });
const clicks = parquetSource({ name: 'clicks', path: 'data/clicks', timestampField: 'ts' });
const userStats = featureView({
  name: 'user_stats',
  entities: [user],
  source: clicks,
  schema: { clicks: int64(), spend: float64() },
});
const pairStats = featureView({
  name: 'pair_stats',
  entities: [user, item],
  source: clicks,
  schema: { n: int64() },
});
const risk = onDemandFeatureView({
  name: 'risk',
  request: { amount: float64() },
  inputs: [userStats.refs.spend, userStats.refs.clicks, 'ghost:x'],
  schema: { ratio: float64() },
  transformRef: { module: 'risk.ts', export: 'risk' },
});
const ranker = featureService({ name: 'ranker', features: [userStats.refs.clicks, risk, 'pair_stats:n'] });
const state = stateFromDefinitions('shop', [user, item, clicks, userStats, pairStats, risk, ranker]);
const ids = (g: { nodes: readonly { id: string }[] }) => g.nodes.map((n) => n.id);
const arrows = (g: { edges: readonly { from: string; to: string }[] }) =>
  g.edges.map((e) => `${e.from} -> ${e.to}`);

describe('lineageGraph', () => {
  it('derives source, entity, input and service edges, leaving out unknown references', () => {
    const g = lineageGraph(state);
    expect(ids(g)).toEqual([
      'Entity/item',
      'Entity/user',
      'FeatureService/ranker',
      'FeatureView/pair_stats',
      'FeatureView/user_stats',
      'OnDemandFeatureView/risk',
      'Source/clicks',
    ]);
    expect(g.edges).toEqual([
      { from: 'Entity/item', to: 'FeatureView/pair_stats', relation: 'entity', features: [] },
      { from: 'Entity/user', to: 'FeatureView/pair_stats', relation: 'entity', features: [] },
      { from: 'Entity/user', to: 'FeatureView/user_stats', relation: 'entity', features: [] },
      { from: 'FeatureView/pair_stats', to: 'FeatureService/ranker', relation: 'serves', features: ['n'] },
      {
        from: 'FeatureView/user_stats',
        to: 'FeatureService/ranker',
        relation: 'serves',
        features: ['clicks'],
      },
      {
        from: 'FeatureView/user_stats',
        to: 'OnDemandFeatureView/risk',
        relation: 'input',
        features: ['clicks', 'spend'],
      },
      { from: 'OnDemandFeatureView/risk', to: 'FeatureService/ranker', relation: 'serves', features: ['*'] },
      { from: 'Source/clicks', to: 'FeatureView/pair_stats', relation: 'source', features: [] },
      { from: 'Source/clicks', to: 'FeatureView/user_stats', relation: 'source', features: [] },
    ]);
  });

  it('is empty for an empty state', () => {
    expect(lineageGraph(emptyState('shop'))).toEqual({ nodes: [], edges: [] });
  });
});

describe('lineageOf', () => {
  const g = lineageGraph(state);

  it('walks upstream transitively', () => {
    const up = lineageOf(g, 'FeatureService', 'ranker', 'upstream');
    expect(ids(up)).toEqual(ids(g));
    expect(up.edges).toHaveLength(g.edges.length);
    expect(ids(lineageOf(g, 'OnDemandFeatureView', 'risk', 'upstream'))).toEqual([
      'Entity/user',
      'FeatureView/user_stats',
      'OnDemandFeatureView/risk',
      'Source/clicks',
    ]);
  });

  it('walks downstream transitively', () => {
    const down = lineageOf(g, 'Entity', 'user', 'downstream');
    expect(arrows(down)).toEqual([
      'Entity/user -> FeatureView/pair_stats',
      'Entity/user -> FeatureView/user_stats',
      'FeatureView/pair_stats -> FeatureService/ranker',
      'FeatureView/user_stats -> FeatureService/ranker',
      'FeatureView/user_stats -> OnDemandFeatureView/risk',
      'OnDemandFeatureView/risk -> FeatureService/ranker',
    ]);
    expect(ids(lineageOf(g, 'FeatureService', 'ranker', 'downstream'))).toEqual(['FeatureService/ranker']);
  });

  it('combines both directions without pulling in siblings', () => {
    const both = lineageOf(g, 'FeatureView', 'user_stats', 'both');
    expect(ids(both)).toEqual([
      'Entity/user',
      'FeatureService/ranker',
      'FeatureView/user_stats',
      'OnDemandFeatureView/risk',
      'Source/clicks',
    ]);
    // pair_stats shares the source and the service but is neither upstream nor downstream of user_stats.
    expect(arrows(both)).not.toContain('FeatureView/pair_stats -> FeatureService/ranker');
  });

  it('rejects an unknown object', () => {
    expect(() => lineageOf(g, 'FeatureView', 'nope', 'both')).toThrow(/unknown FeatureView 'nope'/);
  });
});
