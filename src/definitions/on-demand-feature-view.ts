import { definitionError } from '../core/errors.js';
import { assertName, type CommonMeta, commonMeta } from './common.js';
import type { Feature } from './feature-view.js';
import { type FeatureRef, makeRefs, type Schema } from './feature-view.js';
import type { FieldType, JsValueOf, ValueType } from './value-types.js';

/** A request-time transform: a row of inputs in, a row of outputs out. Must be pure and synchronous. */
export type TransformFn = (row: Readonly<Record<string, unknown>>) => Record<string, unknown>;

/** Where the transform lives, so every process (training, server) loads the same code. */
export interface TransformRef {
  /** Module path relative to the feature repo root, e.g. `features/transforms.ts`. */
  readonly module: string;
  /** Export name in that module. */
  readonly export: string;
}

/**
 * Features computed at request time from request fields and other features, by the same TypeScript
 * function in training (after the point-in-time join) and in serving.
 * The transform receives one row: request fields by name, input features by feature name.
 */
export interface OnDemandFeatureView<TName extends string = string, TSchema extends Schema = Schema>
  extends CommonMeta {
  readonly kind: 'OnDemandFeatureView';
  readonly name: TName;
  readonly requestSchema: readonly { readonly name: string; readonly type: ValueType }[];
  /** Input features, as `view:feature` references. */
  readonly inputs: readonly string[];
  readonly features: readonly Feature[];
  /** The function; present when loaded from code, absent in a registry snapshot. */
  readonly transform?: TransformFn;
  /** Filled in by the repo loader (TS) or written in YAML. */
  readonly transformRef?: TransformRef;
  readonly refs: {
    readonly [K in keyof TSchema & string]: FeatureRef<`${TName}:${K}`, JsValueOf<TSchema[K]['type']>>;
  };
}

export interface OnDemandFeatureViewInput<TName extends string, TSchema extends Schema>
  extends Partial<CommonMeta> {
  name: TName;
  request?: Record<string, FieldType>;
  inputs?: readonly (FeatureRef | string)[];
  schema: TSchema;
  transform?: TransformFn;
  transformRef?: TransformRef;
}

/**
 * @example
 * export const orderRisk = onDemandFeatureView({
 *   name: 'order_risk', request: { amount: float64() }, inputs: [userStats.refs.avg_amount],
 *   schema: { amount_ratio: float64() },
 *   transform: (r) => ({ amount_ratio: (r.amount as number) / ((r.avg_amount as number) || 1) }),
 * });
 */
export function onDemandFeatureView<const TName extends string, const TSchema extends Schema>(
  input: OnDemandFeatureViewInput<TName, TSchema>,
): OnDemandFeatureView<TName, TSchema> {
  assertName(input.name, 'on-demand feature view');
  if (input.transform === undefined && input.transformRef === undefined) {
    throw definitionError(`on-demand feature view '${input.name}' has no transform`, {
      field: 'transform',
      expected: 'a function (TypeScript) or { module, export } (YAML)',
    });
  }
  const features = Object.entries(input.schema).map(([name, t]) => {
    assertName(name, `feature (in on-demand view '${input.name}')`);
    return Object.freeze({ name, type: t.type });
  });
  return Object.freeze({
    kind: 'OnDemandFeatureView',
    name: input.name,
    requestSchema: Object.freeze(
      Object.entries(input.request ?? {}).map(([name, t]) => ({ name, type: t.type })),
    ),
    inputs: Object.freeze((input.inputs ?? []).map((r) => (typeof r === 'string' ? r : r.ref))),
    features: Object.freeze(features),
    ...(input.transform ? { transform: input.transform } : {}),
    ...(input.transformRef ? { transformRef: input.transformRef } : {}),
    ...commonMeta(input),
    refs: makeRefs(input.name, features),
  }) as unknown as OnDemandFeatureView<TName, TSchema>;
}
