import { TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import type { JoinKey } from '../definitions/entity.js';
import type { OnDemandFeatureView, TransformFn } from '../definitions/on-demand-feature-view.js';
import { outputColumn, resolveFeatures } from '../definitions/resolve.js';
import type { OnlineViewRef } from '../online/online-store.js';

/** How to read one feature view for a request, precomputed once per distinct feature list. */
export interface ViewReadPlan {
  readonly ref: OnlineViewRef;
  readonly joinKeys: readonly JoinKey[];
  /** Features to output: name in the stored row, output column, and fallback. */
  readonly outputs: readonly FeatureOutput[];
  /** Features read only as on-demand inputs (not output). */
  readonly inputOnly: readonly string[];
}

export interface FeatureOutput {
  readonly feature: string;
  readonly column: string;
  readonly hasFallback: boolean;
  readonly fallback: unknown;
}

export interface OnDemandPlan {
  readonly view: OnDemandFeatureView;
  readonly transform: TransformFn;
  /** Input features: (view index in plan.views, feature name). */
  readonly inputs: readonly { readonly viewIndex: number; readonly feature: string }[];
  readonly requestFields: readonly string[];
  readonly outputs: readonly FeatureOutput[];
}

/** A resolved, compiled online request: what to read, in which order to output it. */
export interface OnlinePlan {
  readonly views: readonly ViewReadPlan[];
  readonly onDemand: readonly OnDemandPlan[];
  /** Join keys output first (as Feast does), in first-seen order. */
  readonly joinKeyColumns: readonly string[];
  /** All output names: join keys then features in request order. */
  readonly featureNames: readonly string[];
  /** Builds a result row from values in `featureNames` order, as an object of fixed shape (see below). */
  readonly makeRow: (values: readonly unknown[]) => Record<string, unknown>;
  /** For each feature output in request order: where its value comes from. */
  readonly order: readonly (
    | { kind: 'view'; view: number; output: number }
    | { kind: 'odfv'; odfv: number; output: number }
  )[];
}

/**
 * Compiles a feature request into a plan. Pure apart from transforms (already loaded by the caller), so the
 * server caches plans per feature list and the hot path does no resolution work.
 */
export function compileOnlinePlan(
  state: RegistryState,
  request: { features?: readonly string[]; featureService?: string },
  fullFeatureNames: boolean,
  fallbacks: Readonly<Record<string, unknown>>,
  transforms: ReadonlyMap<string, TransformFn>,
): OnlinePlan {
  const resolved = resolveFeatures(state, request);
  const requested = new Set(resolved.refs);
  const fb = (ref: string) => ({
    hasFallback: Object.hasOwn(fallbacks, ref),
    fallback: Object.hasOwn(fallbacks, ref) ? fallbacks[ref] : null,
  });

  const views: ViewReadPlan[] = resolved.views.map((sel) => ({
    ref: { project: state.project, name: sel.view.name, ttlMs: sel.view.ttlMs },
    joinKeys: sel.joinKeys,
    outputs: sel.features
      .filter((f) => requested.has(`${sel.view.name}:${f.name}`))
      .map((f) => {
        const ref = `${sel.view.name}:${f.name}`;
        return { feature: f.name, column: outputColumn(ref, fullFeatureNames), ...fb(ref) };
      }),
    inputOnly: sel.features.filter((f) => !requested.has(`${sel.view.name}:${f.name}`)).map((f) => f.name),
  }));

  const onDemand: OnDemandPlan[] = resolved.onDemand.map((sel) => {
    const transform = transforms.get(sel.view.name);
    if (!transform)
      throw new TesseraError(
        `transform of on-demand view '${sel.view.name}' was not loaded`,
        {},
        'NOT_FOUND',
      );
    return {
      view: sel.view,
      transform,
      inputs: sel.view.inputs.map((input) => {
        const [viewName, feature] = input.split(':') as [string, string];
        return { viewIndex: views.findIndex((v) => v.ref.name === viewName), feature };
      }),
      requestFields: sel.view.requestSchema.map((r) => r.name),
      outputs: sel.features.map((f) => {
        const ref = `${sel.view.name}:${f.name}`;
        return { feature: f.name, column: outputColumn(ref, fullFeatureNames), ...fb(ref) };
      }),
    };
  });

  const order: OnlinePlan['order'][number][] = resolved.refs.map((ref) => {
    const [viewName, feature] = ref.split(':') as [string, string];
    const vi = views.findIndex((v) => v.ref.name === viewName);
    if (vi >= 0) {
      return {
        kind: 'view',
        view: vi,
        output: (views[vi] as ViewReadPlan).outputs.findIndex((o) => o.feature === feature),
      };
    }
    const oi = onDemand.findIndex((o) => o.view.name === viewName);
    return {
      kind: 'odfv',
      odfv: oi,
      output: (onDemand[oi] as OnDemandPlan).outputs.findIndex((o) => o.feature === feature),
    };
  });

  const joinKeyColumns = [...new Set(views.flatMap((v) => v.joinKeys.map((k) => k.name)))];
  const columns = order.map((o) =>
    o.kind === 'view'
      ? ((views[o.view] as ViewReadPlan).outputs[o.output] as FeatureOutput).column
      : ((onDemand[o.odfv] as OnDemandPlan).outputs[o.output] as FeatureOutput).column,
  );
  const dup = columns.find((c, i) => columns.indexOf(c) !== i || joinKeyColumns.includes(c));
  if (dup !== undefined) {
    throw new TesseraError(`two requested features would both be output as '${dup}'`, {
      field: 'features',
      hint: 'set fullFeatureNames to name outputs view__feature',
    });
  }
  const featureNames = [...joinKeyColumns, ...columns];
  return { views, onDemand, joinKeyColumns, featureNames, order, makeRow: rowFactory(featureNames) };
}

/**
 * A function returning `{ [names[0]]: v[0], … }` as one object literal. Objects given many properties one at a
 * time fall into V8's slow dictionary mode; a literal gets a fixed shape, which makes building and reading result
 * rows several times cheaper. Names are quoted with JSON.stringify, so any name is safe.
 */
function rowFactory(names: readonly string[]): (values: readonly unknown[]) => Record<string, unknown> {
  const body = `return {${names.map((n, i) => `${JSON.stringify(n)}: v[${i}]`).join(',')}};`;
  return new Function('v', body) as (values: readonly unknown[]) => Record<string, unknown>;
}
