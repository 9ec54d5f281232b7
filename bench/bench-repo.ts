/**
 * A throwaway feature repo for benchmarks: one entity, one view of N float/int features over a Parquet source,
 * applied to a registry, with the online store chosen by the caller.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

export interface BenchRepo {
  readonly dir: string;
  readonly features: string[];
  readonly sourcePath: string;
}

/**
 * Writes one view's Parquet source with DuckDB SQL: `rowsPerEntity` rows for each of `entities` entities, event
 * times spread over the day before `nowMs`, half the features doubles and half bigints.
 *
 * @example await writeBenchSource('/tmp/v0.parquet', { features: 10, entities: 2_000_000, rowsPerEntity: 5 });
 */
export async function writeBenchSource(
  path: string,
  opts: {
    features: number;
    entities: number;
    rowsPerEntity?: number;
    view?: number;
    nowMs?: number;
    /** Write rows in event-time order, as an append log is (default: entity by entity). */
    timeOrdered?: boolean;
  },
): Promise<void> {
  const v = opts.view ?? 0;
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  // Half the features are doubles, half bigints: a typical mix of ratios and counts.
  const cols = Array.from({ length: opts.features }, (_, i) =>
    i % 2 === 0
      ? `(hash(e, ${i}, ${v}) % 100000) / 1000.0 AS f${i}`
      : `(hash(e, ${i}, ${v}) % 1000)::BIGINT AS f${i}`,
  ).join(', ');
  try {
    await con.run(`COPY (
        SELECT e AS user_id,
               to_timestamp(${Math.floor((opts.nowMs ?? Date.now()) / 1000)} - (hash(e, r, ${v}) % 86400)::BIGINT) AS event_ts,
               ${cols}
        FROM range(${opts.entities}) t(e), range(${opts.rowsPerEntity ?? 1}) u(r)
        ${opts.timeOrdered ? 'ORDER BY event_ts' : ''}
      ) TO '${path}' (FORMAT parquet)`);
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/**
 * @param online `sqlite` or a Redis URL.
 * @param rows source rows to generate (one per entity, event times spread over the last day).
 * @param sourceFile an existing Parquet file (from {@link writeBenchSource}) to use as the one view's source
 *   instead of generating one.
 * @param offline DuckDB settings for `tessera.yaml`'s `offline_store`.
 */
export async function makeBenchRepo(opts: {
  online: 'sqlite' | { redisUrl: string; keyPrefix: string };
  features?: number;
  entities?: number;
  rowsPerEntity?: number;
  views?: number;
  sourceFile?: string;
  offline?: { memoryLimit?: string; threads?: number };
}): Promise<BenchRepo & { viewNames: string[] }> {
  const nFeatures = opts.features ?? 50;
  const entities = opts.entities ?? 10_000;
  const perEntity = opts.rowsPerEntity ?? 1;
  const nViews = opts.sourceFile === undefined ? (opts.views ?? 1) : 1;
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  mkdirSync(join(dir, 'data'), { recursive: true });
  const features = Array.from({ length: nFeatures }, (_, i) => `f${i}`);
  const viewNames: string[] = [];
  const now = Date.now();
  for (let v = 0; v < nViews; v++) {
    const path = join(dir, 'data', `v${v}.parquet`);
    if (opts.sourceFile !== undefined) symlinkSync(opts.sourceFile, path);
    else
      await writeBenchSource(path, {
        features: nFeatures,
        entities,
        rowsPerEntity: perEntity,
        view: v,
        nowMs: now,
      });
    viewNames.push(`v${v}`);
  }
  const online =
    opts.online === 'sqlite'
      ? '{ type: sqlite, path: .tessera/online.db }'
      : `{ type: redis, url: "${opts.online.redisUrl}", key_prefix: "${opts.online.keyPrefix}" }`;
  const offline = [
    'type: duckdb',
    ...(opts.offline?.memoryLimit === undefined ? [] : [`memory_limit: "${opts.offline.memoryLimit}"`]),
    ...(opts.offline?.threads === undefined ? [] : [`threads: ${opts.offline.threads}`]),
  ].join(', ');
  writeFileSync(
    join(dir, 'tessera.yaml'),
    `project: bench\nonline_store: ${online}\noffline_store: { ${offline} }\ndefinitions: [features.yaml]\nmaterialization: { chunk_rows: 50000 }\n`,
  );
  const schema = features.map((f, i) => `${f}: ${i % 2 === 0 ? 'float64' : 'int64'}`).join(', ');
  const views = viewNames
    .map(
      (name) => `  - name: ${name}
    entities: [user]
    source: ${name}_src
    ttl: 7d
    schema: { ${schema} }`,
    )
    .join('\n');
  const sources = viewNames
    .map(
      (name) =>
        `  - { name: ${name}_src, type: parquet, path: data/${name}.parquet, timestamp_field: event_ts }`,
    )
    .join('\n');
  writeFileSync(
    join(dir, 'features.yaml'),
    `entities:\n  - name: user\n    join_keys: { user_id: int64 }\nsources:\n${sources}\nfeature_views:\n${views}\n`,
  );
  return { dir, features, sourcePath: join(dir, 'data'), viewNames };
}

/** Percentile of a sorted array. */
export const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
