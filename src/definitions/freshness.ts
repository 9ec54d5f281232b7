import { type DurationInput, parseDuration } from '../core/duration.js';
import { definitionError } from '../core/errors.js';

/**
 * Freshness thresholds of a feature view or aggregation view, as declared in TypeScript (`maxAge`, `maxLag`)
 * or YAML (`max_age`, `max_lag`). docs/monitoring.md defines both measures.
 *
 * @example featureView({ ..., freshness: { maxAge: '10m', maxLag: '1m' } })
 */
export interface FreshnessInput {
  /** Breached when now − (newest event time written online for the view) exceeds this. */
  maxAge?: DurationInput;
  /** Breached when the stream of the view's source lags more than this (processing time − watermark). */
  maxLag?: DurationInput;
}

/** The stored form of {@link FreshnessInput}: milliseconds; an absent bound is not checked. */
export interface FreshnessPolicy {
  readonly maxAgeMs?: number;
  readonly maxLagMs?: number;
}

/**
 * Parses a view's freshness thresholds. Returns undefined when none is given, so views without thresholds
 * keep the exact serialized form they had (no registry diff).
 *
 * @example freshnessPolicy({ maxAge: '10m' }, 'user_stats') // { maxAgeMs: 600_000 }
 */
export function freshnessPolicy(
  input: FreshnessInput | undefined,
  view: string,
): FreshnessPolicy | undefined {
  if (input === undefined) return undefined;
  if (input === null || typeof input !== 'object') {
    throw definitionError(`freshness of view '${view}' must be an object`, {
      field: 'freshness',
      expected: "{ maxAge: '10m', maxLag: '1m' } (YAML: max_age, max_lag)",
    });
  }
  const bound = (value: DurationInput | undefined, field: string): number | undefined => {
    if (value === undefined) return undefined;
    const ms = parseDuration(value, `freshness.${field}`);
    if (ms <= 0) {
      throw definitionError(`freshness.${field} of view '${view}' must be a positive duration`, {
        field: `freshness.${field}`,
        expected: "a duration such as '10m'",
        actual: String(value),
      });
    }
    return ms;
  };
  const maxAgeMs = bound(input.maxAge, 'maxAge');
  const maxLagMs = bound(input.maxLag, 'maxLag');
  if (maxAgeMs === undefined && maxLagMs === undefined) return undefined;
  return Object.freeze({
    ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
    ...(maxLagMs !== undefined ? { maxLagMs } : {}),
  });
}
