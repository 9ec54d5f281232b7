/**
 * Runs the pinned Feast release (bench/feast/setup.sh) from tests: the venv's python comes from
 * TESSERA_FEAST_PYTHON, which `npm test` (scripts/test.sh) sets after installing Feast when missing. Without it the
 * suite fails with the command to run instead of skipping silently, like the services in services.ts.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const FEAST_DIR = join(import.meta.dirname, '../../bench/feast');

/** The python of the Feast venv; throws with the setup command when TESSERA_FEAST_PYTHON is not set. */
export function feastPython(): string {
  const v = process.env['TESSERA_FEAST_PYTHON'];
  if (v === undefined || v === '') {
    throw new Error(
      'TESSERA_FEAST_PYTHON is not set: the Feast comparison tests need the pinned Feast release. Run them with ' +
        '`npm test`, or install it and point the variable at its python first: ' +
        '`export TESSERA_FEAST_PYTHON=$(bash bench/feast/setup.sh)`.',
    );
  }
  return v;
}

/** A feature's or join key's type, as both systems name it. */
export type FeastType = 'int64' | 'float64' | 'string';
/** A feature's type: the key types and the rest the driver maps (`list<string>` is Feast's `Array(String)`). */
export type FeastFeatureType = FeastType | 'int32' | 'float32' | 'bool' | 'timestamp' | 'list<string>';

/** The input of bench/feast/historical.py (see its docstring): definitions once, then retrieval cases. */
export interface FeastHistoricalSpec {
  readonly repo_dir: string;
  readonly project: string;
  /** Feast's offline store: `duckdb` (default) or `file` (pandas/dask). */
  readonly offline_store?: 'duckdb' | 'file';
  /** Also report where each case's time went (bench/feast/historical.py `where_time_went`). */
  readonly profile?: boolean;
  readonly entities: readonly { name: string; join_key: string; type: FeastType }[];
  readonly views: readonly {
    name: string;
    entities: readonly string[];
    source_path: string;
    timestamp_field: string;
    created_timestamp_field: string | null;
    ttl_seconds: number;
    features: readonly { name: string; type: FeastFeatureType }[];
    /** Source column -> feature name, where they differ (Feast's `field_mapping`). */
    field_mapping?: Readonly<Record<string, string>>;
  }[];
  readonly cases: readonly {
    name: string;
    views: readonly string[];
    spine_path: string;
    output_path: string;
  }[];
}

/** Seconds per step; with `profile`, per case: seconds in DuckDB's native calls, Arrow's, and the rest. */
export interface FeastHistoricalResult {
  readonly feast: string;
  readonly seconds: Record<string, number>;
  readonly profile?: Record<
    string,
    { total: number; duckdb: number; arrow: number; python_and_other: number }
  >;
}

/**
 * Runs every case of `spec` in one Feast process (Python and Feast start slowly) and returns the seconds each
 * step took, as reported by the driver.
 *
 * @example
 * const { seconds } = await runFeastHistorical(spec, join(dir, 'spec.json'));
 */
export async function runFeastHistorical(
  spec: FeastHistoricalSpec,
  specPath: string,
): Promise<FeastHistoricalResult> {
  await writeFile(specPath, JSON.stringify(spec, null, 2));
  try {
    const { stdout } = await run(feastPython(), [join(FEAST_DIR, 'historical.py'), specPath], {
      maxBuffer: 64 * 1024 * 1024,
      // Feast orders the columns of its row ids by a Python set: a fixed hash seed makes a failing run replayable.
      env: { ...process.env, PYTHONHASHSEED: '0' },
    });
    const last = stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as FeastHistoricalResult;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(
      `Feast's get_historical_features failed (spec ${specPath}): ${err.stderr ?? err.message}`,
    );
  }
}

/**
 * Feast's driver-stats sample made by Feast's own generator (bench/feast/driver_stats.py): writes
 * `driver_stats.parquet` and `orders.parquet` into `dir`.
 */
export async function feastDriverStats(dir: string, seed: number): Promise<void> {
  await run(feastPython(), [join(FEAST_DIR, 'driver_stats.py'), dir, String(seed)], {
    env: { ...process.env, PYTHONHASHSEED: '0' },
  });
}
