/**
 * The online-serving API shared by the SDK (`FeatureStore.getOnlineFeatures`) and the HTTP server.
 */

/**
 * Per-value status. The first four are Feast's, with the same meaning; DEFAULTED means the value was not
 * read or not usable and a fallback was served instead: the configured fallback for a missing, null or too-old
 * value; the fallback (or null) for every value when the deadline passed before the online store answered
 * (the result's `warnings` says so).
 */
export type FeatureStatus = 'PRESENT' | 'NULL_VALUE' | 'NOT_FOUND' | 'OUTSIDE_MAX_AGE' | 'DEFAULTED';

export interface OnlineFeaturesRequest {
  /** `view:feature` references (also on-demand views); or use `featureService`. */
  readonly features?: readonly string[];
  readonly featureService?: string;
  /**
   * One object per entity row: join-key values, plus the request fields on-demand views read.
   * @example [{ user_id: 42, amount: 19.9 }]
   */
  readonly entities: readonly Readonly<Record<string, unknown>>[];
  /** Name outputs `view__feature` (default false: `feature`). */
  readonly fullFeatureNames?: boolean;
  /** Answer within this many milliseconds; features not read in time get their fallback (or null). */
  readonly deadlineMs?: number;
  /** Time used for TTL checks (default: now). For tests and replays. */
  readonly now?: Date;
}

export interface OnlineFeaturesResult<TRow = Record<string, unknown>> {
  /** Output names, entity join keys first, then features in request order (as Feast). */
  readonly featureNames: readonly string[];
  /** One object per entity row, keyed by output name. */
  readonly rows: readonly TRow[];
  /** statuses[i][j]: status of featureNames[j] for entity row i. */
  readonly statuses: readonly (readonly FeatureStatus[])[];
  /** eventTimestamps[i][j]: event time of the served value (null when none; entity keys get null). */
  readonly eventTimestamps: readonly (readonly (Date | null)[])[];
}

/** What a fallback is used for. */
export interface FallbackPolicy {
  /** Value served when the feature is missing, too old, or not read before the deadline. */
  readonly defaults: Readonly<Record<string, unknown>>;
}

/** One row pushed to a view's online and/or offline store. */
export interface PushRequest {
  /** Feature view name (its source's schema applies). */
  readonly view: string;
  /** Rows with join keys, the event-timestamp column and feature values. */
  readonly rows: readonly Readonly<Record<string, unknown>>[];
  /** Where to write: 'online' (default), 'offline', or 'online_and_offline'. */
  readonly to?: 'online' | 'offline' | 'online_and_offline';
}
