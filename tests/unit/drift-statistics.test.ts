import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareColumn, DEFAULT_THRESHOLDS, ks, psi } from '../../src/monitoring/drift.js';
import type { CategoricalColumnProfile, NumericColumnProfile } from '../../src/monitoring/profile.js';
import { nextDown } from '../../src/monitoring/profile-sql.js';
import { measureAgainst, profileRelation } from '../../src/monitoring/profiler.js';
import { prng } from '../helpers/prng.js';

/**
 * Profiles and drift statistics from DuckDB (embedded, in-process) checked against brute-force references
 * written here in plain JS on seeded random data: exact quantiles, histogram counts, PSI and the exact
 * two-sample KS statistic.
 */

let instance: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  connection = await instance.connect();
});
afterAll(() => {
  connection.closeSync();
  instance.closeSync();
});

/** A relation of one nullable DOUBLE column `x` holding `values`. */
const relationOf = (values: readonly (number | null)[]): string =>
  `(SELECT unnest([${values.map((v) => (v === null ? 'NULL' : `'${v}'::DOUBLE`)).join(', ')}]::DOUBLE[]) AS x)`;

/** Exact two-sample KS: the largest gap between the two empirical CDFs, checked at every observed value. */
function bruteKs(a: readonly number[], b: readonly number[]): number {
  const sa = [...a].sort((x, y) => x - y);
  const sb = [...b].sort((x, y) => x - y);
  const le = (s: number[], x: number) => {
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((s[mid] as number) <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let d = 0;
  for (const x of [...sa, ...sb]) d = Math.max(d, Math.abs(le(sa, x) / sa.length - le(sb, x) / sb.length));
  return d;
}

/** Brute-force PSI: bins by comparing with the stored edges, one value at a time, with ε = 1e-4. */
function brutePsi(edges: readonly number[], ref: readonly number[], cur: readonly number[]): number {
  const bins = edges.length - 1;
  const binOf = (x: number) => {
    if (x < (edges[0] as number)) return 0;
    if (x > (edges[bins] as number)) return bins + 1;
    for (let k = 1; k < bins; k++) if (x < (edges[k] as number)) return k;
    return bins;
  };
  const share = (xs: readonly number[]) => {
    const c = new Array<number>(bins + 2).fill(0);
    for (const x of xs) c[binOf(x)] = (c[binOf(x)] as number) + 1;
    return c.map((v) => Math.max(v / xs.length, 1e-4));
  };
  const e = share(ref);
  const a = share(cur);
  return e.reduce((s, ei, i) => s + ((a[i] as number) - ei) * Math.log((a[i] as number) / ei), 0);
}

type Gen = (rand: () => number) => number;
const normal: Gen = (rand) => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
const round3 = (x: number) => Math.round(x * 1000) / 1000;

describe('profiles and drift against brute force', () => {
  const cases: { name: string; ref: Gen; cur: Gen }[] = [
    { name: 'continuous, same distribution', ref: (r) => round3(normal(r)), cur: (r) => round3(normal(r)) },
    { name: 'continuous, shifted mean', ref: (r) => round3(normal(r)), cur: (r) => round3(normal(r) + 0.4) },
    { name: 'continuous, wider', ref: (r) => round3(normal(r)), cur: (r) => round3(2 * normal(r)) },
    {
      name: 'integers with many ties',
      ref: (r) => Math.floor(r() * 6),
      cur: (r) => Math.floor(r() * r() * 8),
    },
    {
      name: 'skewed with outliers',
      ref: (r) => round3(Math.exp(2 * normal(r))),
      cur: (r) => round3(Math.exp(2 * normal(r) + 0.3)),
    },
  ];
  for (const [c, testCase] of cases.entries()) {
    for (const seed of [1, 2, 3]) {
      it(`${testCase.name} (seed ${seed})`, async () => {
        const rand = prng(seed * 101 + c);
        const nRef = 200 + Math.floor(rand() * 1500);
        const nCur = 50 + Math.floor(rand() * 800);
        const ref = Array.from({ length: nRef }, () => (rand() < 0.05 ? null : testCase.ref(rand)));
        const cur = Array.from({ length: nCur }, () => (rand() < 0.1 ? null : testCase.cur(rand)));
        const refValues = ref.filter((v): v is number => v !== null);
        const curValues = cur.filter((v): v is number => v !== null);

        const profile = await profileRelation(
          connection,
          { relation: relationOf(ref), columns: [{ name: 'x', column: 'x', type: 'DOUBLE' }] },
          { kind: 'relation', description: 'test' },
        );
        const column = profile.columns[0] as NumericColumnProfile;
        expect(column.count).toBe(refValues.length);
        expect(column.nulls).toBe(nRef - refValues.length);
        // Quantiles are t-digest estimates: each must sit within 1.5 percentile points of its level in the data,
        // with exact ends.
        const sorted = [...refValues].sort((a, b) => a - b);
        expect(column.quantiles.values[0]).toBe(sorted[0]);
        expect(column.quantiles.values.at(-1)).toBe(sorted.at(-1));
        column.quantiles.levels.forEach((q, k) => {
          const v = column.quantiles.values[k] as number;
          expect(sorted.filter((x) => x <= v).length / sorted.length).toBeGreaterThanOrEqual(q - 0.015);
          expect(sorted.filter((x) => x < v).length / sorted.length).toBeLessThanOrEqual(q + 0.015);
        });
        if (column.distinct <= 256) {
          // Every distinct value is a CDF point: quantiles are exact nearest ranks (levels k/100: ceil(n·k/100)).
          expect(column.quantiles.values).toEqual(
            column.quantiles.levels.map(
              (_, k) => sorted[Math.max(0, Math.floor((sorted.length * k + 99) / 100) - 1)],
            ),
          );
        }
        // The CDF at the points is exact.
        column.cdf.points.forEach((p, j) => {
          expect(column.cdf.atOrBelow[j]).toBe(sorted.filter((x) => x <= p).length);
          expect(column.cdf.below[j]).toBe(sorted.filter((x) => x < p).length);
        });
        expect(column.histogram.counts.reduce((s, v) => s + v, 0)).toBe(refValues.length);
        expect(column.mean).toBeCloseTo(refValues.reduce((s, v) => s + v, 0) / refValues.length, 9);

        const [current] = await measureAgainst(connection, { relation: relationOf(cur) }, [
          { reference: column, column: 'x' },
        ]);
        if (!current?.cdf || !current.binCounts) throw new Error('no current measurements');
        expect(current.count).toBe(curValues.length);

        const approx = ks(column.cdf, column.count, current.cdf, current.count);
        if (!approx) throw new Error('no KS');
        const exact = bruteKs(refValues, curValues);
        // The documented bound: approx ≤ exact ≤ approx + maxError; maxError is about a percentile point for
        // continuous data, and 0 (KS exact) when every distinct value is a point.
        expect(approx.statistic).toBeLessThanOrEqual(exact + 1e-12);
        expect(exact).toBeLessThanOrEqual(approx.statistic + approx.maxError + 1e-12);
        expect(approx.maxError).toBeLessThanOrEqual(0.025);
        if (column.distinct <= 256) {
          expect(approx.maxError).toBe(0);
          expect(approx.statistic).toBeCloseTo(exact, 12);
        }

        expect(psi(column.histogram.counts, current.binCounts)).toBeCloseTo(
          brutePsi(column.histogram.edges, refValues, curValues),
          12,
        );
      });
    }
  }

  it('computes PSI over top values and other for categories', async () => {
    const rand = prng(7);
    const pick = (weights: number[]) => {
      const u = rand() * weights.reduce((s, w) => s + w, 0);
      let acc = 0;
      for (const [i, w] of weights.entries()) {
        acc += w;
        if (acc >= u) return i;
      }
      return weights.length - 1;
    };
    const names = ['web', 'ios', 'android', 'tv', 'car'];
    const ref = Array.from({ length: 3000 }, () => names[pick([50, 25, 20, 4, 1])] as string);
    const cur = Array.from({ length: 2000 }, () => names[pick([20, 25, 50, 4, 1])] as string);
    const rel = (vs: string[]) => `(SELECT unnest([${vs.map((v) => `'${v}'`).join(', ')}]) AS device)`;
    const profile = await profileRelation(
      connection,
      { relation: rel(ref), columns: [{ name: 'device', column: 'device', type: 'VARCHAR' }] },
      { kind: 'relation', description: 'test' },
      { topK: 3 },
    );
    const column = profile.columns[0] as CategoricalColumnProfile;
    const count = (vs: string[], v: string) => vs.filter((x) => x === v).length;
    expect(column.topValues.map((t) => t.value)).toEqual(['web', 'ios', 'android']);
    expect(column.topValues.map((t) => t.count)).toEqual(['web', 'ios', 'android'].map((v) => count(ref, v)));
    expect(column.otherCount).toBe(count(ref, 'tv') + count(ref, 'car'));

    const [current] = await measureAgainst(connection, { relation: rel(cur) }, [
      { reference: column, column: 'device' },
    ]);
    if (!current) throw new Error('no current');
    const buckets = (vs: string[]) => [
      ...['web', 'ios', 'android'].map((v) => count(vs, v) / vs.length),
      (count(vs, 'tv') + count(vs, 'car')) / vs.length,
    ];
    const e = buckets(ref);
    const a = buckets(cur);
    const expected = e.reduce((s, ei, i) => s + ((a[i] as number) - ei) * Math.log((a[i] as number) / ei), 0);
    const drift = compareColumn(column, current, 'device', DEFAULT_THRESHOLDS);
    expect(drift.psi).toBeCloseTo(expected, 12);
    expect(drift.status).toBe('alert');
    expect(drift.breaches[0]).toMatch(/^psi/);
  });

  it('gives PSI 0 and KS 0 for identical data, and no data for an empty current set', async () => {
    const values = Array.from({ length: 500 }, (_, i) => i % 37);
    const profile = await profileRelation(
      connection,
      { relation: relationOf(values), columns: [{ name: 'x', column: 'x', type: 'DOUBLE' }] },
      { kind: 'relation', description: 'test' },
    );
    const column = profile.columns[0] as NumericColumnProfile;
    const [same] = await measureAgainst(connection, { relation: relationOf(values) }, [
      { reference: column, column: 'x' },
    ]);
    if (!same) throw new Error('no current');
    const drift = compareColumn(column, same, 'x', DEFAULT_THRESHOLDS);
    expect(drift).toMatchObject({ psi: 0, ks: 0, status: 'ok', breaches: [] });
    const [empty] = await measureAgainst(connection, { relation: relationOf(values), filter: 'x > 1000' }, [
      { reference: column, column: 'x' },
    ]);
    if (!empty) throw new Error('no current');
    expect(compareColumn(column, empty, 'x', DEFAULT_THRESHOLDS)).toMatchObject({
      status: 'no_data',
      psi: null,
      ks: null,
    });
  });
});

describe('CDF points at the edge of double precision', () => {
  it('counts values below and at adjacent-double points exactly', async () => {
    const a = 1;
    const b = 1 + Number.EPSILON; // the next double after 1
    const values = [0.5, a, a, b, b, b, 2];
    const profile = await profileRelation(
      connection,
      { relation: relationOf(values), columns: [{ name: 'x', column: 'x', type: 'DOUBLE' }] },
      { kind: 'relation', description: 'test' },
    );
    const column = profile.columns[0] as NumericColumnProfile;
    expect(column.cdf.points).toEqual([0.5, a, b, 2]);
    expect(column.cdf.below).toEqual([0, 1, 3, 6]);
    expect(column.cdf.atOrBelow).toEqual([1, 3, 6, 7]);
    expect(nextDown(b)).toBe(a);
    expect(nextDown(0)).toBeLessThan(0);
    expect(nextDown(-1)).toBeLessThan(-1);
  });
});
