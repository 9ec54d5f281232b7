import type { OnlinePlan } from '../serving/online-plan.js';
import { type ServedResult, type ServingObserver, servedColumns } from '../serving/online-serving.js';
import type { FeatureStatus } from '../serving/types.js';
import type { FastCounterChild, FastHistogramChild } from './fast-metrics.js';
import type { TesseraMetrics } from './metrics.js';

const STATUSES: readonly FeatureStatus[] = [
  'PRESENT',
  'NULL_VALUE',
  'NOT_FOUND',
  'OUTSIDE_MAX_AGE',
  'DEFAULTED',
];
const N_STATUS = STATUSES.length;

function statusIndex(s: FeatureStatus): number {
  switch (s) {
    case 'PRESENT':
      return 0;
    case 'NULL_VALUE':
      return 1;
    case 'NOT_FOUND':
      return 2;
    case 'OUTSIDE_MAX_AGE':
      return 3;
    default:
      return 4;
  }
}

/**
 * What a plan's requests count into, resolved once per plan (plans are cached by serving, so this is once per
 * feature selection): label lookups never happen per request.
 */
interface PlanCounters {
  /** Per counted group (the plan's views, then its on-demand views): the status counters, made on first use. */
  readonly groups: { readonly view: string; readonly byStatus: (FastCounterChild | undefined)[] }[];
  /** Per view: how many output columns it feeds (each entity row of the view yields that many values). */
  readonly columnsOfView: readonly number[];
  /** Output columns that are not a join key: column index, its group, and its fallback counter if it has one. */
  readonly features: readonly {
    readonly column: number;
    readonly group: number;
    readonly fromView: boolean;
    readonly fallback: FastCounterChild | undefined;
  }[];
  /** Scratch counts, group × status (serving is single-threaded, and counting is synchronous). */
  readonly counts: Float64Array;
  readonly fallbackCounts: Float64Array;
}

function planCounters(metrics: TesseraMetrics, plan: OnlinePlan): PlanCounters {
  const groups = [...plan.views.map((v) => v.ref.name), ...plan.onDemand.map((od) => od.view.name)].map(
    (view) => ({ view, byStatus: new Array<FastCounterChild | undefined>(N_STATUS) }),
  );
  const columnsOfView = plan.views.map(() => 0);
  const features: PlanCounters['features'][number][] = [];
  const nKeys = plan.joinKeyColumns.length;
  plan.featureOutputs.forEach((output, j) => {
    const column = nKeys + j;
    const order = plan.order[j] as OnlinePlan['order'][number];
    const fromView = order.kind === 'view';
    const group = fromView ? order.view : plan.views.length + order.odfv;
    if (fromView) columnsOfView[group] = (columnsOfView[group] as number) + 1;
    const view = (groups[group] as PlanCounters['groups'][number]).view;
    features.push({
      column,
      group,
      fromView,
      fallback: output.hasFallback ? metrics.fallbacks.labels(view, output.feature) : undefined,
    });
  });
  return {
    groups,
    columnsOfView,
    features,
    counts: new Float64Array(groups.length * N_STATUS),
    fallbackCounts: new Float64Array(features.length),
  };
}

/**
 * The {@link ServingObserver} feeding the serving metrics: store read latency, values served by view and
 * status, fallbacks by view and feature, deadlines missed. Per request it walks each view's status per entity
 * row, and per value only the columns whose status differs from their view's (null values, fallbacks) and
 * on-demand columns; never a label lookup.
 *
 * @example store.observeServing(servingObserver(processMetrics(), store.online.kind));
 */
export function servingObserver(metrics: TesseraMetrics, storeKind: string): ServingObserver {
  const readDuration = metrics.onlineStoreReadDuration.labels(storeKind);
  const readErrors = metrics.onlineStoreReadErrors.labels(storeKind);
  const byPlan = new WeakMap<OnlinePlan, PlanCounters>();
  return {
    storeRead(seconds, failed) {
      readDuration.observe(seconds);
      if (failed) readErrors.inc();
    },
    served(plan, result, deadlineExceeded) {
      let pc = byPlan.get(plan);
      if (pc === undefined) {
        pc = planCounters(metrics, plan);
        byPlan.set(plan, pc);
      }
      countServed(metrics, pc, result, deadlineExceeded);
    },
  };
}

