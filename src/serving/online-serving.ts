import { encodeEntityKey } from '../core/entity-key.js';
import { TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import type { OnDemandFeatureView, TransformFn } from '../definitions/on-demand-feature-view.js';
import type { OnlineStore, StoredRow } from '../online/online-store.js';
import { compileOnlinePlan, type FeatureOutput, type OnlinePlan } from './online-plan.js';
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

/** Result rows plus what went wrong without failing the request (deadline, store error). */
export interface ServedResult extends OnlineFeaturesResult {
  readonly warnings: readonly string[];
}

const DEADLINE = Symbol('deadline');

/**
 * Reads online features: one round trip to the online store for all views and entities, TTL enforced with
 * the same rule as training, on-demand transforms applied, deadlines and fallbacks honoured.
 *
 * @example
 * const serving = new OnlineServing({ store, state: () => state, loadTransform });
 * await serving.get({ features: ['user_stats:clicks_7d'], entities: [{ user_id: 42 }] });
 */
export class OnlineServing {
  private readonly plans = new Map<string, { state: RegistryState; plan: OnlinePlan }>();

  constructor(private readonly opts: OnlineServingOptions) {}

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
    const stored = await this.readWithDeadline(
      plan,
      keys,
      request.deadlineMs ?? this.opts.deadlineMs,
      warnings,
    );
    return assemble(plan, rows, stored, (request.now ?? new Date()).getTime(), warnings);
  }

  private async planFor(request: OnlineFeaturesRequest): Promise<OnlinePlan> {
    const state = this.opts.state();
    const key = `${request.featureService ?? ''}\u0000${(request.features ?? []).join(',')}\u0000${request.fullFeatureNames === true}`;
    const cached = this.plans.get(key);
    if (cached && cached.state === state) return cached.plan;
    const transforms = new Map<string, TransformFn>();
    for (const od of state.onDemandFeatureViews) {
      const wanted =
        request.featureService !== undefined ||
        (request.features ?? []).some((r) => r === od.name || r.startsWith(`${od.name}:`));
      if (wanted) transforms.set(od.name, await this.opts.loadTransform(od));
    }
    const plan = compileOnlinePlan(
      state,
      request,
      request.fullFeatureNames === true,
      this.opts.fallbacks ?? {},
      transforms,
    );
    if (this.plans.size > 1000) this.plans.clear();
    this.plans.set(key, { state, plan });
    return plan;
  }

  private async readWithDeadline(
    plan: OnlinePlan,
    keys: string[][],
    deadlineMs: number | undefined,
    warnings: string[],
  ): Promise<(StoredRow | null)[][] | undefined> {
    if (plan.views.length === 0) return [];
    const read = this.opts.store.read(
      plan.views.map((v, i) => ({ view: v.ref, entityKeys: keys[i] as string[] })),
    );
    if (deadlineMs === undefined) return read;
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
}

/** Builds the result from stored rows; `stored` undefined means "not read in time": every value defaulted. */
function assemble(
  plan: OnlinePlan,
  rows: OnlineFeaturesRequest['entities'],
  stored: (StoredRow | null)[][] | undefined,
  now: number,
  warnings: string[],
): ServedResult {
  const nFeatures = plan.order.length;
  const nKeys = plan.joinKeyColumns.length;
  const outRows: Record<string, unknown>[] = new Array(rows.length);
  const statuses: FeatureStatus[][] = new Array(rows.length);
  const timestamps: (Date | null)[][] = new Array(rows.length);

  for (let i = 0; i < rows.length; i++) {
    const entityRow = rows[i] as Readonly<Record<string, unknown>>;
    const out: unknown[] = new Array(nKeys + nFeatures);
    const st: FeatureStatus[] = new Array(nKeys + nFeatures);
    const ts: (Date | null)[] = new Array(nKeys + nFeatures);
    for (let k = 0; k < nKeys; k++) {
      out[k] = entityRow[plan.joinKeyColumns[k] as string] ?? null;
      st[k] = 'PRESENT';
      ts[k] = null;
    }
    // Per view: the stored row, whether it is within TTL, and its values (inputs of on-demand views too).
    const viewValues: (Readonly<Record<string, unknown>> | null)[] = new Array(plan.views.length);
    const viewStatus: FeatureStatus[] = new Array(plan.views.length);
    const viewTs: (Date | null)[] = new Array(plan.views.length);
    for (let v = 0; v < plan.views.length; v++) {
      const row = stored === undefined ? undefined : ((stored[v] as (StoredRow | null)[])[i] ?? null);
      const ttl = (plan.views[v] as (typeof plan.views)[number]).ref.ttlMs;
      if (row === undefined) {
        viewStatus[v] = 'DEFAULTED';
        viewValues[v] = null;
        viewTs[v] = null;
      } else if (row === null) {
        viewStatus[v] = 'NOT_FOUND';
        viewValues[v] = null;
        viewTs[v] = null;
      } else if (ttl > 0 && row.eventTs < now - ttl) {
        // Same rule as training: a value is valid while event_ts >= t - ttl.
        viewStatus[v] = 'OUTSIDE_MAX_AGE';
        viewValues[v] = null;
        viewTs[v] = new Date(row.eventTs);
      } else {
        viewStatus[v] = 'PRESENT';
        viewValues[v] = row.values;
        viewTs[v] = new Date(row.eventTs);
      }
    }
    const odOut = plan.onDemand.map((od) => runOnDemand(od, entityRow, viewValues, i));

    for (let j = 0; j < nFeatures; j++) {
      const o = plan.order[j] as OnlinePlan['order'][number];
      let output: FeatureOutput;
      let value: unknown;
      let status: FeatureStatus;
      let eventTs: Date | null;
      if (o.kind === 'view') {
        const vp = plan.views[o.view] as (typeof plan.views)[number];
        output = vp.outputs[o.output] as FeatureOutput;
        const values = viewValues[o.view];
        status = viewStatus[o.view] as FeatureStatus;
        eventTs = viewTs[o.view] ?? null;
        value = values ? (values[output.feature] ?? null) : null;
        if (status === 'PRESENT' && value === null) status = 'NULL_VALUE';
      } else {
        const od = plan.onDemand[o.odfv] as (typeof plan.onDemand)[number];
        output = od.outputs[o.output] as FeatureOutput;
        value = (odOut[o.odfv] as Record<string, unknown>)[output.feature] ?? null;
        status = value === null ? 'NULL_VALUE' : 'PRESENT';
        eventTs = null;
      }
      if (status !== 'PRESENT' && output.hasFallback) {
        value = output.fallback;
        status = 'DEFAULTED';
      }
      out[nKeys + j] = value;
      st[nKeys + j] = status;
      ts[nKeys + j] = eventTs;
    }
    outRows[i] = plan.makeRow(out);
    statuses[i] = st;
    timestamps[i] = ts;
  }
  return { featureNames: plan.featureNames, rows: outRows, statuses, eventTimestamps: timestamps, warnings };
}

function runOnDemand(
  od: OnlinePlan['onDemand'][number],
  entityRow: Readonly<Record<string, unknown>>,
  viewValues: readonly (Readonly<Record<string, unknown>> | null)[],
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
