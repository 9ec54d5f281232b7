/**
 * The aggregation core alone (no I/O, no decoding, no store): events/s through the tile code of a stream worker,
 * and window values from tiles, on one core.
 *
 *   node --import tsx bench/aggregation-core.ts [--events 2000000] [--entities 100000] [--runs 5]
 *                                              [--rate 1000000] [--only count,sum,max,distinct]
 *                                              [--compare <checkout>] [--no-table] [--json]
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/aggregation-core.ts --runs 1   (profile)
 *
 * View: 4 aggregations — count, sum(amount: float64), max(amount), count_distinct(item: int64) — × 3 windows
 * (1h, 1d, 7d) with default hops (5m, 1h, 6h): 3 hop layouts of 4 slots each, so an event updates 12 states.
 *
 * Events: plain objects as a JSON decoder gives them (`{ user_id, ts, amount, item, kind }`; ts in epoch ms,
 * amount null 5% of the time, item one of 500), generated before timing, `--entities` users drawn uniformly.
 * Event times increase at `--rate` events per second of event time (default 1M/s, the rate the target asks a
 * worker to keep up with), with up to 5 s of disorder, as a stream partition delivers them, starting 1 s before
 * midnight so that every hop's tiles roll over once. The rate sets how many events share a tile: at 1M/s the
 * 2M events span 2 s, so each of 100k entities gets 10–20 events into the same open tiles; at `--rate 23`
 * (2M events over a day) a 5-minute tile gets about one, so nearly every event creates two new tiles.
 *
 * Measured, each as the median of --runs runs after a warm-up run:
 *  - `worker loop`: what a stream worker does per decoded event: its entity key (`encodeEntityKey`), the row
 *    filter, and per hop the tile start, a lookup of the tile by (hop, start, entity) (created empty when
 *    absent, as materialize-aggregates.ts does), and `addToTile`. Every 10k events, tiles closed (end + 5 s of
 *    lateness behind the newest event time) are dropped, as a worker does once it has written them, so what is
 *    held is the open tiles (one or two per entity and hop: 490k at most with 100k entities).
 *    With a checkout that has `src/aggregation/tile-table.ts` (what its stream worker holds tiles in), the loop
 *    is the table's instead: `entityOf` (entity id from the join key), the row filter, and per hop the tile start,
 *    `find` / `create` and the slab's add; closed tiles dropped every 10k events (`dropEndedBy`). `--no-table`
 *    runs this checkout's object loop instead.
 *  - `addToTile alone`: the same 3 × `addToTile` (or slab adds) per event on the same open tiles, looked up before the clock
 *    runs (chunk by chunk).
 *  - `valuesAt`: the 12 window values of one entity at one instant from its tiles: 13 tiles of 5m, 25 of 1h and
 *    29 of 6h (what `readAggregates` reads for a 7-day window), each filled by 1–6 events.
 *    `decode + valuesAt` adds decoding the 67 stored tiles (`decodeTile`), the rest of what a read does apart
 *    from the store round trip.
 *
 * With --compare, the same figures are taken alternately, run by run, with another checkout's tile code (its
 * src/aggregation/tiles.ts, tile-codec.ts, tile-table.ts when present, and src/core/entity-key.ts, e.g. `git archive HEAD src | tar -x -C /tmp/base`), so that
 * before/after ratios come from the same minutes of a noisy machine.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as thisCodec from '../src/aggregation/tile-codec.js';
import * as thisTable from '../src/aggregation/tile-table.js';
import type { HopLayout, StartedTile, TilePlan, TileStates } from '../src/aggregation/tiles.js';
import * as thisTiles from '../src/aggregation/tiles.js';
import { windowStart } from '../src/aggregation/window.js';
import * as thisKeys from '../src/core/entity-key.js';
import { type AggregationSpec, aggregationView } from '../src/definitions/aggregation-view.js';
import { entity } from '../src/definitions/entity.js';
import { float64, int64 } from '../src/definitions/value-types.js';
import { median } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: '2000000' },
    entities: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '5' },
    json: { type: 'boolean', default: false },
    compare: { type: 'string' },
    rate: { type: 'string', default: '1000000' },
    /** Which of the four aggregations to keep (to see what each costs). */
    only: { type: 'string', default: 'count,sum,max,distinct' },
    /** Run this checkout's tile code the old way (tile objects in Maps), even though it has a TileTable. */
    'no-table': { type: 'boolean', default: false },
  },
});
const EVENTS = Number(args.events);
const ENTITIES = Number(args.entities);
const RUNS = Math.max(1, Number(args.runs));
const RATE = Number(args.rate);
const T0 = Date.UTC(2024, 0, 1) - 1_000;
const DAY = 86_400_000;
const LATENESS_MS = 5_000;
const EVICT_EVERY = 10_000;

