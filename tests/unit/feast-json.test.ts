import { describe, expect, it } from 'vitest';
import { fromFeastRequest, toFeastResponse } from '../../src/server/feast-json.js';

describe("Feast's HTTP JSON", () => {
  it('turns columnar entities (and request_context) into entity rows', () => {
    const r = fromFeastRequest(
      {
        features: ['v:f'],
        entities: { driver_id: [1, 2] },
        request_context: { val: [10, 20] },
        full_feature_names: true,
      },
      100,
    );
    expect(r.entities).toEqual([
      { driver_id: 1, val: 10 },
      { driver_id: 2, val: 20 },
    ]);
    expect(r.fullFeatureNames).toBe(true);
  });

  it('rejects ragged columns and oversized requests with the field at fault', () => {
    expect(() => fromFeastRequest({ features: ['v:f'], entities: { a: [1, 2], b: [1] } }, 100)).toThrow(
      /field 'entities\.b': entity columns have different lengths; expected 2 values/,
    );
    expect(() => fromFeastRequest({ features: ['v:f'], entities: { a: [1, 2, 3] } }, 2)).toThrow(
      /too many entity rows.*at most 2/,
    );
  });

  it("answers in the feature server's shape: names, then per-feature values/statuses/event_timestamps", () => {
    const ts = new Date('2024-05-01T00:00:00Z');
    const body = JSON.parse(
      toFeastResponse({
        featureNames: ['driver_id', 'conv_rate'],
        rows: [
          { driver_id: 1001, conv_rate: 0.5 },
          { driver_id: 1002, conv_rate: null },
        ],
        statuses: [
          ['PRESENT', 'PRESENT'],
          ['PRESENT', 'NOT_FOUND'],
        ],
        eventTimestamps: [
          [null, ts],
          [null, null],
        ],
        warnings: [],
      }),
    );
    expect(body).toEqual({
      metadata: { feature_names: ['driver_id', 'conv_rate'] },
      results: [
        {
          values: [1001, 1002],
          statuses: ['PRESENT', 'PRESENT'],
          event_timestamps: ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z'],
        },
        {
          values: [0.5, null],
          statuses: ['PRESENT', 'NOT_FOUND'],
          event_timestamps: ['2024-05-01T00:00:00.000Z', '1970-01-01T00:00:00Z'],
        },
      ],
    });
  });
});
