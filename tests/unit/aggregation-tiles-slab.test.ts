import { describe, expect, it } from 'vitest';
import { decodeTile, encodeTile } from '../../src/aggregation/tile-codec.js';
import { TileSlab } from '../../src/aggregation/tile-slab.js';
import { TileTable } from '../../src/aggregation/tile-table.js';
import {
  addToTile,
  emptyTile,
  type HopLayout,
  type TileStates,
  tilePlan,
  tileToPlain,
} from '../../src/aggregation/tiles.js';
import { type AggregationSpec, aggregationView } from '../../src/definitions/aggregation-view.js';
import { float64, int32, int64, string, timestamp } from '../../src/definitions/value-types.js';
import { eventsSource, randomEvents, randomView, user } from '../helpers/aggregation-data.js';
import { prng } from '../helpers/prng.js';

/** Every aggregation over numeric columns (the slab's packed kinds), distinct sets below, at and past 16 values. */
function numericView(seed: number) {
  const rnd = prng(seed);
  const bound = [1, 3, 16, 17, 40, 10_000][Math.floor(rnd() * 6)] as number;
  const w = ['1m', '1h'];
  const aggregations: Record<string, AggregationSpec> = {
    n: { fn: 'count', windows: w },
    n_amount: { fn: 'count', column: 'amount', type: float64(), windows: w },
    sum: { fn: 'sum', column: 'amount', type: float64(), windows: w },
    avg: { fn: 'avg', column: 'qty', type: int64(), windows: w },
    var: { fn: 'variance', column: 'amount', type: float64(), windows: w },
    std: { fn: 'stddev', column: 'small', type: int32(), windows: w },
    min: { fn: 'min', column: 'amount', type: float64(), windows: w },
    max: { fn: 'max', column: 'qty', type: int64(), windows: w },
    seen: { fn: 'min', column: 'seen', type: timestamp(), windows: w },
    d_amount: { fn: 'count_distinct', column: 'amount', type: float64(), windows: w, maxDistinct: bound },
    d_qty: { fn: 'count_distinct', column: 'qty', type: int64(), windows: w },
    // Through every spill block size and on to a Set (> 256 values), and saturating on the way.
    d_big: { fn: 'count_distinct', column: 'big', type: int64(), windows: w },
    d_big_300: { fn: 'count_distinct', column: 'big', type: int64(), windows: w, maxDistinct: 300 },
    d_big_100: { fn: 'count_distinct', column: 'big', type: int64(), windows: w, maxDistinct: 100 },
    d_item: { fn: 'count_distinct', column: 'item', type: string(), windows: w, maxDistinct: 3 },
    last: { fn: 'last', column: 'qty', type: int64(), windows: w },
  };
  return aggregationView({ name: 'numeric', entities: [user], source: eventsSource, aggregations });
}

/** Rows with repeats, nulls, −0 and 0, strings where numbers are expected, and many distinct values. */
function numericRows(seed: number, count: number): { row: Record<string, unknown>; ts: number }[] {
  const rnd = prng(seed);
  const values = [0, -0, 1.5, -2, 3, 1e300, -1e-300, 42];
  return Array.from({ length: count }, (_, i) => ({
    ts: 1_700_000_000_000 + i * 997,
    row: {
      amount:
        rnd() < 0.1
          ? null
          : rnd() < 0.3
            ? values[Math.floor(rnd() * values.length)]
            : Math.round(rnd() * 60) / 4,
      qty: rnd() < 0.1 ? null : rnd() < 0.05 ? 'x' : Math.floor(rnd() * 50) - 10,
      small: rnd() < 0.1 ? undefined : Math.floor(rnd() * 5),
      seen: rnd() < 0.1 ? null : new Date(1_700_000_000_000 + Math.floor(rnd() * 1000) * 1000),
      item: rnd() < 0.1 ? null : String.fromCharCode(97 + Math.floor(rnd() * 6)),
      big: Math.floor(rnd() * 5000),
    },
  }));
}

const bytesOf = (layout: HopLayout, states: TileStates) =>
  Buffer.from(encodeTile(layout, states)).toString('hex');

