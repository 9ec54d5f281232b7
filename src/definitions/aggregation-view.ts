import { type DurationInput, parseDuration } from '../core/duration.js';
import { definitionError } from '../core/errors.js';
import { assertName, type CommonMeta, commonMeta } from './common.js';
import type { Entity } from './entity.js';
import type { Feature, FeatureRef } from './feature-view.js';
import { makeRefs } from './feature-view.js';
import { type FreshnessInput, type FreshnessPolicy, freshnessPolicy } from './freshness.js';
import type { Source } from './source.js';
import {
  type FieldType,
  isNumericType,
  isScalarType,
  type JsValueOf,
  type ScalarType,
  type ValueType,
} from './value-types.js';

/** The aggregation functions; docs/semantics.md defines each one exactly. */
export const AGGREGATION_FUNCTIONS = [
  'count',
  'sum',
  'avg',
  'min',
  'max',
  'last',
  'last_k',
  'count_distinct',
  'variance',
  'stddev',
] as const;
export type AggregationFunction = (typeof AGGREGATION_FUNCTIONS)[number];

/** Most hops one window may span: an online read merges one tile per hop. */
export const MAX_HOPS_PER_WINDOW = 1000;

/** Default bound on the distinct values `count_distinct` tracks exactly (per window); see docs/semantics.md. */
export const DEFAULT_MAX_DISTINCT = 10_000;

/** One window of an aggregation: its length and its hop (tile size), both in milliseconds. */
export interface AggregationWindow {
  /** The window as written, used in feature names: `5m`, `1h`, `7d`. */
  readonly label: string;
  readonly ms: number;
  readonly hopMs: number;
}

/** One aggregation of a view, computed over each of its windows. Features are named `<name>_<window>`. */
export interface Aggregation {
  readonly name: string;
  readonly fn: AggregationFunction;
  /** Input column; absent only for `count` (which then counts rows). */
  readonly column?: string;
  /** Type of the input column (scalar). */
  readonly inputType?: ScalarType;
  /** `last_k` only: how many values. */
  readonly k?: number;
  /** `count_distinct` only: distinct values tracked exactly; the result saturates at this bound. */
  readonly maxDistinct?: number;
  readonly windows: readonly AggregationWindow[];
}

export const ROW_CONDITION_OPS = [
  'eq',
  'ne',
  'lt',
  'lte',
  'gt',
  'gte',
  'in',
  'not_in',
  'is_null',
  'not_null',
] as const;
export type RowConditionOp = (typeof ROW_CONDITION_OPS)[number];
export type ConditionValue = string | number | boolean;

/**
 * A row filter condition. Conditions of a view are AND-ed. Comparisons with a null column value are false
 * (SQL semantics), so `ne` and `not_in` drop rows where the column is null, exactly as the batch SQL does.
 */
export interface RowCondition {
  readonly column: string;
  readonly op: RowConditionOp;
  readonly value?: ConditionValue | readonly ConditionValue[];
}

/**
 * Windowed aggregations over an event source, keyed by entities: "clicks in the last 5 minutes".
 * The same definition drives the offline backfill (DuckDB SQL), batch tile materialization and the stream
 * engine, so training and serving see identical values.
 */
export interface AggregationView<TName extends string = string, TRefs = Record<string, FeatureRef>>
  extends CommonMeta {
  readonly kind: 'AggregationView';
  readonly name: TName;
  readonly entities: readonly string[];
  readonly source: string;
  readonly aggregations: readonly Aggregation[];
  readonly where: readonly RowCondition[];
  /** How late (in event time, behind the watermark) an event may arrive and still be counted. */
  readonly allowedLatenessMs: number;
  readonly online: boolean;
  readonly offline: boolean;
  /** Freshness thresholds (`tessera freshness`, docs/monitoring.md); absent when none is declared. */
  readonly freshness?: FreshnessPolicy;
  /** Derived: one feature per aggregation × window, `<aggregation>_<window>`. */
  readonly features: readonly Feature[];
  readonly refs: TRefs;
}

/** An aggregation as declared in code: `{ fn: 'sum', column: 'amount', type: float64(), windows: ['1h'] }`. */
export interface AggregationSpec<
  TFn extends AggregationFunction = AggregationFunction,
  TWindow extends string = string,
  TType extends ScalarType = ScalarType,
> {
  fn: TFn;
  column?: string;
  /** The input column's type; required for every function but `count`. */
  type?: FieldType<TType>;
  windows: readonly TWindow[];
  k?: number;
  maxDistinct?: number;
}

