import {
  allDefinitions,
  type Definition,
  type DefinitionKind,
  type RegistryState,
  serializeDefinition,
} from '../definitions/definition.js';
import { parseRef } from '../definitions/resolve.js';

/** What happened to one object between two states. */
export type ChangeType = 'added' | 'changed' | 'removed' | 'unchanged';

/**
 * One field-level difference inside a changed object. `path` addresses the field in the serialized
 * definition; elements of named lists (features, join keys, request fields) are addressed by name.
 *
 * @example { path: 'features[clicks].type', change: 'changed', before: 'int64', after: 'float64' }
 * @example { path: 'entities', change: 'added', after: 'merchant' }
 */
export interface FieldDiff {
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed' | 'reordered';
  readonly before?: unknown;
  readonly after?: unknown;
}

/**
 * The diff of one object, identified by (kind, name). `fields` is empty unless `change` is `changed`;
 * `details` says the same in one line per field, for terminals.
 *
 * @example { kind: 'FeatureView', name: 'user_stats', change: 'changed',
 *   fields: [{ path: 'ttlMs', change: 'changed', before: 86400000, after: 604800000 }],
 *   details: ['ttlMs: 86400000 -> 604800000'] }
 */
export interface ObjectDiff {
  readonly kind: DefinitionKind;
  readonly name: string;
  readonly change: ChangeType;
  readonly fields: readonly FieldDiff[];
  readonly details: readonly string[];
}

export type BreakingCode =
  | 'feature-type-changed'
  | 'feature-removed-in-use'
  | 'view-removed-in-use'
  | 'join-keys-changed'
  | 'entities-changed';

/**
 * A change that breaks stored data, trained models or consumers of the registry.
 * `usedBy` lists the affected consumers as `Kind/name` keys.
 *
 * @example { kind: 'FeatureView', name: 'user_stats', code: 'feature-removed-in-use',
 *   message: "feature 'user_stats:clicks' is removed but used by FeatureService/ranker", usedBy: ['FeatureService/ranker'] }
 */
export interface BreakingChange {
  readonly kind: DefinitionKind;
  readonly name: string;
  readonly code: BreakingCode;
  readonly message: string;
  readonly usedBy: readonly string[];
}

/**
 * What applying a desired state on top of version `baseVersion` would do.
 *
 * @example
 * const plan = planChanges(current, desired, 3);
 * if (plan.breaking.length > 0) console.warn(plan.breaking.map((b) => b.message).join('\n'));
 */
export interface Plan {
  readonly project: string;
  readonly baseVersion: number;
  /** Every object of either state, in kind order (entities, sources, views, on-demand views, services), by name. */
  readonly changes: readonly ObjectDiff[];
  readonly breaking: readonly BreakingChange[];
  /** False when applying would not create a version. */
  readonly hasChanges: boolean;
}

const KIND_ORDER: readonly DefinitionKind[] = [
  'Entity',
  'Source',
  'FeatureView',
  'AggregationView',
  'OnDemandFeatureView',
  'FeatureService',
];

/** Registry key of an object, as used in `objectVersions`: `Kind/name`. */
export const objectKey = (kind: DefinitionKind, name: string): string => `${kind}/${name}`;

/**
 * Diffs two states (pure, no I/O).
 *
 * @example
 * const plan = planChanges(emptyState('shop'), stateFromDefinitions('shop', [user, orders, userStats]));
 * plan.changes.map((o) => o.change); // ['added', 'added', 'added']
 */
export function planChanges(current: RegistryState, desired: RegistryState, baseVersion = 0): Plan {
  const before = indexByKey(current);
  const after = indexByKey(desired);
  const keys = [...new Set([...before.keys(), ...after.keys()])];
  const changes = keys
    .map((key) => diffObject(before.get(key), after.get(key)))
    .sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || compare(a.name, b.name));
  return {
    project: desired.project,
    baseVersion,
    changes,
    breaking: findBreaking(current, desired),
    hasChanges: changes.some((o) => o.change !== 'unchanged'),
  };
}

/**
 * Per-object version numbers after a plan is applied: a new object starts at 1, a changed one increments,
 * an unchanged one keeps its number. A removed object keeps its last number in the map, so re-adding it
 * continues the sequence and a (service, version) pair recorded by a model never names two selections.
 *
 * @example nextObjectVersions(plan, { 'FeatureService/ranker': 2 }) // { 'FeatureService/ranker': 3, … }
 */
export function nextObjectVersions(
  plan: Plan,
  previous: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of plan.changes) {
    const key = objectKey(o.kind, o.name);
    const prev = previous[key];
    // An object applied before object versions were tracked counts as version 1.
    if (o.change === 'added') out[key] = prev === undefined ? 1 : prev + 1;
    else if (o.change === 'changed') out[key] = (prev ?? 1) + 1;
    else out[key] = prev ?? 1;
  }
  // Objects removed in earlier versions are not in the plan; keep their numbers too.
  for (const [key, v] of Object.entries(previous)) if (!(key in out)) out[key] = v;
  return out;
}

