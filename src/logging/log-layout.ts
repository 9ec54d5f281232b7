import type { RegistryState } from '../definitions/definition.js';
import { resolveFeatures } from '../definitions/resolve.js';
import { duckType } from '../training/training-set.js';

/** The columns every feature-log file has, whatever was served (docs/feature-logging.md). */
export const LOG_FIXED_COLUMNS = [
  { name: 'request_id', type: 'VARCHAR' },
  { name: 'served_at', type: 'TIMESTAMPTZ' },
  { name: 'feature_service', type: 'VARCHAR' },
] as const;

/** Suffix of the status column logged next to each feature's value column. */
export const STATUS_SUFFIX = '__status';

/** One logged feature: its reference, its value column `<view>__<feature>` (declared DuckDB type) and status column. */
export interface LoggedFeature {
  readonly ref: string;
  readonly column: string;
  readonly type: string;
  readonly statusColumn: string;
}

/**
 * How one served selection (a feature service or a list of references) is logged: its join-key columns and
 * its feature columns, each in the order of the served result (join keys first, then features in request
 * order, as `compileOnlinePlan` outputs them).
 */
export interface LogLayout {
  /** The feature service the selection named, logged in every row's `feature_service`; null for a feature list. */
  readonly featureService: string | null;
  readonly joinKeys: readonly { readonly name: string; readonly type: string }[];
  readonly features: readonly LoggedFeature[];
}

/**
 * The log layout of a request served under `state`. Pure; the logger caches it per state and selection.
 *
 * @example
 * logLayout(state, { features: ['user_stats:clicks_7d'] })
 * // { featureService: null, joinKeys: [{ name: 'user_id', type: 'BIGINT' }],
 * //   features: [{ ref: 'user_stats:clicks_7d', column: 'user_stats__clicks_7d', type: 'BIGINT', statusColumn: … }] }
 */
export function logLayout(
  state: RegistryState,
  request: { readonly features?: readonly string[]; readonly featureService?: string },
): LogLayout {
  const resolved = resolveFeatures(state, {
    ...(request.features !== undefined ? { features: request.features } : {}),
    ...(request.featureService !== undefined ? { featureService: request.featureService } : {}),
  });
  const joinKeys = new Map<string, string>();
  for (const sel of [...resolved.views, ...resolved.aggregations])
    for (const k of sel.joinKeys) if (!joinKeys.has(k.name)) joinKeys.set(k.name, duckType(k.type));
  const types = new Map<string, string>();
  for (const sel of [...resolved.views, ...resolved.aggregations, ...resolved.onDemand])
    for (const f of sel.features) types.set(`${sel.view.name}:${f.name}`, duckType(f.type));
  const features = resolved.refs.map((ref) => {
    const column = ref.replace(':', '__');
    return { ref, column, type: types.get(ref) ?? 'VARCHAR', statusColumn: `${column}${STATUS_SUFFIX}` };
  });
  return {
    featureService: request.featureService ?? null,
    joinKeys: [...joinKeys].map(([name, type]) => ({ name, type })),
    features,
  };
}
