import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import { sourceColumn } from '../definitions/feature-view.js';
import type { Source } from '../definitions/source.js';
import { connectionUrl, describePostgres, importPostgres } from '../offline/duckdb/postgres-import.js';
import { fileRelation, resolvePath, spineFileRelation } from '../offline/duckdb/source-relation.js';
import { formatUtcMicros, quoteIdent, quoteLiteral } from '../offline/duckdb/sql.js';
import { compareColumn, DEFAULT_THRESHOLDS, type DriftThresholds, type FeatureDrift } from './drift.js';
import type { ColumnProfile, Profile, ProfileOptions, ProfileTarget } from './profile.js';
import {
  type MeasuredPair,
  measureAgainst,
  type ProfileColumn,
  profileRelation,
  type RelationInput,
} from './profiler.js';

/** Where the monitor reads from: the repo, its named connections, its definitions and its feature logs. */
export interface MonitorContext {
  readonly repoPath: string;
  readonly connections: Readonly<Record<string, string>>;
  readonly state: RegistryState;
  /** Folder of the serving logs (`feature_logging.path`), relative to the repo; default `feature_logs`. */
  readonly featureLogPath?: string;
  /** DuckDB settings, as the offline store's. */
  readonly memoryLimit?: string;
  readonly threads?: number;
}

/** An event-time window [start, end). */
export interface TimeWindow {
  readonly start: Date;
  readonly end: Date;
}

/** What to profile. */
export type ProfileRequest =
  | {
      readonly kind: 'source';
      readonly source: string;
      readonly window?: TimeWindow;
      readonly columns?: readonly string[];
    }
  | { readonly kind: 'view'; readonly view: string; readonly window?: TimeWindow }
  | { readonly kind: 'training-set'; readonly path: string };

/** What to compare a reference with. */
export type CurrentRequest =
  | { readonly kind: 'logs'; readonly window?: TimeWindow; readonly featureService?: string }
  | { readonly kind: 'source'; readonly source: string; readonly window?: TimeWindow };

/** `tessera monitor`'s result: every compared feature, and whether any breached a threshold. */
export interface DriftReport {
  readonly reference: {
    readonly name: string;
    readonly version?: number;
    readonly target: ProfileTarget;
    readonly rowCount: number;
  };
  readonly current: {
    readonly kind: 'logs' | 'source';
    readonly description: string;
    readonly rows: number;
    readonly window?: { start: string; end: string };
  };
  /** Defaults with the caller's overrides; a feature whose view declares `monitoring` has its own (`FeatureDrift.thresholds`). */
  readonly thresholds: DriftThresholds;
  readonly features: readonly FeatureDrift[];
  /** Reference columns with no counterpart in the current data (not served, not in the source). */
  readonly unmatched: readonly string[];
  readonly breached: boolean;
}

const LOG_META = new Set(['request_id', 'served_at', 'feature_service', 'date']);

/**
 * Profiles sources, feature views and training sets, and compares current data (serving logs or a recent
 * source window) with a stored reference profile. Runs on its own embedded DuckDB; every statistic is an
 * aggregate query pushed down to it.
 *
 * @example
 * const monitor = new DataMonitor({ repoPath, connections: {}, state });
 * const reference = await monitor.profile({ kind: 'source', source: 'orders', window: { start, end } });
 * const report = await monitor.compare({ name: 'orders_q1', profile: reference }, { kind: 'logs' });
 * report.breached; // true when a feature drifted past a threshold
 * await monitor.close();
 */
export class DataMonitor {
  private instance: Promise<DuckDBInstance> | undefined;

  constructor(private readonly ctx: MonitorContext) {}

