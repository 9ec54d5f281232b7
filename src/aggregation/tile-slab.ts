import type { ScalarType } from '../definitions/value-types.js';
import type { HopLayout, TileSlot, TileStates } from './tiles.js';
import type { AggValue } from './values.js';

/**
 * The states of many tiles of one hop layout, packed: numeric states side by side in one `Float64Array` (a
 * tile is a row of `width` doubles, named by its row number, its handle), and the states that are not numbers
 * (last_k, string min/max, …) in one array beside it. It holds exactly what `emptyTile` + `addToTile` hold,
 * computed with the same arithmetic in the same order, and converts to and from that form ({@link states},
 * {@link load}) for encoding and decoding: stored tiles and results are unchanged.
 *
 * Why: with one heap object per tile and per state (the tile array, a sum's object, a `Set`…), an event landing
 * on a random one of ~500k open tiles chased about ten pointers, each a cache miss (docs/benchmarks.md,
 * "Windowed aggregations"). Here a tile is one or two cache lines found by arithmetic, with no pointer to follow.
 *
 * Numeric layouts, per slot:
 *  - count: 1 double;
 *  - sum, avg: n, s, c (Neumaier's compensated sum, as aggregators.ts);
 *  - variance, stddev: n, mean, m2 (Welford);
 *  - min, max of a numeric type: the value, NaN for none (inputs are never NaN: toAggValue drops them);
 *  - count_distinct of a numeric type: its size, where its values are, and room for `cap` (≤ 14) values inline:
 *    values in insertion order, scanned linearly. Past `cap` they move to a block of the slab's spill array
 *    (32, 64, 128 or 256 values, reused through free lists per size), past 256 to a `Set` in the object array.
 *
 * @example
 *   const slab = new TileSlab(plan.hops[0]);
 *   const h = slab.alloc();
 *   slab.add(h, { amount: 3 }, ts);
 *   encodeTile(slab.layout, slab.states(h));
 */
export class TileSlab {
  readonly layout: HopLayout;
  /** Doubles per tile. */
  readonly width: number;
  /** Object states per tile. */
  readonly objects: number;
  /** Numeric states, `width` per tile (grows by doubling; read it afresh after `alloc`). */
  f64: Float64Array;
  /** Object states, `objects` per tile. */
  obj: unknown[];
  /** Distinct values past a tile's inline room, in blocks of 32–256 (grows by doubling). */
  spill: Float64Array = new Float64Array(0);
  #spillTop = 0;
  /** Free spill blocks by size. */
  readonly #spillFree = new Map<number, number[]>();
  /** Adds one event (already known to pass the row filter) to tile `h`: `addToTile`, compiled for this slab. */
  readonly add: (h: number, row: Readonly<Record<string, unknown>>, ts: number) => void;
  readonly #init: Float64Array;
  readonly #kinds: readonly SlotKind[];
  readonly #free: number[] = [];
  #next = 0;
  #capacity: number;