type ResultOf<S> =
  S extends AggregationSpec<infer F, string, infer T>
    ? F extends 'count' | 'count_distinct' | 'sum' | 'avg' | 'variance' | 'stddev'
      ? number
      : F extends 'last_k'
        ? JsValueOf<T>[]
        : JsValueOf<T>
    : never;

/** One entry per (aggregation, window): the feature name and the aggregation's spec. */
type AggEntries<A extends Record<string, AggregationSpec>> = {
  [K in keyof A & string]: A[K]['windows'][number] extends infer W
    ? W extends string
      ? { readonly name: `${K}_${W}`; readonly spec: A[K] }
      : never
    : never;
}[keyof A & string];

type AggRefs<TName extends string, A extends Record<string, AggregationSpec>> = {
  readonly [E in AggEntries<A> as E['name']]: FeatureRef<`${TName}:${E['name']}`, ResultOf<E['spec']>>;
};

export interface AggregationViewInput<TName extends string, A extends Record<string, AggregationSpec>>
  extends Partial<CommonMeta> {
  name: TName;
  entities: readonly (Entity | string)[];
  source: Source | string;
  aggregations: A;
  /** Hop (tile size) per window label, when the default does not suit: `{ '1d': '10m' }`. */
  hops?: Record<string, DurationInput>;
  where?: readonly RowCondition[];
  /** Default 0: an event behind the watermark is late. */
  allowedLateness?: DurationInput;
  online?: boolean;
  offline?: boolean;
  /** Freshness thresholds: `{ maxAge: '10m', maxLag: '1m' }` (docs/monitoring.md). */
  freshness?: FreshnessInput;
}

/** The hops a default may pick, smallest first. */
const HOP_CHOICES = ['1s', '5s', '10s', '30s', '1m', '5m', '10m', '30m', '1h', '6h', '1d'].map((d) =>
  parseDuration(d),
);

/**
 * Default hop for a window: the largest of 1s, 5s, 10s, 30s, 1m, 5m, 10m, 30m, 1h, 6h, 1d that is at most
 * window / 12 (1s for windows under 12s). A window then covers between w and w + w/12 of event time.
 *
 * @example defaultHop(300_000) // 5m window → 10s hop
 */
export function defaultHop(windowMs: number): number {
  let hop = HOP_CHOICES[0] as number;
  for (const h of HOP_CHOICES) if (h <= windowMs / 12) hop = h;
  return hop;
}

/**
 * Declares windowed aggregations.
 *
 * @example
 * const userActivity = aggregationView({
 *   name: 'user_activity', entities: [user], source: clicks,
 *   aggregations: {
 *     clicks: { fn: 'count', windows: ['5m', '1h', '1d'] },
 *     spend: { fn: 'sum', column: 'amount', type: float64(), windows: ['1h', '1d'] },
 *   },
 * });
 * userActivity.refs.clicks_5m // FeatureRef<'user_activity:clicks_5m', number>
 */
export function aggregationView<const TName extends string, const A extends Record<string, AggregationSpec>>(
  input: AggregationViewInput<TName, A>,
): AggregationView<TName, AggRefs<TName, A>> {
  assertName(input.name, 'aggregation view');
  const hops = new Map<string, number>();
  for (const [label, hop] of Object.entries(input.hops ?? {})) {
    hops.set(checkWindowLabel(label, `hops.${label}`), parseDuration(hop, `hops.${label}`));
  }
  const aggregations = Object.entries(input.aggregations).map(([name, spec]) =>
    buildAggregation(input.name, name, spec, hops),
  );
  if (aggregations.length === 0) {
    throw definitionError(`aggregation view '${input.name}' has no aggregations`, {
      field: 'aggregations',
      expected: 'at least one',
    });
  }
  const used = new Set(aggregations.flatMap((a) => a.windows.map((w) => w.label)));
  for (const label of hops.keys()) {
    if (!used.has(label)) {
      throw definitionError(`hop given for window '${label}', which no aggregation of '${input.name}' uses`, {
        field: `hops.${label}`,
        expected: `one of ${[...used].join(', ')}`,
      });
    }
  }
  const entities = input.entities.map((e) => (typeof e === 'string' ? e : e.name));
  if (entities.length === 0) {
    throw definitionError(`aggregation view '${input.name}' has no entities`, {
      field: 'entities',
      expected: 'at least one',
    });
  }
  const where = (input.where ?? []).map((c, i) => buildCondition(c, `where.${i}`));
  const features = aggregationFeatures(aggregations);
  const freshness = freshnessPolicy(input.freshness, input.name);
  return Object.freeze({
    kind: 'AggregationView',
    name: input.name,
    entities: Object.freeze(entities),
    source: typeof input.source === 'string' ? input.source : input.source.name,
    aggregations: Object.freeze(aggregations),
    where: Object.freeze(where),
    allowedLatenessMs: parseDuration(input.allowedLateness ?? 0, 'allowedLateness'),
    online: input.online ?? true,
    offline: input.offline ?? true,
    ...(freshness !== undefined ? { freshness } : {}),
    features: Object.freeze(features),
    ...commonMeta(input),
    refs: makeRefs(input.name, features),
  }) as unknown as AggregationView<TName, AggRefs<TName, A>>;
}

