import { stateFromDefinitions } from '../../src/definitions/definition.js';
import {
  entity,
  featureService,
  featureView,
  float64,
  int64,
  list,
  onDemandFeatureView,
  parquetSource,
  string,
} from '../../src/definitions/index.js';

/** A small project used by unit tests: two views, one on-demand view, one service. */
export const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
export const item = entity({ name: 'item', joinKeys: { item_id: int64() } });
export const userSource = parquetSource({ name: 'user_src', path: 'data/users', timestampField: 'ts' });
export const itemSource = parquetSource({ name: 'item_src', path: 'data/items', timestampField: 'ts' });
export const userStats = featureView({
  name: 'user_stats',
  entities: [user],
  source: userSource,
  ttl: '1h',
  schema: { clicks: int64(), spend: float64(), tags: list(string()) },
});
export const itemStats = featureView({
  name: 'item_stats',
  entities: [item],
  source: itemSource,
  schema: { price: float64(), clicks: int64() },
});
export const ratio = onDemandFeatureView({
  name: 'ratio',
  request: { amount: float64() },
  inputs: [userStats.refs.spend],
  schema: { amount_over_spend: float64() },
  transform: (r) => ({
    amount_over_spend: r['spend'] === null ? null : (r['amount'] as number) / (r['spend'] as number),
  }),
  transformRef: { module: 'features.ts', export: 'ratio' },
});
export const ranker = featureService({
  name: 'ranker',
  features: [userStats.refs.clicks, ratio, 'item_stats:price'],
});

export const sampleState = stateFromDefinitions('test', [
  user,
  item,
  userSource,
  itemSource,
  userStats,
  itemStats,
  ratio,
  ranker,
]);