  constructor(layout: HopLayout, capacity = 1024) {
    this.layout = layout;
    let width = 0;
    let objects = 0;
    this.#kinds = layout.slots.map((s) => {
      const k = kindOf(s, width, objects);
      width += k.width;
      objects += k.obj === undefined ? 0 : 1;
      return k;
    });
    this.width = width;
    this.objects = objects;
    this.#init = new Float64Array(width);
    for (const k of this.#kinds) {
      if (k.kind === 'min' || k.kind === 'max') this.#init[k.off] = Number.NaN;
      if (k.kind === 'distinct') this.#init[k.off + 1] = INLINE;
    }
    this.#capacity = Math.max(1, capacity);
    this.f64 = new Float64Array(this.#capacity * width);
    this.obj = objects > 0 ? new Array(this.#capacity * objects).fill(undefined) : [];
    this.add = compileSlabAdd(this, layout.slots, this.#kinds);
  }

  /** Tiles held. */
  get size(): number {
    return this.#next - this.#free.length;
  }

  /** A new empty tile's handle. */
  alloc(): number {
    const h = this.#free.length > 0 ? (this.#free.pop() as number) : this.#next++;
    if (h >= this.#capacity) this.#grow();
    const f = this.f64;
    const b = h * this.width;
    for (let i = 0; i < this.width; i++) f[b + i] = this.#init[i] as number;
    if (this.objects > 0) {
      const o = h * this.objects;
      for (const k of this.#kinds) {
        if (k.kind === 'object') this.obj[o + k.obj] = k.slot.aggregator.init();
        else if (k.kind === 'distinct') this.obj[o + k.obj] = undefined;
      }
    }
    return h;
  }

  /** Gives tile `h` back (its handle may be reused by the next `alloc`). */
  free(h: number): void {
    if (this.objects > 0) this.obj.fill(undefined, h * this.objects, (h + 1) * this.objects);
    for (const k of this.#kinds) {
      if (k.kind !== 'distinct') continue;
      const at = h * this.width + k.off;
      const loc = this.f64[at + 1] as number;
      if (loc >= 0) this.freeSpill(loc, spillCap(this.f64[at] as number));
    }
    this.#free.push(h);
  }

  /** Drops every tile. */
  clear(): void {
    this.#free.length = 0;
    this.#next = 0;
    if (this.objects > 0) this.obj.fill(undefined);
    this.#spillTop = 0;
    this.#spillFree.clear();
  }

  /** A spill block of `cap` values; its offset (`spill` may have been replaced: read it afresh). */
  allocSpill(cap: number): number {
    const free = this.#spillFree.get(cap);
    if (free !== undefined && free.length > 0) return free.pop() as number;
    const at = this.#spillTop;
    this.#spillTop += cap;
    if (this.#spillTop > this.spill.length) {
      const spill = new Float64Array(Math.max(this.#spillTop, this.spill.length * 2, 4096));
      spill.set(this.spill);
      this.spill = spill;
    }
    return at;
  }

  freeSpill(at: number, cap: number): void {
    const free = this.#spillFree.get(cap);
    if (free === undefined) this.#spillFree.set(cap, [at]);
    else free.push(at);
  }

  /** Tile `h` in the form `emptyTile` / `addToTile` keep (what `encodeTile` and `valuesAt` take). */
  states(h: number): TileStates {
    const f = this.f64;
    const b = h * this.width;
    const o = h * this.objects;
    return this.#kinds.map((k): unknown => {
      const at = b + k.off;
      switch (k.kind) {
        case 'count':
          return f[at];
        case 'sum':
          return { n: f[at], s: f[at + 1], c: f[at + 2] };
        case 'moments':
          return { n: f[at], mean: f[at + 1], m2: f[at + 2] };
        case 'min':
        case 'max': {
          const v = f[at] as number;
          return Number.isNaN(v) ? null : v;
        }
        case 'distinct': {
          const n = f[at] as number;
          const loc = f[at + 1] as number;
          if (loc === IN_SET) return this.obj[o + k.obj];
          const [values, first] = loc === INLINE ? [f, at + 2] : [this.spill, loc];
          const set = new Set<AggValue>();
          for (let i = 0; i < n; i++) set.add(values[first + i] as number);
          return set;
        }
        default:
          return this.obj[o + k.obj];
      }
    });
  }

  /** Sets tile `h` to `states` (a decoded tile of this layout); the slab keeps objects it is given. */
  load(h: number, states: TileStates): void {
    const f = this.f64;
    const b = h * this.width;
    const o = h * this.objects;
    this.#kinds.forEach((k, i) => {
      const s = states[i];
      const at = b + k.off;
      switch (k.kind) {
        case 'count':
          f[at] = s as number;
          return;
        case 'sum': {
          const st = s as { n: number; s: number; c: number };
          f[at] = st.n;
          f[at + 1] = st.s;
          f[at + 2] = st.c;
          return;
        }
        case 'moments': {
          const st = s as { n: number; mean: number; m2: number };
          f[at] = st.n;
          f[at + 1] = st.mean;
          f[at + 2] = st.m2;
          return;
        }
        case 'min':
        case 'max':
          f[at] = s === null ? Number.NaN : (s as number);
          return;
        case 'distinct': {
          const set = s as Set<AggValue>;
          const old = f[at + 1] as number;
          if (old >= 0) this.freeSpill(old, spillCap(f[at] as number));
          let numeric = set.size <= SPILL_MAX;
          for (const v of set) if (typeof v !== 'number') numeric = false;
          f[at] = set.size;
          this.obj[o + k.obj] = undefined;
          if (!numeric) {
            f[at + 1] = IN_SET;
            this.obj[o + k.obj] = set;
            return;
          }
          let loc = INLINE;
          if (set.size > k.cap) loc = this.allocSpill(spillCap(set.size));
          f[at + 1] = loc;
          const [values, first] = loc === INLINE ? [f, at + 2] : [this.spill, loc];
          let i = 0;
          for (const v of set) values[first + i++] = (v as number) + 0;
          return;
        }
        case 'object':
          this.obj[o + k.obj] = s;
      }
    });
  }

  #grow(): void {
    const capacity = this.#capacity * 2;
    const f64 = new Float64Array(capacity * this.width);
    f64.set(this.f64);
    this.f64 = f64;
    if (this.objects > 0) {
      const obj = new Array(capacity * this.objects).fill(undefined);
      for (let i = 0; i < this.obj.length; i++) obj[i] = this.obj[i];
      this.obj = obj;
    }
    this.#capacity = capacity;
  }
}

