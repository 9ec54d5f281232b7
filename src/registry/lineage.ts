import { TesseraError } from '../core/errors.js';
import { allDefinitions, type DefinitionKind, type RegistryState } from '../definitions/definition.js';
import { parseRef } from '../definitions/resolve.js';
import { objectKey } from './diff.js';

/** An object of the registry; `id` is its `Kind/name` key. */
export interface LineageNode {
  readonly id: string;
  readonly kind: DefinitionKind;
  readonly name: string;
}

/**
 * Data flows `from` → `to`:
 * - `source`: a source feeds a feature view;
 * - `entity`: an entity keys a feature view;
 * - `input`: a (feature or on-demand) view's features are inputs of an on-demand view;
 * - `serves`: a view's features are selected by a feature service.
 * `features` lists the feature names an `input`/`serves` edge carries (`*` = all of them).
 */
export interface LineageEdge {
  readonly from: string;
  readonly to: string;
  readonly relation: 'source' | 'entity' | 'input' | 'serves';
  readonly features: readonly string[];
}

/** A directed graph of how definitions depend on each other. Nodes and edges are sorted for stable output. */
export interface LineageGraph {
  readonly nodes: readonly LineageNode[];
  readonly edges: readonly LineageEdge[];
}

export type LineageDirection = 'upstream' | 'downstream' | 'both';

/**
 * Derives the lineage graph of a state (pure). References to objects the state does not define are left
 * out: validation reports them, and a graph with dangling ends would only mislead.
 *
 * @example
 * const g = lineageGraph(state);
 * g.edges; // [{ from: 'Source/orders', to: 'FeatureView/user_stats', relation: 'source', features: [] }, …]
 */
export function lineageGraph(state: RegistryState): LineageGraph {
  const nodes = allDefinitions(state).map((d) => ({
    id: objectKey(d.kind, d.name),
    kind: d.kind,
    name: d.name,
  }));
  const ids = new Set(nodes.map((n) => n.id));
  const viewId = (name: string): string | undefined =>
    [
      objectKey('FeatureView', name),
      objectKey('AggregationView', name),
      objectKey('OnDemandFeatureView', name),
    ].find((id) => ids.has(id));

  const edges = new Map<
    string,
    { from: string; to: string; relation: LineageEdge['relation']; features: Set<string> }
  >();
  const add = (from: string | undefined, to: string, relation: LineageEdge['relation'], feature?: string) => {
    if (from === undefined || !ids.has(from)) return;
    const key = `${from}>${to}>${relation}`;
    let e = edges.get(key);
    if (e === undefined) {
      e = { from, to, relation, features: new Set() };
      edges.set(key, e);
    }
    if (feature !== undefined) e.features.add(feature);
  };

  for (const fv of [...state.featureViews, ...state.aggregationViews]) {
    const id = objectKey(fv.kind, fv.name);
    add(objectKey('Source', fv.source), id, 'source');
    for (const e of fv.entities) add(objectKey('Entity', e), id, 'entity');
  }
  for (const od of state.onDemandFeatureViews) {
    for (const ref of od.inputs) {
      const { view, feature } = parseRef(ref);
      add(viewId(view), objectKey('OnDemandFeatureView', od.name), 'input', feature);
    }
  }
  for (const svc of state.featureServices) {
    for (const ref of svc.features) {
      const { view, feature } = parseRef(ref);
      add(viewId(view), objectKey('FeatureService', svc.name), 'serves', feature);
    }
  }
  return {
    nodes: nodes.sort((a, b) => cmp(a.id, b.id)),
    edges: [...edges.values()]
      .map((e) => ({ from: e.from, to: e.to, relation: e.relation, features: [...e.features].sort() }))
      .sort((a, b) => cmp(a.from, b.from) || cmp(a.to, b.to) || cmp(a.relation, b.relation)),
  };
}

/**
 * The part of a graph reachable from one object: what it depends on (`upstream`), what depends on it
 * (`downstream`), or both. The object itself is always included.
 *
 * @example lineageOf(lineageGraph(state), 'FeatureView', 'user_stats', 'downstream') // services, on-demand views
 */
export function lineageOf(
  graph: LineageGraph,
  kind: DefinitionKind,
  name: string,
  direction: LineageDirection,
): LineageGraph {
  const start = objectKey(kind, name);
  if (!graph.nodes.some((n) => n.id === start)) {
    throw new TesseraError(
      `unknown ${kind} '${name}'`,
      { field: 'name', expected: `a ${kind} defined in this registry state` },
      'NOT_FOUND',
    );
  }
  const keep = new Set<string>([start]);
  const keptEdges = new Set<LineageEdge>();
  // Upstream and downstream are walked separately: 'both' is not the connected component (a sibling view
  // sharing a source is neither upstream nor downstream of this one).
  const walk = (forward: boolean) => {
    const queue = [start];
    const seen = new Set(queue);
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      for (const e of graph.edges) {
        if ((forward ? e.from : e.to) !== id) continue;
        keptEdges.add(e);
        const next = forward ? e.to : e.from;
        keep.add(next);
        if (!seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
  };
  if (direction !== 'downstream') walk(false);
  if (direction !== 'upstream') walk(true);
  return {
    nodes: graph.nodes.filter((n) => keep.has(n.id)),
    edges: graph.edges.filter((e) => keptEdges.has(e)),
  };
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
