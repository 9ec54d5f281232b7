import { TesseraError } from '../core/errors.js';
import { hopsOf } from '../definitions/aggregation-view.js';
import type { RegistryState } from '../definitions/definition.js';
import { type AggregationSelection, resolveFeatures, type ViewSelection } from '../definitions/resolve.js';
import type { OfflineStore, PullLatestRequest } from '../offline/offline-store.js';
import type { OnlineColumns, OnlineRow, OnlineStore } from '../online/online-store.js';
import { materializeAggregationView } from './materialize-aggregates.js';

/** A feature view (latest rows) or an aggregation view (tiles) to materialize. */
export type MaterializeSelection = ViewSelection | AggregationSelection;

export interface MaterializeOptions {
  readonly state: RegistryState;
  readonly offline: OfflineStore;
  readonly online: OnlineStore;
  /** Views to load (default: every view with `online: true`). */
  readonly views?: readonly string[];
  readonly startMs: number;
  readonly endMs: number;
  readonly chunkRows?: number;
  readonly onProgress?: (p: MaterializeProgress) => void;
}

export interface MaterializeProgress {
  readonly view: string;
  readonly rows: number;
  readonly done: boolean;
}

export interface MaterializeReport {
  readonly view: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly rows: number;
  readonly seconds: number;
}

/**
 * Loads, per view, the latest row of every entity with an event time in [start, end) into the online store.
 * Rows stream from the offline store in chunks, so memory stays bounded whatever the source size; the next
 * chunk is read while the previous one is written. Re-running is idempotent: the online store keeps the
 * newest value per entity, so writing the same rows again changes nothing.
 *
 * @example await materialize({ state, offline, online, startMs: 0, endMs: Date.now() });
 */
export async function materialize(opts: MaterializeOptions): Promise<MaterializeReport[]> {
  if (!(opts.endMs > opts.startMs)) {
    throw new TesseraError('empty materialization interval', {
      field: 'end',
      expected: `an end after the start (${new Date(opts.startMs).toISOString()})`,
      actual: new Date(opts.endMs).toISOString(),
    });
  }
  const reports: MaterializeReport[] = [];
  for (const selection of selectViews(opts.state, opts.views)) {
    reports.push(await materializeView(opts, selection, opts.startMs, opts.endMs));
  }
  return reports;
}

/**
 * The views to materialize: all online feature and aggregation views, or the named ones (which must exist and
 * be online).
 */
export function selectViews(state: RegistryState, names?: readonly string[]): MaterializeSelection[] {
  const all = [...state.featureViews, ...state.aggregationViews];
  const views = names ?? all.filter((v) => v.online).map((v) => v.name);
  return views.map((name) => {
    const view = all.find((v) => v.name === name);
    if (!view) {
      throw new TesseraError(
        `unknown feature view '${name}'`,
        {
          field: 'views',
          hint: `known views: ${all.map((v) => v.name).join(', ') || 'none'}`,
        },
        'NOT_FOUND',
      );
    }
    if (!view.online) {
      throw new TesseraError(`feature view '${name}' is not online`, {
        field: 'views',
        hint: 'set online: true to serve it',
      });
    }
    const resolved = resolveFeatures(state, { features: [`${name}:*`] });
    return (resolved.views[0] ?? resolved.aggregations[0]) as MaterializeSelection;
  });
}

/**
 * Where an incremental run starts without a bookmark: end − ttl for a feature view with TTL (older rows would
 * be served as expired anyway), the longest window plus a hop for an aggregation view, else the beginning.
 */
export function firstRunStartMs(selection: MaterializeSelection, endMs: number): number {
  if (selection.view.kind === 'AggregationView') {
    return endMs - Math.max(...hopsOf(selection.view).map((h) => h.longestWindowMs + h.hopMs));
  }
  return selection.view.ttlMs > 0 ? endMs - selection.view.ttlMs : 0;
}

export async function materializeView(
  opts: Pick<MaterializeOptions, 'state' | 'offline' | 'online' | 'chunkRows' | 'onProgress'>,
  selection: MaterializeSelection,
  startMs: number,
  endMs: number,
): Promise<MaterializeReport> {
  const started = performance.now();
  if (selection.view.kind === 'AggregationView') {
    const rows = await materializeAggregationView(
      {
        project: opts.state.project,
        offline: opts.offline,
        online: opts.online,
        ...(opts.chunkRows !== undefined ? { chunkRows: opts.chunkRows } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      },
      selection as AggregationSelection,
      startMs,
      endMs,
    );
    return { view: selection.view.name, startMs, endMs, rows, seconds: (performance.now() - started) / 1000 };
  }
  return materializeRows(opts, selection as ViewSelection, startMs, endMs, started);
}

async function materializeRows(
  opts: Pick<MaterializeOptions, 'state' | 'offline' | 'online' | 'chunkRows' | 'onProgress'>,
  selection: ViewSelection,
  startMs: number,
  endMs: number,
  started: number,
): Promise<MaterializeReport> {
  const ref = { project: opts.state.project, name: selection.view.name, ttlMs: selection.view.ttlMs };
  const request = {
    view: selection,
    startMs,
    endMs,
    ...(opts.chunkRows !== undefined ? { chunkRows: opts.chunkRows } : {}),
  };
  // Column by column when both sides can (no object per row), else rows.
  const columnar = hasColumnarPull(opts.offline) && opts.online.writeColumns !== undefined;
  const chunks: AsyncIterator<OnlineRow[] | OnlineColumns> = columnar
    ? opts.offline.pullLatestColumns(request)[Symbol.asyncIterator]()
    : opts.offline.pullLatest(request)[Symbol.asyncIterator]();
  let rows = 0;
  let pending = chunks.next();
  for (;;) {
    const r = await pending;
    if (r.done) break;
    pending = chunks.next(); // read ahead while this chunk is written
    const chunk = r.value;
    try {
      if (Array.isArray(chunk)) await opts.online.write(ref, chunk);
      else
        await (opts.online.writeColumns as NonNullable<OnlineStore['writeColumns']>).call(
          opts.online,
          ref,
          chunk,
        );
    } catch (e) {
      pending.catch(() => undefined);
      await chunks.return?.();
      throw e;
    }
    rows += chunk.length;
    opts.onProgress?.({ view: selection.view.name, rows, done: false });
  }
  opts.onProgress?.({ view: selection.view.name, rows, done: true });
  return { view: selection.view.name, startMs, endMs, rows, seconds: (performance.now() - started) / 1000 };
}

/**
 * An offline store that can also give the latest rows column by column (the DuckDB store's `pullLatestColumns`),
 * for online stores with `writeColumns`. Not part of the offline contract: materialization falls back to rows.
 */
interface ColumnarPull {
  pullLatestColumns(request: PullLatestRequest): AsyncIterable<OnlineColumns>;
}

const hasColumnarPull = (store: OfflineStore): store is OfflineStore & ColumnarPull =>
  typeof (store as Partial<ColumnarPull>).pullLatestColumns === 'function';
