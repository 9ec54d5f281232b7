import { encodeEntityKey } from '../core/entity-key.js';
import type { JoinKey } from '../definitions/entity.js';
import { NumberIds } from './number-ids.js';
import { TileSlab } from './tile-slab.js';
import type { HopLayout, TileStates } from './tiles.js';

/**
 * Tiles held in memory by (entity, series, start), for code that folds a stream of events into them (the stream
 * worker's cache, the aggregation-core benchmark). A series is one hop layout of one view; each has a
 * {@link TileSlab} and tiles are slab handles. Entities get small integer ids on first sight.
 *
 * Finding an event's tile is one lookup per event (entity → id) and then, per series, compares with the
 * entity's two newest tiles of that series, held inline as (start, handle) pairs in one `Float64Array` indexed
 * by id × series: a stream keeps one or two tiles of a series open per entity (the current one, and the
 * previous one while late events may still reach it), so this is where events land. Older tiles of the entity
 * (a cache that keeps history, or a lateness longer than a hop) move to the entity's own
 * `Map<start × series count + series, handle>`, created only then.
 *
 * @example
 *   const table = new TileTable(plan.hops, joinKeys);
 *   const e = table.entityOf(row); // or table.entity(entityKey)
 *   const s = 0, start = tileStartOf(ts, plan.hops[0].hopMs);
 *   let h = table.find(e, s, start);
 *   if (h < 0) h = table.create(e, s, start);
 *   table.slabs[s].add(h, row, ts);
 */
export class TileTable {
  readonly slabs: readonly TileSlab[];
  readonly #seriesCount: number;
  readonly #ids = new Map<string, number>();
  readonly #joinKeys: readonly JoinKey[];
  /**
   * Ids by the number of a single integer join key, when the row holds it as a safe integer: that skips
   * building the key string (encodeEntityKey, a BigInt and a string per event) and a `Map` lookup by string.
   * Filled from `#ids` on first sight, so both give an entity the same id whatever form its key came in.
   */
  readonly #numberIds: NumberIds | undefined;
  #keys: string[] = [];
  /** Per entity and series, 4 doubles: (start, handle) of its two newest tiles (start NaN: none). */
  #inline: Float64Array;
  /** Per entity: its other tiles by `start × seriesCount + series`. */
  #older: (Map<number, number> | undefined)[] = [];
  /** Per series, per tile handle: its start and entity id. */
  #startOf: Float64Array[];
  #entityOf: Int32Array[];
  /** Per series: tile handles by start, to drop every tile of a start at once. */
  readonly #byStart: Map<number, number[]>[];
  #size = 0;
  #generation = 0;

  constructor(series: readonly HopLayout[], joinKeys: readonly JoinKey[] = []) {
    this.#joinKeys = joinKeys;
    const only = joinKeys.length === 1 ? (joinKeys[0] as JoinKey) : undefined;
    this.#numberIds = only?.type === 'int64' || only?.type === 'int32' ? new NumberIds() : undefined;
    this.slabs = series.map((layout) => new TileSlab(layout));
    this.#seriesCount = series.length;
    this.#inline = new Float64Array(1024 * series.length * 4).fill(Number.NaN);
    this.#startOf = series.map(() => new Float64Array(1024));
    this.#entityOf = series.map(() => new Int32Array(1024));
    this.#byStart = series.map(() => new Map());
  }

  /** Tiles held. */
  get size(): number {
    return this.#size;
  }

  /** How many times the table was cleared: handles and ids from before a `clear` mean nothing after it. */
  get generation(): number {
    return this.#generation;
  }

