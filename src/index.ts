/**
 * Tessera: define features once; build point-in-time-correct training sets, materialize and serve them.
 *
 * @example
 * import { entity, featureView, parquetSource, int64, float64, FeatureStore } from 'tessera';
 */
export { loadRepoConfig, type RepoConfig } from './config/repo-config.js';
export { formatDuration, parseDuration } from './core/duration.js';
export { encodeEntityKey } from './core/entity-key.js';
export { TesseraAggregateError, TesseraError } from './core/errors.js';
export * from './definitions/index.js';
export { validateState, validateViewAgainstSource } from './definitions/validate.js';
export { FeatureStore } from './feature-store.js';
export {
  type CurrentRequest,
  DataMonitor,
  type DriftReport,
  type MonitorContext,
  type ProfileRequest,
} from './monitoring/data-monitor.js';
export { DEFAULT_THRESHOLDS, type DriftThresholds, type FeatureDrift, ks, psi } from './monitoring/drift.js';
export { openProfileStore } from './monitoring/open-profile-store.js';
export type { ColumnProfile, Profile } from './monitoring/profile.js';
export type { ProfileInfo, ProfileStore, StoredProfile } from './monitoring/profile-store.js';
export type { HistoricalResult, OfflineStore, SpineInput } from './offline/offline-store.js';
export type { OnlineStore } from './online/online-store.js';
export { ValidationFailedError, type ValidationReport } from './quality/data-quality.js';
export { checks, type Expectation, type ExpectationInput, type Severity } from './quality/expectations.js';
export type { ValidationResultsStore } from './quality/results-store.js';
export type { ExpectationResult, ValidationRun } from './quality/validation-result.js';
export type { RegistryStore } from './registry/registry-store.js';
export { buildServer } from './server/http-server.js';
export type {
  FeatureStatus,
  OnlineFeaturesRequest,
  OnlineFeaturesResult,
  PushRequest,
} from './serving/types.js';
export { TrainingSet } from './training/training-set.js';