/** How one slot is held: its kind, first double (`off`), width in doubles, and its object index if any. */
type SlotKind =
  | { kind: 'count' | 'sum' | 'moments' | 'min' | 'max'; off: number; width: number; obj: undefined }
  | { kind: 'distinct'; off: number; width: number; obj: number; cap: number; bound: number }
  | { kind: 'object'; off: number; width: 0; obj: number; slot: TileSlot };

/** Values of a distinct set kept inline (with its size and location: 16 doubles, two cache lines). */
const DISTINCT_INLINE = 14;
/** Largest spill block; larger sets are `Set`s. */
const SPILL_MAX = 256;
/** Where a distinct set's values are: inline, in a `Set`, or (≥ 0) at that offset of the spill array. */
const INLINE = -1;
const IN_SET = -2;
/** The spill block size holding `n` values (n > inline room): the next power of two from 32. */
const spillCap = (n: number): number => (n <= 32 ? 32 : 2 ** Math.ceil(Math.log2(n)));

const NUMERIC: ReadonlySet<ScalarType | undefined> = new Set([
  'int32',
  'int64',
  'float32',
  'float64',
  'timestamp',
]);

function kindOf(s: TileSlot, off: number, objects: number): SlotKind {
  const a = s.aggregation;
  const numeric = NUMERIC.has(a.inputType);
  switch (a.fn) {
    case 'count':
      return { kind: 'count', off, width: 1, obj: undefined };
    case 'sum':
    case 'avg':
      if (numeric) return { kind: 'sum', off, width: 3, obj: undefined };
      break;
    case 'variance':
    case 'stddev':
      if (numeric) return { kind: 'moments', off, width: 3, obj: undefined };
      break;
    case 'min':
    case 'max':
      if (numeric) return { kind: a.fn, off, width: 1, obj: undefined };
      break;
    case 'count_distinct':
      if (numeric) {
        const bound = a.maxDistinct as number;
        const cap = Math.min(bound, DISTINCT_INLINE);
        return { kind: 'distinct', off, width: 2 + cap, obj: objects, cap, bound };
      }
      break;
  }
  return { kind: 'object', off, width: 0, obj: objects, slot: s };
}

/**
 * Adds to a numeric distinct set (size at `f[at]`, location at `f[at + 1]`): the same membership (SameValueZero:
 * −0 is 0; no input is NaN), bound and insertion order as aggregators.ts's `Set`.
 */
