import { Packr } from 'msgpackr';
import { type HopLayout, type TileStates, tileFromPlain, tileToPlain } from './tiles.js';

// Plain MessagePack (no msgpackr records), so a tile is readable by any MessagePack decoder:
// [layout signature, state of slot 0, state of slot 1, …], each state as aggregators.ts `toPlain` gives it.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Encodes a tile for the online store. */
export const encodeTile = (layout: HopLayout, tile: TileStates): Uint8Array =>
  packr.pack([layout.signature, ...tileToPlain(layout, tile)]);

/**
 * Decodes a stored tile, or `undefined` when it was written under another definition of the view (its
 * signature differs): such a tile is treated as absent rather than misread as other aggregations' states.
 */
export function decodeTile(layout: HopLayout, bytes: Uint8Array): TileStates | undefined {
  const plain = packr.unpack(bytes) as unknown;
  if (!Array.isArray(plain) || plain[0] !== layout.signature || plain.length !== layout.slots.length + 1) {
    return undefined;
  }
  return tileFromPlain(layout, plain.slice(1));
}
