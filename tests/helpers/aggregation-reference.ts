/**
 * A brute-force reference for windowed aggregations (docs/semantics.md, "Windowed aggregations"): for one
 * entity and time t, scan every event. Slow and obvious on purpose, and independent of src/aggregation and of
 * the SQL, so both are checked against the written rules rather than against each other.
 */
import type { AggregationView, RowCondition } from '../../src/definitions/aggregation-view.js';

export interface RefEvent {
  /** Entity key values, by join key name. */
  readonly keys: Readonly<Record<string, unknown>>;
  /** Event time, epoch ms. */
  readonly ts: number;
  readonly values: Readonly<Record<string, unknown>>;
}

const norm = (v: unknown): unknown => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v;
};

/** Unicode code point order (= UTF-8 byte order), false < true, numbers numerically. */
function order(a: unknown, b: unknown): number {
  if (typeof a === 'string' && typeof b === 'string') return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return Number(a) < Number(b) ? -1 : Number(a) > Number(b) ? 1 : 0;
}

function passes(c: RowCondition, row: Readonly<Record<string, unknown>>): boolean {
  const v = norm(row[c.column]);
  if (c.op === 'is_null') return v === null;
  if (c.op === 'not_null') return v !== null;
  if (v === null) return false;
  const same = (x: unknown) => typeof x === typeof v && order(v, x) === 0;
  switch (c.op) {
    case 'in':
      return (c.value as unknown[]).some(same);
    case 'not_in':
      return !(c.value as unknown[]).some(same);
    case 'eq':
      return same(c.value);
    case 'ne':
      return typeof c.value === typeof v && !same(c.value);
    case 'lt':
      return typeof c.value === typeof v && order(v, c.value) < 0;
    case 'lte':
      return typeof c.value === typeof v && order(v, c.value) <= 0;
    case 'gt':
      return typeof c.value === typeof v && order(v, c.value) > 0;
    case 'gte':
      return typeof c.value === typeof v && order(v, c.value) >= 0;
  }
}

/**
 * Every feature of `view` for the entity `keys` at time `t`, by definition: events with the same keys that pass
 * the row filter, with floor_h(t − w) ≤ ts ≤ t, and a non-null (finite) input value.
 */
export function referenceValues(
  view: AggregationView,
  events: readonly RefEvent[],
  keys: Readonly<Record<string, unknown>>,
  t: number,
): Record<string, unknown> {
  const mine = events.filter(
    (e) =>
      Object.entries(keys).every(([k, v]) => v !== null && norm(e.keys[k]) === norm(v)) &&
      view.where.every((c) => passes(c, e.values)),
  );
  const out: Record<string, unknown> = {};
  for (const a of view.aggregations) {
    for (const w of a.windows) {
      const lo = Math.floor((t - w.ms) / w.hopMs) * w.hopMs;
      const inWindow = mine.filter((e) => e.ts >= lo && e.ts <= t);
      const name = `${a.name}_${w.label}`;
      if (a.column === undefined) {
        out[name] = inWindow.length;
        continue;
      }
      const col = a.column;
      const vals = inWindow
        .map((e) => ({ ts: e.ts, v: norm(e.values[col]) }))
        .filter((x) => x.v !== null && (a.inputType !== 'int64' || Number.isInteger(x.v)));
      const nums = vals.map((x) => x.v as number);
      const n = vals.length;
      const total = nums.reduce((s, x) => s + x, 0);
      const mean = total / n;
      const ss = nums.reduce((s, x) => s + (x - mean) ** 2, 0);
      const newestFirst = [...vals].sort((x, y) => y.ts - x.ts || order(y.v, x.v));
      const asOut = (v: unknown) => (a.inputType === 'timestamp' ? new Date(v as number) : v);
      switch (a.fn) {
        case 'count':
          out[name] = n;
          break;
        case 'sum':
          out[name] = n === 0 ? null : total;
          break;
        case 'avg':
          out[name] = n === 0 ? null : mean;
          break;
        case 'variance':
          out[name] = n < 2 ? null : ss / (n - 1);
          break;
        case 'stddev':
          out[name] = n < 2 ? null : Math.sqrt(ss / (n - 1));
          break;
        case 'min':
          out[name] =
            n === 0 ? null : asOut(vals.map((x) => x.v).reduce((m, x) => (order(x, m) < 0 ? x : m)));
          break;
        case 'max':
          out[name] =
            n === 0 ? null : asOut(vals.map((x) => x.v).reduce((m, x) => (order(x, m) > 0 ? x : m)));
          break;
        case 'last':
          out[name] = n === 0 ? null : asOut(newestFirst[0]?.v);
          break;
        case 'last_k':
          out[name] = n === 0 ? null : newestFirst.slice(0, a.k).map((x) => asOut(x.v));
          break;
        case 'count_distinct':
          out[name] = Math.min(new Set(vals.map((x) => x.v)).size, a.maxDistinct as number);
          break;
      }
    }
  }
  return out;
}

/** Float results agree within a relative 1e-9 (docs/semantics.md); everything else exactly. */
export function sameAggregate(expected: unknown, actual: unknown): boolean {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Number.isInteger(expected) && Number.isInteger(actual) && Math.abs(expected) < 2 ** 53) {
      if (expected === actual) return true;
    }
    const scale = Math.max(Math.abs(expected), Math.abs(actual));
    return Math.abs(expected - actual) <= 1e-9 * scale || Math.abs(expected - actual) < 1e-12;
  }
  if (expected instanceof Date && actual instanceof Date) return expected.getTime() === actual.getTime();
  if (Array.isArray(expected) && Array.isArray(actual)) {
    return expected.length === actual.length && expected.every((x, i) => sameAggregate(x, actual[i]));
  }
  return expected === actual;
}