/** The features an aggregation view outputs, in declaration order (aggregation, then window). */
export function aggregationFeatures(aggregations: readonly Aggregation[]): Feature[] {
  return aggregations.flatMap((a) =>
    a.windows.map((w) => Object.freeze({ name: `${a.name}_${w.label}`, type: resultType(a) })),
  );
}

/** The type of an aggregation's result. */
export function resultType(a: Pick<Aggregation, 'fn' | 'inputType'>): ValueType {
  switch (a.fn) {
    case 'count':
    case 'count_distinct':
      return 'int64';
    case 'sum':
      return a.inputType === 'int32' || a.inputType === 'int64' ? 'int64' : 'float64';
    case 'avg':
    case 'variance':
    case 'stddev':
      return 'float64';
    case 'last_k':
      return `list<${a.inputType as ScalarType}>`;
    default:
      return a.inputType as ScalarType;
  }
}

/** Checks a window (or hop key) as written; it is kept as written, since feature names are built from it. */
function checkWindowLabel(label: string, field: string): string {
  const ms = parseDuration(label, field);
  if (ms <= 0)
    throw definitionError(`window '${label}' must be positive`, { field, expected: 'a duration > 0' });
  if (!/^[0-9a-z]+$/.test(label)) {
    throw definitionError(`window '${label}' cannot be part of a feature name`, {
      field,
      expected: "whole numbers with units, e.g. '90s', '1h30m', '7d'",
    });
  }
  return label;
}

const NUMERIC_ONLY: readonly AggregationFunction[] = ['sum', 'avg', 'variance', 'stddev'];
const ORDERED: readonly ScalarType[] = [
  'int32',
  'int64',
  'float32',
  'float64',
  'string',
  'timestamp',
  'bool',
];

