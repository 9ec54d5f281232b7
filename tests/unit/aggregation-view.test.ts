import { describe, expect, expectTypeOf, it } from 'vitest';
import { type AggregationSpec, aggregationView } from '../../src/definitions/aggregation-view.js';
import { stateFromDefinitions } from '../../src/definitions/definition.js';
import type { FeatureRef } from '../../src/definitions/feature-view.js';
import { validateState, validateViewAgainstSource } from '../../src/definitions/validate.js';
import { float64, int64, string } from '../../src/definitions/value-types.js';
import { loadYamlDefinitions } from '../../src/repo/yaml-definitions.js';
import { eventsSource, user } from '../helpers/aggregation-data.js';

const make = (aggregations: Record<string, AggregationSpec>, extra: Record<string, unknown> = {}) =>
  aggregationView({ name: 'activity', entities: [user], source: eventsSource, aggregations, ...extra });

describe('aggregationView', () => {
  it('derives one feature per aggregation and window, typed', () => {
    const v = aggregationView({
      name: 'activity',
      entities: [user],
      source: eventsSource,
      aggregations: {
        clicks: { fn: 'count', windows: ['5m', '1h'] },
        spend: { fn: 'sum', column: 'amount', type: float64(), windows: ['1d'] },
        qty: { fn: 'sum', column: 'qty', type: int64(), windows: ['1d'] },
        recent: { fn: 'last_k', column: 'item', type: string(), k: 3, windows: ['1d'] },
      },
      hops: { '1d': '30m' },
    });
    expect(v.features).toEqual([
      { name: 'clicks_5m', type: 'int64' },
      { name: 'clicks_1h', type: 'int64' },
      { name: 'spend_1d', type: 'float64' },
      { name: 'qty_1d', type: 'int64' },
      { name: 'recent_1d', type: 'list<string>' },
    ]);
    expect(v.aggregations[0]?.windows.map((w) => w.hopMs)).toEqual([10_000, 300_000]);
    expect(v.aggregations[1]?.windows[0]?.hopMs).toBe(1_800_000);
    expect(v.refs.clicks_5m.ref).toBe('activity:clicks_5m');
    expectTypeOf(v.refs.clicks_5m).toEqualTypeOf<FeatureRef<'activity:clicks_5m', number>>();
    expectTypeOf(v.refs.recent_1d).toEqualTypeOf<FeatureRef<'activity:recent_1d', string[]>>();
  });

  it.each([
    [
      { x: { fn: 'median', column: 'amount', type: float64(), windows: ['1h'] } },
      {},
      /unknown aggregation function/,
    ],
    [{ x: { fn: 'sum', windows: ['1h'] } }, {}, /has no column/],
    [{ x: { fn: 'sum', column: 'amount', windows: ['1h'] } }, {}, /needs the column's type/],
    [{ x: { fn: 'avg', column: 'item', type: string(), windows: ['1h'] } }, {}, /needs a numeric column/],
    [{ x: { fn: 'last_k', column: 'item', type: string(), windows: ['1h'] } }, {}, /needs k/],
    [{ x: { fn: 'count', windows: [] } }, {}, /has no windows/],
    [{ x: { fn: 'count', windows: ['1h', '60m'] } }, {}, /appears twice/],
    [{ x: { fn: 'count', windows: ['soon'] } }, {}, /invalid duration/],
    [{ x: { fn: 'count', windows: ['1h'] } }, { hops: { '1h': '2h' } }, /at most the window/],
    [{ x: { fn: 'count', windows: ['1d'] } }, { hops: { '1d': '1s' } }, /more than 1000 hops/],
    [{ x: { fn: 'count', windows: ['1h'] } }, { hops: { '5m': '1m' } }, /which no aggregation/],
    [
      { x: { fn: 'count', windows: ['1h'] } },
      { where: [{ column: 'kind', op: 'like', value: 'a' }] },
      /unknown row condition operator/,
    ],
    [
      { x: { fn: 'count', windows: ['1h'] } },
      { where: [{ column: 'kind', op: 'in', value: [] }] },
      /non-empty list/,
    ],
  ] as const)('rejects bad definitions with a clear error (%#)', (aggs, extra, message) => {
    expect(() => make(aggs as unknown as Record<string, AggregationSpec>, extra)).toThrow(message);
  });

  it('is validated against the real source columns, row filter values included', () => {
    const v = make(
      { spend: { fn: 'sum', column: 'amount', type: float64(), windows: ['1h'] } },
      { where: [{ column: 'kind', op: 'eq', value: 3 }] },
    );
    const state = stateFromDefinitions('p', [user, eventsSource, v]);
    expect(validateState(state)).toEqual([]);
    const errors = validateViewAgainstSource(state, v, eventsSource, [
      { name: 'user_id', type: 'BIGINT' },
      { name: 'ts', type: 'TIMESTAMP' },
      { name: 'amount', type: 'VARCHAR' },
      { name: 'kind', type: 'VARCHAR' },
    ]);
    expect(errors.map((e) => e.message)).toEqual([
      "events, field 'amount': aggregation 'spend' column 'amount' of source 'events' has an incompatible type; expected a column readable as float64, got VARCHAR",
      "events, field 'kind': row filter on 'kind' of source 'events' compares values of another type; expected string values for a VARCHAR column, got 3",
    ]);
  });

  it('reads the same definition from YAML, with errors naming file, line and field', () => {
    const yaml = `
aggregation_views:
  - name: activity
    entities: [user]
    source: events
    aggregations:
      clicks: { fn: count, windows: [5m, 1h] }
      spend: { fn: sum, column: amount, type: float64, windows: [1d] }
    hops: { 1d: 30m }
    where: [{ column: kind, op: in, value: [click, buy] }]
    allowed_lateness: 1m
`;
    const [fromYaml] = loadYamlDefinitions(yaml, 'features.yaml');
    const fromTs = aggregationView({
      name: 'activity',
      entities: ['user'],
      source: 'events',
      aggregations: {
        clicks: { fn: 'count', windows: ['5m', '1h'] },
        spend: { fn: 'sum', column: 'amount', type: float64(), windows: ['1d'] },
      },
      hops: { '1d': '30m' },
      where: [{ column: 'kind', op: 'in', value: ['click', 'buy'] }],
      allowedLateness: '1m',
    });
    expect(JSON.stringify(fromYaml)).toBe(JSON.stringify(fromTs));
    expect(() => loadYamlDefinitions(yaml.replace('fn: count', 'fn: median'), 'features.yaml')).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(/unknown aggregation function 'median'/),
        location: expect.objectContaining({ file: 'features.yaml', row: expect.any(Number) }),
      }),
    );
  });
});
