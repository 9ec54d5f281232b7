import type { Aggregation, AggregationView } from '../definitions/aggregation-view.js';
import { hopsOf } from '../definitions/aggregation-view.js';
import type { ScalarType } from '../definitions/value-types.js';
import { type Aggregator, aggregatorFor } from './aggregators.js';
import { compileRowFilter } from './row-filter.js';
import { type AggValue, toAggValue } from './values.js';
import { floorTo, windowStart } from './window.js';

/**
 * Tiles: partial aggregates of one entity's events over one hop-aligned interval [start, start + hop). A view
 * keeps one tile series per hop it uses; a tile holds one state per aggregation that has a window with that hop.
 * Windows are answered by merging the tiles they cover (docs/semantics.md, "Windowed aggregations").
 */

/** The aggregations sharing one hop, and the tile layout for it. */
export interface HopLayout {
  readonly hopMs: number;
  /** Tiles older than the longest window using this hop are never read again. */
  readonly longestWindowMs: number;
  /** Aggregations stored in this hop's tiles, in slot order. */
  readonly slots: readonly TileSlot[];
  /**
   * A hash of what the tiles hold (each slot's function and input, and the row filter). Stored with every tile,
   * so a tile written under an earlier definition of the view is recognised and never misread.
   */
  readonly signature: number;
  /** Adds one event to a tile of this layout: {@link addToTile}'s body, compiled for these slots. */
  readonly add: (tile: TileStates, row: Readonly<Record<string, unknown>>, ts: number) => void;
}

export interface TileSlot {
  readonly aggregation: Aggregation;
  readonly aggregator: Aggregator;
  /** Reads the slot's input value from an event row; `undefined` means the event does not count for it. */
  readonly input: (row: Readonly<Record<string, unknown>>) => AggValue | undefined | null;
}

/** A tile: one state per slot of its hop layout. */
export type TileStates = unknown[];

/** How a view's events become tiles and tiles become feature values. Built once per view. */
export interface TilePlan {
  readonly view: AggregationView;
  readonly hops: readonly HopLayout[];
  readonly accepts: (row: Readonly<Record<string, unknown>>) => boolean;
  /** Per output feature: the hop layout index, the slot, and the window. */
  readonly features: readonly { name: string; hop: number; slot: number; windowMs: number; hopMs: number }[];
}

/** Marker for "this row counts for a row count" (count without a column). */
const ROW = null;

export function tilePlan(view: AggregationView): TilePlan {
  const hops = hopsOf(view).map(({ hopMs, longestWindowMs }) => {
    const aggregations = view.aggregations.filter((a) => a.windows.some((w) => w.hopMs === hopMs));
    const meaning = JSON.stringify([
      hopMs,
      view.where,
      aggregations.map((a) => [
        a.fn,
        a.column ?? null,
        a.inputType ?? null,
        a.k ?? null,
        a.maxDistinct ?? null,
      ]),
    ]);
    const slots = aggregations.map((a) => ({
      aggregation: a,
      aggregator: aggregatorFor(a),
      input: inputOf(a),
    }));
    return { hopMs, longestWindowMs, slots, signature: fnv1a(meaning), add: compileAdd(slots) };
  });
  const features = view.aggregations.flatMap((a) =>
    a.windows.map((w) => {
      const hop = hops.findIndex((h) => h.hopMs === w.hopMs);
      const slot = (hops[hop] as HopLayout).slots.findIndex((s) => s.aggregation === a);
      return { name: `${a.name}_${w.label}`, hop, slot, windowMs: w.ms, hopMs: w.hopMs };
    }),
  );
  return { view, hops, accepts: compileRowFilter(view.where), features };
}

function inputOf(a: Aggregation): TileSlot['input'] {
  if (a.column === undefined) return () => ROW;
  const column = a.column;
  const type = a.inputType as ScalarType;
  // Numbers (what a JSON decoder gives) are checked inline; anything else goes through toAggValue, which gives
  // the same answer for numbers: this only skips its switch on the hot path.
  if (type === 'float64' || type === 'float32') {
    return (row) => {
      const v = row[column];
      return typeof v === 'number' ? (Number.isFinite(v) ? v : undefined) : toAggValue(type, v);
    };
  }
  if (type === 'int64' || type === 'int32') {
    return (row) => {
      const v = row[column];
      return typeof v === 'number' ? (Number.isInteger(v) ? v : undefined) : toAggValue(type, v);
    };
  }
  return (row) => toAggValue(type, row[column]);
}

