import { encodeTile } from '../aggregation/tile-codec.js';
import {
  addToTile,
  emptyTile,
  type TilePlan,
  type TileStates,
  tilePlan,
  tileStartOf,
} from '../aggregation/tiles.js';
import { tileExpiry, windowStart } from '../aggregation/window.js';
import type { AggregationSelection } from '../definitions/resolve.js';
import type { OfflineStore } from '../offline/offline-store.js';
import type { OnlineStore, OnlineViewRef, TileWrite } from '../online/online-store.js';

/** Tiles per `writeTiles` call. */
const TILES_PER_WRITE = 5_000;

export interface AggregateMaterializeOptions {
  readonly project: string;
  readonly offline: OfflineStore;
  readonly online: OnlineStore;
  readonly chunkRows?: number;
  readonly onProgress?: (p: { view: string; rows: number; done: boolean }) => void;
  /** Wall-clock time of the run (default now): tiles already expired then are not rebuilt. */
  readonly nowMs?: number;
}

/**
 * Rebuilds the online tiles of an aggregation view from its offline events, with the stream engine's own
 * tile code (aggregation/tiles.ts), so batch and stream write identical tiles. Every tile overlapping
 * [startMs, endMs) is recomputed from all of its events (the start is moved down to a tile boundary) and
 * replaces the stored one, so re-runs are idempotent. Tiles already past their expiry are skipped, and so are
 * events too old to reach a live tile. Events arrive ordered by entity, so only one entity's tiles are held at
 * a time: memory stays bounded whatever the source size.
 *
 * Returns the number of events read.
 */
export async function materializeAggregationView(
  opts: AggregateMaterializeOptions,
  selection: AggregationSelection,
  startMs: number,
  endMs: number,
): Promise<number> {
  const plan = tilePlan(selection.view);
  const now = opts.nowMs ?? Date.now();
  // Complete tiles: start at the earliest tile boundary at or before startMs over all hops; but nothing older
  // than what any window can still reach now.
  const reach = Math.min(...plan.hops.map((h) => windowStart(now, h.longestWindowMs, h.hopMs)));
  const from = Math.max(Math.min(...plan.hops.map((h) => tileStartOf(startMs, h.hopMs))), reach);
  const ref: OnlineViewRef = { project: opts.project, name: selection.view.name, ttlMs: 0 };
  const name = selection.view.name;
  let events = 0;
  if (!(endMs > from)) {
    opts.onProgress?.({ view: name, rows: 0, done: true });
    return 0;
  }

  const pending: TileWrite[] = [];
  const flushWrites = async (force: boolean) => {
    while (pending.length >= TILES_PER_WRITE || (force && pending.length > 0)) {
      await opts.online.writeTiles([{ view: ref, tiles: pending.splice(0, TILES_PER_WRITE) }]);
    }
  };
  let entity: string | undefined;
  let tiles = new Map<string, { hop: number; start: number; states: TileStates }>();
  const closeEntity = () => {
    if (entity === undefined) return;
    for (const t of tiles.values()) {
      const layout = plan.hops[t.hop] as TilePlan['hops'][number];
      pending.push({
        entityKey: entity,
        hopMs: layout.hopMs,
        start: t.start,
        value: encodeTile(layout, t.states),
        expiresAt: tileExpiry(t.start, layout.hopMs, layout.longestWindowMs),
      });
    }
    tiles = new Map();
  };

  const request = {
    view: selection,
    startMs: from,
    endMs,
    ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
  };
  for await (const chunk of opts.offline.pullEvents(request)) {
    for (const e of chunk) {
      if (e.entityKey !== entity) {
        closeEntity();
        entity = e.entityKey;
      }
      if (!plan.accepts(e.values)) continue;
      plan.hops.forEach((layout, h) => {
        const start = tileStartOf(e.ts, layout.hopMs);
        const key = `${h}:${start}`;
        let tile = tiles.get(key);
        if (tile === undefined) {
          tile = { hop: h, start, states: emptyTile(layout) };
          tiles.set(key, tile);
        }
        addToTile(layout, tile.states, e.values, e.ts);
      });
    }
    events += chunk.length;
    await flushWrites(false);
    opts.onProgress?.({ view: name, rows: events, done: false });
  }
  closeEntity();
  await flushWrites(true);
  opts.onProgress?.({ view: name, rows: events, done: true });
  return events;
}