function buildAggregation(
  view: string,
  name: string,
  spec: AggregationSpec,
  hops: ReadonlyMap<string, number>,
): Aggregation {
  assertName(name, `aggregation (in view '${view}')`);
  const field = `aggregations.${name}`;
  if (!(AGGREGATION_FUNCTIONS as readonly string[]).includes(spec.fn)) {
    throw definitionError(`unknown aggregation function '${spec.fn}' in '${view}'`, {
      field: `${field}.fn`,
      expected: AGGREGATION_FUNCTIONS.join(', '),
    });
  }
  const inputType = spec.type?.type;
  if (spec.fn !== 'count') {
    if (spec.column === undefined) {
      throw definitionError(`aggregation '${name}' (${spec.fn}) of '${view}' has no column`, {
        field: `${field}.column`,
        expected: 'the source column to aggregate',
      });
    }
    if (inputType === undefined || !isScalarType(inputType)) {
      throw definitionError(`aggregation '${name}' of '${view}' needs the column's type`, {
        field: `${field}.type`,
        expected: 'a scalar type such as int64, float64, string',
      });
    }
    if (NUMERIC_ONLY.includes(spec.fn) && !isNumericType(inputType)) {
      throw definitionError(`aggregation '${name}' (${spec.fn}) of '${view}' needs a numeric column`, {
        field: `${field}.type`,
        expected: 'int32, int64, float32 or float64',
        actual: inputType,
      });
    }
    if ((spec.fn === 'min' || spec.fn === 'max') && !ORDERED.includes(inputType)) {
      throw definitionError(`aggregation '${name}' (${spec.fn}) of '${view}' needs an ordered column type`, {
        field: `${field}.type`,
        expected: ORDERED.join(', '),
        actual: inputType,
      });
    }
  }
  if (
    spec.fn === 'last_k' &&
    !(Number.isInteger(spec.k) && (spec.k as number) >= 1 && (spec.k as number) <= 1000)
  ) {
    throw definitionError(`aggregation '${name}' (last_k) of '${view}' needs k`, {
      field: `${field}.k`,
      expected: 'an integer between 1 and 1000',
    });
  }
  if (spec.k !== undefined && spec.fn !== 'last_k') {
    throw definitionError(`k is only for last_k (aggregation '${name}' of '${view}')`, {
      field: `${field}.k`,
    });
  }
  if (spec.maxDistinct !== undefined && spec.fn !== 'count_distinct') {
    throw definitionError(`maxDistinct is only for count_distinct (aggregation '${name}' of '${view}')`, {
      field: `${field}.maxDistinct`,
    });
  }
  const maxDistinct = spec.fn === 'count_distinct' ? (spec.maxDistinct ?? DEFAULT_MAX_DISTINCT) : undefined;
  if (maxDistinct !== undefined && !(Number.isInteger(maxDistinct) && maxDistinct >= 1)) {
    throw definitionError(`maxDistinct of '${name}' in '${view}' must be a positive integer`, {
      field: `${field}.maxDistinct`,
    });
  }
  if (!Array.isArray(spec.windows) || spec.windows.length === 0) {
    throw definitionError(`aggregation '${name}' of '${view}' has no windows`, {
      field: `${field}.windows`,
      expected: "one or more durations such as ['5m', '1h', '1d']",
    });
  }
  const seen = new Set<string>();
  const windows = spec.windows.map((label, i) => {
    const label_ = checkWindowLabel(label, `${field}.windows.${i}`);
    const ms = parseDuration(label_);
    if (seen.has(String(ms))) {
      throw definitionError(`window '${label}' appears twice in aggregation '${name}' of '${view}'`, {
        field: `${field}.windows.${i}`,
      });
    }
    seen.add(String(ms));
    const hopMs = hops.get(label_) ?? defaultHop(ms);
    if (ms / hopMs > MAX_HOPS_PER_WINDOW) {
      throw definitionError(`window '${label}' in '${view}' spans more than ${MAX_HOPS_PER_WINDOW} hops`, {
        field: `hops.${label}`,
        expected: `a hop of at least ${Math.ceil(ms / MAX_HOPS_PER_WINDOW)} ms (online reads merge one tile per hop)`,
      });
    }
    if (hopMs <= 0 || hopMs > ms) {
      throw definitionError(`hop of window '${label}' in '${view}' must be positive and at most the window`, {
        field: `hops.${label}`,
        expected: `a duration between 1ms and ${label}`,
      });
    }
    return Object.freeze({ label: label_, ms, hopMs });
  });
  return Object.freeze({
    name,
    fn: spec.fn,
    ...(spec.column !== undefined ? { column: spec.column } : {}),
    ...(inputType !== undefined ? { inputType } : {}),
    ...(spec.k !== undefined ? { k: spec.k } : {}),
    ...(maxDistinct !== undefined ? { maxDistinct } : {}),
    windows: Object.freeze(windows),
  });
}

function buildCondition(c: RowCondition, field: string): RowCondition {
  if (typeof c?.column !== 'string' || c.column === '') {
    throw definitionError('row condition has no column', { field: `${field}.column` });
  }
  if (!(ROW_CONDITION_OPS as readonly string[]).includes(c.op)) {
    throw definitionError(`unknown row condition operator '${c.op}'`, {
      field: `${field}.op`,
      expected: ROW_CONDITION_OPS.join(', '),
    });
  }
  const isScalar = (v: unknown) =>
    typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  if (c.op === 'is_null' || c.op === 'not_null') {
    if (c.value !== undefined)
      throw definitionError(`operator '${c.op}' takes no value`, { field: `${field}.value` });
    return Object.freeze({ column: c.column, op: c.op });
  }
  if (c.op === 'in' || c.op === 'not_in') {
    if (!Array.isArray(c.value) || c.value.length === 0 || !c.value.every(isScalar)) {
      throw definitionError(`operator '${c.op}' needs a non-empty list of values`, {
        field: `${field}.value`,
        expected: 'a list of strings, numbers or booleans',
      });
    }
    return Object.freeze({ column: c.column, op: c.op, value: Object.freeze([...c.value]) });
  }
  if (!isScalar(c.value)) {
    throw definitionError(`operator '${c.op}' needs one value`, {
      field: `${field}.value`,
      expected: 'a string, number or boolean',
    });
  }
  return Object.freeze({ column: c.column, op: c.op, value: c.value as ConditionValue });
}

/** Every hop an aggregation view uses, ascending, each with the longest window that uses it. */
export function hopsOf(
  view: Pick<AggregationView, 'aggregations'>,
): { hopMs: number; longestWindowMs: number }[] {
  const longest = new Map<number, number>();
  for (const a of view.aggregations) {
    for (const w of a.windows) longest.set(w.hopMs, Math.max(longest.get(w.hopMs) ?? 0, w.ms));
  }
  return [...longest]
    .sort((x, y) => x[0] - y[0])
    .map(([hopMs, longestWindowMs]) => ({ hopMs, longestWindowMs }));
}
