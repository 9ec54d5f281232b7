/**
 * Seeded random data for point-in-time tests: sources with many exact ties, spines that hit the TTL and
 * as-of edges on purpose, and writers to Parquet / CSV / hive-partitioned Parquet (through DuckDB COPY).
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { entity } from '../../src/definitions/entity.js';
import { featureView } from '../../src/definitions/feature-view.js';
import type { ViewSelection } from '../../src/definitions/resolve.js';
import type { Source } from '../../src/definitions/source.js';
import { float64, int64, string } from '../../src/definitions/value-types.js';
import { createTableFromRows } from '../../src/offline/duckdb/rows-table.js';
import type { Key, RefSourceRow, RefSpineRow } from './pit-reference.js';

export { prng } from './prng.js';

export const int = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
export const pick = <T>(rng: () => number, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;

/** 2024-05-01T00:00:00Z in epoch µs. */
export const BASE_US = Date.UTC(2024, 4, 1) * 1000;
export const HOUR_US = 3_600_000_000;
export const MERCHANTS = ['m0', 'm1', 'm2', 'm3'];

export const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
export const userMerchant = entity({
  name: 'user_merchant',
  joinKeys: { user_id: int64(), merchant_id: string() },
});

export interface GenSource {
  readonly rows: number;
  readonly users: number;
  readonly twoKeys: boolean;
  readonly withCreated: boolean;
  /** Also generate ~2% rows with a NULL event time (they never match). Not for hive layouts. */
  readonly nullTs?: boolean;
}

/**
 * Source rows on a 30-minute grid over two days (so equal event times are common), some with sub-second µs,
 * ~4% NULL keys, created times on an hourly grid (equal created times too) or NULL.
 */
export function genSource(rng: () => number, o: GenSource): RefSourceRow[] {
  const rows: RefSourceRow[] = [];
  for (let i = 0; i < o.rows; i++) {
    const userId: Key = rng() < 0.04 ? null : int(rng, 0, o.users - 1);
    const keys: Key[] = o.twoKeys ? [userId, rng() < 0.03 ? null : pick(rng, MERCHANTS)] : [userId];
    const eventUs =
      o.nullTs && rng() < 0.02
        ? null
        : BASE_US + int(rng, 0, 96) * (HOUR_US / 2) + (rng() < 0.2 ? int(rng, 1, 999_999) : 0);
    const createdUs = o.withCreated
      ? rng() < 0.15
        ? null
        : (eventUs ?? BASE_US) + int(rng, 0, 3) * HOUR_US
      : undefined;
    rows.push({
      keys,
      eventUs,
      ...(createdUs === undefined ? {} : { createdUs }),
      values: {
        f_int: rng() < 0.05 ? null : int(rng, -1000, 1000),
        f_float: rng() < 0.05 ? null : int(rng, -100000, 100000) / 64,
        f_str: rng() < 0.05 ? null : pick(rng, ['a', 'b,c', 'd "e"', 'ü', `s${int(rng, 0, 99)}`]),
      },
    });
  }
  return rows;
}

/**
 * Spine rows aimed at the edges: exactly at a source event time, exactly `ttl` after it (still included),
 * 1 µs later (excluded), 1 µs before an event, plus random times, unknown users, NULL keys, NULL times and
 * duplicates.
 */
export function genSpine(
  rng: () => number,
  o: { rows: number; users: number; source: readonly RefSourceRow[]; ttlUs: number },
): RefSpineRow[] {
  const out: RefSpineRow[] = [];
  for (let i = 0; i < o.rows; i++) {
    if (out.length > 0 && rng() < 0.08) {
      out.push(pick(rng, out));
      continue;
    }
    const src = pick(rng, o.source);
    const mode = rng();
    let keys: Key[] = [...src.keys];
    let tsUs: number;
    const ev = src.eventUs ?? BASE_US;
    if (mode < 0.3) tsUs = ev;
    else if (mode < 0.45) tsUs = ev + o.ttlUs;
    else if (mode < 0.55) tsUs = ev + o.ttlUs + 1;
    else if (mode < 0.6) tsUs = ev - 1;
    else {
      tsUs = BASE_US + int(rng, -2 * 3600, 52 * 3600) * 1_000_000 + int(rng, 0, 999_999);
      keys = [int(rng, 0, o.users + 2), pick(rng, MERCHANTS)];
    }
    if (rng() < 0.04) keys[0] = null;
    if (rng() < 0.03) keys[1] = null;
    out.push({ keys, tsUs: rng() < 0.02 ? null : tsUs });
  }
  return out;
}

