import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { valuesAgree } from '../aggregation/agreement.js';
import { TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import { joinKeysOf } from '../definitions/resolve.js';
import { quoteIdent, quoteLiteral } from '../offline/duckdb/sql.js';
import type { SpineInput } from '../offline/offline-store.js';
import { LOG_FIXED_COLUMNS, STATUS_SUFFIX } from './log-layout.js';

/** One served value that the offline recomputation does not reproduce. */
export interface SkewMismatch {
  readonly servedAt: string;
  readonly requestId: string;
  readonly entity: Record<string, unknown>;
  readonly status: string;
  readonly served: unknown;
  readonly offline: unknown;
}

/** Per logged feature: how many served values the offline recomputation at `served_at` reproduces. */
export interface FeatureSkew {
  /** `view:feature`. */
  readonly feature: string;
  compared: number;
  matched: number;
  /** matched / compared (1 when nothing was compared). */
  matchRate: number;
  /** Values served as a fallback (status DEFAULTED): not data, so not compared. */
  defaulted: number;
  /** Up to `maxMismatches` examples. */
  readonly mismatches: SkewMismatch[];
}

/** What `skewFromLogs` found. */
export interface SkewReport {
  readonly start: string | null;
  readonly end: string | null;
  /** Logged entity rows read (after sampling). */
  readonly rows: number;
  compared: number;
  matched: number;
  matchRate: number;
  readonly features: FeatureSkew[];
  /** Logged columns not recomputed, and why (on-demand features, views no longer registered). */
  readonly skipped: { readonly column: string; readonly reason: string }[];
}

export interface SkewOptions {
  readonly start?: Date;
  readonly end?: Date;
  /** Logged entity rows to check at most (a repeatable random sample); default 10 000. */
  readonly sample?: number;
  readonly maxMismatches?: number;
}

/** Point-in-time retrieval as the SDK runs it, with full feature names (`view__feature`). */
export type HistoricalFn = (request: {
  spine: SpineInput;
  features: readonly string[];
  timestampColumn: string;
}) => Promise<{ rows(): Promise<Record<string, unknown>[]>; close(): Promise<void> }>;

interface LoggedColumn {
  readonly column: string;
  readonly ref: string;
  readonly joinKeys: readonly string[];
  readonly float32: boolean;
}

const SPINE_ROW = '__log_row';

/**
 * Skew from logs: reads the feature log (`logDir`, the layout of docs/feature-logging.md) for served_at in
 * [start, end), recomputes every logged feature offline with the point-in-time retrieval at each row's served_at
 * (the logged rows are the spine), and compares with what was served. A value served as NOT_FOUND or
 * OUTSIDE_MAX_AGE (null) agrees with a null offline value; numbers agree within the tolerance of
 * `valuesAgree` (float32 features after rounding both sides to float32); DEFAULTED values are counted apart.
 *
 * @example
 * const report = await skewFromLogs(state, '/repo/feature_logs', (r) => store.getHistoricalFeatures({ ...r, fullFeatureNames: true }), { sample: 1000 });
 * report.features.map((f) => [f.feature, f.matchRate]);
 */
export async function skewFromLogs(
  state: RegistryState,
  logDir: string,
  historical: HistoricalFn,
  opts: SkewOptions = {},
): Promise<SkewReport> {
  if (!existsSync(logDir)) {
    throw new TesseraError(
      `no feature log at ${logDir}`,
      {
        file: logDir,
        hint: 'enable feature_logging in tessera.yaml (sample_rate > 0) and serve some requests first',
      },
      'NOT_FOUND',
    );
  }
  const rows = await readLog(logDir, opts);
  const report: SkewReport = {
    start: opts.start?.toISOString() ?? null,
    end: opts.end?.toISOString() ?? null,
    rows: rows.length,
    compared: 0,
    matched: 0,
    matchRate: 1,
    features: [],
    skipped: [],
  };
  const columns = loggedColumns(state, rows, report);
  // Rows are recomputed in groups sharing the same set of join keys, so a spine never holds a null key.
  const groups = new Map<string, number[]>();
  rows.forEach((row, i) => {
    const keys = keyColumnsOf(row, columns);
    const g = groups.get(keys.join('\n'));
    if (g) g.push(i);
    else groups.set(keys.join('\n'), [i]);
  });
  const byFeature = new Map<string, FeatureSkew>();
  const maxMismatches = opts.maxMismatches ?? 10;
  for (const [keyText, indexes] of groups) {
    const keys = keyText === '' ? [] : keyText.split('\n');
    const wanted = columns.filter(
      (c) =>
        c.joinKeys.every((k) => keys.includes(k)) &&
        indexes.some((i) => (rows[i] as Record<string, unknown>)[`${c.column}${STATUS_SUFFIX}`] != null),
    );
    if (wanted.length === 0) continue;
    const spine = indexes.map((i, n) => {
      const row = rows[i] as Record<string, unknown>;
      const s: Record<string, unknown> = { [SPINE_ROW]: n, served_at: row['served_at'] };
      for (const k of keys) s[k] = row[k];
      return s;
    });
    const training = await historical({
      spine: { kind: 'rows', rows: spine },
      features: wanted.map((c) => c.ref),
      timestampColumn: 'served_at',
    });
    let offline: Record<string, unknown>[];
    try {
      offline = await training.rows();
    } finally {
      await training.close();
    }
    for (const o of offline) {
      const row = rows[indexes[Number(o[SPINE_ROW])] as number] as Record<string, unknown>;
      for (const c of wanted) {
        const status = row[`${c.column}${STATUS_SUFFIX}`];
        if (status == null) continue; // not served in this request
        let skew = byFeature.get(c.ref);
        if (skew === undefined) {
          skew = { feature: c.ref, compared: 0, matched: 0, matchRate: 1, defaulted: 0, mismatches: [] };
          byFeature.set(c.ref, skew);
        }
        if (status === 'DEFAULTED') {
          skew.defaulted++;
          continue;
        }
        const served = row[c.column] ?? null;
        const recomputed = o[c.column] ?? null;
        skew.compared++;
        if (agree(served, recomputed, c.float32)) skew.matched++;
        else if (skew.mismatches.length < maxMismatches) {
          skew.mismatches.push({
            servedAt: (row['served_at'] as Date).toISOString(),
            requestId: String(row['request_id']),
            entity: Object.fromEntries(keys.map((k) => [k, row[k]])),
            status: String(status),
            served,
            offline: recomputed,
          });
        }
      }
    }
  }
  for (const skew of [...byFeature.values()].sort((a, b) => a.feature.localeCompare(b.feature))) {
    skew.matchRate = skew.compared === 0 ? 1 : skew.matched / skew.compared;
    report.compared += skew.compared;
    report.matched += skew.matched;
    report.features.push(skew);
  }
  report.matchRate = report.compared === 0 ? 1 : report.matched / report.compared;
  return report;
}

function agree(served: unknown, offline: unknown, float32: boolean): boolean {
  if (float32 && typeof served === 'number' && typeof offline === 'number')
    return Math.fround(served) === Math.fround(offline);
  return valuesAgree(served, offline);
}

/** The join-key columns of a logged row that hold a value. */
function keyColumnsOf(row: Record<string, unknown>, columns: readonly LoggedColumn[]): string[] {
  const keys = new Set<string>();
  for (const c of columns) for (const k of c.joinKeys) if (row[k] != null) keys.add(k);
  return [...keys].sort();
}

/** The logged feature columns that can be recomputed offline; the others go to `report.skipped`. */
function loggedColumns(
  state: RegistryState,
  rows: readonly Record<string, unknown>[],
  report: SkewReport,
): LoggedColumn[] {
  const names = new Set<string>();
  for (const row of rows) for (const name of Object.keys(row)) names.add(name);
  const known = new Map<string, LoggedColumn | string>();
  for (const v of [...state.featureViews, ...state.aggregationViews]) {
    const joinKeys = joinKeysOf(state, v).map((k) => k.name);
    for (const f of v.features) {
      known.set(`${v.name}__${f.name}`, {
        column: `${v.name}__${f.name}`,
        ref: `${v.name}:${f.name}`,
        joinKeys,
        float32: f.type === 'float32',
      });
    }
  }
  for (const v of state.onDemandFeatureViews)
    for (const f of v.features)
      known.set(`${v.name}__${f.name}`, 'on-demand features are computed at request time, from request data');
  const out: LoggedColumn[] = [];
  for (const name of names) {
    if (!name.endsWith(STATUS_SUFFIX)) continue;
    const column = name.slice(0, -STATUS_SUFFIX.length);
    const c = known.get(column);
    if (c === undefined) report.skipped.push({ column, reason: 'no such feature in the registry now' });
    else if (typeof c === 'string') report.skipped.push({ column, reason: c });
    else out.push(c);
  }
  return out.sort((a, b) => a.column.localeCompare(b.column));
}

/** Logged rows with served_at in [start, end): all of them, or a repeatable sample of `sample`. */
async function readLog(logDir: string, opts: SkewOptions): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run("SET TimeZone = 'UTC'");
    const glob = quoteLiteral(`${logDir}/**/*.parquet`);
    const where: string[] = [];
    if (opts.start) where.push(`served_at >= ${quoteLiteral(opts.start.toISOString())}::TIMESTAMPTZ`);
    if (opts.end) where.push(`served_at < ${quoteLiteral(opts.end.toISOString())}::TIMESTAMPTZ`);
    const sample = Math.max(1, Math.trunc(opts.sample ?? 10_000));
    let reader: Awaited<ReturnType<typeof connection.runAndReadAll>>;
    try {
      reader = await connection.runAndReadAll(
        `SELECT * EXCLUDE (${quoteIdent(DATE_PARTITION)}) FROM read_parquet(${glob}, union_by_name = true, hive_partitioning = true)` +
          `${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''}` +
          ` ORDER BY hash(request_id, served_at), ${LOG_FIXED_COLUMNS.map((c) => quoteIdent(c.name)).join(', ')} LIMIT ${sample}`,
      );
    } catch (e) {
      if (/No files found/i.test((e as Error).message)) return [];
      throw new TesseraError(
        `cannot read the feature log at ${logDir}: ${(e as Error).message}`,
        { file: logDir },
        'BACKEND',
        e,
      );
    }
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The hive partition column of the log's folders (`date=YYYY-MM-DD`). */
const DATE_PARTITION = 'date';