/**
 * Wall-clock and CPU time (ms). On a shared machine the wall clock also counts time this process waited for a
 * core; CPU time (user + system of the whole process, so including V8's GC helper threads) does not, and is
 * the figure to read for "on one core" when the load average is above the number of cores.
 */
interface Clock {
  wall: number;
  cpu: number;
}
const clock = (): Clock => {
  const u = process.cpuUsage();
  return { wall: performance.now(), cpu: (u.user + u.system) / 1000 };
};
const since = (c: Clock): Clock => {
  const now = clock();
  return { wall: now.wall - c.wall, cpu: now.cpu - c.cpu };
};

const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
const AGGREGATIONS: Record<string, AggregationSpec> = {
  clicks: { fn: 'count', windows: ['1h', '1d', '7d'] },
  spend: { fn: 'sum', column: 'amount', type: float64(), windows: ['1h', '1d', '7d'] },
  top_amount: { fn: 'max', column: 'amount', type: float64(), windows: ['1h', '1d', '7d'] },
  items: { fn: 'count_distinct', column: 'item', type: int64(), windows: ['1h', '1d', '7d'] },
};
const ONLY = new Set(args.only.split(','));
const view = aggregationView({
  name: 'user_clicks',
  entities: [user],
  source: 'clicks',
  aggregations: Object.fromEntries(
    Object.entries(AGGREGATIONS).filter(([, a]) => ONLY.has(a.fn === 'count_distinct' ? 'distinct' : a.fn)),
  ),
});

/** The tile code under test: this checkout's, or another's with --compare. */
interface Core {
  readonly label: string;
  readonly plan: TilePlan;
  readonly emptyTile: typeof thisTiles.emptyTile;
  readonly addToTile: typeof thisTiles.addToTile;
  readonly valuesAt: typeof thisTiles.valuesAt;
  readonly encodeTile: typeof thisCodec.encodeTile;
  readonly decodeTile: typeof thisCodec.decodeTile;
  readonly encodeEntityKey: typeof thisKeys.encodeEntityKey;
  /** The checkout's tile table (packed states, per-entity records), when it has one (tile-table.ts). */
  readonly TileTable: typeof thisTable.TileTable | undefined;
}
const coreOf = (
  label: string,
  tiles: typeof thisTiles,
  codec: typeof thisCodec,
  keys: typeof thisKeys,
  table: typeof thisTable | undefined,
): Core => ({
  label,
  plan: tiles.tilePlan(view),
  emptyTile: tiles.emptyTile,
  addToTile: tiles.addToTile,
  valuesAt: tiles.valuesAt,
  encodeTile: codec.encodeTile,
  decodeTile: codec.decodeTile,
  encodeEntityKey: keys.encodeEntityKey,
  TileTable: table?.TileTable,
});
const tileStartOf = thisTiles.tileStartOf;

/** A deterministic PRNG (mulberry32), so every run sees the same events. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A decoded event (a type alias, not an interface, so it is a `Record<string, unknown>` as the tile code takes). */
type Event = {
  user_id: number;
  ts: number;
  amount: number | null;
  item: number;
  kind: string;
};

function makeEvents(n: number): Event[] {
  const rnd = prng(42);
  const out: Event[] = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      user_id: Math.floor(rnd() * ENTITIES),
      ts: T0 + Math.floor((i / RATE) * 1000) - Math.floor(rnd() * 5_000),
      amount: rnd() < 0.05 ? null : Math.round(rnd() * 100_000) / 100,
      item: Math.floor(rnd() * 500),
      kind: rnd() < 0.8 ? 'click' : 'view',
    };
  }
  return out;
}