describe('TileSlab holds what emptyTile + addToTile hold', () => {
  const cases = [
    ...Array.from({ length: 12 }, (_, i) => ({
      label: `numeric view ${i + 1}`,
      view: numericView(i + 1),
      rows: numericRows(i + 100, 1600),
    })),
    ...Array.from({ length: 12 }, (_, i) => ({
      label: `random view ${i + 1}`,
      view: randomView(i + 1),
      rows: randomEvents(i + 1, 300).map((e) => ({ row: e.values as Record<string, unknown>, ts: e.ts })),
    })),
  ];
  for (const { label, view, rows } of cases) {
    it(`${label}: same encoded tile after every event, through frees, reuse and loads`, () => {
      const rnd = prng(rows.length + label.length);
      let largestSet = 0;
      for (const layout of tilePlan(view).hops) {
        const slab = new TileSlab(layout, 2); // small, so it grows while in use
        // Several tiles side by side, events spread over them at random; some freed and reallocated.
        const objects: TileStates[] = [];
        const handles: number[] = [];
        for (let i = 0; i < 5; i++) {
          objects.push(emptyTile(layout));
          handles.push(slab.alloc());
        }
        for (const { row, ts } of rows) {
          const t = Math.floor(rnd() * objects.length);
          const r = rnd();
          if (r < 0.003) {
            slab.free(handles[t] as number);
            handles[t] = slab.alloc();
            objects[t] = emptyTile(layout);
          } else if (r < 0.01) {
            // A stored tile loaded back (as the stream worker does), then added to.
            const decoded = decodeTile(layout, encodeTile(layout, objects[t] as TileStates)) as TileStates;
            objects[t] = decodeTile(layout, encodeTile(layout, objects[t] as TileStates)) as TileStates;
            slab.load(handles[t] as number, decoded);
          }
          addToTile(layout, objects[t] as TileStates, row, ts);
          slab.add(handles[t] as number, row, ts);
          const states = slab.states(handles[t] as number);
          expect(bytesOf(layout, states)).toBe(bytesOf(layout, objects[t] as TileStates));
          for (const st of states) if (st instanceof Set) largestSet = Math.max(largestSet, st.size);
        }
        for (let t = 0; t < objects.length; t++) {
          expect(tileToPlain(layout, slab.states(handles[t] as number))).toEqual(
            tileToPlain(layout, objects[t] as TileStates),
          );
        }
        expect(slab.size).toBe(objects.length);
      }
      // The numeric views' 5,000-value column takes distinct sets past the largest spill block.
      if (label.startsWith('numeric')) expect(largestSet).toBeGreaterThan(256);
    });
  }
});

describe('TileTable', () => {
  const layouts = tilePlan(numericView(1)).hops;

  it('gives an entity one id whatever form its key comes in', () => {
    const table = new TileTable(layouts, user.joinKeys);
    const a = table.entityOf({ user_id: 42 });
    expect(table.entityOf({ user_id: '42' })).toBe(a);
    expect(table.entityOf({ user_id: 42n })).toBe(a);
    expect(table.entity('42')).toBe(a);
    expect(table.keyOf(a)).toBe('42');
    const big = table.entityOf({ user_id: 2n ** 60n });
    expect(table.keyOf(big)).toBe(String(2n ** 60n));
    expect(table.entityOf({ user_id: -0 })).toBe(table.entity('0'));
    expect(() => table.entityOf({ user_id: 1.5 })).toThrow(/invalid join key/);
    expect(() => table.entityOf({})).toThrow(/missing join key/);
  });

  it('finds, creates and drops tiles by (entity, series, start)', () => {
    const table = new TileTable(layouts, user.joinKeys);
    const rnd = prng(5);
    const hop = (layouts[0] as HopLayout).hopMs;
    const held = new Map<string, number>();
    for (let i = 0; i < 5_000; i++) {
      const e = table.entityOf({ user_id: Math.floor(rnd() * 300) });
      const start = Math.floor(rnd() * 20) * hop;
      const s = rnd() < 0.5 ? 0 : 1;
      const key = `${e}/${s}/${start}`;
      let h = table.find(e, s, start);
      expect(h).toBe(held.get(key) ?? -1);
      if (h < 0) {
        h = table.create(e, s, start);
        held.set(key, h);
      }
      expect(table.startOf(s, h)).toBe(start);
      expect(table.entityKeyOf(s, h)).toBe(table.keyOf(e));
      if (i % 1000 === 999) {
        const until = Math.floor(rnd() * 20) * hop;
        table.dropEndedBy(0, until);
        for (const [k, _] of held) {
          const [, ks, kstart] = k.split('/').map(Number) as [number, number, number];
          if (ks === 0 && kstart + hop <= until) held.delete(k);
        }
        expect(table.size).toBe(held.size);
      }
    }
    const generation = table.generation;
    table.clear();
    expect(table.generation).toBe(generation + 1);
    expect(table.size).toBe(0);
    expect(table.find(table.entityOf({ user_id: 1 }), 0, 0)).toBe(-1);
  });
});
