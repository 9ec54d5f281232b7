/**
 * Window arithmetic shared by the offline SQL, the tiles and the stream engine (docs/semantics.md, "Windowed
 * aggregations"). Times are integer milliseconds since the epoch.
 */

/** Aligns `t` down to a multiple of `hopMs` (a true floor, also for times before 1970). */
export const floorTo = (t: number, hopMs: number): number => Math.floor(t / hopMs) * hopMs;

/**
 * First event time a window covers at time `t`: floor_h(t − w). The window is [windowStart, t], the tail
 * aligned down to the hop, the head exact ("sawtooth").
 *
 * @example windowStart(10 * 60_000 + 5_000, 5 * 60_000, 60_000) // 5 minutes: events at ≥ 5:00 up to 10:05
 */
export const windowStart = (t: number, windowMs: number, hopMs: number): number =>
  floorTo(t - windowMs, hopMs);

/**
 * Until when a tile is still needed: the last read time whose window (the longest one that uses this hop)
 * still starts at or before the tile, plus one hop. After that the tile can expire.
 */
export const tileExpiry = (tileStart: number, hopMs: number, longestWindowMs: number): number =>
  tileStart + hopMs + longestWindowMs;
