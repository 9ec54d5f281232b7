import type { Aggregation } from '../definitions/aggregation-view.js';
import type { ScalarType } from '../definitions/value-types.js';
import { type AggValue, compareValues, fromAggValue } from './values.js';

/**
 * Partial-aggregate arithmetic for one aggregation: a state per tile, updated event by event (stream) and
 * merged across tiles (online reads). `merge` may update and return `a` but never changes `b`, so tiles can be
 * merged into a fresh accumulator without copying. States convert to plain data for storage.
 * Definitions of each function: docs/semantics.md.
 */
export interface Aggregator<S = unknown> {
  init(): S;
  /** Adds one event's value (already converted and non-null; `undefined` for a row count). */
  add(state: S, value: AggValue | undefined, ts: number): S;
  merge(a: S, b: S): S;
  /** The feature value; `null` for an empty window (0 for counts). */
  result(state: S): unknown;
  toPlain(state: S): unknown;
  fromPlain(plain: unknown): S;
}

const identity = <T>(x: T): T => x;

/** count: events (no column) or non-null values (with a column). */
const count: Aggregator<number> = {
  init: () => 0,
  add: (s) => s + 1,
  merge: (a, b) => a + b,
  result: (s) => s,
  toPlain: identity,
  fromPlain: (p) => p as number,
};

/**
 * Sums with Neumaier's compensation, so that the result does not depend (beyond the last bits) on the order
 * events arrive in or on how they fall into tiles; DuckDB's `fsum` does the same offline.
 */
interface SumState {
  n: number;
  s: number;
  c: number;
}
const addCompensated = (st: SumState, x: number): void => {
  const t = st.s + x;
  st.c += Math.abs(st.s) >= Math.abs(x) ? st.s - t + x : x - t + st.s;
  st.s = t;
};
const sumLike = (result: (s: SumState) => unknown): Aggregator<SumState> => ({
  init: () => ({ n: 0, s: 0, c: 0 }),
  add: (st, v) => {
    st.n++;
    addCompensated(st, v as number);
    return st;
  },
  merge: (a, b) => {
    a.n += b.n;
    addCompensated(a, b.s);
    addCompensated(a, b.c);
    return a;
  },
  result,
  toPlain: (st) => [st.n, st.s, st.c],
  fromPlain: (p) => {
    const [n, s, c] = p as [number, number, number];
    return { n, s, c };
  },
});
const sum = sumLike((st) => (st.n === 0 ? null : st.s + st.c));
const avg = sumLike((st) => (st.n === 0 ? null : (st.s + st.c) / st.n));

/** Welford's running mean and sum of squared deviations; tiles combine with Chan et al.'s formula. */
interface MomentState {
  n: number;
  mean: number;
  m2: number;
}
const moments = (result: (s: MomentState) => unknown): Aggregator<MomentState> => ({
  init: () => ({ n: 0, mean: 0, m2: 0 }),
  add: (st, v) => {
    const x = v as number;
    st.n++;
    const d = x - st.mean;
    st.mean += d / st.n;
    st.m2 += d * (x - st.mean);
    return st;
  },
  merge: (a, b) => {
    if (b.n === 0) return a;
    if (a.n === 0) {
      a.n = b.n;
      a.mean = b.mean;
      a.m2 = b.m2;
      return a;
    }
    const n = a.n + b.n;
    const d = b.mean - a.mean;
    a.m2 += b.m2 + (d * d * a.n * b.n) / n;
    a.mean += (d * b.n) / n;
    a.n = n;
    return a;
  },
  result,
  toPlain: (st) => [st.n, st.mean, st.m2],
  fromPlain: (p) => {
    const [n, mean, m2] = p as [number, number, number];
    return { n, mean, m2 };
  },
});
/** Sample variance (n − 1 in the denominator, as DuckDB's `var_samp`); null below two values. */
const variance = moments((st) => (st.n < 2 ? null : Math.max(0, st.m2 / (st.n - 1))));
const stddev = moments((st) => (st.n < 2 ? null : Math.sqrt(Math.max(0, st.m2 / (st.n - 1)))));

/** Types whose values are numbers here (timestamps as epoch ms), for which compareValues is `<` / `>`. */
const NUMERIC: ReadonlySet<ScalarType> = new Set(['int32', 'int64', 'float32', 'float64', 'timestamp']);

