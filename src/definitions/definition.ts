import type { AggregationView } from './aggregation-view.js';
import type { Entity } from './entity.js';
import type { FeatureService } from './feature-service.js';
import { type FeatureView, makeRefs } from './feature-view.js';
import type { OnDemandFeatureView } from './on-demand-feature-view.js';
import type { Source } from './source.js';

export type Definition =
  | Entity
  | Source
  | FeatureView
  | AggregationView
  | OnDemandFeatureView
  | FeatureService;
export type DefinitionKind = Definition['kind'];

/** Plural collection names in a registry state, per kind. */
export const COLLECTIONS = {
  Entity: 'entities',
  Source: 'sources',
  FeatureView: 'featureViews',
  AggregationView: 'aggregationViews',
  OnDemandFeatureView: 'onDemandFeatureViews',
  FeatureService: 'featureServices',
} as const satisfies Record<DefinitionKind, string>;

/**
 * Everything a project defines, as plain data: what the registry stores per version.
 * Definitions here carry no functions (transforms are referenced by module and export).
 */
export interface RegistryState {
  readonly project: string;
  readonly entities: readonly Entity[];
  readonly sources: readonly Source[];
  readonly featureViews: readonly FeatureView[];
  readonly aggregationViews: readonly AggregationView[];
  readonly onDemandFeatureViews: readonly OnDemandFeatureView[];
  readonly featureServices: readonly FeatureService[];
}

export const emptyState = (project: string): RegistryState => ({
  project,
  entities: [],
  sources: [],
  featureViews: [],
  aggregationViews: [],
  onDemandFeatureViews: [],
  featureServices: [],
});

/**
 * Builds a state from a list of definitions, each kind sorted by name so that a state does not depend on the
 * order definitions were declared or exported in (duplicates are reported by validation, not here).
 */
export function stateFromDefinitions(project: string, defs: readonly Definition[]): RegistryState {
  const pick = <K extends DefinitionKind>(kind: K) =>
    defs
      .filter((d): d is Extract<Definition, { kind: K }> => d.kind === kind)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    project,
    entities: pick('Entity'),
    sources: pick('Source'),
    featureViews: pick('FeatureView'),
    aggregationViews: pick('AggregationView'),
    onDemandFeatureViews: pick('OnDemandFeatureView'),
    featureServices: pick('FeatureService'),
  };
}

export function allDefinitions(state: RegistryState): Definition[] {
  return [
    ...state.entities,
    ...state.sources,
    ...state.featureViews,
    ...state.aggregationViews,
    ...state.onDemandFeatureViews,
    ...state.featureServices,
  ];
}

/** The plain-data form of a definition: no functions, no derived `refs`. Stable key order for diffing. */
export function serializeDefinition(def: Definition): Record<string, unknown> {
  const {
    refs: _refs,
    transform: _transform,
    ...rest
  } = def as Definition & { refs?: unknown; transform?: unknown };
  return sortKeys(rest) as Record<string, unknown>;
}

export function serializeState(state: RegistryState): Record<string, unknown> {
  return {
    project: state.project,
    entities: state.entities.map(serializeDefinition),
    sources: state.sources.map(serializeDefinition),
    featureViews: state.featureViews.map(serializeDefinition),
    aggregationViews: state.aggregationViews.map(serializeDefinition),
    onDemandFeatureViews: state.onDemandFeatureViews.map(serializeDefinition),
    featureServices: state.featureServices.map(serializeDefinition),
  };
}

/** Rebuilds a state read back from storage (re-derives `refs`, freezes). */
export function deserializeState(raw: unknown): RegistryState {
  const r = raw as Record<string, Record<string, unknown>[] | string>;
  const withRefs = (d: Record<string, unknown>) =>
    Object.freeze({ ...d, refs: makeRefs(d['name'] as string, d['features'] as { name: string }[]) });
  const list = (k: string) => (Array.isArray(r[k]) ? (r[k] as Record<string, unknown>[]) : []);
  return {
    project: r['project'] as string,
    entities: list('entities').map((d) => Object.freeze(d)) as unknown as Entity[],
    sources: list('sources').map((d) => Object.freeze(d)) as unknown as Source[],
    featureViews: list('featureViews').map(withRefs) as unknown as FeatureView[],
    aggregationViews: list('aggregationViews').map(withRefs) as unknown as AggregationView[],
    onDemandFeatureViews: list('onDemandFeatureViews').map(withRefs) as unknown as OnDemandFeatureView[],
    featureServices: list('featureServices').map((d) => Object.freeze(d)) as unknown as FeatureService[],
  };
}

export function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}
