import { describe, expect, it } from 'vitest';
import { type PackedKind, packedKind, packValues } from '../../src/logging/log-entry.js';
import { prng } from '../helpers/prng.js';

describe('packing served values for the feature log', () => {
  it('packs numbers, booleans and times column-major, null and NaN as NaN', () => {
    const when = new Date('2024-05-01T00:00:00Z');
    const kinds: PackedKind[] = ['number', 'boolean', 'time', null];
    const { numbers, values } = packValues(
      kinds,
      [
        [1.5, true, when, 'a'],
        [null, false, when.getTime() + 1, null],
        [Number.NaN, undefined, null, 'c'],
      ],
      3,
    );
    expect([...numbers]).toEqual([
      1.5,
      Number.NaN,
      Number.NaN,
      1,
      0,
      Number.NaN,
      when.getTime(),
      when.getTime() + 1,
      Number.NaN,
      0,
      0,
      0,
    ]);
    expect(values).toEqual([null, null, null, ['a', null, 'c']]);
  });

  it('sends a column as plain values, whole, as soon as one value does not fit its kind', () => {
    const big = 2n ** 62n + 1n;
    const { values } = packValues(
      ['number', 'boolean', 'number'],
      [
        [1, true, 3],
        [big, 1, 4],
      ],
      2,
    );
    expect(values).toEqual([[1, big], [true, 1], null]);
  });

  it('loses nothing: every value comes back from the packed form or the plain one (random cases)', () => {
    const random = prng(11);
    const kindsOf: PackedKind[] = ['number', 'boolean', 'time', null];
    for (let round = 0; round < 200; round++) {
      const width = 1 + Math.floor(random() * 6);
      const rows = Math.floor(random() * 8);
      const kinds = Array.from({ length: width }, () => kindsOf[Math.floor(random() * 4)] as PackedKind);
      const value = (kind: PackedKind): unknown => {
        const r = random();
        if (r < 0.15) return null;
        if (r < 0.2) return 'text'; // fits no packed kind
        if (kind === 'boolean') return r < 0.6;
        if (kind === 'time') return new Date(Math.floor(r * 1e12));
        return r < 0.25 ? BigInt(Math.floor(r * 1e6)) : r * 1000;
      };
      const input = Array.from({ length: rows }, () => kinds.map(value));
      const { numbers, values } = packValues(kinds, input, rows);
      kinds.forEach((kind, c) => {
        const plain = values[c];
        for (let i = 0; i < rows; i++) {
          const v = (input[i] as unknown[])[c];
          if (plain) {
            expect(plain[i]).toBe(v);
            continue;
          }
          const x = numbers[c * rows + i] as number;
          if (v === null) expect(x).toBeNaN();
          else if (kind === 'boolean') expect(x).toBe(v ? 1 : 0);
          else if (kind === 'time') expect(x).toBe((v as Date).getTime());
          else expect(x).toBe(v);
        }
      });
    }
  });

  it('packs the declared types that are numbers, booleans or times', () => {
    expect(
      ['DOUBLE', 'FLOAT', 'BIGINT', 'INTEGER', 'BOOLEAN', 'TIMESTAMPTZ', 'VARCHAR', 'BLOB', 'DOUBLE[]'].map(
        packedKind,
      ),
    ).toEqual(['number', 'number', 'number', 'number', 'boolean', 'time', null, null, null]);
  });
});