export function emptyTile(layout: HopLayout): TileStates {
  const slots = layout.slots;
  const tile: TileStates = new Array(slots.length);
  for (let i = 0; i < slots.length; i++) tile[i] = (slots[i] as TileSlot).aggregator.init();
  return tile;
}

/**
 * Adds one event to a tile (already known to pass the row filter). Slots whose input value is null skip it.
 */
export function addToTile(
  layout: HopLayout,
  tile: TileStates,
  row: Readonly<Record<string, unknown>>,
  ts: number,
): void {
  layout.add(tile, row, ts);
}

/**
 * The body of {@link addToTile} for one layout, unrolled slot by slot:
 *
 *     v = in0(row); if (v !== undefined) tile[0] = add0(tile[0], v === null ? undefined : v, ts);
 *     …
 *
 * (null is `ROW`, the input of a row count.)
 * A loop over the slots calls every aggregator's `add` and `input` from one call site, which V8 cannot
 * inline once it has seen more than a few of them; unrolled, each call site has one target and is inlined.
 * Same calls, same order, as the loop it replaces (bench/aggregation-core.ts measures the difference). The
 * generated text holds only slot numbers, never names from definitions.
 */
function compileAdd(slots: readonly TileSlot[]): HopLayout['add'] {
  const lines = slots.map(
    (_, i) =>
      `v = in${i}(row); if (v !== undefined) tile[${i}] = add${i}(tile[${i}], v === null ? undefined : v, ts);`,
  );
  const params = slots.flatMap((_, i) => [`in${i}`, `add${i}`]);
  // Aggregators' `add` never uses `this` (aggregators.ts), so it is passed unbound.
  const args = slots.flatMap((s) => [s.input, s.aggregator.add]);
  const make = new Function(...params, `return function add(tile, row, ts) { let v; ${lines.join(' ')} };`);
  return make(...args) as HopLayout['add'];
}

/** A tile with its start time, as stored and read back. */
export interface StartedTile {
  readonly start: number;
  readonly states: TileStates;
}

/**
 * Feature values at time `t` from each hop's tiles: a window covers the tiles starting in [floor_h(t − w), t].
 * Returns values in `plan.features` order (only those whose name is in `only`, when given).
 *
 * @example valuesAt(plan, [tilesOfHop0, tilesOfHop1], Date.now())
 */
export function valuesAt(
  plan: TilePlan,
  tilesByHop: readonly (readonly StartedTile[])[],
  t: number,
  only?: ReadonlySet<string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of plan.features) {
    if (only !== undefined && !only.has(f.name)) continue;
    const slot = (plan.hops[f.hop] as HopLayout).slots[f.slot] as TileSlot;
    const lo = windowStart(t, f.windowMs, f.hopMs);
    let acc = slot.aggregator.init();
    for (const tile of tilesByHop[f.hop] ?? []) {
      if (tile.start >= lo && tile.start <= t) acc = slot.aggregator.merge(acc, tile.states[f.slot]);
    }
    out[f.name] = slot.aggregator.result(acc);
  }
  return out;
}

/** Tile start of an event time for a hop. */
export const tileStartOf = (ts: number, hopMs: number): number => floorTo(ts, hopMs);

/** Tile states as plain data (for storage) and back. */
export const tileToPlain = (layout: HopLayout, tile: TileStates): unknown[] =>
  layout.slots.map((s, i) => s.aggregator.toPlain(tile[i]));
export const tileFromPlain = (layout: HopLayout, plain: readonly unknown[]): TileStates =>
  layout.slots.map((s, i) => s.aggregator.fromPlain(plain[i]));

/** 32-bit FNV-1a of a string's UTF-16 code units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
