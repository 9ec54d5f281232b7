/**
 * A deliberately naive reference for point-in-time joins and latest-value pulls, written from the rules in
 * docs/semantics.md and nothing else: loop over every spine row, filter every source row, take the maximum.
 * Slow (O(spine × source)) and obviously correct, so randomized tests can compare the SQL against it.
 *
 * Timestamps are epoch microseconds as numbers (exact up to year 2255).
 */

export type Key = string | number | null;

export interface RefSourceRow {
  readonly keys: readonly Key[];
  /** Event time, epoch µs; null rows never match. */
  readonly eventUs: number | null;
  /** Created time, epoch µs; null sorts lowest. */
  readonly createdUs?: number | null;
  readonly values: Readonly<Record<string, unknown>>;
}

export interface RefSpineRow {
  readonly keys: readonly Key[];
  readonly tsUs: number | null;
}

/** Ordering of candidate rows: event time, then created time (missing = lowest). */
function compare(a: RefSourceRow, b: RefSourceRow): number {
  const ea = a.eventUs as number;
  const eb = b.eventUs as number;
  if (ea !== eb) return ea < eb ? -1 : 1;
  const ca = a.createdUs ?? Number.NEGATIVE_INFINITY;
  const cb = b.createdUs ?? Number.NEGATIVE_INFINITY;
  return ca === cb ? 0 : ca < cb ? -1 : 1;
}

const sameKeys = (a: readonly Key[], b: readonly Key[]) =>
  a.length === b.length && a.every((k, i) => k !== null && b[i] !== null && k === b[i]);

/** The rows tied for "latest" among `rows` (more than one only when event and created times are equal). */
function best(rows: readonly RefSourceRow[]): RefSourceRow[] {
  let top: RefSourceRow[] = [];
  for (const r of rows) {
    const c = top.length === 0 ? 1 : compare(r, top[0] as RefSourceRow);
    if (c > 0) top = [r];
    else if (c === 0) top.push(r);
  }
  return top;
}

/**
 * For each spine row, the acceptable source rows: empty when no value applies (features are null), else the
 * rows tied for latest (usually one; the store must return one of them).
 */
export function referencePointInTime(
  spine: readonly RefSpineRow[],
  source: readonly RefSourceRow[],
  ttlUs: number,
): RefSourceRow[][] {
  return spine.map((s) => {
    if (s.tsUs === null || s.keys.some((k) => k === null)) return [];
    const t = s.tsUs;
    const candidates = source.filter(
      (r) =>
        r.eventUs !== null &&
        sameKeys(r.keys, s.keys) &&
        r.eventUs <= t &&
        (ttlUs <= 0 || r.eventUs >= t - ttlUs),
    );
    return best(candidates);
  });
}

/** Per entity (keys joined by \u001f), the rows tied for latest among rows with event time in [startUs, endUs). */
export function referenceLatest(
  source: readonly RefSourceRow[],
  startUs: number,
  endUs: number,
): Map<string, RefSourceRow[]> {
  const groups = new Map<string, RefSourceRow[]>();
  for (const r of source) {
    if (r.eventUs === null || r.eventUs < startUs || r.eventUs >= endUs || r.keys.some((k) => k === null))
      continue;
    const id = r.keys.map(String).join('\u001f');
    const g = groups.get(id);
    if (g) g.push(r);
    else groups.set(id, [r]);
  }
  return new Map([...groups].map(([id, rows]) => [id, best(rows)]));
}
