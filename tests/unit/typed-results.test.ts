import { describe, expectTypeOf, it } from 'vitest';
import type { FeatureStore } from '../../src/feature-store.js';
import type { OnlineRowOf } from '../../src/serving/typed-result.js';
import { userStats } from '../helpers/sample-definitions.js';

describe('typed online results', () => {
  it('infers feature value types from typed references', () => {
    type Row = OnlineRowOf<[typeof userStats.refs.clicks, typeof userStats.refs.tags]>;
    expectTypeOf<Row['clicks']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['tags']>().toEqualTypeOf<string[] | null>();
    // Join keys and string-requested features are there too, untyped.
    expectTypeOf<Row['user_id']>().toEqualTypeOf<unknown>();
  });

  it('types the rows returned by FeatureStore.getOnlineFeatures', () => {
    const read = (store: FeatureStore) =>
      store.getOnlineFeatures({
        features: [userStats.refs.spend, 'user_stats:clicks'],
        entities: [{ user_id: 1 }],
      });
    type Result = Awaited<ReturnType<typeof read>>;
    expectTypeOf<Result['rows'][number]['spend']>().toEqualTypeOf<number | null>();
    expectTypeOf<Result['rows'][number]['clicks']>().toEqualTypeOf<unknown>();
  });
});
