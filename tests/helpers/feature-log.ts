import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { type FeatureLoggingConfig, loadRepoConfig } from '../../src/config/repo-config.js';
import { FeatureStore } from '../../src/feature-store.js';
import { initRepo } from '../../src/repo/init-repo.js';

/** The demo repo, applied and materialized, with `extraYaml` appended to its tessera.yaml. Returns its data end. */
export async function demoRepo(dir: string, extraYaml: string, events = 5000): Promise<Date> {
  const init = await initRepo(dir, { events, seed: 11 });
  const dataEnd = init.data?.timeRange.end as Date;
  const yaml = readFileSync(join(dir, 'tessera.yaml'), 'utf8').replace(/^(registry|online_store):.*$/gm, '');
  writeFileSync(join(dir, 'tessera.yaml'), `${yaml}\n${extraYaml}`);
  const store = await FeatureStore.open(dir);
  try {
    await store.apply();
    await store.materialize({ start: new Date(0), end: new Date(dataEnd.getTime() + 1) });
    await store.materialize({ start: new Date(0), end: new Date(), views: ['user_engagement'] });
  } finally {
    await store.close();
  }
  return dataEnd;
}

/** Opens the repo with `feature_logging` set to `logging` (defaults for what it leaves out). */
export function openWithLogging(dir: string, logging: Partial<FeatureLoggingConfig>): Promise<FeatureStore> {
  const config = loadRepoConfig(dir);
  return FeatureStore.fromConfig({
    ...config,
    feature_logging: {
      enabled: true,
      sample_rate: 1,
      path: 'feature_logs',
      queue_size: 100_000,
      flush_interval: '100ms',
      max_file_rows: 100_000,
      services: {},
      ...logging,
    },
  });
}

/** Every row of a feature log folder (union of the files' columns), as JS values. */
export async function readFeatureLog(
  dir: string,
): Promise<{ rows: Record<string, unknown>[]; types: Map<string, string> }> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    await con.run("SET TimeZone='UTC'");
    const from = `read_parquet('${dir}/**/*.parquet', union_by_name = true, hive_partitioning = false)`;
    const rows = (await con.runAndReadAll(`SELECT * FROM ${from}`)).getRowObjectsJS() as Record<
      string,
      unknown
    >[];
    const described = (await con.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`)).getRowObjectsJS();
    return {
      rows,
      types: new Map(described.map((d) => [String(d['column_name']), String(d['column_type'])])),
    };
  } finally {
    con.closeSync();
    db.closeSync();
  }
}

/** A value as plain JSON-comparable data: bigint → number, Date → epoch ms, lists element by element. */
export function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  if (Array.isArray(v)) return v.map(plain);
  return v ?? null;
}
