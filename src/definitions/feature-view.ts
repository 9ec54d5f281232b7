import { type DurationInput, parseDuration } from '../core/duration.js';
import { definitionError } from '../core/errors.js';
import { type Expectation, type ExpectationInput, normalizeExpectations } from '../quality/expectations.js';
import { assertName, type CommonMeta, commonMeta } from './common.js';
import type { Entity } from './entity.js';
import { type FreshnessInput, type FreshnessPolicy, freshnessPolicy } from './freshness.js';
import type { Source } from './source.js';
import type { FieldType, JsValueOf, ValueType } from './value-types.js';

/** One feature of a view: its name, type, and the source column it is read from. */
export interface Feature {
  readonly name: string;
  readonly type: ValueType;
  /** Source column, when it differs from the feature name (column projection / rename). */
  readonly column?: string;
  readonly description?: string;
}

/**
 * A group of features computed from one source and keyed by one or more entities.
 * `ttlMs` bounds how old a value may be, offline (training) and online (serving) alike; 0 means no bound.
 */
export interface FeatureView<TName extends string = string, TSchema extends Schema = Schema>
  extends CommonMeta {
  readonly kind: 'FeatureView';
  readonly name: TName;
  readonly entities: readonly string[];
  readonly source: string;
  readonly features: readonly Feature[];
  readonly ttlMs: number;
  readonly online: boolean;
  readonly offline: boolean;
  /** Data-quality checks on the view's source rows, columns named by feature (docs/semantics.md). */
  readonly expectations?: readonly Expectation[];
  /** Freshness thresholds (`tessera freshness`, docs/monitoring.md); absent when none is declared. */
  readonly freshness?: FreshnessPolicy;
  /** Drift thresholds of this view's features for `tessera monitor` (docs/semantics.md, "Profiles and drift"). */
  readonly monitoring?: MonitoringThresholds;
  /** Typed references to this view's features, for the SDK: `userStats.refs.clicks`. */
  readonly refs: {
    readonly [K in keyof TSchema & string]: FeatureRef<`${TName}:${K}`, JsValueOf<TSchema[K]['type']>>;
  };
}

export type Schema = Record<string, FieldType>;

/** Per-view drift thresholds; each one left out keeps the default (or the `tessera monitor` flag). */
export interface MonitoringThresholds {
  /** PSI alert level. */
  readonly psi?: number;
  /** Kolmogorov–Smirnov alert level. */
  readonly ks?: number;
  /** Alert when the null rate grows by this much (absolute). */
  readonly nullRate?: number;
}

/** A typed reference to one feature, `view:feature`. The phantom `__value` carries the JS value type. */
export interface FeatureRef<TRef extends string = string, TValue = unknown> {
  readonly kind: 'FeatureRef';
  readonly ref: TRef;
  readonly __value?: TValue;
}

export interface FeatureViewInput<TName extends string, TSchema extends Schema> extends Partial<CommonMeta> {
  name: TName;
  entities: readonly (Entity | string)[];
  source: Source | string;
  schema: TSchema;
  /** Source column per feature when it differs from the feature name. */
  columns?: Partial<Record<keyof TSchema & string, string>>;
  ttl?: DurationInput;
  online?: boolean;
  offline?: boolean;
  expectations?: readonly ExpectationInput[];
  /** Freshness thresholds: `{ maxAge: '10m', maxLag: '1m' }` (docs/monitoring.md). */
  freshness?: FreshnessInput;
  /** @example monitoring: { psi: 0.2, ks: 0.1 } */
  monitoring?: MonitoringThresholds;
}

/**
 * Declares a feature view.
 *
 * @example
 * const userStats = featureView({
 *   name: 'user_stats', entities: [user], source: orders, ttl: '7d',
 *   schema: { orders_7d: int64(), spend_7d: float64() },
 * });
 */
export function featureView<const TName extends string, const TSchema extends Schema>(
  input: FeatureViewInput<TName, TSchema>,
): FeatureView<TName, TSchema> {
  assertName(input.name, 'feature view');
  const features: Feature[] = Object.entries(input.schema).map(([name, t]) => {
    assertName(name, `feature (in view '${input.name}')`);
    const column = input.columns?.[name as keyof TSchema & string];
    return Object.freeze({
      name,
      type: t.type,
      ...(column !== undefined && column !== name ? { column } : {}),
      ...(t.description !== undefined ? { description: t.description } : {}),
    });
  });
  if (features.length === 0) {
    throw definitionError(`feature view '${input.name}' has no features`, {
      field: 'schema',
      expected: 'at least one',
    });
  }
  const entities = input.entities.map((e) => (typeof e === 'string' ? e : e.name));
  if (entities.length === 0) {
    throw definitionError(`feature view '${input.name}' has no entities`, {
      field: 'entities',
      expected: 'at least one',
    });
  }
  const freshness = freshnessPolicy(input.freshness, input.name);
  return Object.freeze({
    kind: 'FeatureView',
    name: input.name,
    entities: Object.freeze(entities),
    source: typeof input.source === 'string' ? input.source : input.source.name,
    features: Object.freeze(features),
    ttlMs: parseDuration(input.ttl ?? 0, 'ttl'),
    online: input.online ?? true,
    offline: input.offline ?? true,
    ...(input.expectations?.length
      ? { expectations: normalizeExpectations(input.expectations, `feature view '${input.name}'`) }
      : {}),
    ...(freshness !== undefined ? { freshness } : {}),
    ...(input.monitoring !== undefined ? { monitoring: monitoringThresholds(input.monitoring) } : {}),
    ...commonMeta(input),
    refs: makeRefs(input.name, features),
  }) as FeatureView<TName, TSchema>;
}

export function makeRefs(view: string, features: readonly { name: string }[]): Record<string, FeatureRef> {
  return Object.freeze(
    Object.fromEntries(
      features.map((f) => [f.name, Object.freeze({ kind: 'FeatureRef', ref: `${view}:${f.name}` })]),
    ),
  );
}

/** The source column a feature is read from. */
export const sourceColumn = (f: Feature): string => f.column ?? f.name;

function monitoringThresholds(m: MonitoringThresholds): MonitoringThresholds {
  for (const key of ['psi', 'ks', 'nullRate'] as const) {
    const v = m[key];
    if (v !== undefined && !(typeof v === 'number' && Number.isFinite(v) && v >= 0)) {
      throw definitionError(`invalid monitoring threshold ${key}`, {
        field: `monitoring.${key}`,
        expected: 'a number ≥ 0',
        actual: JSON.stringify(v),
      });
    }
  }
  const known = new Set(['psi', 'ks', 'nullRate']);
  const unknown = Object.keys(m).filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw definitionError(`unknown monitoring setting '${unknown[0]}'`, {
      field: `monitoring.${unknown[0]}`,
      expected: 'psi, ks or nullRate',
    });
  }
  return Object.freeze({ ...m });
}
