/**
 * Feature definitions of the e-commerce recommendation example (the same definitions, in YAML, are in
 * `yaml/features.yaml`). Data comes from `generate.ts`: `npx tsx examples/ecommerce/generate.ts`.
 */
import { aggregationView } from '../../src/definitions/aggregation-view.js';
import { entity } from '../../src/definitions/entity.js';
import { featureService } from '../../src/definitions/feature-service.js';
import { featureView } from '../../src/definitions/feature-view.js';
import { onDemandFeatureView } from '../../src/definitions/on-demand-feature-view.js';
import { csvSource, parquetSource } from '../../src/definitions/source.js';
import { bool, float64, int32, int64, list, string, timestamp } from '../../src/definitions/value-types.js';
import { checks } from '../../src/quality/expectations.js';
import { priceAffinity } from './transforms.js';

const OWNER = 'recs-team@example.com';

export const user = entity({
  name: 'user',
  joinKeys: { user_id: int64() },
  description: 'A shopper with an account.',
  owner: OWNER,
});

export const item = entity({
  name: 'item',
  joinKeys: { item_id: int64() },
  description: 'A product in the catalogue.',
  owner: OWNER,
});

export const userStatsSource = parquetSource({
  name: 'user_stats_source',
  path: 'data/user_stats',
  timestampField: 'event_ts',
  createdTimestampField: 'created_ts',
  description: 'Daily per-user aggregates of interaction events, written by the nightly batch job.',
  owner: OWNER,
});

export const itemStatsSource = parquetSource({
  name: 'item_stats_source',
  path: 'data/item_stats',
  timestampField: 'event_ts',
  description: 'Daily per-item snapshots: engagement, price, stock and popularity.',
  owner: OWNER,
  // Checked before each materialization (`tessera validate`, docs/monitoring.md). Prices have no upper bound
  // here: a price moving to another scale is caught by drift monitoring (`tessera monitor`), not by a row check.
  expectations: [
    checks.notNull('item_id'),
    checks.between('ctr_7d', { min: 0, max: 1 }),
    checks.between('price', { min: 0 }),
    checks.between('stock', { min: 0 }, { severity: 'warn' }),
  ],
});

export const eventsSource = parquetSource({
  name: 'events_source',
  path: 'data/events',
  timestampField: 'event_ts',
  description: 'Raw interaction events (view, click, add_to_cart, purchase), one row per event.',
  owner: OWNER,
  // Files failing these are refused (or quarantined) by materialization; streamed events failing them go to
  // the dead letters with the reason.
  expectations: [
    checks.notNull('user_id'),
    checks.notNull('item_id'),
    checks.inSet('event_type', ['view', 'click', 'add_to_cart', 'purchase']),
    checks.between('price', { min: 0 }),
  ],
});

export const usersSource = csvSource({
  name: 'users_source',
  path: 'data/users.csv',
  timestampField: 'updated_at',
  description: 'User profiles; a new row per profile change.',
  owner: OWNER,
});

export const userStats = featureView({
  name: 'user_stats',
  entities: [user],
  source: userStatsSource,
  ttl: '2d',
  // Per-feature descriptions are left out because the YAML form has no place for them and both forms
  // must register identically; the view description and these comments document them instead.
  schema: {
    views_7d: int64(), // item views in the 7 days before the snapshot
    clicks_7d: int64(), // item clicks in the 7 days before the snapshot
    purchases_30d: int64(), // purchases in the 30 days before the snapshot
    spend_30d: float64(), // total spend over those 30 days
    avg_order_value: float64(), // spend_30d / purchases_30d; missing without purchases
    last_category: string(), // category of the last item interacted with
    favorite_categories: list(string()), // top 3 categories by engagement (view 1, click 2, cart 3, purchase 5)
  },
  description: 'Engagement and spend of a user, as of the last nightly snapshot.',
  owner: OWNER,
  tags: { team: 'recs', domain: 'ecommerce', cadence: 'daily' },
});

export const itemStats = featureView({
  name: 'item_stats',
  entities: [item],
  source: itemStatsSource,
  ttl: '1d',
  schema: {
    ctr_7d: float64(), // clicks / views over the 7 days before the snapshot; missing without views
    item_price: float64(), // list or promotional price of the day starting at the snapshot
    category: string(),
    stock: int32(), // units in stock
    popularity_rank: int64(), // 1 = most interactions over the 7 days before the snapshot
  },
  // Many prices float around a ranker (candidate, average order, …), so this one says whose it is.
  columns: { item_price: 'price' },
  // Drift alert levels for `tessera monitor` (defaults otherwise).
  monitoring: { psi: 0.2, ks: 0.1 },
  description: 'Engagement, price and availability of an item, as of the last daily snapshot.',
  owner: OWNER,
  tags: { team: 'recs', domain: 'ecommerce', cadence: 'daily' },
});

export const userProfile = featureView({
  name: 'user_profile',
  entities: [user],
  source: usersSource,
  ttl: 0,
  schema: {
    signup_ts: timestamp(),
    country: string(), // ISO 3166-1 alpha-2
    age_bucket: string(), // 18-24, 25-34, 35-44, 45-54, 55+
    is_premium: bool(), // premium membership
  },
  description: 'Slowly changing profile attributes; never expire.',
  owner: OWNER,
  tags: { team: 'recs', domain: 'ecommerce', pii: 'low' },
});

export const userEngagement = aggregationView({
  name: 'user_engagement',
  entities: [user],
  source: eventsSource,
  // Clicks, carts and purchases: views are too many and too weak a signal for these windows.
  where: [{ column: 'event_type', op: 'in', value: ['click', 'add_to_cart', 'purchase'] }],
  aggregations: {
    engagements: { fn: 'count', windows: ['1h', '1d'] },
    items_engaged: { fn: 'count_distinct', column: 'item_id', type: int64(), windows: ['1d'] },
    recent_items: { fn: 'last_k', column: 'item_id', type: int64(), k: 5, windows: ['1d'] },
    avg_price: { fn: 'avg', column: 'price', type: float64(), windows: ['1d', '7d'] },
    max_price: { fn: 'max', column: 'price', type: float64(), windows: ['7d'] },
  },
  description: 'What the user engaged with recently, over sliding windows of raw events.',
  owner: OWNER,
  tags: { team: 'recs', domain: 'ecommerce', cadence: 'streaming' },
});

export const priceAffinityView = onDemandFeatureView({
  name: 'price_affinity',
  request: { candidate_price: float64() }, // price of the candidate item shown
  inputs: [userStats.refs.avg_order_value],
  schema: { price_ratio: float64(), is_premium_price: bool() },
  transform: priceAffinity,
  // Named explicitly (the loader would otherwise point at this module's export) so the TypeScript and YAML
  // forms of the example register identically.
  transformRef: { module: 'transforms.ts', export: 'priceAffinity' },
  description: 'How the candidate price compares with what the user usually spends per order.',
  owner: OWNER,
  tags: { team: 'recs', domain: 'ecommerce' },
});

export const rankerV1 = featureService({
  name: 'ranker_v1',
  features: [
    userStats.refs.views_7d,
    userStats.refs.clicks_7d,
    userStats.refs.purchases_30d,
    userStats.refs.avg_order_value,
    userStats.refs.favorite_categories,
    itemStats,
    userProfile.refs.is_premium,
    priceAffinityView.refs.price_ratio,
    priceAffinityView.refs.is_premium_price,
  ],
  description: 'Features of the first learning-to-rank model for the home-page carousel.',
  owner: OWNER,
  tags: { team: 'recs', model: 'ranker' },
});
