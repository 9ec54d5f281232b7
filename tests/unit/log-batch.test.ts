import { describe, expect, it } from 'vitest';
import {
  BatchBuilder,
  batchViews,
  bytesFor,
  type LogBatch,
  type PackedKind,
  packedKind,
  requestBounds,
  STATUS_NAMES,
  sliceBatch,
  unpack,
} from '../../src/logging/log-batch.js';
import type { FeatureStatus, OnlineFeaturesResult } from '../../src/serving/types.js';
import { prng } from '../helpers/prng.js';

/** A result as a caller might build it by hand (no column view): join key `k`, then features f0, f1, … */
function resultOf(values: unknown[][], statuses: FeatureStatus[][]): OnlineFeaturesResult {
  const width = values[0]?.length ?? 0;
  const featureNames = Array.from({ length: width }, (_, c) => (c === 0 ? 'k' : `f${c - 1}`));
  return {
    featureNames,
    rows: values.map((row) => Object.fromEntries(featureNames.map((n, c) => [n, row[c]]))),
    statuses: statuses.map((s) => ['PRESENT' as FeatureStatus, ...s]),
    eventTimestamps: values.map((row) => row.map(() => null)),
  };
}

/** Row r's value of output column c, as the log's thread reads it from a batch. */
function valueAt(batch: LogBatch, kinds: readonly PackedKind[], c: number, r: number): unknown {
  const plain = batch.plain[c];
  if (plain) return plain[r];
  return unpack(kinds[c] as PackedKind, batchViews(batch).numbers[c * batch.capacity + r] as number);
}

/** What a value is logged as: null for null, undefined and NaN; a time as its epoch ms; anything else as itself. */
function logged(v: unknown, kind: PackedKind): unknown {
  if (v === undefined || (typeof v === 'number' && Number.isNaN(v))) return null;
  if (kind === 'time' && v instanceof Date) return v.getTime();
  return v;
}