/** The `changes` summary stored with a version: every object that is not unchanged. */
export function changeSummary(plan: Plan): { kind: string; name: string; change: string }[] {
  return plan.changes
    .filter((o) => o.change !== 'unchanged')
    .map((o) => ({ kind: o.kind, name: o.name, change: o.change }));
}

function indexByKey(state: RegistryState): Map<string, Definition> {
  return new Map(allDefinitions(state).map((d) => [objectKey(d.kind, d.name), d]));
}

function diffObject(before: Definition | undefined, after: Definition | undefined): ObjectDiff {
  const def = (after ?? before) as Definition;
  const base = { kind: def.kind, name: def.name };
  if (before === undefined) return { ...base, change: 'added', fields: [], details: [] };
  if (after === undefined) return { ...base, change: 'removed', fields: [], details: [] };
  const fields: FieldDiff[] = [];
  diffValue('', serializeDefinition(before), serializeDefinition(after), fields);
  return {
    ...base,
    change: fields.length > 0 ? 'changed' : 'unchanged',
    fields,
    details: fields.map(describeField),
  };
}

/**
 * One line for a field difference.
 *
 * @example describeField({ path: 'features[clicks].type', change: 'changed', before: 'int64', after: 'float64' })
 * // 'features[clicks].type: int64 -> float64'
 */
export function describeField(f: FieldDiff): string {
  switch (f.change) {
    case 'added':
      return `${f.path}: + ${text(f.after)}`;
    case 'removed':
      return `${f.path}: - ${text(f.before)}`;
    case 'changed':
      return `${f.path}: ${text(f.before)} -> ${text(f.after)}`;
    case 'reordered':
      return `${f.path}: reordered ${text(f.before)} -> ${text(f.after)}`;
  }
}

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

