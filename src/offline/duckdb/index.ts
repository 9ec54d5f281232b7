export { DuckDbOfflineStore, type DuckDbOfflineStoreOptions, outputNames } from './duckdb-offline-store.js';
export { DuckDbHistoricalResult } from './historical-result.js';
export {
  type CompiledStatement,
  compileAssemble,
  compileLatest,
  compilePointInTime,
  compileSpineKeys,
  compileSpineRange,
  compileViewJoin,
  type LatestPlan,
  type PitPlan,
  type PitStrategy,
  type PitView,
  type SourceScan,
  type TimeRange,
} from './point-in-time-sql.js';
export { type ColumnSpec, inferColumns, writeRowsToParquet } from './rows-table.js';
