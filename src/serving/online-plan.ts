import { type TilePlan, tilePlan } from '../aggregation/tiles.js';
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
  /**
   * The values of `outputs` from a stored row's values, in `outputs` order (undefined when absent). Generated
   * code reading each feature by a constant name: stored rows of a view share one shape, so these reads are
   * monomorphic, where reading by a variable name costs a megamorphic lookup per value.
   */
  readonly pick: (values: Readonly<Record<string, unknown>>) => unknown[];
  /** For an aggregation view: how its window values are computed from tiles (docs/semantics.md). */
  readonly aggregation?: TilePlan;
  /** Every feature read from this view (outputs and on-demand inputs). */
  readonly wanted: ReadonlySet<string>;
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
  /** True when some view is an aggregation view (read from tiles rather than rows). */
  readonly aggregates: boolean;
  /** The row reads of a request whose entity keys per view are `keys` (all views are row views). */
  readonly rowReads: (
    keys: readonly (readonly string[])[],
  ) => { view: OnlineViewRef; entityKeys: readonly string[] }[];
  readonly onDemand: readonly OnDemandPlan[];
  /** Join keys output first (as Feast does), in first-seen order. */
  readonly joinKeyColumns: readonly string[];
  /** All output names: join keys then features in request order. */
  readonly featureNames: readonly string[];
  /** Builds a result row from values in `featureNames` order, as an object of fixed shape (see below). */
  readonly makeRow: (values: readonly unknown[]) => Record<string, unknown>;
  /**
   * For each output column (`featureNames` order): the index in `views` of the view it is read from, whose
   * status and event time per entity row it shares; -1 for a join key, -2 for an on-demand feature. Writers use
   * it to format one view's statuses and event times once for all of its features.
   */
  readonly columnViews: readonly number[];
  /** For each feature output in request order: its output (column, fallback) and its index in its view's outputs. */
  readonly featureOutputs: readonly FeatureOutput[];
  readonly featureSlots: readonly number[];
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

  const views: ViewReadPlan[] = [...resolved.views, ...resolved.aggregations].map((sel) => {
    const outputs = sel.features
      .filter((f) => requested.has(`${sel.view.name}:${f.name}`))
      .map((f) => {
        const ref = `${sel.view.name}:${f.name}`;
        return { feature: f.name, column: outputColumn(ref, fullFeatureNames), ...fb(ref) };
      });
    return {
      // Aggregation views have no TTL: their windows bound what they cover.
      ref: {
        project: state.project,
        name: sel.view.name,
        ttlMs: sel.view.kind === 'FeatureView' ? sel.view.ttlMs : 0,
      },
      joinKeys: sel.joinKeys,
      outputs,
      inputOnly: sel.features.filter((f) => !requested.has(`${sel.view.name}:${f.name}`)).map((f) => f.name),
      pick: picker(outputs.map((o) => o.feature)),
      wanted: new Set(sel.features.map((f) => f.name)),
      ...(sel.view.kind === 'AggregationView' ? { aggregation: tilePlan(sel.view) } : {}),
    };
  });

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
  const columnViews = [
    ...joinKeyColumns.map(() => -1),
    ...order.map((o) => (o.kind === 'view' ? o.view : -2)),
  ];
  const featureOutputs = order.map((o) =>
    o.kind === 'view'
      ? ((views[o.view] as ViewReadPlan).outputs[o.output] as FeatureOutput)
      : ((onDemand[o.odfv] as OnDemandPlan).outputs[o.output] as FeatureOutput),
  );
  return {
    views,
    aggregates: views.some((v) => v.aggregation !== undefined),
    rowReads: (keys) => views.map((v, i) => ({ view: v.ref, entityKeys: keys[i] ?? [] })),
    onDemand,
    joinKeyColumns,
    featureNames,
    order,
    makeRow: rowFactory(featureNames),
    columnViews,
    featureOutputs,
    featureSlots: order.map((o) => o.output),
  };
}

/** A function returning `[o[names[0]], …]`, names quoted with JSON.stringify (see `ViewReadPlan.pick`). */
function picker(names: readonly string[]): (values: Readonly<Record<string, unknown>>) => unknown[] {
  const body = `return [${names.map((n) => `o[${JSON.stringify(n)}]`).join(',')}];`;
  return new Function('o', body) as (values: Readonly<Record<string, unknown>>) => unknown[];
}

/**
 * A function returning `{ [names[0]]: v[0], … }` as one object literal. Objects given many properties one at a
 * time fall into V8's slow dictionary mode; a literal gets a fixed shape, which makes building and reading result
 * rows several times cheaper. Names are quoted with JSON.stringify, so any name is safe; '__proto__' becomes a
 * computed key, since in a literal `"__proto__": v` would set the prototype instead of a property.
 */
function rowFactory(names: readonly string[]): (values: readonly unknown[]) => Record<string, unknown> {
  const key = (n: string) => (n === '__proto__' ? `[${JSON.stringify(n)}]` : JSON.stringify(n));
  const body = `return {${names.map((n, i) => `${key(n)}: v[${i}]`).join(',')}};`;
  return new Function('v', body) as (values: readonly unknown[]) => Record<string, unknown>;
}