// Serialized definitions have sorted keys (serializeDefinition), so JSON text equality is deep equality.
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);
const isNamed = (v: unknown): v is { name: string } => isRecord(v) && typeof v['name'] === 'string';
const isPrimitive = (v: unknown): boolean => v === null || typeof v !== 'object';
const join = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function diffValue(path: string, a: unknown, b: unknown, out: FieldDiff[]): void {
  if (same(a, b)) return;
  if (a === undefined) out.push({ path, change: 'added', after: b });
  else if (b === undefined) out.push({ path, change: 'removed', before: a });
  else if (Array.isArray(a) && Array.isArray(b)) diffArray(path, a, b, out);
  else if (isRecord(a) && isRecord(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
      diffValue(join(path, k), a[k], b[k], out);
  } else out.push({ path, change: 'changed', before: a, after: b });
}

function diffArray(path: string, a: readonly unknown[], b: readonly unknown[], out: FieldDiff[]): void {
  if (a.every(isNamed) && b.every(isNamed)) {
    // Lists of named things (features, join keys): match elements by name, so inserting one feature
    // reports one addition rather than a shift of every later element.
    const ma = new Map(a.map((x) => [x.name, x]));
    const mb = new Map(b.map((x) => [x.name, x]));
    for (const [name, x] of ma)
      if (!mb.has(name)) out.push({ path: `${path}[${name}]`, change: 'removed', before: x });
    for (const [name, y] of mb) {
      const x = ma.get(name);
      if (x === undefined) out.push({ path: `${path}[${name}]`, change: 'added', after: y });
      else diffValue(`${path}[${name}]`, x, y, out);
    }
    reportOrder(
      path,
      [...ma.keys()].filter((n) => mb.has(n)),
      [...mb.keys()].filter((n) => ma.has(n)),
      out,
    );
    return;
  }
  if (a.every(isPrimitive) && b.every(isPrimitive)) {
    const removed = a.filter((x) => !b.includes(x));
    const added = b.filter((x) => !a.includes(x));
    for (const x of removed) out.push({ path, change: 'removed', before: x });
    for (const x of added) out.push({ path, change: 'added', after: x });
    if (removed.length === 0 && added.length === 0) {
      // Same members: either a pure reordering (entity order decides join-key order) or different repeats.
      if (a.length === b.length) reportOrder(path, a, b, out);
      else out.push({ path, change: 'changed', before: a, after: b });
    }
    return;
  }
  out.push({ path, change: 'changed', before: a, after: b });
}

function reportOrder(path: string, a: readonly unknown[], b: readonly unknown[], out: FieldDiff[]): void {
  if (!same(a, b)) out.push({ path, change: 'reordered', before: a, after: b });
}

/** A reference to features of a view held by a consumer (a feature service or an on-demand view's inputs). */
interface Use {
  readonly consumer: string;
  readonly view: string;
  /** `*` for every feature of the view. */
  readonly feature: string;
}

type ViewLike = Extract<Definition, { kind: 'FeatureView' | 'AggregationView' | 'OnDemandFeatureView' }>;

function findBreaking(current: RegistryState, desired: RegistryState): BreakingChange[] {
  const out: BreakingChange[] = [];
  const uses = usesOf(current, desired);
  const usersOf = (view: string, feature?: string): string[] =>
    [
      ...new Set(
        uses
          .filter(
            (u) => u.view === view && (feature === undefined || u.feature === feature || u.feature === '*'),
          )
          .filter((u) => u.consumer !== objectKey('OnDemandFeatureView', view))
          .map((u) => u.consumer),
      ),
    ].sort();
  const desiredViews = new Map<string, ViewLike>(
    [...desired.featureViews, ...desired.aggregationViews, ...desired.onDemandFeatureViews].map((v) => [
      v.name,
      v,
    ]),
  );

  for (const view of [
    ...current.featureViews,
    ...current.aggregationViews,
    ...current.onDemandFeatureViews,
  ]) {
    const next = desiredViews.get(view.name);
    const base = { kind: view.kind, name: view.name };
    if (next === undefined) {
      const usedBy = usersOf(view.name);
      if (usedBy.length > 0) {
        out.push({
          ...base,
          code: 'view-removed-in-use',
          message: `${label(view.kind)} '${view.name}' is removed but still used by ${usedBy.join(', ')}`,
          usedBy,
        });
      }
      continue;
    }
    for (const f of view.features) {
      const g = next.features.find((x) => x.name === f.name);
      const ref = `${view.name}:${f.name}`;
      if (g === undefined) {
        const usedBy = usersOf(view.name, f.name);
        if (usedBy.length > 0) {
          out.push({
            ...base,
            code: 'feature-removed-in-use',
            message: `feature '${ref}' is removed but still used by ${usedBy.join(', ')}`,
            usedBy,
          });
        }
      } else if (g.type !== f.type) {
        out.push({
          ...base,
          code: 'feature-type-changed',
          message: `feature '${ref}' changes type ${f.type} -> ${g.type}; stored values and trained models expect ${f.type}`,
          usedBy: usersOf(view.name, f.name),
        });
      }
    }
  }

  for (const fv of [...current.featureViews, ...current.aggregationViews]) {
    const next = [...desired.featureViews, ...desired.aggregationViews].find(
      (v) => v.name === fv.name && v.kind === fv.kind,
    );
    if (next !== undefined && !same(fv.entities, next.entities)) {
      out.push({
        kind: fv.kind,
        name: fv.name,
        code: 'entities-changed',
        message: `feature view '${fv.name}' changes entities [${fv.entities.join(', ')}] -> [${next.entities.join(', ')}]; its stored rows are keyed by the old entities`,
        usedBy: usersOf(fv.name),
      });
    }
  }

  for (const e of current.entities) {
    const next = desired.entities.find((x) => x.name === e.name);
    if (next !== undefined && !same(e.joinKeys, next.joinKeys)) {
      const usedBy = [
        ...new Set(
          [
            ...current.featureViews,
            ...desired.featureViews,
            ...current.aggregationViews,
            ...desired.aggregationViews,
          ]
            .filter((v) => v.entities.includes(e.name))
            .map((v) => objectKey(v.kind, v.name)),
        ),
      ].sort();
      out.push({
        kind: 'Entity',
        name: e.name,
        code: 'join-keys-changed',
        message: `entity '${e.name}' changes join keys ${keysText(e.joinKeys)} -> ${keysText(next.joinKeys)}; stored rows are keyed by the old keys`,
        usedBy,
      });
    }
  }
  return out;
}

/** Feature uses in either state: removing something the current state uses breaks deployed clients. */
function usesOf(...states: RegistryState[]): Use[] {
  const uses: Use[] = [];
  for (const s of states) {
    for (const svc of s.featureServices) {
      for (const ref of svc.features)
        uses.push({ consumer: objectKey('FeatureService', svc.name), ...parseRef(ref) });
    }
    for (const od of s.onDemandFeatureViews) {
      for (const ref of od.inputs)
        uses.push({ consumer: objectKey('OnDemandFeatureView', od.name), ...parseRef(ref) });
    }
  }
  return uses;
}

const label = (kind: DefinitionKind): string =>
  kind === 'FeatureView'
    ? 'feature view'
    : kind === 'AggregationView'
      ? 'aggregation view'
      : 'on-demand feature view';
const keysText = (keys: readonly { name: string; type: string }[]): string =>
  `(${keys.map((k) => `${k.name}: ${k.type}`).join(', ')})`;
