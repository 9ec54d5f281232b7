import { TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import { type FeatureView, sourceColumn } from '../definitions/feature-view.js';
import { joinKeysOf } from '../definitions/resolve.js';
import type { Source } from '../definitions/source.js';
import type { Expectation } from './expectations.js';
import type { SubjectKind } from './validation-result.js';

/**
 * What a set of expectations is checked on: a source's rows, a feature view's rows (its source projected to
 * join keys, timestamps and features named as features), or a training set file (feature services).
 */
export interface ValidationSubject {
  readonly kind: SubjectKind;
  readonly name: string;
  readonly expectations: readonly Expectation[];
  readonly data:
    | {
        readonly type: 'source';
        readonly source: Source;
        /** Output name → source column, when the subject is a view. */
        readonly projection?: readonly { readonly name: string; readonly column: string }[];
      }
    | { readonly type: 'file'; readonly path: string };
  readonly timestampField?: string;
}

/** The subject of a source's expectations. */
export const sourceSubject = (
  source: Source,
  expectations = source.expectations ?? [],
): ValidationSubject => ({
  kind: 'source',
  name: source.name,
  expectations,
  data: { type: 'source', source },
  timestampField: source.timestampField,
});

/** The subject of a feature view's expectations: keys, timestamps and features (by feature name). */
export function viewSubject(state: RegistryState, view: FeatureView, source: Source): ValidationSubject {
  const projection = [
    ...joinKeysOf(state, view).map((k) => ({ name: k.name, column: k.name })),
    { name: source.timestampField, column: source.timestampField },
    ...(source.createdTimestampField
      ? [{ name: source.createdTimestampField, column: source.createdTimestampField }]
      : []),
    ...view.features.map((f) => ({ name: f.name, column: sourceColumn(f) })),
  ].filter((p, i, all) => all.findIndex((o) => o.name === p.name) === i);
  return {
    kind: 'view',
    name: view.name,
    expectations: view.expectations ?? [],
    data: { type: 'source', source, projection },
    timestampField: source.timestampField,
  };
}

/** The subject of a feature service's expectations (plus any passed in): a training set written as Parquet. */
export const trainingSetSubject = (
  name: string,
  expectations: readonly Expectation[],
  path: string,
): ValidationSubject => ({ kind: 'service', name, expectations, data: { type: 'file', path } });

const unknown = (what: string, name: string, known: readonly string[]) =>
  new TesseraError(
    `unknown ${what} '${name}'`,
    { field: what, hint: `known: ${known.join(', ') || 'none'}` },
    'NOT_FOUND',
  );

/**
 * The subjects `tessera validate` checks: the named source or view, or every source and feature view that has
 * expectations.
 *
 * @example subjectsOf(state, { view: 'user_stats' })
 */
export function subjectsOf(
  state: RegistryState,
  select: { source?: string; view?: string } = {},
): ValidationSubject[] {
  const sourceOf = (name: string): Source => {
    const s = state.sources.find((x) => x.name === name);
    if (!s)
      throw unknown(
        'source',
        name,
        state.sources.map((x) => x.name),
      );
    return s;
  };
  if (select.source !== undefined) return [sourceSubject(sourceOf(select.source))];
  if (select.view !== undefined) {
    const v = state.featureViews.find((x) => x.name === select.view);
    if (!v)
      throw unknown(
        'view',
        select.view,
        state.featureViews.map((x) => x.name),
      );
    return [viewSubject(state, v, sourceOf(v.source))];
  }
  return [
    ...state.sources.filter((s) => s.expectations?.length).map((s) => sourceSubject(s)),
    ...state.featureViews
      .filter((v) => v.expectations?.length)
      .map((v) => viewSubject(state, v, sourceOf(v.source))),
  ];
}

/**
 * The subjects gating a materialization or retrieval of the given views: each view's source (if it has
 * expectations) and each view with expectations; a source shared by several views is checked once.
 */
export function gateSubjects(state: RegistryState, viewNames: readonly string[]): ValidationSubject[] {
  const out: ValidationSubject[] = [];
  const seen = new Set<string>();
  for (const name of viewNames) {
    const v = state.featureViews.find((x) => x.name === name);
    const a = state.aggregationViews.find((x) => x.name === name);
    const sourceName = v?.source ?? a?.source;
    const source = state.sources.find((s) => s.name === sourceName);
    if (!source) continue;
    if (source.expectations?.length && !seen.has(source.name)) {
      seen.add(source.name);
      out.push(sourceSubject(source));
    }
    if (v?.expectations?.length) out.push(viewSubject(state, v, source));
  }
  return out;
}
