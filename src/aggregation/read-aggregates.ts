import type { OnlineStore, OnlineViewRef, StoredRow, TileReadRequest } from '../online/online-store.js';
import { decodeTile } from './tile-codec.js';
import { type HopLayout, type StartedTile, type TilePlan, valuesAt } from './tiles.js';
import { floorTo, windowStart } from './window.js';

/** One aggregation view to read online: its store identity, tile plan and the features wanted. */
export interface AggregateRead {
  readonly ref: OnlineViewRef;
  readonly plan: TilePlan;
  /** Feature names to compute (others are skipped). */
  readonly features: ReadonlySet<string>;
}

/**
 * Window values of aggregation views at time `now`, for each view and entity key, from the tiles in the online
 * store: one `readTiles` call (one round trip) for every view, hop and entity. Each result is shaped as a
 * stored row whose event time is `now` (the instant the windows end at).
 *
 * @example const [[row]] = await readAggregates(store, [{ ref, plan, features }], [['42']], Date.now());
 */
export async function readAggregates(
  store: OnlineStore,
  reads: readonly AggregateRead[],
  entityKeys: readonly (readonly string[])[],
  now: number,
): Promise<StoredRow[][]> {
  const requests: TileReadRequest[] = [];
  const layouts: { read: number; hop: number }[] = [];
  reads.forEach((r, i) => {
    r.plan.hops.forEach((layout, h) => {
      requests.push(tileRange(r.ref, layout, entityKeys[i] ?? [], now));
      layouts.push({ read: i, hop: h });
    });
  });
  const tiles = requests.length === 0 ? [] : await store.readTiles(requests);
  return reads.map((r, i) => {
    const keys = entityKeys[i] ?? [];
    return keys.map((entityKey, e) => {
      const byHop: StartedTile[][] = r.plan.hops.map((layout, h) => {
        const q = layouts.findIndex((l) => l.read === i && l.hop === h);
        const stored = tiles[q]?.[e] ?? [];
        const out: StartedTile[] = [];
        for (const t of stored) {
          const states = decodeTile(layout, t.value);
          if (states !== undefined) out.push({ start: t.start, states });
        }
        return out;
      });
      return { entityKey, eventTs: now, createdTs: 0, values: valuesAt(r.plan, byHop, now, r.features) };
    });
  });
}

/** The tiles of one hop that any window using it can cover at `now`: [floor_h(now − longest), floor_h(now)]. */
export function tileRange(
  ref: OnlineViewRef,
  layout: HopLayout,
  entityKeys: readonly string[],
  now: number,
): TileReadRequest {
  return {
    view: ref,
    entityKeys,
    hopMs: layout.hopMs,
    fromStart: windowStart(now, layout.longestWindowMs, layout.hopMs),
    toStart: floorTo(now, layout.hopMs),
  };
}