const extreme = (sign: 1 | -1, type: ScalarType): Aggregator<AggValue | null> => ({
  init: () => null,
  // For numbers, compareValues(v, s) > 0 is v > s (and < 0 is v < s): compared inline on the hot path.
  add: NUMERIC.has(type)
    ? sign === 1
      ? (s, v) => (s === null || (v as number) > (s as number) ? (v as AggValue) : s)
      : (s, v) => (s === null || (v as number) < (s as number) ? (v as AggValue) : s)
    : (s, v) => (s === null || sign * compareValues(v as AggValue, s) > 0 ? (v as AggValue) : s),
  merge: (a, b) => (b === null ? a : a === null || sign * compareValues(b, a) > 0 ? b : a),
  result: (s) => (s === null ? null : fromAggValue(type, s)),
  toPlain: identity,
  fromPlain: (p) => p as AggValue | null,
});

/** (ts, value) pairs ordered newest first; equal times go to the greater value, so any arrival order agrees. */
type Stamped = [ts: number, value: AggValue];
const newer = (a: Stamped, b: Stamped): boolean =>
  a[0] > b[0] || (a[0] === b[0] && compareValues(a[1], b[1]) > 0);

const last = (type: ScalarType): Aggregator<Stamped | null> => ({
  init: () => null,
  add: (s, v, ts) => {
    const e: Stamped = [ts, v as AggValue];
    return s === null || newer(e, s) ? e : s;
  },
  merge: (a, b) => (b === null ? a : a === null || newer(b, a) ? b : a),
  result: (s) => (s === null ? null : fromAggValue(type, s[1])),
  toPlain: identity,
  fromPlain: (p) => p as Stamped | null,
});

const lastK = (k: number, type: ScalarType): Aggregator<Stamped[]> => ({
  init: () => [],
  add: (s, v, ts) => {
    const e: Stamped = [ts, v as AggValue];
    if (s.length === k && !newer(e, s[k - 1] as Stamped)) return s;
    let i = s.length;
    while (i > 0 && newer(e, s[i - 1] as Stamped)) i--;
    s.splice(i, 0, e);
    if (s.length > k) s.pop();
    return s;
  },
  merge: (a, b) => {
    if (b.length === 0) return a;
    const out: Stamped[] = [];
    let i = 0;
    let j = 0;
    while (out.length < k && (i < a.length || j < b.length)) {
      if (j >= b.length || (i < a.length && !newer(b[j] as Stamped, a[i] as Stamped)))
        out.push(a[i++] as Stamped);
      else out.push(b[j++] as Stamped);
    }
    return out;
  },
  result: (s) => (s.length === 0 ? null : s.map((e) => fromAggValue(type, e[1]))),
  toPlain: identity,
  fromPlain: (p) => p as Stamped[],
});

/**
 * Exact distinct count up to `bound` values; past it the set stops growing and the result saturates at the
 * bound. A saturated tile holds `bound` values, so any union containing it also reaches the bound: tiles and
 * the offline `least(count(DISTINCT x), bound)` agree.
 */
const countDistinct = (bound: number): Aggregator<Set<AggValue>> => ({
  init: () => new Set(),
  add: (s, v) => {
    if (s.size < bound) s.add(v as AggValue);
    return s;
  },
  merge: (a, b) => {
    for (const v of b) {
      if (a.size >= bound) break;
      a.add(v);
    }
    return a;
  },
  result: (s) => Math.min(s.size, bound),
  toPlain: (s) => [...s],
  fromPlain: (p) => new Set(p as AggValue[]),
});

/** The aggregator of one aggregation definition. */
export function aggregatorFor(a: Aggregation): Aggregator {
  const type = a.inputType as ScalarType;
  switch (a.fn) {
    case 'count':
      return count as Aggregator;
    case 'sum':
      return sum as Aggregator;
    case 'avg':
      return avg as Aggregator;
    case 'variance':
      return variance as Aggregator;
    case 'stddev':
      return stddev as Aggregator;
    case 'min':
      return extreme(-1, type) as Aggregator;
    case 'max':
      return extreme(1, type) as Aggregator;
    case 'last':
      return last(type) as Aggregator;
    case 'last_k':
      return lastK(a.k as number, type) as Aggregator;
    case 'count_distinct':
      return countDistinct(a.maxDistinct as number) as Aggregator;
  }
}