  /** Computes a profile (not saved: see `ProfileStore.save`). */
  async profile(request: ProfileRequest, options: ProfileOptions = {}): Promise<Profile> {
    return this.withConnection(async (connection) => {
      if (request.kind === 'training-set') {
        const rel = await spineFileRelation(request.path, this.ctx.repoPath);
        const present = await describe(connection, rel.sql);
        return profileRelation(
          connection,
          {
            relation: rel.sql,
            columns: present.map((c) => ({ name: c.name, column: c.name, type: c.type })),
          },
          { kind: 'training-set', path: rel.path },
          options,
        );
      }
      if (request.kind === 'source') {
        const source = this.source(request.source);
        const wanted = request.columns;
        const scan = await this.scan(connection, source, wanted, request.window);
        const columns = scan.present
          .filter((c) => (wanted ? wanted.includes(c.name) : c.name !== source.timestampField))
          .map((c) => ({ name: c.name, column: c.name, type: c.type }));
        for (const w of wanted ?? []) {
          if (!columns.some((c) => c.name === w)) throw missingColumn(source, w, scan.present);
        }
        return profileRelation(
          connection,
          relationInput(scan, columns),
          { kind: 'source', source: source.name },
          withWindow(options, request.window),
        );
      }
      const view = this.ctx.state.featureViews.find((v) => v.name === request.view);
      if (!view) {
        const aggregation = this.ctx.state.aggregationViews.some((v) => v.name === request.view);
        throw new TesseraError(
          aggregation
            ? `'${request.view}' is an aggregation view: its features are not source columns`
            : `no feature view '${request.view}'`,
          {
            field: '--view',
            hint: aggregation
              ? 'profile a training set of it instead (tessera historical --out t.parquet; tessera profile --training-set t.parquet)'
              : `feature views: ${this.ctx.state.featureViews.map((v) => v.name).join(', ') || 'none (run tessera apply)'}`,
          },
          aggregation ? 'INVALID_INPUT' : 'NOT_FOUND',
        );
      }
      const source = this.source(view.source);
      const scan = await this.scan(connection, source, view.features.map(sourceColumn), request.window);
      const columns: ProfileColumn[] = view.features.map((f) => {
        const type = scan.present.find((c) => c.name === sourceColumn(f))?.type;
        if (type === undefined) throw missingColumn(source, sourceColumn(f), scan.present);
        return { name: `${view.name}__${f.name}`, column: sourceColumn(f), type };
      });
      return profileRelation(
        connection,
        relationInput(scan, columns),
        { kind: 'view', view: view.name, source: source.name },
        withWindow(options, request.window),
      );
    });
  }

  /**
   * Compares current data with a reference profile, feature by feature (PSI, KS, null rate, mean shift).
   * Serving-log columns are `<view>__<feature>`; a reference column named `feature` alone matches the one log
   * column ending in `__feature`. Against a source, view features are read from their source columns.
   */
  async compare(
    reference: { readonly name: string; readonly version?: number; readonly profile: Profile },
    current: CurrentRequest,
    overrides: Partial<DriftThresholds> = {},
  ): Promise<DriftReport> {
    const thresholds: DriftThresholds = { ...DEFAULT_THRESHOLDS, ...overrides };
    return this.withConnection(async (connection) => {
      const { relation, filter, present, description } =
        current.kind === 'logs'
          ? await this.logs(connection, current)
          : await this.sourceWindow(connection, current);
      const candidates =
        current.kind === 'logs' ? logCandidates : sourceCandidates(this.ctx.state, current.source);
      const pairs: MeasuredPair[] = [];
      const unmatched: string[] = [];
      const names = new Set(present.map((c) => c.name));
      for (const column of reference.profile.columns) {
        if (column.kind === 'other') continue;
        const match = candidates(column, present);
        if (match === undefined) unmatched.push(column.name);
        else {
          // In logs, a row counts for a feature when its status is set: files of services that do not serve
          // it have no such column, which reads as NULL and is not a missing value.
          const status = `${match}__status`;
          const servedIf =
            current.kind === 'logs' && names.has(status) ? `${quoteIdent(status)} IS NOT NULL` : undefined;
          pairs.push({ reference: column, column: match, ...(servedIf ? { servedIf } : {}) });
        }
      }
      if (pairs.length === 0) {
        throw new TesseraError(
          `none of the columns of profile '${reference.name}' is in the ${current.kind === 'logs' ? 'serving logs' : `source '${current.source}'`}`,
          {
            field: '--reference',
            actual: present.map((c) => c.name).join(', '),
            expected: reference.profile.columns.map((c) => c.name).join(', '),
            hint: 'profile the same features (tessera profile --view <view> names them <view>__<feature>, as the logs do)',
          },
          'NOT_FOUND',
        );
      }
      const measured = await measureAgainst(connection, { relation, ...(filter ? { filter } : {}) }, pairs);
      const features = pairs.map((p, i) =>
        compareColumn(
          p.reference,
          measured[i] as (typeof measured)[number],
          p.column,
          this.thresholdsOf(reference.profile, p.reference.name, p.column, overrides),
        ),
      );
      return {
        reference: {
          name: reference.name,
          ...(reference.version !== undefined ? { version: reference.version } : {}),
          target: reference.profile.target,
          rowCount: reference.profile.rowCount,
        },
        current: {
          kind: current.kind,
          description,
          rows: rowsOf(measured),
          ...(current.window ? { window: isoWindow(current.window) } : {}),
        },
        thresholds,
        features,
        unmatched,
        breached: features.some((f) => f.status === 'alert'),
      };
    });
  }