/**
 * Open tiles as a worker keeps them: per hop, by tile start, by entity key. Closed tiles go a whole tile start
 * at a time (a single Map of every open tile, scanned for closed ones, cost more than the aggregation itself).
 */
type OpenTiles = Map<number, Map<string, TileStates>>[];

/** Drops the tiles closed at `watermark` (a worker has written them by then); returns how many were open. */
function evictClosed(hops: readonly HopLayout[], open: OpenTiles, watermark: number): number {
  let size = 0;
  open.forEach((byStart, h) => {
    const hopMs = (hops[h] as HopLayout).hopMs;
    for (const [start, tiles] of byStart) {
      if (start + hopMs <= watermark) byStart.delete(start);
      else size += tiles.size;
    }
  });
  return size;
}

/** The tile of (hop, start, entity), created empty when absent. */
function tileOf(core: Core, open: OpenTiles, h: number, start: number, entityKey: string): TileStates {
  const byStart = open[h] as Map<number, Map<string, TileStates>>;
  let tiles = byStart.get(start);
  if (tiles === undefined) {
    tiles = new Map();
    byStart.set(start, tiles);
  }
  let tile = tiles.get(entityKey);
  if (tile === undefined) {
    tile = core.emptyTile(core.plan.hops[h] as HopLayout);
    tiles.set(entityKey, tile);
  }
  return tile;
}

/**
 * The stream worker's loop over decoded events. Also returns the largest number of open tiles seen (a check
 * that eviction keeps the working set to the open tiles).
 */
function workerLoop(core: Core, events: readonly Event[]): { ms: Clock; maxOpen: number } {
  if (core.TileTable !== undefined) return workerLoopTable(core, core.TileTable, events);
  const { plan, addToTile, encodeEntityKey } = core;
  const hops = plan.hops;
  const open: OpenTiles = hops.map(() => new Map());
  let maxOpen = 0;
  let newest = Number.NEGATIVE_INFINITY;
  const started = clock();
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as Event;
    const entityKey = encodeEntityKey(user.joinKeys, e);
    if (!plan.accepts(e)) continue;
    const ts = e.ts;
    if (ts > newest) newest = ts;
    for (let h = 0; h < hops.length; h++) {
      const layout = hops[h] as HopLayout;
      addToTile(layout, tileOf(core, open, h, tileStartOf(ts, layout.hopMs), entityKey), e, ts);
    }
    if (i % EVICT_EVERY === EVICT_EVERY - 1) {
      maxOpen = Math.max(maxOpen, evictClosed(hops, open, newest - LATENESS_MS));
    }
  }
  return { ms: since(started), maxOpen };
}

/**
 * `addToTile` alone: the same loop, but each chunk of EVICT_EVERY events has its tiles looked up (and closed
 * ones evicted) before the clock runs, so the timed part is only the 3 `addToTile` calls per event, on the same
 * working set of open tiles as the worker's.
 */
function addOnly(core: Core, events: readonly Event[]): Clock {
  if (core.TileTable !== undefined) return addOnlyTable(core, core.TileTable, events);
  const { plan, addToTile, encodeEntityKey } = core;
  const hops = plan.hops;
  const open: OpenTiles = hops.map(() => new Map());
  const targets: TileStates[] = new Array(EVICT_EVERY * hops.length);
  let newest = Number.NEGATIVE_INFINITY;
  const timed: Clock = { wall: 0, cpu: 0 };
  for (let from = 0; from < events.length; from += EVICT_EVERY) {
    const to = Math.min(events.length, from + EVICT_EVERY);
    for (let i = from; i < to; i++) {
      const e = events[i] as Event;
      const entityKey = encodeEntityKey(user.joinKeys, e);
      if (e.ts > newest) newest = e.ts;
      for (let h = 0; h < hops.length; h++) {
        const start = tileStartOf(e.ts, (hops[h] as HopLayout).hopMs);
        targets[(i - from) * hops.length + h] = tileOf(core, open, h, start, entityKey);
      }
    }
    const started = clock();
    for (let i = from; i < to; i++) {
      const e = events[i] as Event;
      for (let h = 0; h < hops.length; h++) {
        addToTile(hops[h] as HopLayout, targets[(i - from) * hops.length + h] as TileStates, e, e.ts);
      }
    }
    const t = since(started);
    timed.wall += t.wall;
    timed.cpu += t.cpu;
    evictClosed(hops, open, newest - LATENESS_MS);
  }
  return timed;
}

