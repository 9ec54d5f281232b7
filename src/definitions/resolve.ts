import { TesseraError } from '../core/errors.js';
import type { AggregationView } from './aggregation-view.js';
import type { RegistryState } from './definition.js';
import type { Entity, JoinKey } from './entity.js';
import type { Feature, FeatureView } from './feature-view.js';
import type { OnDemandFeatureView } from './on-demand-feature-view.js';
import type { Source } from './source.js';

/** A feature view with the subset of its features a request asks for, plus what is needed to read it. */
export interface ViewSelection {
  readonly view: FeatureView;
  readonly source: Source;
  /** Join keys in the view's order (entities in declared order, each entity's keys in declared order). */
  readonly joinKeys: readonly JoinKey[];
  readonly features: readonly Feature[];
}

/** An aggregation view with the features (aggregation × window) a request asks for. */
export interface AggregationSelection {
  readonly view: AggregationView;
  readonly source: Source;
  readonly joinKeys: readonly JoinKey[];
  readonly features: readonly Feature[];
}

export interface OnDemandSelection {
  readonly view: OnDemandFeatureView;
  readonly features: readonly Feature[];
}

/** A request for features resolved against a registry state. */
export interface ResolvedFeatures {
  readonly views: readonly ViewSelection[];
  readonly aggregations: readonly AggregationSelection[];
  readonly onDemand: readonly OnDemandSelection[];
  /** Output column order, as `view:feature` references in request order. */
  readonly refs: readonly string[];
}

/** Splits `view:feature`; a bare `view` or `view:*` means every feature of the view. */
export function parseRef(ref: string): { view: string; feature: string } {
  const i = ref.indexOf(':');
  if (i < 0) return { view: ref, feature: '*' };
  return { view: ref.slice(0, i), feature: ref.slice(i + 1) };
}

export function joinKeysOf(state: RegistryState, view: FeatureView | AggregationView): JoinKey[] {
  return view.entities.flatMap((name) => requireEntity(state, name, view.name).joinKeys);
}

function requireEntity(state: RegistryState, name: string, viewName: string): Entity {
  const e = state.entities.find((x) => x.name === name);
  if (!e) throw new TesseraError(`feature view '${viewName}' uses unknown entity '${name}'`, {}, 'NOT_FOUND');
  return e;
}

/**
 * Resolves references (or a feature service) to views and features.
 * On-demand views pull in the features they read, even when not requested (they are not output then).
 *
 * @example resolveFeatures(state, { features: ['user_stats:orders_7d', 'order_risk:amount_ratio'] })
 */
export function resolveFeatures(
  state: RegistryState,
  request: { features?: readonly string[]; featureService?: string },
): ResolvedFeatures {
  let refs: readonly string[];
  if (request.featureService !== undefined) {
    const svc = state.featureServices.find((s) => s.name === request.featureService);
    if (!svc) {
      throw new TesseraError(
        `unknown feature service '${request.featureService}'`,
        {
          field: 'featureService',
          hint: `known services: ${state.featureServices.map((s) => s.name).join(', ') || 'none'}`,
        },
        'NOT_FOUND',
      );
    }
    refs = svc.features;
  } else {
    refs = request.features ?? [];
  }
  if (refs.length === 0) {
    throw new TesseraError('no features requested', {
      field: 'features',
      expected: 'one or more view:feature references',
    });
  }
  const byView = new Map<string, Set<string>>();
  const aggByView = new Map<string, Set<string>>();
  const odByView = new Map<string, Set<string>>();
  const outRefs: string[] = [];
  const add = (map: Map<string, Set<string>>, view: string, feature: string) => {
    const s = map.get(view);
    if (s) s.add(feature);
    else map.set(view, new Set([feature]));
  };
  for (const ref of refs) {
    const { view, feature } = parseRef(ref);
    const fv = state.featureViews.find((v) => v.name === view);
    const av = fv ? undefined : state.aggregationViews.find((v) => v.name === view);
    const od = fv || av ? undefined : state.onDemandFeatureViews.find((v) => v.name === view);
    const target = fv ?? av ?? od;
    if (!target) {
      throw new TesseraError(
        `unknown feature view '${view}' in '${ref}'`,
        {
          field: 'features',
          hint: `known views: ${[...state.featureViews, ...state.aggregationViews, ...state.onDemandFeatureViews].map((v) => v.name).join(', ') || 'none'}`,
        },
        'NOT_FOUND',
      );
    }
    const names = feature === '*' ? target.features.map((f) => f.name) : [feature];
    for (const name of names) {
      if (!target.features.some((f) => f.name === name)) {
        throw new TesseraError(
          `unknown feature '${name}' in view '${view}'`,
          {
            field: 'features',
            hint: `features of '${view}': ${target.features.map((f) => f.name).join(', ')}`,
          },
          'NOT_FOUND',
        );
      }
      const full = `${view}:${name}`;
      if (outRefs.includes(full)) continue;
      outRefs.push(full);
      add(fv ? byView : av ? aggByView : odByView, view, name);
    }
    if (od) {
      for (const input of od.inputs) {
        const { view: inView, feature } = parseRef(input);
        add(state.aggregationViews.some((v) => v.name === inView) ? aggByView : byView, inView, feature);
      }
    }
  }
  const views: ViewSelection[] = [...byView].map(([name, feats]) => {
    const view = state.featureViews.find((v) => v.name === name);
    if (!view) throw new TesseraError(`unknown feature view '${name}'`, {}, 'NOT_FOUND');
    const source = state.sources.find((s) => s.name === view.source);
    if (!source)
      throw new TesseraError(`feature view '${name}' uses unknown source '${view.source}'`, {}, 'NOT_FOUND');
    return {
      view,
      source,
      joinKeys: joinKeysOf(state, view),
      features: view.features.filter((f) => feats.has(f.name)),
    };
  });
  const aggregations: AggregationSelection[] = [...aggByView].map(([name, feats]) => {
    const view = state.aggregationViews.find((v) => v.name === name) as AggregationView;
    const source = state.sources.find((s) => s.name === view.source);
    if (!source)
      throw new TesseraError(
        `aggregation view '${name}' uses unknown source '${view.source}'`,
        {},
        'NOT_FOUND',
      );
    return {
      view,
      source,
      joinKeys: joinKeysOf(state, view),
      features: view.features.filter((f) => feats.has(f.name)),
    };
  });
  const onDemand: OnDemandSelection[] = [...odByView].map(([name, feats]) => {
    const view = state.onDemandFeatureViews.find((v) => v.name === name) as OnDemandFeatureView;
    return { view, features: view.features.filter((f) => feats.has(f.name)) };
  });
  return { views, aggregations, onDemand, refs: outRefs };
}

/** Output column name of a feature: `feature`, or `view__feature` with full feature names (as in Feast). */
export const outputColumn = (ref: string, fullFeatureNames: boolean): string => {
  const { view, feature } = parseRef(ref);
  return fullFeatureNames ? `${view}__${feature}` : feature;
};
