import type { ConditionValue, RowCondition } from '../definitions/aggregation-view.js';
import { compareValues } from './values.js';

/**
 * The JS form of an aggregation view's row filter, for the stream engine. The DuckDB form
 * (offline/duckdb/aggregation-sql.ts) must agree with it row for row: conditions are AND-ed, and any
 * comparison with a null column value is false, as in SQL.
 *
 * @example compileRowFilter([{ column: 'kind', op: 'eq', value: 'click' }])({ kind: 'click' }) // true
 */
export function compileRowFilter(
  conditions: readonly RowCondition[],
): (row: Readonly<Record<string, unknown>>) => boolean {
  if (conditions.length === 0) return () => true;
  const tests = conditions.map(conditionTest);
  return (row) => {
    for (const t of tests) if (!t(row)) return false;
    return true;
  };
}

function conditionTest(c: RowCondition): (row: Readonly<Record<string, unknown>>) => boolean {
  const get = (row: Readonly<Record<string, unknown>>): ConditionValue | null => {
    const v = row[c.column];
    if (v === null || v === undefined) return null;
    if (typeof v === 'bigint') return Number(v);
    return v as ConditionValue;
  };
  const cmp = (v: ConditionValue, value: ConditionValue): number | undefined =>
    typeof v === typeof value ? compareValues(v, value) : undefined;
  const value = c.value as ConditionValue;
  const list = (c.value ?? []) as readonly ConditionValue[];
  switch (c.op) {
    case 'is_null':
      return (row) => get(row) === null;
    case 'not_null':
      return (row) => get(row) !== null;
    case 'in':
      return (row) => {
        const v = get(row);
        return v !== null && list.some((x) => cmp(v, x) === 0);
      };
    case 'not_in':
      return (row) => {
        const v = get(row);
        return v !== null && list.every((x) => cmp(v, x) !== 0);
      };
    default: {
      const accept = ORDER_TESTS[c.op];
      return (row) => {
        const v = get(row);
        if (v === null) return false;
        const r = cmp(v, value);
        return r !== undefined && accept(r);
      };
    }
  }
}

const ORDER_TESTS: Record<'eq' | 'ne' | 'lt' | 'lte' | 'gt' | 'gte', (r: number) => boolean> = {
  eq: (r) => r === 0,
  ne: (r) => r !== 0,
  lt: (r) => r < 0,
  lte: (r) => r <= 0,
  gt: (r) => r > 0,
  gte: (r) => r >= 0,
};