/**
 * One table per core and loop, made once and cleared before each run: a worker keeps its table (and the memory
 * it has grown to) for its lifetime, so growing it from empty is not part of the per-event cost measured.
 */
const tables = new Map<string, thisTable.TileTable>();
function tableFor(core: Core, TileTable: typeof thisTable.TileTable, loop: string): thisTable.TileTable {
  const key = `${core.label}/${loop}`;
  let table = tables.get(key);
  if (table === undefined) {
    table = new TileTable(core.plan.hops, user.joinKeys);
    tables.set(key, table);
  } else table.clear();
  return table;
}

/**
 * {@link workerLoop} with a checkout's `TileTable` (what its stream worker holds tiles in): per event the entity
 * key, the row filter, the entity's id, and per hop the tile start, the tile (found or created empty) and the
 * add; closed tiles dropped every 10k events.
 */
function workerLoopTable(
  core: Core,
  TileTable: typeof thisTable.TileTable,
  events: readonly Event[],
): { ms: Clock; maxOpen: number } {
  const { plan } = core;
  const hops = plan.hops;
  const table = tableFor(core, TileTable, 'loop');
  const slabs = table.slabs;
  let maxOpen = 0;
  let newest = Number.NEGATIVE_INFINITY;
  const started = clock();
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as Event;
    const id = table.entityOf(e);
    if (!plan.accepts(e)) continue;
    const ts = e.ts;
    if (ts > newest) newest = ts;
    for (let h = 0; h < hops.length; h++) {
      const start = tileStartOf(ts, (hops[h] as HopLayout).hopMs);
      let t = table.find(id, h, start);
      if (t < 0) t = table.create(id, h, start);
      (slabs[h] as (typeof slabs)[number]).add(t, e, ts);
    }
    if (i % EVICT_EVERY === EVICT_EVERY - 1) {
      let open = 0;
      for (let h = 0; h < hops.length; h++) open += table.dropEndedBy(h, newest - LATENESS_MS);
      maxOpen = Math.max(maxOpen, open);
    }
  }
  return { ms: since(started), maxOpen };
}

/** {@link addOnly} with a checkout's `TileTable`: the timed part is the 3 slab adds per event. */
function addOnlyTable(core: Core, TileTable: typeof thisTable.TileTable, events: readonly Event[]): Clock {
  const hops = core.plan.hops;
  const table = tableFor(core, TileTable, 'add');
  const slabs = table.slabs;
  const targets = new Int32Array(EVICT_EVERY * hops.length);
  let newest = Number.NEGATIVE_INFINITY;
  const timed: Clock = { wall: 0, cpu: 0 };
  for (let from = 0; from < events.length; from += EVICT_EVERY) {
    const to = Math.min(events.length, from + EVICT_EVERY);
    for (let i = from; i < to; i++) {
      const e = events[i] as Event;
      const id = table.entityOf(e);
      if (e.ts > newest) newest = e.ts;
      for (let h = 0; h < hops.length; h++) {
        const start = tileStartOf(e.ts, (hops[h] as HopLayout).hopMs);
        let t = table.find(id, h, start);
        if (t < 0) t = table.create(id, h, start);
        targets[(i - from) * hops.length + h] = t;
      }
    }
    const started = clock();
    for (let i = from; i < to; i++) {
      const e = events[i] as Event;
      for (let h = 0; h < hops.length; h++) {
        (slabs[h] as (typeof slabs)[number]).add(targets[(i - from) * hops.length + h] as number, e, e.ts);
      }
    }
    const t = since(started);
    timed.wall += t.wall;
    timed.cpu += t.cpu;
    for (let h = 0; h < hops.length; h++) table.dropEndedBy(h, newest - LATENESS_MS);
  }
  return timed;
}