  /**
   * A feature's thresholds: the defaults, then its view's `monitoring` (the view profiled, or the view named by a
   * `<view>__<feature>` column), then the caller's overrides (command-line flags).
   */
  private thresholdsOf(
    profile: Profile,
    referenceColumn: string,
    currentColumn: string,
    overrides: Partial<DriftThresholds>,
  ): DriftThresholds {
    const viewOf = (name: string) => (name.includes('__') ? name.slice(0, name.indexOf('__')) : undefined);
    const viewName =
      profile.target.kind === 'view'
        ? profile.target.view
        : (viewOf(referenceColumn) ?? viewOf(currentColumn));
    const m = this.ctx.state.featureViews.find((v) => v.name === viewName)?.monitoring;
    return { ...DEFAULT_THRESHOLDS, ...(m ?? {}), ...overrides };
  }

  async close(): Promise<void> {
    if (this.instance !== undefined) (await this.instance).closeSync();
    this.instance = undefined;
  }

  private async withConnection<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.instance === undefined) {
      const config: Record<string, string> = {};
      if (this.ctx.memoryLimit !== undefined) config['memory_limit'] = this.ctx.memoryLimit;
      if (this.ctx.threads !== undefined) config['threads'] = String(this.ctx.threads);
      this.instance = DuckDBInstance.create(':memory:', config);
    }
    const connection = await (await this.instance).connect();
    try {
      // Naive timestamps are UTC, as everywhere in Tessera.
      await connection.run("SET TimeZone = 'UTC'");
      return await fn(connection);
    } finally {
      connection.closeSync();
    }
  }

  private source(name: string): Source {
    const source = this.ctx.state.sources.find((s) => s.name === name);
    if (!source) {
      throw new TesseraError(
        `no source '${name}'`,
        {
          field: '--source',
          hint: `sources: ${this.ctx.state.sources.map((s) => s.name).join(', ') || 'none (run tessera apply)'}`,
        },
        'NOT_FOUND',
      );
    }
    return source;
  }

  /** A source as a relation with its event-time window as a filter; PostgreSQL rows are copied in first. */
  private async scan(
    connection: DuckDBConnection,
    source: Source,
    columns: readonly string[] | undefined,
    window: TimeWindow | undefined,
  ): Promise<{ relation: string; filter?: string; present: { name: string; type: string }[] }> {
    const ts = quoteIdent(source.timestampField);
    if (source.type === 'postgres') {
      const url = connectionUrl(source, this.ctx.connections);
      const table = '__tessera_profile_source';
      await connection.run(`DROP TABLE IF EXISTS ${table}`);
      const all = columns ?? (await describePostgres(source, url)).map((c) => c.name);
      const present = await importPostgres(connection, table, source, url, {
        columns: [...new Set([source.timestampField, ...all])],
        timestampField: source.timestampField,
        // The import's bounds are inclusive; the window's end is not.
        ...(window ? { lowerUs: micros(window.start), upperUs: micros(window.end) - 1n } : {}),
      });
      return { relation: table, present };
    }
    const rel = await fileRelation(source, this.ctx.repoPath);
    const present = await describe(connection, rel.sql);
    if (!present.some((c) => c.name === source.timestampField))
      throw missingColumn(source, source.timestampField, present);
    return { relation: rel.sql, present, ...(window ? { filter: windowFilter(ts, window) } : {}) };
  }

  private async sourceWindow(
    connection: DuckDBConnection,
    current: Extract<CurrentRequest, { kind: 'source' }>,
  ) {
    const source = this.source(current.source);
    const scan = await this.scan(connection, source, undefined, current.window);
    return {
      relation: scan.relation,
      filter: scan.filter,
      present: scan.present,
      description: `source ${source.name}`,
    };
  }

  private async logs(connection: DuckDBConnection, current: Extract<CurrentRequest, { kind: 'logs' }>) {
    const dir = resolvePath(this.ctx.featureLogPath ?? 'feature_logs', this.ctx.repoPath);
    if (!existsSync(dir)) {
      throw new TesseraError(
        'no serving logs',
        {
          file: dir,
          hint: 'enable feature_logging in tessera.yaml and serve some requests, or compare with --source',
        },
        'NOT_FOUND',
      );
    }
    const relation = `read_parquet(${quoteLiteral(join(dir, '**', '*.parquet'))}, union_by_name = true, hive_partitioning = true)`;
    let present: { name: string; type: string }[];
    try {
      present = await describe(connection, relation);
    } catch (e) {
      throw new TesseraError(
        `cannot read the serving logs: ${(e as Error).message}`,
        { file: dir },
        'NOT_FOUND',
        e,
      );
    }
    const conditions: string[] = [];
    if (current.window) {
      conditions.push(windowFilter('served_at', current.window));
      // Partition pruning: only the date folders the window touches are read.
      if (present.some((c) => c.name === 'date')) {
        conditions.push(
          `CAST("date" AS VARCHAR) >= ${quoteLiteral(current.window.start.toISOString().slice(0, 10))}`,
          `CAST("date" AS VARCHAR) <= ${quoteLiteral(current.window.end.toISOString().slice(0, 10))}`,
        );
      }
    }
    if (current.featureService !== undefined)
      conditions.push(`feature_service = ${quoteLiteral(current.featureService)}`);
    return {
      relation,
      filter: conditions.length > 0 ? conditions.join(' AND ') : undefined,
      present,
      description: `serving logs ${dir}`,
    };
  }
}

