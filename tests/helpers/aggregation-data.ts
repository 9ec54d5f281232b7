/** Random aggregation views and event streams for the randomized window tests (seeded, replayable). */
import {
  type AggregationSpec,
  aggregationView,
  type RowCondition,
} from '../../src/definitions/aggregation-view.js';
import { entity } from '../../src/definitions/entity.js';
import { parquetSource } from '../../src/definitions/source.js';
import { float64, int64, string, timestamp } from '../../src/definitions/value-types.js';
import type { OfflineWriter } from '../../src/offline/offline-store.js';
import type { RefEvent } from './aggregation-reference.js';
import { prng } from './prng.js';

export const T0 = Date.UTC(2024, 4, 1);
export const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
export const eventsSource = parquetSource({ name: 'events', path: 'events', timestampField: 'ts' });

const WINDOW_CHOICES = ['1s', '7s', '1m', '5m', '1h', '2h'];
const HOP_FOR: Record<string, string[]> = {
  '1s': ['1s', '250ms'],
  '7s': ['1s', '7s', '2s'],
  '1m': ['10s', '1m', '7s'],
  '5m': ['1m', '10s', '5m'],
  '1h': ['5m', '1h', '7m'],
  '2h': ['10m', '1h'],
};

/** A view over `events` (columns amount: float64, qty: int64, item: string, seen: timestamp, kind: string). */
export function randomView(seed: number) {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const windows = WINDOW_CHOICES.filter(() => rnd() < 0.5);
  if (windows.length === 0) windows.push(pick(WINDOW_CHOICES));
  const some = () => {
    const x = windows.filter(() => rnd() < 0.7);
    return x.length > 0 ? x : [windows[0] as string];
  };
  const hops: Record<string, string> = {};
  for (const win of windows) if (rnd() < 0.7) hops[win] = pick(HOP_FOR[win] as string[]);
  const aggregations: Record<string, AggregationSpec> = {
    n: { fn: 'count', windows: some() },
    amount_sum: { fn: 'sum', column: 'amount', type: float64(), windows: some() },
    qty_sum: { fn: 'sum', column: 'qty', type: int64(), windows: some() },
    amount_avg: { fn: 'avg', column: 'amount', type: float64(), windows: some() },
    amount_var: { fn: 'variance', column: 'amount', type: float64(), windows: some() },
    qty_std: { fn: 'stddev', column: 'qty', type: int64(), windows: some() },
    item_min: { fn: 'min', column: 'item', type: string(), windows: some() },
    amount_max: { fn: 'max', column: 'amount', type: float64(), windows: some() },
    seen_max: { fn: 'max', column: 'seen', type: timestamp(), windows: some() },
    item_last: { fn: 'last', column: 'item', type: string(), windows: some() },
    qty_last3: { fn: 'last_k', column: 'qty', type: int64(), k: 3, windows: some() },
    item_distinct: { fn: 'count_distinct', column: 'item', type: string(), windows: some(), maxDistinct: 4 },
    qty_count: { fn: 'count', column: 'qty', type: int64(), windows: some() },
  };
  const filters: RowCondition[][] = [
    [],
    [{ column: 'kind', op: 'eq', value: 'click' }],
    [{ column: 'kind', op: 'ne', value: 'view' }],
    [{ column: 'kind', op: 'in', value: ['click', 'buy'] }],
    [{ column: 'qty', op: 'gte', value: 2 }],
    [
      { column: 'amount', op: 'not_null' },
      { column: 'kind', op: 'not_in', value: ['buy'] },
    ],
  ];
  return aggregationView({
    name: 'activity',
    entities: [user],
    source: eventsSource,
    aggregations,
    hops,
    where: pick(filters),
  });
}

const ITEMS = ['a', 'b', 'é', 'z', 'ab', '😀', '\uffff', 'B'];
const KINDS = ['click', 'view', 'buy', null];

/** Events for a few users over ~3 hours, with exact timestamp ties, nulls and repeated values. */
export function randomEvents(seed: number, count: number, users = 4, spanMs = 3 * 3_600_000): RefEvent[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const out: RefEvent[] = [];
  for (let i = 0; i < count; i++) {
    // Coarse times make ties on timestamp common; some land exactly on hop and window edges.
    const ts = T0 + (rnd() < 0.3 ? Math.floor(rnd() * 200) * 60_000 : Math.floor(rnd() * spanMs));
    out.push({
      keys: { user_id: 1 + Math.floor(rnd() * users) },
      ts,
      values: {
        amount: rnd() < 0.1 ? null : Math.round(rnd() * 100_000) / 100,
        qty: rnd() < 0.1 ? null : Math.floor(rnd() * 6),
        item: rnd() < 0.1 ? null : pick(ITEMS),
        seen: rnd() < 0.1 ? null : new Date(T0 + Math.floor(rnd() * 1000) * 1000),
        kind: pick(KINDS),
      },
    });
  }
  return out;
}

/** Column types of the events written by {@link writeEvents}. */
export const EVENT_COLUMNS = [
  { name: 'user_id', type: 'BIGINT' },
  { name: 'ts', type: 'TIMESTAMP WITH TIME ZONE' },
  { name: 'amount', type: 'DOUBLE' },
  { name: 'qty', type: 'BIGINT' },
  { name: 'item', type: 'VARCHAR' },
  { name: 'seen', type: 'TIMESTAMP WITH TIME ZONE' },
  { name: 'kind', type: 'VARCHAR' },
];

/** Writes events as one Parquet file (the `events` source's layout) through an offline writer. */
export async function writeEvents(
  writer: OfflineWriter,
  file: string,
  events: readonly RefEvent[],
): Promise<void> {
  const rows = events.map((e) => ({ ...e.keys, ts: new Date(e.ts), ...e.values }));
  await writer.writeParquet(rows, EVENT_COLUMNS, file);
}