/** One entity's stored tiles over the last 7 days, as `readAggregates` fetches them for `now`. */
function entityTiles(
  core: Core,
  now: number,
  rnd: () => number,
): { started: StartedTile[][]; encoded: Uint8Array[][] } {
  const started: StartedTile[][] = [];
  const encoded: Uint8Array[][] = [];
  for (const layout of core.plan.hops) {
    const from = windowStart(now, layout.longestWindowMs, layout.hopMs);
    const list: StartedTile[] = [];
    const bytes: Uint8Array[] = [];
    for (let start = from; start <= now; start += layout.hopMs) {
      const states = core.emptyTile(layout);
      const n = 1 + Math.floor(rnd() * 6);
      for (let j = 0; j < n; j++) {
        const row = { amount: Math.round(rnd() * 100_000) / 100, item: Math.floor(rnd() * 500) };
        core.addToTile(layout, states, row, start + Math.floor(rnd() * layout.hopMs));
      }
      list.push({ start, states });
      bytes.push(core.encodeTile(layout, states));
    }
    started.push(list);
    encoded.push(bytes);
  }
  return { started, encoded };
}

/** Microseconds per call of `fn` (wall clock and CPU) over ~`ms` milliseconds, after a short warm-up. */
function perCall(fn: (i: number) => unknown, ms: number): Clock {
  for (let i = 0; i < 2_000; i++) fn(i);
  let calls = 0;
  const started = clock();
  while (performance.now() - started.wall < ms) {
    for (let i = 0; i < 1_000; i++) fn(calls + i);
    calls += 1_000;
  }
  const t = since(started);
  return { wall: (t.wall * 1000) / calls, cpu: (t.cpu * 1000) / calls };
}

interface Figures {
  loops: Clock[];
  adds: Clock[];
  merges: Clock[];
  decodes: Clock[];
  maxOpen: number;
}