/** Rows compared: the most any feature saw (features of other services see fewer log rows). */
const rowsOf = (measured: readonly { rows: number }[]): number => Math.max(0, ...measured.map((m) => m.rows));

const micros = (d: Date): bigint => BigInt(d.getTime()) * 1000n;

const windowFilter = (column: string, w: TimeWindow): string =>
  `${column} >= TIMESTAMPTZ '${formatUtcMicros(micros(w.start))}' AND ${column} < TIMESTAMPTZ '${formatUtcMicros(micros(w.end))}'`;

const relationInput = (
  scan: { relation: string; filter?: string },
  columns: readonly ProfileColumn[],
): RelationInput => ({ relation: scan.relation, ...(scan.filter ? { filter: scan.filter } : {}), columns });

const isoWindow = (w: TimeWindow) => ({ start: w.start.toISOString(), end: w.end.toISOString() });

const withWindow = (options: ProfileOptions, window: TimeWindow | undefined) =>
  window ? { ...options, window: isoWindow(window) } : options;

async function describe(
  connection: DuckDBConnection,
  relation: string,
): Promise<{ name: string; type: string }[]> {
  const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${relation}`);
  return reader
    .getRowObjectsJS()
    .map((r) => ({ name: String(r['column_name']), type: String(r['column_type']) }));
}

function missingColumn(source: Source, column: string, present: readonly { name: string }[]): TesseraError {
  return new TesseraError(
    `source '${source.name}' has no column '${column}'`,
    { field: column, hint: `columns present: ${present.map((p) => p.name).join(', ')}` },
    'SCHEMA_MISMATCH',
  );
}

/** The serving-log column of a reference column: the same name, or the one `<view>__<name>` column. */
function logCandidates(column: ColumnProfile, present: readonly { name: string }[]): string | undefined {
  const features = present
    .map((c) => c.name)
    .filter((n) => n.includes('__') && !n.endsWith('__status') && !LOG_META.has(n));
  if (features.includes(column.name)) return column.name;
  if (column.name.includes('__')) return undefined;
  const suffixed = features.filter((n) => n.endsWith(`__${column.name}`));
  return suffixed.length === 1 ? suffixed[0] : undefined;
}

/** The source column of a reference column: its recorded source column, a view feature's column, or its name. */
function sourceCandidates(state: RegistryState, sourceName: string) {
  return (column: ColumnProfile, present: readonly { name: string }[]): string | undefined => {
    const names = new Set(present.map((c) => c.name));
    const split = column.name.indexOf('__');
    const view =
      split > 0 ? state.featureViews.find((v) => v.name === column.name.slice(0, split)) : undefined;
    const feature =
      view?.source === sourceName
        ? view.features.find((f) => f.name === column.name.slice(split + 2))
        : undefined;
    const candidates = [column.sourceColumn, feature ? sourceColumn(feature) : undefined, column.name];
    return candidates.find((c): c is string => c !== undefined && names.has(c));
  };
}
