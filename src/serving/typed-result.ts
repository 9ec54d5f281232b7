import type { FeatureRef } from '../definitions/feature-view.js';

/** A feature in a request: a `view:feature` string, or a typed reference such as `userStats.refs.clicks`. */
export type FeatureSelector = string | FeatureRef;

type FeatureNameOf<R extends string> = R extends `${string}:${infer F}` ? F : R;
type ValueOf<X> = X extends FeatureRef<string, infer V> ? V : never;

/**
 * The row type of an online read: each typed reference contributes `feature: value | null`; join keys, request
 * fields and features requested by string are `unknown`.
 *
 * @example
 * type Row = OnlineRowOf<[typeof userStats.refs.clicks_7d]>; // { clicks_7d: number | null } & Record<string, unknown>
 */
export type OnlineRowOf<S extends readonly FeatureSelector[]> = {
  readonly [X in Extract<S[number], FeatureRef> as FeatureNameOf<X['ref']>]: ValueOf<X> | null;
} & Readonly<Record<string, unknown>>;

/** `view:feature` strings of selectors. */
export const selectorRefs = (selectors: readonly FeatureSelector[]): string[] =>
  selectors.map((s) => (typeof s === 'string' ? s : s.ref));
