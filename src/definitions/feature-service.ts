import { definitionError } from '../core/errors.js';
import { type Expectation, type ExpectationInput, normalizeExpectations } from '../quality/expectations.js';
import { assertName, type CommonMeta, commonMeta } from './common.js';
import type { FeatureRef, FeatureView } from './feature-view.js';
import type { OnDemandFeatureView } from './on-demand-feature-view.js';

/**
 * A named selection of features for one model. The registry numbers its versions: every apply that changes
 * the selection increments it, so a model can record exactly which feature set it was trained on.
 */
export interface FeatureService extends CommonMeta {
  readonly kind: 'FeatureService';
  readonly name: string;
  /** `view:feature` references; `view:*` selects every feature of a view. */
  readonly features: readonly string[];
  /** Data-quality checks on training sets built from this service (output column names). */
  readonly expectations?: readonly Expectation[];
}

export interface FeatureServiceInput extends Partial<CommonMeta> {
  name: string;
  features: readonly (FeatureRef | string | FeatureView | OnDemandFeatureView)[];
  expectations?: readonly ExpectationInput[];
}

/** @example featureService({ name: 'ranker_v1', features: [userStats, itemStats.refs.ctr] }) */
export function featureService(input: FeatureServiceInput): FeatureService {
  assertName(input.name, 'feature service');
  const features = input.features.map((f) => {
    if (typeof f === 'string') return f;
    if (f.kind === 'FeatureRef') return f.ref;
    return `${f.name}:*`;
  });
  if (features.length === 0) {
    throw definitionError(`feature service '${input.name}' selects no features`, {
      field: 'features',
      expected: 'at least one view:feature reference',
    });
  }
  return Object.freeze({
    kind: 'FeatureService',
    name: input.name,
    features: Object.freeze(features),
    ...(input.expectations?.length
      ? { expectations: normalizeExpectations(input.expectations, `feature service '${input.name}'`) }
      : {}),
    ...commonMeta(input),
  });
}
