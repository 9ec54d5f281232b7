import { describe, expect, it } from 'vitest';
import {
  compileAssemble,
  compileCleanup,
  compileLatest,
  compilePointInTime,
  compileSpineKeys,
  compileViewJoin,
  type PitPlan,
  type PitView,
  sourceOrderingKey,
  spineKeyColumns,
  timeRangeFilter,
} from '../../src/offline/duckdb/point-in-time-sql.js';
import { dateLiteral, formatUtcMicros, quoteIdent, quoteLiteral } from '../../src/offline/duckdb/sql.js';

const MAY_1 = 1714521600000000n; // 2024-05-01T00:00:00Z in µs
const HOUR = 3_600_000;

const view = (over: Partial<PitView> = {}): PitView => ({
  name: 'user_stats',
  relation: "read_parquet('/repo/data/*.parquet', hive_partitioning = false)",
  joinKeys: [{ name: 'user_id', sqlType: 'BIGINT' }],
  timestampField: 'event_ts',
  timestampType: 'TIMESTAMP',
  columns: [
    { name: 'clicks', type: 'BIGINT' },
    { name: 'last_seen', type: 'TIMESTAMP' },
  ],
  ttlMs: 2 * HOUR,
  features: [
    { column: 'clicks', output: 'clicks' },
    { column: 'last_seen', output: 'seen' },
  ],
  ...over,
});

const plan = (over: Partial<PitPlan> = {}): PitPlan => ({
  spineTable: '__tessera_spine',
  spineColumns: [
    { name: 'user_id', type: 'BIGINT' },
    { name: 'event_timestamp', type: 'VARCHAR' },
    { name: 'signup', type: 'TIMESTAMP' },
    { name: 'label', type: 'INTEGER' },
  ],
  timestampColumn: 'event_timestamp',
  views: [view()],
  resultTable: '__tessera_result',
  strategy: 'asof',
  ...over,
});

const squash = (sql: string) => sql.replace(/\s+/g, ' ');

describe('sql helpers', () => {
  it('quotes identifiers and literals', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
  });

  it('formats epoch µs as exact UTC text, before 1970 too', () => {
    expect(formatUtcMicros(MAY_1 + 123_456n)).toBe('2024-05-01 00:00:00.123456+00');
    expect(formatUtcMicros(-1n)).toBe('1969-12-31 23:59:59.999999+00');
    expect(dateLiteral(MAY_1 - 1n, 0)).toBe("DATE '2024-04-30'");
    expect(dateLiteral(MAY_1, 1)).toBe("DATE '2024-05-02'");
  });
});

describe('spine keys', () => {
  it('gives each distinct (key, type) one column and normalizes the timestamp', () => {
    const p = plan({
      views: [
        view(),
        view({
          joinKeys: [
            { name: 'user_id', sqlType: 'BIGINT' },
            { name: 'merchant', sqlType: 'VARCHAR' },
          ],
        }),
        view({ joinKeys: [{ name: 'user_id', sqlType: 'VARCHAR' }] }),
      ],
    });
    expect(spineKeyColumns(p)).toEqual([
      { name: 'user_id', sqlType: 'BIGINT', alias: '__k0' },
      { name: 'merchant', sqlType: 'VARCHAR', alias: '__k1' },
      { name: 'user_id', sqlType: 'VARCHAR', alias: '__k2' },
    ]);
    expect(compileSpineKeys(p)).toBe(
      'CREATE OR REPLACE TEMP TABLE __tessera_keys AS SELECT rowid AS __rid, CAST("event_timestamp" AS TIMESTAMPTZ) AS __ts, ' +
        'CAST("user_id" AS BIGINT) AS __k0, CAST("merchant" AS VARCHAR) AS __k1, CAST("user_id" AS VARCHAR) AS __k2 ' +
        'FROM "__tessera_spine"',
    );
  });
});