const add = (a: Float64Array, i: number, d: number): void => {
  a[i] = (a[i] as number) + d;
};

function countServed(
  metrics: TesseraMetrics,
  pc: PlanCounters,
  result: ServedResult,
  deadlineExceeded: boolean,
): void {
  const cols = servedColumns(result);
  if (cols === undefined) return;
  if (deadlineExceeded) metrics.deadlinesExceeded.inc();
  const { counts, fallbackCounts } = pc;
  counts.fill(0);
  fallbackCounts.fill(0);
  const n = result.statuses.length;
  // Every value of a view's columns has the view's status, but for the columns adjusted below.
  for (let v = 0; v < cols.viewStatuses.length; v++) {
    const width = pc.columnsOfView[v] as number;
    if (width === 0) continue;
    const statuses = cols.viewStatuses[v] as readonly FeatureStatus[];
    for (let i = 0; i < n; i++) add(counts, v * N_STATUS + statusIndex(statuses[i] as FeatureStatus), width);
  }
  for (let f = 0; f < pc.features.length; f++) {
    const feature = pc.features[f] as PlanCounters['features'][number];
    const c = feature.column;
    const base = feature.group * N_STATUS;
    if (feature.fromView) {
      if (deadlineExceeded && feature.fallback !== undefined) fallbackCounts[f] = n;
      if (!cols.adjusted[c]) continue;
      const viewStatuses = cols.viewStatuses[feature.group] as readonly FeatureStatus[];
      for (let i = 0; i < n; i++) {
        const s = (result.statuses[i] as readonly FeatureStatus[])[c] as FeatureStatus;
        const was = viewStatuses[i] as FeatureStatus;
        if (s === was) continue;
        add(counts, base + statusIndex(was), -1);
        add(counts, base + statusIndex(s), 1);
        if (s === 'DEFAULTED' && feature.fallback !== undefined) add(fallbackCounts, f, 1);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const s = (result.statuses[i] as readonly FeatureStatus[])[c] as FeatureStatus;
        add(counts, base + statusIndex(s), 1);
        if (s === 'DEFAULTED' && feature.fallback !== undefined) add(fallbackCounts, f, 1);
      }
    }
  }
  for (let g = 0; g < pc.groups.length; g++) {
    const group = pc.groups[g] as PlanCounters['groups'][number];
    for (let s = 0; s < N_STATUS; s++) {
      const count = counts[g * N_STATUS + s] as number;
      if (count <= 0) continue;
      const counter =
        group.byStatus[s] ?? metrics.featureValuesServed.labels(group.view, STATUSES[s] as string);
      group.byStatus[s] = counter;
      counter.inc(count);
    }
  }
  for (let f = 0; f < pc.features.length; f++) {
    const count = fallbackCounts[f] as number;
    if (count > 0) (pc.features[f] as PlanCounters['features'][number]).fallback?.inc(count);
  }
}

/** Per (method, route, status): the histogram and counter children, looked up once. */
interface HttpChildren {
  readonly duration: FastHistogramChild;
  readonly requests: FastCounterChild;
}

/**
 * Records one HTTP request: call it once per response with the route pattern (undefined for a path no route
 * matched, counted as `unmatched` so that random paths cannot grow the label set), method, status and
 * duration in seconds.
 *
 * @example const record = httpRecorder(metrics); record('/get-online-features', 'POST', 200, 0.0004);
 */
export function httpRecorder(
  metrics: TesseraMetrics,
): (route: string | undefined, method: string, status: number, seconds: number) => void {
  const children = new Map<string, HttpChildren>();
  return (route, method, status, seconds) => {
    const r = route ?? 'unmatched';
    const key = `${method} ${status} ${r}`;
    let c = children.get(key);
    if (c === undefined) {
      c = {
        duration: metrics.httpRequestDuration.labels(r, method, String(status)),
        requests: metrics.httpRequests.labels(r, method, String(status)),
      };
      children.set(key, c);
    }
    c.duration.observe(seconds);
    c.requests.inc();
  };
}
