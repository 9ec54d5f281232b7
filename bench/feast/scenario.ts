/**
 * The wide-view scenario Feast and Tessera are raced on for materialization and online serving: one Parquet
 * source, one row per entity, `features` double columns f0…; a view per width reading the first `width` of them;
 * the same entity, source and views defined for both systems, both with a Redis online store (each under its own
 * keys) and a DuckDB offline store. Used by bench/feast/serving.ts and bench/feast/materialize.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { generateOnce } from '../bench-data.js';

export const ROOT = resolve(import.meta.dirname, '../..');
/** The window both systems materialize: it holds every event time of the data. */
export const START = '2024-04-01T00:00:00';
export const END = '2024-05-03T00:00:00';

export const viewName = (width: number) => `stats_${width}`;

export interface WideScenario {
  readonly feastDir: string;
  readonly tesseraDir: string;
  readonly redis: URL;
  /** Runs `feast -c <repo> …args` (the pinned release), returning stdout. */
  feastCli(...args: string[]): string;
  /** Runs `tessera --repo <repo> …args` (bin/tessera.js: build first), returning stdout. */
  tesseraCli(...args: string[]): string;
  /** `feast` (to start `feast serve`). */
  readonly feastBin: string;
  /** Removes the repos (the data stays cached under .bench-data/). */
  remove(): void;
}

/** The pinned Feast's Python: TESSERA_FEAST_PYTHON, else bench/feast/setup.sh installs it (once). */
export function feastPython(): string {
  return (
    process.env['TESSERA_FEAST_PYTHON'] ||
    execFileSync('bash', [join(ROOT, 'bench/feast/setup.sh')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim()
  );
}

/** Redis for the benchmarks: TESSERA_BENCH_REDIS_URL or TESSERA_TEST_REDIS_URL. */
export function benchRedis(): URL {
  const url = process.env['TESSERA_BENCH_REDIS_URL'] ?? process.env['TESSERA_TEST_REDIS_URL'];
  if (!url) {
    throw new Error(
      'no Redis: set TESSERA_BENCH_REDIS_URL (or `source $(bash scripts/services.sh start redis)`)',
    );
  }
  return new URL(url);
}

/** Generates the data (cached) and writes both repos into a temporary folder. */
export async function wideScenario(opts: {
  readonly entities: number;
  readonly widths: readonly number[];
}): Promise<WideScenario> {
  const { entities, widths } = opts;
  const maxFeatures = Math.max(...widths);
  const redis = benchRedis();
  const feastBin = join(dirname(feastPython()), 'feast');

  // One row per entity, features f0… as doubles; event times within one day, a created time after them.
  const dataDir = resolve(ROOT, '.bench-data', `feast-serving-v1-${entities}-${maxFeatures}`);
  await generateOnce(dataDir, async (c, file) => {
    const cols = Array.from(
      { length: maxFeatures },
      (_, j) => `(hash(i * ${maxFeatures + 1} + ${j}) % 100000) / 1000.0 AS f${j}`,
    );
    await c.run(`COPY (
        SELECT i::BIGINT AS driver_id,
               TIMESTAMP '2024-05-01' + to_seconds((i % 86400)::BIGINT) AS event_timestamp,
               TIMESTAMP '2024-05-02' AS created,
               ${cols.join(',\n               ')}
        FROM range(1, ${entities + 1}) t(i)) TO ${file('stats.parquet')} (FORMAT parquet)`);
  });
  const parquet = join(dataDir, 'stats.parquet');
  const work = mkdtempSync(join(tmpdir(), 'tessera-feast-wide-'));

  const feastDir = join(work, 'feast');
  mkdirSync(feastDir, { recursive: true });
  writeFileSync(
    join(feastDir, 'feature_store.yaml'),
    `project: feast_bench_${process.pid}
registry: ${join(feastDir, 'registry.db')}
provider: local
online_store:
  type: redis
  connection_string: "${redis.hostname}:${redis.port}"
offline_store:
  type: duckdb
entity_key_serialization_version: 3
`,
  );
  writeFileSync(
    join(feastDir, 'definitions.py'),
    `from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
source = FileSource(name="stats_source", path=${JSON.stringify(parquet)}, timestamp_field="event_timestamp",
                    created_timestamp_column="created")
${widths
  .map(
    (
      w,
    ) => `${viewName(w)} = FeatureView(name="${viewName(w)}", entities=[driver], ttl=timedelta(days=3650), online=True,
    schema=[Field(name=f"f{j}", dtype=Float64) for j in range(${w})], source=source)`,
  )
  .join('\n')}
`,
  );

  const tesseraDir = join(work, 'tessera');
  mkdirSync(tesseraDir, { recursive: true });
  writeFileSync(
    join(tesseraDir, 'tessera.yaml'),
    `project: tessera_bench
registry: { type: sqlite, path: .tessera/registry.db }
online_store: { type: redis, url: "${redis.href}", key_prefix: "tbench${process.pid}" }
offline_store: { type: duckdb }
definitions: [features.yaml]
`,
  );
  writeFileSync(
    join(tesseraDir, 'features.yaml'),
    `entities:
  - name: driver
    join_keys: { driver_id: int64 }
sources:
  - name: stats_source
    type: parquet
    path: ${JSON.stringify(parquet)}
    timestamp_field: event_timestamp
    created_timestamp_field: created
feature_views:
${widths
  .map(
    (w) => `  - name: ${viewName(w)}
    entities: [driver]
    source: stats_source
    ttl: 0
    schema: { ${Array.from({ length: w }, (_, j) => `f${j}: float64`).join(', ')} }`,
  )
  .join('\n')}
`,
  );

  return {
    feastDir,
    tesseraDir,
    redis,
    feastBin,
    feastCli: (...a) =>
      execFileSync(feastBin, ['-c', feastDir, ...a], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 1 << 26,
      }),
    tesseraCli: (...a) =>
      execFileSync(process.execPath, [join(ROOT, 'bin/tessera.js'), '--repo', tesseraDir, ...a], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      }),
    remove: () => rmSync(work, { recursive: true, force: true }),
  };
}

/** Seconds `f` takes, wall clock. */
export function timed(f: () => unknown): number {
  const t0 = performance.now();
  f();
  return (performance.now() - t0) / 1000;
}
