import { describe, expect, it } from 'vitest';
import { stateFromDefinitions } from '../../src/definitions/definition.js';
import { featureService, featureView, float64, int64 } from '../../src/definitions/index.js';
import { isCompatible, validateState, validateViewAgainstSource } from '../../src/definitions/validate.js';
import {
  item,
  itemSource,
  itemStats,
  ranker,
  ratio,
  sampleState,
  user,
  userSource,
  userStats,
} from '../helpers/sample-definitions.js';

describe('definition validation', () => {
  it('accepts a consistent project', () => {
    expect(validateState(sampleState)).toEqual([]);
  });

  it('reports unknown entities, sources and features, with the file they came from', () => {
    const bad = featureView({ name: 'bad', entities: ['nobody'], source: 'nowhere', schema: { x: int64() } });
    const svc = featureService({ name: 'svc', features: ['user_stats:nope', 'ghost:*'] });
    const state = stateFromDefinitions('t', [user, userSource, userStats, bad, svc]);
    const errors = validateState(state, new Map([['FeatureView/bad', 'features.ts']]));
    const text = errors.map((e) => e.message).join('\n');
    expect(text).toMatch(/features\.ts, field 'entities': feature view 'bad' uses unknown entity 'nobody'/);
    expect(text).toMatch(/uses unknown source 'nowhere'/);
    expect(text).toMatch(/selects unknown feature 'user_stats:nope'/);
    expect(text).toMatch(/selects unknown feature 'ghost:\*'/);
    expect(errors).toHaveLength(4);
  });

  it('reports duplicate names, including a view and an on-demand view sharing one', () => {
    const clash = featureView({
      name: 'ratio',
      entities: [user],
      source: userSource,
      schema: { x: int64() },
    });
    const state = stateFromDefinitions('t', [user, userSource, userStats, ratio, clash, userStats]);
    const text = validateState(state)
      .map((e) => e.message)
      .join('\n');
    expect(text).toMatch(/duplicate name 'ratio'/);
    expect(text).toMatch(/duplicate name 'user_stats'/);
  });

  it('reports a feature named like a join key and bad on-demand inputs', () => {
    const v = featureView({ name: 'v', entities: [user], source: userSource, schema: { user_id: int64() } });
    const state = stateFromDefinitions('t', [user, userSource, v, item, itemSource, itemStats, ranker]);
    const text = validateState(state)
      .map((e) => e.message)
      .join('\n');
    expect(text).toMatch(/feature 'user_id' of 'v' has the name of a join key/);
    expect(text).toMatch(/selects unknown feature 'user_stats:clicks'/);
  });

  it('checks a view against the real columns of its source, naming the file', () => {
    const ok = [
      { name: 'user_id', type: 'BIGINT' },
      { name: 'ts', type: 'TIMESTAMP WITH TIME ZONE' },
      { name: 'clicks', type: 'INTEGER' },
      { name: 'spend', type: 'DECIMAL(10,2)' },
      { name: 'tags', type: 'VARCHAR[]' },
    ];
    expect(validateViewAgainstSource(sampleState, userStats, userSource, ok)).toEqual([]);
    const bad = [
      { name: 'user_id', type: 'VARCHAR' },
      { name: 'ts', type: 'BIGINT' },
      { name: 'clicks', type: 'DOUBLE' },
      { name: 'tags', type: 'VARCHAR' },
    ];
    const text = validateViewAgainstSource(sampleState, userStats, userSource, bad)
      .map((e) => e.message)
      .join('\n');
    expect(text).toMatch(
      /data\/users, field 'ts': timestamp column 'ts'.*expected a timestamp or date, got BIGINT/,
    );
    expect(text).toMatch(
      /field 'user_id': join key column.*incompatible.*expected a column readable as int64, got VARCHAR/,
    );
    expect(text).toMatch(/feature 'clicks' column 'clicks'.*got DOUBLE/);
    expect(text).toMatch(
      /column 'spend' is missing from source 'user_src'.*columns present: user_id, ts, clicks, tags/,
    );
    expect(text).toMatch(/feature 'tags'.*got VARCHAR/);
  });

  it('knows which engine types read losslessly as which feature types', () => {
    expect(isCompatible('int64', 'INTEGER')).toBe(true);
    expect(isCompatible('int32', 'BIGINT')).toBe(false);
    expect(isCompatible('float64', 'BIGINT')).toBe(true);
    expect(isCompatible('list<int64>', 'INTEGER[]')).toBe(true);
    expect(isCompatible('list<int64>', '_int8')).toBe(true);
    expect(isCompatible('string', 'TEXT')).toBe(true);
    expect(isCompatible('bytes', 'BYTEA')).toBe(true);
    expect(isCompatible('bool', 'VARCHAR')).toBe(false);
    expect(float64().type).toBe('float64');
  });
});