async function main(): Promise<void> {
  const cores = [coreOf('this', thisTiles, thisCodec, thisKeys, args['no-table'] ? undefined : thisTable)];
  if (args.compare !== undefined) {
    const root = resolve(args.compare);
    const load = async <T>(path: string) => (await import(pathToFileURL(join(root, path)).href)) as T;
    cores.push(
      coreOf(
        'base',
        await load<typeof thisTiles>('src/aggregation/tiles.ts'),
        await load<typeof thisCodec>('src/aggregation/tile-codec.ts'),
        await load<typeof thisKeys>('src/core/entity-key.ts'),
        existsSync(join(root, 'src/aggregation/tile-table.ts'))
          ? await load<typeof thisTable>('src/aggregation/tile-table.ts')
          : undefined,
      ),
    );
  }
  const events = makeEvents(EVENTS);
  // Warm-up: compile the hot paths on a slice before timing.
  for (const core of cores) {
    workerLoop(core, events.slice(0, Math.min(200_000, EVENTS)));
    addOnly(core, events.slice(0, Math.min(200_000, EVENTS)));
  }
  const now = T0 + 8 * DAY + 1_234_567;
  const figures: Figures[] = cores.map(() => ({ loops: [], adds: [], merges: [], decodes: [], maxOpen: 0 }));
  let tilesPerRead: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const [c, core] of cores.entries()) {
      const f = figures[c] as Figures;
      const w = workerLoop(core, events);
      f.maxOpen = w.maxOpen;
      f.loops.push(w.ms);
      f.adds.push(addOnly(core, events));
      // valuesAt: 64 different entities' tiles, read in turn.
      const rnd = prng(7);
      const entities = Array.from({ length: 64 }, () => entityTiles(core, now, rnd));
      tilesPerRead = (entities[0] as (typeof entities)[number]).started.map((l) => l.length);
      f.merges.push(
        perCall(
          (i) => core.valuesAt(core.plan, (entities[i & 63] as (typeof entities)[number]).started, now),
          500,
        ),
      );
      f.decodes.push(
        perCall((i) => {
          const byHop = (entities[i & 63] as (typeof entities)[number]).encoded.map((bytes, h) => {
            const layout = core.plan.hops[h] as HopLayout;
            const from = windowStart(now, layout.longestWindowMs, layout.hopMs);
            return bytes.map((b, j) => ({
              start: from + j * layout.hopMs,
              states: core.decodeTile(layout, b) ?? [],
            }));
          });
          return core.valuesAt(core.plan, byHop, now);
        }, 500),
      );
      const eps = (c: Clock | undefined) =>
        `${Math.round((EVENTS / (c?.wall ?? 0)) * 1000).toLocaleString()} (CPU ${Math.round((EVENTS / (c?.cpu ?? 0)) * 1000).toLocaleString()})`;
      const us = (c: Clock | undefined) => `${c?.wall.toFixed(1)} (CPU ${c?.cpu.toFixed(1)})`;
      process.stderr.write(
        `run ${r + 1} ${core.label}: worker loop ${eps(f.loops[r])} events/s, addToTile alone ${eps(f.adds[r])} ` +
          `events/s, valuesAt ${us(f.merges[r])} µs, decode + valuesAt ${us(f.decodes[r])} µs\n`,
      );
    }
  }

  const perSecond = (cs: Clock[], k: keyof Clock) => cs.map((c) => Math.round((EVENTS / c[k]) * 1000));
  const micros = (cs: Clock[], k: keyof Clock) => cs.map((c) => Number(c[k].toFixed(2)));
  const summary = (core: Core, f: Figures) => ({
    code: core.label,
    workerLoopEventsPerSecond: median(perSecond(f.loops, 'wall')),
    workerLoopEventsPerCpuSecond: median(perSecond(f.loops, 'cpu')),
    workerLoopRuns: perSecond(f.loops, 'wall'),
    workerLoopCpuRuns: perSecond(f.loops, 'cpu'),
    addToTileEventsPerSecond: median(perSecond(f.adds, 'wall')),
    addToTileEventsPerCpuSecond: median(perSecond(f.adds, 'cpu')),
    addToTileRuns: perSecond(f.adds, 'wall'),
    addToTileCpuRuns: perSecond(f.adds, 'cpu'),
    valuesAtMicros: median(micros(f.merges, 'wall')),
    valuesAtCpuMicros: median(micros(f.merges, 'cpu')),
    decodeAndValuesAtMicros: median(micros(f.decodes, 'wall')),
    decodeAndValuesAtCpuMicros: median(micros(f.decodes, 'cpu')),
    maxOpenTiles: f.maxOpen,
  });
  const results = cores.map((core, c) => summary(core, figures[c] as Figures));
  for (const r of results) {
    console.log(
      `${r.code}: worker loop ${r.workerLoopEventsPerSecond.toLocaleString()} events/s ` +
        `(${r.workerLoopEventsPerCpuSecond.toLocaleString()} per CPU s); addToTile alone ` +
        `${r.addToTileEventsPerSecond.toLocaleString()} events/s (${r.addToTileEventsPerCpuSecond.toLocaleString()} ` +
        `per CPU s); valuesAt ${r.valuesAtMicros} µs (CPU ${r.valuesAtCpuMicros}; ${tilesPerRead.join('+')} tiles); ` +
        `decode + valuesAt ${r.decodeAndValuesAtMicros} µs (CPU ${r.decodeAndValuesAtCpuMicros})`,
    );
  }
  const result = {
    benchmark: 'aggregation-core',
    events: EVENTS,
    entities: ENTITIES,
    eventTimeRatePerSecond: RATE,
    aggregations: view.aggregations.map((a) => a.fn),
    windows: 3,
    hops: (cores[0] as Core).plan.hops.map((h) => h.hopMs),
    tilesPerRead,
    runs: RUNS,
    results,
    machine: {
      cpus: os.cpus().length,
      loadAverage: os.loadavg().map((x) => Number(x.toFixed(2))),
      node: process.version,
    },
  };
  console.log(JSON.stringify(result, null, args.json ? 2 : undefined));
}

await main();