describe('time range filter', () => {
  it('compares the raw column against bounds cast to its type, so DuckDB can prune', () => {
    expect(timeRangeFilter(view(), MAY_1 - 1n, MAY_1)).toBe(
      `"event_ts" >= CAST(TIMESTAMPTZ '2024-04-30 23:59:59.999999+00' AS TIMESTAMP) AND ` +
        `"event_ts" <= CAST(TIMESTAMPTZ '2024-05-01 00:00:00.000000+00' AS TIMESTAMP)`,
    );
  });

  it('casts a text column instead, and accepts open bounds', () => {
    expect(timeRangeFilter(view({ timestampType: 'VARCHAR' }), undefined, MAY_1)).toBe(
      `CAST("event_ts" AS TIMESTAMPTZ) <= TIMESTAMPTZ '2024-05-01 00:00:00.000000+00'`,
    );
    expect(timeRangeFilter(view(), undefined, undefined)).toBe('"event_ts" IS NOT NULL');
  });

  it('prunes hive date partitions with a day of slack on each side', () => {
    const f = timeRangeFilter(view({ datePartitionColumn: 'date' }), MAY_1, MAY_1 + 86_400_000_000n);
    expect(f).toContain(`"date" >= DATE '2024-04-30'`);
    expect(f).toContain(`"date" <= DATE '2024-05-03'`);
  });
});

describe('ordering key', () => {
  it('packs (event µs, value hash) into a HUGEINT without a created timestamp', () => {
    expect(sourceOrderingKey(view(), 'T', undefined)).toBe(
      'epoch_us(T)::HUGEINT * 18446744073709551616::HUGEINT + hash("clicks", "last_seen")::HUGEINT',
    );
  });

  it('uses (event, created with NULL lowest, hash) with a created timestamp', () => {
    expect(sourceOrderingKey(view({ createdTimestampField: 'created' }), 'T', 'C')).toBe(
      `{'t': T, 'c': coalesce(C, '-infinity'::TIMESTAMPTZ), 'h': hash("clicks", "last_seen")}`,
    );
  });
});

describe('view join', () => {
  it('compiles an ASOF LEFT JOIN on keys and ordering key, with a µs ttl check', () => {
    const sql = squash(compileViewJoin(plan(), 0, { minUs: MAY_1, maxUs: MAY_1 + 1_000_000n }));
    expect(sql).toContain('CREATE OR REPLACE TEMP TABLE __tessera_view_0 AS /* view user_stats */');
    expect(sql).toContain(
      'ASOF LEFT JOIN (SELECT x.* FROM (SELECT CAST("user_id" AS BIGINT) AS __k0, CAST("event_ts" AS TIMESTAMPTZ) AS __ts',
    );
    // Only entities the spine asks about reach the join.
    expect(sql).toContain('SEMI JOIN (SELECT DISTINCT __k0 FROM __tessera_keys) k ON x.__k0 = k.__k0) r');
    expect(sql).toContain('ON s.__k0 = r.__k0 AND s.__o >= r.__o');
    // Spine rows without a timestamp or key are left to the assembly's LEFT JOIN (NULL features).
    expect(sql).toContain('FROM __tessera_keys WHERE __ts IS NOT NULL AND __k0 IS NOT NULL) s');
    expect(sql).toContain(
      'CASE WHEN epoch_us(r.__ts) >= epoch_us(s.__ts) - 7200000000 THEN r.__f0 END AS __out0',
    );
    // Naive timestamp features come out as TIMESTAMPTZ.
    expect(sql).toContain('CAST("last_seen" AS TIMESTAMPTZ) AS __f1');
    // The scan reads [min - ttl, max] only, and never a NULL key.
    expect(sql).toContain(`"event_ts" >= CAST(TIMESTAMPTZ '2024-04-30 22:00:00.000000+00' AS TIMESTAMP)`);
    expect(sql).toContain(`"event_ts" <= CAST(TIMESTAMPTZ '2024-05-01 00:00:01.000000+00' AS TIMESTAMP)`);
    expect(sql).toContain('"user_id" IS NOT NULL');
  });

  it('has no ttl check and no lower bound when ttl is 0', () => {
    const sql = squash(
      compileViewJoin(plan({ views: [view({ ttlMs: 0 })] }), 0, { minUs: MAY_1, maxUs: MAY_1 }),
    );
    expect(sql).not.toContain('CASE WHEN');
    expect(sql).not.toContain('>= CAST(TIMESTAMPTZ');
    expect(sql).toContain('r.__f0 AS __out0');
  });

  it('reads nothing when the spine has no timestamps', () => {
    expect(compileViewJoin(plan(), 0, undefined)).toContain('WHERE false AND');
  });

  it('maps each view key to its spine key column', () => {
    const p = plan({
      views: [
        view({ joinKeys: [{ name: 'merchant', sqlType: 'VARCHAR' }] }),
        view({
          joinKeys: [
            { name: 'user_id', sqlType: 'BIGINT' },
            { name: 'merchant', sqlType: 'VARCHAR' },
          ],
        }),
      ],
    });
    expect(squash(compileViewJoin(p, 1, undefined))).toContain(
      'ON s.__k1 = r.__k0 AND s.__k0 = r.__k1 AND s.__o >= r.__o',
    );
  });

  it('compiles the window strategy as one ordered stream per entity', () => {
    const sql = squash(compileViewJoin(plan({ strategy: 'window' }), 0, { minUs: MAY_1, maxUs: MAY_1 }));
    expect(sql).toContain(
      'last_value(__m IGNORE NULLS) OVER (PARTITION BY __j0 ORDER BY __o, __side ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)',
    );
    expect(sql).toContain('UNION ALL BY NAME');
    expect(sql).toContain('WHERE __ts IS NOT NULL AND __k0 IS NOT NULL');
    expect(sql).toContain('WHERE w.__side = 1');
  });
});

