import { Int64, Utf8 } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { TesseraError } from '../../src/core/errors.js';
import { arrowTable, arrowTypeOfEngineType, arrowTypeOfValueType } from '../../src/training/arrow-table.js';

describe('Arrow types', () => {
  it('maps feature value types', () => {
    const cases = {
      int32: 'Int32',
      int64: 'Int64',
      float32: 'Float32',
      float64: 'Float64',
      bool: 'Bool',
      string: 'Utf8',
      bytes: 'Binary',
      timestamp: 'Timestamp<MILLISECOND, UTC>',
      'list<int64>': 'List<Int64>',
      'list<timestamp>': 'List<Timestamp<MILLISECOND, UTC>>',
    } as const;
    for (const [valueType, arrow] of Object.entries(cases))
      expect(String(arrowTypeOfValueType(valueType as keyof typeof cases)), valueType).toBe(arrow);
  });

  it('maps DuckDB column types, and gives undefined for types it has no form for', () => {
    const cases: Record<string, string | undefined> = {
      BIGINT: 'Int64',
      SMALLINT: 'Int16',
      UBIGINT: 'Uint64',
      'DECIMAL(10,3)': 'Float64',
      'TIMESTAMP WITH TIME ZONE': 'Timestamp<MILLISECOND, UTC>',
      TIMESTAMP: 'Timestamp<MILLISECOND, UTC>',
      DATE: 'Date32<DAY>',
      'VARCHAR[]': 'List<Utf8>',
      'DOUBLE[3]': 'List<Float64>',
      "ENUM('a', 'b')": 'Utf8',
      'STRUCT(a INTEGER)': undefined,
      INTERVAL: undefined,
    };
    for (const [engine, arrow] of Object.entries(cases)) {
      const t = arrowTypeOfEngineType(engine);
      expect(t === undefined ? undefined : String(t), engine).toBe(arrow);
    }
  });
});

describe('arrowTable', () => {
  it('keeps the given column order, even for names that look like integers', () => {
    const table = arrowTable(
      [
        { name: 'b', type: new Utf8() },
        { name: '0', type: new Int64() },
      ],
      [{ b: 'x', 0: 1 }],
    );
    expect(table.schema.fields.map((f) => f.name)).toEqual(['b', '0']);
    expect(table.getChild('0')?.get(0)).toBe(1n);
  });

  it('names the column of a value that is not an int64', () => {
    const build = (v: unknown) => () => arrowTable([{ name: 'n', type: new Int64() }], [{ n: v }]);
    expect(build(2.5)).toThrow(TesseraError);
    expect(build(2.5)).toThrow(/column 'n'/);
    expect(build(2n ** 63n)).toThrow(/not an int64/);
    expect(build(-(2n ** 63n))()).toBeDefined();
  });
});