function addDistinct(slab: TileSlab, at: number, oi: number, v: number, cap: number, bound: number): void {
  const f = slab.f64;
  const n = f[at] as number;
  const loc = f[at + 1] as number;
  if (loc === IN_SET) {
    const set = slab.obj[oi] as Set<AggValue>;
    if (set.size < bound) set.add(v);
    return;
  }
  let values = loc === INLINE ? f : slab.spill;
  let first = loc === INLINE ? at + 2 : loc;
  for (let i = 0; i < n; i++) if (values[first + i] === v) return;
  if (n >= bound) return;
  const room = loc === INLINE ? cap : spillCap(n);
  if (n === room) {
    // Full: to the next spill block, or to a Set past the largest.
    if (room >= SPILL_MAX) {
      const set = new Set<AggValue>();
      for (let i = 0; i < n; i++) set.add(values[first + i] as number);
      set.add(v);
      slab.obj[oi] = set;
      f[at] = n + 1;
      f[at + 1] = IN_SET;
      if (loc !== INLINE) slab.freeSpill(loc, room);
      return;
    }
    const to = slab.allocSpill(loc === INLINE ? 32 : room * 2);
    const spill = slab.spill;
    for (let i = 0; i < n; i++) spill[to + i] = values[first + i] as number;
    if (loc !== INLINE) slab.freeSpill(loc, room);
    f[at + 1] = to;
    values = spill;
    first = to;
  }
  values[first + n] = v + 0; // −0 as 0, as a Set stores it
  f[at] = n + 1;
}

/**
 * The slab's add function, unrolled slot by slot like tiles.ts's `compileAdd` (one call site per input, so V8
 * inlines them), with the numeric states updated in place in the `Float64Array`. The arithmetic is
 * aggregators.ts's, statement for statement; the generated text holds only numbers, never names from
 * definitions.
 */
function compileSlabAdd(
  slab: TileSlab,
  slots: readonly TileSlot[],
  kinds: readonly SlotKind[],
): TileSlab['add'] {
  const params: string[] = ['slab', 'addDistinct'];
  const args: unknown[] = [slab, addDistinct];
  const lines = kinds.map((k, i) => {
    params.push(`in${i}`);
    args.push((slots[i] as TileSlot).input);
    const at = `b + ${k.off}`;
    const body = (() => {
      switch (k.kind) {
        case 'count':
          return `f[${at}] += 1;`;
        case 'sum':
          return (
            `{ const p = ${at}; f[p] += 1; const s = f[p + 1]; const t = s + v; ` +
            `f[p + 2] += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s; f[p + 1] = t; }`
          );
        case 'moments':
          return (
            `{ const p = ${at}; const n = f[p] + 1; f[p] = n; const d = v - f[p + 1]; ` +
            `f[p + 1] += d / n; f[p + 2] += d * (v - f[p + 1]); }`
          );
        case 'max':
          return `{ const c = f[${at}]; if (c !== c || v > c) f[${at}] = v; }`;
        case 'min':
          return `{ const c = f[${at}]; if (c !== c || v < c) f[${at}] = v; }`;
        case 'distinct':
          return `addDistinct(slab, ${at}, o + ${k.obj}, v, ${k.cap}, ${k.bound});`;
        case 'object':
          params.push(`add${i}`);
          args.push(k.slot.aggregator.add);
          return `obj[o + ${k.obj}] = add${i}(obj[o + ${k.obj}], v === null ? undefined : v, ts);`;
      }
    })();
    return `v = in${i}(row); if (v !== undefined) ${body}`;
  });
  const make = new Function(
    ...params,
    'return function add(h, row, ts) { const f = slab.f64; const obj = slab.obj; ' +
      `const b = h * ${slab.width}; const o = h * ${slab.objects}; let v; ${lines.join(' ')} };`,
  );
  return make(...args) as TileSlab['add'];
}