describe('assembly and the whole plan', () => {
  it('keeps spine columns in order, normalizes timestamps, appends features, orders by spine row', () => {
    expect(squash(compileAssemble(plan()))).toBe(
      'CREATE OR REPLACE TEMP TABLE "__tessera_result" AS SELECT sp."user_id", ' +
        'CAST(sp."event_timestamp" AS TIMESTAMPTZ) AS "event_timestamp", CAST(sp."signup" AS TIMESTAMPTZ) AS "signup", ' +
        'sp."label", v0.__out0 AS "clicks", v0.__out1 AS "seen" FROM "__tessera_spine" sp ' +
        'LEFT JOIN __tessera_view_0 v0 ON v0.__rid = sp.rowid ORDER BY sp.rowid',
    );
  });

  it('lists one statement per view then the assembly, and cleans up everything but the result', () => {
    const p = plan({ views: [view(), view({ name: 'other' })] });
    expect(compilePointInTime(p, undefined).map((s) => s.phase)).toEqual([
      'view:user_stats',
      'view:other',
      'assemble',
    ]);
    expect(compileCleanup(p)).toEqual([
      'DROP TABLE IF EXISTS __tessera_keys',
      'DROP TABLE IF EXISTS __tessera_view_0',
      'DROP TABLE IF EXISTS __tessera_view_1',
      'DROP TABLE IF EXISTS "__tessera_spine"',
    ]);
  });
});

describe('latest value', () => {
  it('keeps [start, end) exactly and takes the max ordering key per entity', () => {
    const sql = squash(
      compileLatest({
        ...view({ createdTimestampField: 'created' }),
        startUs: MAY_1,
        endUs: MAY_1 + 1_000_000n,
      }),
    );
    expect(sql).toContain(`CAST("event_ts" AS TIMESTAMPTZ) >= TIMESTAMPTZ '2024-05-01 00:00:00.000000+00'`);
    expect(sql).toContain(`CAST("event_ts" AS TIMESTAMPTZ) < TIMESTAMPTZ '2024-05-01 00:00:01.000000+00'`);
    expect(sql).toContain(
      `max_by({'k0': __k0, 'event_ms': epoch_ms(__ts), 'created_ms': epoch_ms(__c), 'f0': __f0, 'f1': __f1}, __o)`,
    );
    expect(sql).toContain('GROUP BY __k0');
    expect(sql).toContain('CAST("created" AS TIMESTAMPTZ) AS __c');
  });

  it('reports no created time when the source has none', () => {
    expect(compileLatest({ ...view(), startUs: 0n, endUs: 1n })).toContain(`'created_ms': NULL::BIGINT`);
  });
});
