import { readAggregates } from '../aggregation/read-aggregates.js';
import type { TilePlan } from '../aggregation/tiles.js';
import { encodeEntityKey } from '../core/entity-key.js';
import { TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import type { OnDemandFeatureView, TransformFn } from '../definitions/on-demand-feature-view.js';
import type { OnlineStore, StoredRow } from '../online/online-store.js';
import { compileOnlinePlan, type FeatureOutput, type OnlinePlan, type ViewReadPlan } from './online-plan.js';
import type { FeatureStatus, OnlineFeaturesRequest, OnlineFeaturesResult } from './types.js';

export interface OnlineServingOptions {
  readonly store: OnlineStore;
  /** Current registry state (cached by the caller; serving never hits the registry per request). */
  readonly state: () => RegistryState;
  /** Loads the transform of an on-demand view (from its module). */
  readonly loadTransform: (view: OnDemandFeatureView) => Promise<TransformFn>;
  /** Fallback values per `view:feature`. */
  readonly fallbacks?: Readonly<Record<string, unknown>>;
  /** Default per-request deadline in ms (none when absent). */
  readonly deadlineMs?: number;
}

/**
 * What metrics see of serving (src/metrics/serving-metrics.ts): called once per request, never per value, so
 * an observer costs a few counter increments per request.
 */
export interface ServingObserver {
  /** The online-store read of a request took `seconds`; `failed` when it threw. */
  storeRead(seconds: number, failed: boolean): void;
  /** A request was answered from `plan`; `deadlineExceeded` when the store did not answer in time. */
  served(plan: OnlinePlan, result: ServedResult, deadlineExceeded: boolean): void;
}

/** Result rows plus what went wrong without failing the request (deadline, store error). */
export interface ServedResult extends OnlineFeaturesResult {
  readonly warnings: readonly string[];
}

const DEADLINE = Symbol('deadline');

interface CachedPlan {
  readonly state: RegistryState;
  readonly service: string | undefined;
  readonly full: boolean;
  readonly features: readonly string[];
  readonly plan: OnlinePlan;
}

/**
 * A cheap 32-bit hash of a feature selection: the count, and each name's length, first and last character.
 * Equal selections hash alike; different ones rarely do, and `planFor` compares them in full anyway.
 */
function selectionHash(features: readonly string[], service: string | undefined, full: boolean): number {
  let h = Math.imul((full ? 0x9e3779b9 : 0x811c9dc5) ^ features.length, 0x01000193);
  for (let i = -1; i < features.length; i++) {
    const text = i < 0 ? (service ?? '') : (features[i] as string);
    const n = text.length;
    const mix = n === 0 ? 0 : (n << 16) ^ (text.charCodeAt(0) << 8) ^ text.charCodeAt(n - 1);
    h = Math.imul(h ^ mix, 0x01000193);
  }
  return h;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A view's stored feature values for one entity, or null when missing or not usable. */
type StoredValues = Readonly<Record<string, unknown>> | null;

/**
 * Reads online features: one round trip to the online store for all views and entities, TTL enforced with
 * the same rule as training, on-demand transforms applied, deadlines and fallbacks honoured.
 *
 * @example
 * const serving = new OnlineServing({ store, state: () => state, loadTransform });
 * await serving.get({ features: ['user_stats:clicks_7d'], entities: [{ user_id: 42 }] });
 */
export class OnlineServing {
  /** Compiled plans by a hash of the request's feature selection (see `planFor`). */
  private readonly plans = new Map<number, CachedPlan[]>();
  private cachedPlans = 0;
  private observer: ServingObserver | undefined;

  constructor(private readonly opts: OnlineServingOptions) {}

  /** Reports every request to `observer` from now on (undefined: stop). */
  observe(observer: ServingObserver | undefined): void {
    this.observer = observer;
  }

  async get(request: OnlineFeaturesRequest): Promise<ServedResult> {
    const plan = await this.planFor(request);
    const rows = request.entities;
    const keys = plan.views.map((v) =>
      rows.map((row, i) => {
        try {
          return encodeEntityKey(v.joinKeys, row);
        } catch (e) {
          throw e instanceof TesseraError ? e.at({ row: i }) : e;
        }
      }),
    );
    const warnings: string[] = [];
    const now = (request.now ?? new Date()).getTime();
    const stored = await this.readWithDeadline(
      plan,
      keys,
      now,
      request.deadlineMs ?? this.opts.deadlineMs,
      warnings,
    );
    const result = assemble(plan, rows, stored, now, warnings);
    this.observer?.served(plan, result, stored === undefined);
    return result;
  }

  /**
   * The plan of a request, compiled once per feature selection and registry state. Looked up by a cheap hash
   * of the selection and confirmed by comparing it name by name: a string key (50 feature names joined, then
   * hashed by the Map) cost ~3 µs per request, a third of serving one entity apart from the store.
   */
  private async planFor(request: OnlineFeaturesRequest): Promise<OnlinePlan> {
    const state = this.opts.state();
    const features = request.features ?? [];
    const service = request.featureService;
    const full = request.fullFeatureNames === true;
    const hash = selectionHash(features, service, full);
    const bucket = this.plans.get(hash);
    if (bucket !== undefined) {
      for (const c of bucket) {
        if (
          c.state === state &&
          c.service === service &&
          c.full === full &&
          sameStrings(c.features, features)
        ) {
          return c.plan;
        }
      }
    }
    const transforms = new Map<string, TransformFn>();
    for (const od of state.onDemandFeatureViews) {
      const wanted =
        service !== undefined || features.some((r) => r === od.name || r.startsWith(`${od.name}:`));
      if (wanted) transforms.set(od.name, await this.opts.loadTransform(od));
    }
    const plan = compileOnlinePlan(state, request, full, this.opts.fallbacks ?? {}, transforms);
    if (this.cachedPlans >= 1000) {
      this.plans.clear();
      this.cachedPlans = 0;
    }
    // A plan for an older state of the same selection is replaced.
    const previous = this.plans.get(hash) ?? [];
    const kept = previous.filter(
      (c) => !(c.service === service && c.full === full && sameStrings(c.features, features)),
    );
    this.cachedPlans += kept.length + 1 - previous.length;
    kept.push({ state, service, full, features: [...features], plan });
    this.plans.set(hash, kept);
    return plan;
  }

  private async readWithDeadline(
    plan: OnlinePlan,
    keys: string[][],
    now: number,
    deadlineMs: number | undefined,
    warnings: string[],
  ): Promise<(StoredRow | null)[][] | undefined> {
    if (plan.views.length === 0) return [];
    const observer = this.observer;
    const started = observer === undefined ? 0 : performance.now();
    let read = plan.aggregates ? this.readAll(plan, keys, now) : this.opts.store.read(plan.rowReads(keys));
    if (deadlineMs === undefined) {
      if (observer === undefined) return read;
      try {
        const r = await read;
        observer.storeRead((performance.now() - started) / 1000, false);
        return r;
      } catch (e) {
        observer.storeRead((performance.now() - started) / 1000, true);
        throw e;
      }
    }
    if (observer !== undefined) {
      // Timed to its end even past the deadline: the histogram shows how slow the store really was.
      read = read.then(
        (r) => {
          observer.storeRead((performance.now() - started) / 1000, false);
          return r;
        },
        (e: unknown) => {
          observer.storeRead((performance.now() - started) / 1000, true);
          throw e;
        },
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<typeof DEADLINE>((resolve) => {
      timer = setTimeout(() => resolve(DEADLINE), deadlineMs);
    });
    try {
      const r = await Promise.race([read, deadline]);
      if (r === DEADLINE) {
        read.catch(() => undefined); // the late answer is dropped; its error must not go unhandled
        warnings.push(`deadline of ${deadlineMs} ms exceeded reading the online store; fallbacks served`);
        return undefined;
      }
      return r;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Rows of feature views and window values of aggregation views, read concurrently (pipelined on Redis). */
  private async readAll(plan: OnlinePlan, keys: string[][], now: number): Promise<(StoredRow | null)[][]> {
    const rowViews: number[] = [];
    const aggViews: number[] = [];
    plan.views.forEach((v, i) => {
      (v.aggregation === undefined ? rowViews : aggViews).push(i);
    });
    const [rows, aggregates] = await Promise.all([
      rowViews.length === 0
        ? []
        : this.opts.store.read(
            rowViews.map((i) => ({
              view: (plan.views[i] as ViewReadPlan).ref,
              entityKeys: keys[i] as string[],
            })),
          ),
      readAggregates(
        this.opts.store,
        aggViews.map((i) => {
          const v = plan.views[i] as ViewReadPlan;
          return { ref: v.ref, plan: v.aggregation as TilePlan, features: v.wanted };
        }),
        aggViews.map((i) => keys[i] as string[]),
        now,
      ),
    ]);
    const out: (StoredRow | null)[][] = new Array(plan.views.length);
    rowViews.forEach((v, j) => {
      out[v] = rows[j] as (StoredRow | null)[];
    });
    aggViews.forEach((v, j) => {
      out[v] = aggregates[j] as StoredRow[];
    });
    return out;
  }
}

/**
 * What writers of a result need beyond the SDK shape: the arrays its rows were built from, and how output
 * columns share statuses and event times with the view they are read from, so that (for instance) the HTTP
 * answer formats one view's event times once for all of its features. See {@link servedColumns}.
 */
export interface ServedColumns {
  /** values[i][j]: the value of featureNames[j] for entity row i (the array rows[i] was built from). */
  readonly values: readonly (readonly unknown[])[];
  /** Per output column: the index in viewStatuses/viewTimes of its view; -1 join key, -2 on-demand feature. */
  readonly columnViews: readonly number[];
  /** viewStatuses[v][i]: status of view v for entity row i, before per-feature changes (null value, fallback). */
  readonly viewStatuses: readonly (readonly FeatureStatus[])[];
  /** viewTimes[v][i]: event time of view v's row for entity row i in epoch ms; NaN when there is none. */
  readonly viewTimes: readonly (readonly number[])[];
  /** Per output column: true when, in some entity row, its status is not its view's (null value, fallback). */
  readonly adjusted: readonly boolean[];
}

/**
 * Where a result keeps its columns: a symbol-keyed, non-enumerable property, so the SDK shape stays what it
 * was (JSON.stringify, spreading, printing and toEqual do not see it; a copy does not carry it). A WeakMap
 * from result to columns did the same but cost ~5 µs per request in V8's ephemeron bookkeeping, as much as
 * the rest of serving one entity.
 */
const COLUMNS = Symbol('tessera.servedColumns');

/**
 * The column view of a result that {@link OnlineServing.get} returned; undefined for any other object (a
 * result built by hand, or a copy), which writers then read through the SDK shape.
 *
 * @example
 * const result = await serving.get(request);
 * const cols = servedColumns(result); // cols.viewTimes[0][i]: event time of entity row i
 */
export function servedColumns(result: OnlineFeaturesResult): ServedColumns | undefined {
  return Object.hasOwn(result, COLUMNS)
    ? ((result as unknown as Record<symbol, ServedColumns>)[COLUMNS] as ServedColumns)
    : undefined;
}

/** Builds the result from stored rows; `stored` undefined means "not read in time": every value defaulted. */
function assemble(
  plan: OnlinePlan,
  rows: OnlineFeaturesRequest['entities'],
  stored: (StoredRow | null)[][] | undefined,
  now: number,
  warnings: string[],
): ServedResult {
  const n = rows.length;
  const nFeatures = plan.order.length;
  const nKeys = plan.joinKeyColumns.length;
  const nViews = plan.views.length;
  const width = nKeys + nFeatures;

  // Per view, across entity rows: the stored values if usable (all of them for on-demand inputs, the output
  // features in output order for the rest), the status, and the event time (epoch ms for writers, one Date
  // per view and row for the SDK shape).
  const viewValues: StoredValues[][] = new Array(nViews);
  const viewPicked: (unknown[] | null)[][] = new Array(nViews);
  const viewStatuses: FeatureStatus[][] = new Array(nViews);
  const viewTimes: number[][] = new Array(nViews);
  const viewDates: (Date | null)[][] = new Array(nViews);
  for (let v = 0; v < nViews; v++) {
    const vp = plan.views[v] as (typeof plan.views)[number];
    const ttl = vp.ref.ttlMs;
    const read = stored === undefined ? undefined : (stored[v] as (StoredRow | null)[]);
    // Built with push, so the arrays are packed: JSON.stringify of a packed array takes V8's fast path.
    const values: StoredValues[] = [];
    const picked: (unknown[] | null)[] = [];
    const statuses: FeatureStatus[] = [];
    const times: number[] = [];
    const dates: (Date | null)[] = [];
    for (let i = 0; i < n; i++) {
      const row = read === undefined ? undefined : (read[i] ?? null);
      if (row === undefined || row === null) {
        statuses.push(row === undefined ? 'DEFAULTED' : 'NOT_FOUND');
        values.push(null);
        picked.push(null);
        times.push(Number.NaN);
        dates.push(null);
        continue;
      }
      // Same rule as training: a value is valid while event_ts >= t - ttl.
      const expired = ttl > 0 && row.eventTs < now - ttl;
      statuses.push(expired ? 'OUTSIDE_MAX_AGE' : 'PRESENT');
      values.push(expired ? null : row.values);
      picked.push(expired ? null : vp.pick(row.values));
      times.push(row.eventTs);
      dates.push(new Date(row.eventTs));
    }
    viewValues[v] = values;
    viewPicked[v] = picked;
    viewStatuses[v] = statuses;
    viewTimes[v] = times;
    viewDates[v] = dates;
  }

  const outValues: unknown[][] = new Array(n);
  const outRows: Record<string, unknown>[] = new Array(n);
  const outStatuses: FeatureStatus[][] = new Array(n);
  const outTimestamps: (Date | null)[][] = new Array(n);
  const adjusted: boolean[] = new Array(width).fill(false);
  const { columnViews, featureOutputs, featureSlots } = plan;
  // One entity row's view of the per-view arrays.
  const rowValues: StoredValues[] = new Array(nViews);
  const rowPicked: (unknown[] | null)[] = new Array(nViews);
  const rowStatus: FeatureStatus[] = new Array(nViews);
  const rowDate: (Date | null)[] = new Array(nViews);

  for (let i = 0; i < n; i++) {
    const entityRow = rows[i] as Readonly<Record<string, unknown>>;
    const out: unknown[] = new Array(width);
    const st: FeatureStatus[] = new Array(width);
    const ts: (Date | null)[] = new Array(width);
    for (let k = 0; k < nKeys; k++) {
      out[k] = entityRow[plan.joinKeyColumns[k] as string] ?? null;
      st[k] = 'PRESENT';
      ts[k] = null;
    }
    for (let v = 0; v < nViews; v++) {
      rowValues[v] = (viewValues[v] as StoredValues[])[i] ?? null;
      rowPicked[v] = (viewPicked[v] as (unknown[] | null)[])[i] ?? null;
      rowStatus[v] = (viewStatuses[v] as FeatureStatus[])[i] as FeatureStatus;
      rowDate[v] = (viewDates[v] as (Date | null)[])[i] ?? null;
    }
    const odOut =
      plan.onDemand.length === 0 ? [] : plan.onDemand.map((od) => runOnDemand(od, entityRow, rowValues, i));

    for (let j = 0; j < nFeatures; j++) {
      const c = nKeys + j;
      const v = columnViews[c] as number;
      const output = featureOutputs[j] as FeatureOutput;
      let value: unknown;
      let status: FeatureStatus;
      let viewStatus: FeatureStatus | undefined;
      if (v >= 0) {
        const picked = rowPicked[v] as unknown[] | null;
        value = picked === null ? null : (picked[featureSlots[j] as number] ?? null);
        viewStatus = rowStatus[v] as FeatureStatus;
        status = viewStatus === 'PRESENT' && value === null ? 'NULL_VALUE' : viewStatus;
        ts[c] = rowDate[v] ?? null;
      } else {
        const o = plan.order[j] as Extract<OnlinePlan['order'][number], { kind: 'odfv' }>;
        value = (odOut[o.odfv] as Record<string, unknown>)[output.feature] ?? null;
        status = value === null ? 'NULL_VALUE' : 'PRESENT';
        ts[c] = null;
      }
      if (status !== 'PRESENT' && output.hasFallback) {
        value = output.fallback;
        status = 'DEFAULTED';
      }
      if (status !== viewStatus) adjusted[c] = true;
      out[c] = value;
      st[c] = status;
    }
    outValues[i] = out;
    outRows[i] = plan.makeRow(out);
    outStatuses[i] = st;
    outTimestamps[i] = ts;
  }
  const result: ServedResult = {
    featureNames: plan.featureNames,
    rows: outRows,
    statuses: outStatuses,
    eventTimestamps: outTimestamps,
    warnings,
  };
  const columns: ServedColumns = {
    values: outValues,
    columnViews: plan.columnViews,
    viewStatuses,
    viewTimes,
    adjusted,
  };
  Object.defineProperty(result, COLUMNS, { value: columns });
  return result;
}

function runOnDemand(
  od: OnlinePlan['onDemand'][number],
  entityRow: Readonly<Record<string, unknown>>,
  viewValues: readonly StoredValues[],
  rowIndex: number,
): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const f of od.requestFields) {
    if (!(f in entityRow)) {
      throw new TesseraError(`request field '${f}' needed by on-demand view '${od.view.name}' is missing`, {
        row: rowIndex,
        field: f,
        hint: 'pass it in each entity row next to the join keys',
      });
    }
    input[f] = entityRow[f];
  }
  for (const inp of od.inputs) input[inp.feature] = viewValues[inp.viewIndex]?.[inp.feature] ?? null;
  try {
    return od.transform(input) ?? {};
  } catch (e) {
    throw new TesseraError(
      `on-demand view '${od.view.name}' failed on entity row ${rowIndex}: ${(e as Error).message}`,
      { row: rowIndex },
      'INVALID_INPUT',
      e,
    );
  }
}