describe('batches of served values for the feature log', () => {
  it('packs numbers, booleans and times column-major, null and NaN as NaN, with statuses, times and request starts', () => {
    const when = new Date('2024-05-01T00:00:00Z');
    const kinds: PackedKind[] = ['number', 'number', 'boolean', 'time', null];
    const builder = new BatchBuilder(7, kinds, 1, new ArrayBuffer(bytesFor(4, 5, 4)));
    expect(builder.capacity).toBe(4);
    builder.append(
      resultOf(
        [
          [1, 1.5, true, when, 'a'],
          [2, null, false, when.getTime() + 1, null],
        ],
        [
          ['PRESENT', 'NOT_FOUND', 'PRESENT', 'DEFAULTED'],
          ['NULL_VALUE', 'PRESENT', 'OUTSIDE_MAX_AGE', 'PRESENT'],
        ],
      ),
      undefined,
      1000,
    );
    builder.append(
      resultOf([[3, Number.NaN, undefined, null, 'c']], [['PRESENT', 'PRESENT', 'PRESENT', 'PRESENT']]),
      undefined,
      2000,
    );
    expect(builder.room()).toBe(1);
    const batch = builder.take();
    expect(batch).toMatchObject({ layout: 7, rows: 3, capacity: 4, width: 5, features: 4 });
    const { numbers, servedAt, statuses, starts } = batchViews(batch);
    const column = (c: number) => [...numbers.subarray(c * 4, c * 4 + 3)];
    expect(column(0)).toEqual([1, 2, 3]);
    expect(column(1)).toEqual([1.5, Number.NaN, Number.NaN]);
    expect(column(2)).toEqual([1, 0, Number.NaN]);
    expect(column(3)).toEqual([when.getTime(), when.getTime() + 1, Number.NaN]);
    expect(batch.plain).toEqual([null, null, null, null, ['a', null, 'c']]);
    const status = (f: number) => [...statuses.subarray(f * 4, f * 4 + 3)].map((s) => STATUS_NAMES[s]);
    expect(status(0)).toEqual(['PRESENT', 'NULL_VALUE', 'PRESENT']);
    expect(status(1)).toEqual(['NOT_FOUND', 'PRESENT', 'PRESENT']);
    expect(status(2)).toEqual(['PRESENT', 'OUTSIDE_MAX_AGE', 'PRESENT']);
    expect(status(3)).toEqual(['DEFAULTED', 'PRESENT', 'PRESENT']);
    expect([...servedAt.subarray(0, 3)]).toEqual([1000, 1000, 2000]);
    expect([...starts.subarray(0, 3)]).toEqual([1, 0, 1]);
    expect(requestBounds(batch)).toEqual([0, 2, 3]);
  });

  it('turns a column plain for the rest of the batch when a value does not fit its kind, keeping earlier rows', () => {
    const big = 2n ** 62n + 1n;
    const kinds: PackedKind[] = ['number', 'number', 'boolean'];
    const builder = new BatchBuilder(0, kinds, 1, new ArrayBuffer(bytesFor(8, 3, 2)));
    const ok: FeatureStatus[] = ['PRESENT', 'PRESENT'];
    builder.append(resultOf([[1, 3, true]], [ok]), undefined, 0);
    builder.append(resultOf([[2, big, 1]], [ok]), undefined, 0);
    builder.append(resultOf([[3, null, false]], [ok]), undefined, 0);
    const batch = builder.take();
    expect(batch.plain).toEqual([null, [3, big, null], [true, 1, false]]);
  });

  it('overwrites every cell of a recycled buffer', () => {
    const buffer = new ArrayBuffer(bytesFor(2, 3, 2));
    new Uint8Array(buffer).fill(0xff);
    const builder = new BatchBuilder(0, ['number', 'number', 'number'], 1, buffer);
    builder.append(resultOf([[1, 2, 3]], [['PRESENT', 'PRESENT']]), undefined, 5);
    const batch = builder.take();
    const views = batchViews(batch);
    expect([views.numbers[0], views.numbers[2], views.numbers[4]]).toEqual([1, 2, 3]);
    expect([views.statuses[0], views.statuses[2], views.servedAt[0], views.starts[0]]).toEqual([0, 0, 5, 1]);
  });

  it('loses nothing: every value and status comes back from a batch or its slices (random cases)', () => {
    const random = prng(11);
    const kindsOf: PackedKind[] = ['number', 'boolean', 'time', null];
    for (let round = 0; round < 100; round++) {
      const width = 2 + Math.floor(random() * 6);
      const kinds = Array.from({ length: width }, () => kindsOf[Math.floor(random() * 4)] as PackedKind);
      const value = (kind: PackedKind): unknown => {
        const r = random();
        if (r < 0.1) return null;
        if (r < 0.13) return undefined;
        if (r < 0.16) return 'text'; // fits no packed kind
        if (kind === 'boolean') return r < 0.6;
        if (kind === 'time') return r < 0.5 ? new Date(Math.floor(r * 1e12)) : Math.floor(r * 1e12);
        return r < 0.2 ? BigInt(Math.floor(r * 1e6)) : r < 0.25 ? Number.NaN : r * 1000;
      };
      const builder = new BatchBuilder(round, kinds, 1, new ArrayBuffer(bytesFor(40, width, width - 1)));
      const sent: { values: unknown[][]; statuses: FeatureStatus[][]; at: number }[] = [];
      for (;;) {
        const rows = 1 + Math.floor(random() * 5);
        if (rows > builder.room()) break;
        const values = Array.from({ length: rows }, () => kinds.map(value));
        const statuses = values.map(() =>
          kinds.slice(1).map(() => STATUS_NAMES[Math.floor(random() * STATUS_NAMES.length)] as FeatureStatus),
        );
        const at = Math.floor(random() * 1e12);
        builder.append(resultOf(values, statuses), undefined, at);
        sent.push({ values, statuses, at });
      }
      const batch = builder.take();
      const check = (b: LogBatch, requests: typeof sent) => {
        const { servedAt, statuses, starts } = batchViews(b);
        let r = 0;
        for (const request of requests) {
          request.values.forEach((row, i) => {
            expect(starts[r]).toBe(i === 0 ? 1 : 0);
            expect(servedAt[r]).toBe(request.at);
            row.forEach((v, c) => {
              const kind = kinds[c] as PackedKind;
              expect(logged(valueAt(b, kinds, c, r), kind), `round ${round} row ${r} column ${c}`).toEqual(
                logged(v, kind),
              );
            });
            request.statuses[i]?.forEach((s, f) => {
              expect(STATUS_NAMES[statuses[f * b.capacity + r] as number]).toBe(s);
            });
            r++;
          });
        }
        expect(r).toBe(b.rows);
      };
      check(batch, sent);
      const bounds = requestBounds(batch);
      expect(bounds).toHaveLength(sent.length + 1);
      sent.forEach((request, k) => {
        check(sliceBatch(batch, bounds[k] as number, bounds[k + 1] as number), [request]);
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