/** ISO text of an instant at a UTC offset in minutes, with microseconds: `2024-05-01T05:30:00.000001+05:30`. */
export function isoWithOffset(us: number, offsetMin: number): string {
  const local = new Date(Math.floor(us / 1000) + offsetMin * 60_000).toISOString().slice(0, 19);
  const micros = String(((us % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, '0');
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${local}.${micros}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export type FileFormat = 'parquet' | 'csv' | 'hive';

/**
 * Writes source rows to `dir/name` (.parquet, .csv or a hive-partitioned folder by UTC `date`), with columns
 * user_id, [merchant_id], event_ts, [created_ts], f_int, f_float, f_str; timestamps naive (UTC) or TIMESTAMPTZ.
 * Returns the path relative to `dir`.
 */
export async function writeSource(
  dir: string,
  name: string,
  rows: readonly RefSourceRow[],
  o: { format: FileFormat; tz: boolean; twoKeys: boolean; withCreated: boolean },
): Promise<string> {
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    await createTableFromRows(
      c,
      'src',
      rows.map((r) => ({
        user_id: r.keys[0],
        merchant_id: r.keys[1] ?? null,
        ev_us: r.eventUs,
        cr_us: r.createdUs ?? null,
        ...r.values,
      })),
      [
        { name: 'user_id', type: 'BIGINT' },
        { name: 'merchant_id', type: 'VARCHAR' },
        { name: 'ev_us', type: 'BIGINT' },
        { name: 'cr_us', type: 'BIGINT' },
        { name: 'f_int', type: 'BIGINT' },
        { name: 'f_float', type: 'DOUBLE' },
        { name: 'f_str', type: 'VARCHAR' },
      ],
    );
    const ts = (col: string) => `make_timestamp(${col})${o.tz ? '::TIMESTAMPTZ' : ''}`;
    const cols = [
      'user_id',
      ...(o.twoKeys ? ['merchant_id'] : []),
      `${ts('ev_us')} AS event_ts`,
      ...(o.withCreated ? [`${ts('cr_us')} AS created_ts`] : []),
      'f_int',
      'f_float',
      'f_str',
    ];
    const select = `SELECT ${cols.join(', ')} FROM src`;
    let rel: string;
    if (o.format === 'parquet') {
      rel = `${name}.parquet`;
      await c.run(`COPY (${select}) TO '${dir}/${rel}' (FORMAT parquet)`);
    } else if (o.format === 'csv') {
      rel = `${name}.csv`;
      await c.run(`COPY (${select}) TO '${dir}/${rel}' (HEADER, DELIMITER ',')`);
    } else {
      rel = name;
      await c.run(
        `COPY (SELECT * EXCLUDE (ev_us), strftime(make_timestamp(ev_us), '%Y-%m-%d') AS date FROM (${select.replace(' FROM src', ', ev_us FROM src')}))
         TO '${dir}/${rel}' (FORMAT parquet, PARTITION_BY (date))`,
      );
    }
    return rel;
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

/** A view over a generated source: features f_int, f_float, f_str. */
export function selection(name: string, source: Source, twoKeys: boolean, ttl: string | 0): ViewSelection {
  const ent = twoKeys ? userMerchant : user;
  const view = featureView({
    name,
    entities: [ent],
    source,
    schema: { f_int: int64(), f_float: float64(), f_str: string() },
    ttl,
  });
  return { view, source, joinKeys: ent.joinKeys, features: view.features };
}

const DURATION_US: Record<string, number> = {
  '0': 0,
  '30m': HOUR_US / 2,
  '2h': 2 * HOUR_US,
  '6h': 6 * HOUR_US,
};
export const TTLS = ['0', '30m', '2h', '6h'] as const;
export const ttlUs = (ttl: string) => DURATION_US[ttl] as number;

export type SpineTs = 'tz' | 'naive' | 'offset';
const OFFSETS = [-480, -210, 0, 60, 330, 840];

/** Spine rows as JS objects: row_no, user_id, merchant_id, event_timestamp (text, naive UTC or with an offset), label. */
export function spineObjects(rng: () => number, spine: readonly RefSpineRow[], ts: 'naive' | 'offset') {
  return spine.map((s, i) => ({
    row_no: i,
    user_id: s.keys[0],
    merchant_id: s.keys[1] ?? null,
    event_timestamp:
      s.tsUs === null
        ? null
        : ts === 'naive'
          ? isoWithOffset(s.tsUs, 0).slice(0, 26).replace('T', ' ')
          : isoWithOffset(s.tsUs, pick(rng, OFFSETS)),
    label: `l${i}`,
  }));
}

/** Writes a spine file (Parquet or CSV) whose event_timestamp is TIMESTAMPTZ, naive TIMESTAMP or offset text. */
export async function writeSpine(
  rng: () => number,
  dir: string,
  spine: readonly RefSpineRow[],
  o: { ts: SpineTs; format: 'parquet' | 'csv' },
): Promise<string> {
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  try {
    await c.run("SET TimeZone = 'UTC'");
    const objects = spineObjects(rng, spine, 'offset');
    await createTableFromRows(
      c,
      'spine',
      objects.map((o, i) => ({ ...o, ts_us: spine[i]?.tsUs ?? null })),
      [
        { name: 'row_no', type: 'BIGINT' },
        { name: 'user_id', type: 'BIGINT' },
        { name: 'merchant_id', type: 'VARCHAR' },
        { name: 'event_timestamp', type: 'VARCHAR' },
        { name: 'label', type: 'VARCHAR' },
        { name: 'ts_us', type: 'BIGINT' },
      ],
    );
    const ts =
      o.ts === 'offset' ? 'event_timestamp' : `make_timestamp(ts_us)${o.ts === 'tz' ? '::TIMESTAMPTZ' : ''}`;
    const rel = `spine-${o.ts}.${o.format}`;
    const select = `SELECT row_no, user_id, merchant_id, ${ts} AS event_timestamp, label FROM spine ORDER BY rowid`;
    await c.run(
      `COPY (${select}) TO '${dir}/${rel}' ${o.format === 'parquet' ? '(FORMAT parquet)' : '(HEADER)'}`,
    );
    return rel;
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}