  /** The id of an entity key (given on first sight). */
  entity(key: string): number {
    let e = this.#ids.get(key);
    if (e === undefined) {
      e = this.#keys.length;
      this.#ids.set(key, e);
      this.#keys.push(key);
      if ((e + 1) * this.#seriesCount * 4 > this.#inline.length) {
        const inline = new Float64Array(this.#inline.length * 2).fill(Number.NaN);
        inline.set(this.#inline);
        this.#inline = inline;
      }
    }
    return e;
  }

  /**
   * The id of the entity of an event row (its join keys as `encodeEntityKey` reads them; throws as it does on a
   * missing or invalid key).
   */
  entityOf(row: Readonly<Record<string, unknown>>): number {
    const numbers = this.#numberIds;
    if (numbers !== undefined) {
      const v = row[(this.#joinKeys[0] as JoinKey).name];
      if (typeof v === 'number' && Number.isSafeInteger(v)) {
        let e = numbers.get(v);
        if (e < 0) {
          e = this.entity(encodeEntityKey(this.#joinKeys, row));
          numbers.set(v, e);
        }
        return e;
      }
    }
    return this.entity(encodeEntityKey(this.#joinKeys, row));
  }

  /** The entity key of entity id `e`. */
  keyOf(e: number): string {
    return this.#keys[e] as string;
  }

  /** The handle of tile (entity, series, start), or −1 when the table does not hold it. */
  find(e: number, s: number, start: number): number {
    const inline = this.#inline;
    const i = (e * this.#seriesCount + s) * 4;
    if (inline[i] === start) return inline[i + 1] as number;
    if (inline[i + 2] === start) return inline[i + 3] as number;
    return this.#older[e]?.get(start * this.#seriesCount + s) ?? -1;
  }

  /** Creates tile (entity, series, start), empty (it must not be held already); returns its handle. */
  create(e: number, s: number, start: number): number {
    const slab = this.slabs[s] as TileSlab;
    const h = slab.alloc();
    const inline = this.#inline;
    const i = (e * this.#seriesCount + s) * 4;
    // A free inline pair, else the older of the two moves to the entity's map.
    let j = Number.isNaN(inline[i] as number) ? i : Number.isNaN(inline[i + 2] as number) ? i + 2 : -1;
    if (j < 0) {
      j = (inline[i] as number) < (inline[i + 2] as number) ? i : i + 2;
      let older = this.#older[e];
      if (older === undefined) {
        older = new Map();
        this.#older[e] = older;
      }
      // Exact: starts are integers, and |start × series count| stays far below 2^53 for any date.
      older.set((inline[j] as number) * this.#seriesCount + s, inline[j + 1] as number);
    }
    inline[j] = start;
    inline[j + 1] = h;
    let startOf = this.#startOf[s] as Float64Array;
    if (h >= startOf.length) {
      startOf = grow(startOf, new Float64Array(startOf.length * 2));
      this.#startOf[s] = startOf;
      this.#entityOf[s] = grow(this.#entityOf[s] as Int32Array, new Int32Array(startOf.length));
    }
    startOf[h] = start;
    (this.#entityOf[s] as Int32Array)[h] = e;
    const byStart = this.#byStart[s] as Map<number, number[]>;
    const list = byStart.get(start);
    if (list === undefined) byStart.set(start, [h]);
    else list.push(h);
    this.#size++;
    return h;
  }

  /** Start of tile `h` of series `s`. */
  startOf(s: number, h: number): number {
    return (this.#startOf[s] as Float64Array)[h] as number;
  }

  /** Entity key of tile `h` of series `s`. */
  entityKeyOf(s: number, h: number): string {
    return this.#keys[(this.#entityOf[s] as Int32Array)[h] as number] as string;
  }

  /** Tile `h` of series `s` in the form `encodeTile` and `valuesAt` take. */
  states(s: number, h: number): TileStates {
    return (this.slabs[s] as TileSlab).states(h);
  }

  /**
   * Drops the tiles of series `s` that end at or before `time` (start + hop ≤ time), a whole start at a time;
   * returns how many tiles the series still holds.
   */
  dropEndedBy(s: number, time: number): number {
    const slab = this.slabs[s] as TileSlab;
    const hopMs = slab.layout.hopMs;
    const startOf = this.#startOf[s] as Float64Array;
    const entityOf = this.#entityOf[s] as Int32Array;
    for (const [start, handles] of this.#byStart[s] as Map<number, number[]>) {
      if (start + hopMs > time) continue;
      for (const h of handles) {
        const e = entityOf[h] as number;
        const i = (e * this.#seriesCount + s) * 4;
        if (this.#inline[i] === startOf[h]) this.#inline[i] = Number.NaN;
        else if (this.#inline[i + 2] === startOf[h]) this.#inline[i + 2] = Number.NaN;
        else this.#older[e]?.delete(start * this.#seriesCount + s);
        slab.free(h);
      }
      this.#size -= handles.length;
      (this.#byStart[s] as Map<number, number[]>).delete(start);
    }
    return slab.size;
  }

  /** Drops every tile and entity. */
  clear(): void {
    for (const slab of this.slabs) slab.clear();
    for (const m of this.#byStart) m.clear();
    this.#ids.clear();
    this.#numberIds?.clear();
    this.#keys = [];
    this.#older = [];
    this.#inline.fill(Number.NaN);
    this.#size = 0;
    this.#generation++;
  }
}

function grow<T extends Float64Array | Int32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
