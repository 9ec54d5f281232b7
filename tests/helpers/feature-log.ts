import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll } from 'vitest';
import { type FeatureLoggingConfig, loadRepoConfig } from '../../src/config/repo-config.js';
import { FeatureStore } from '../../src/feature-store.js';
import { initRepo } from '../../src/repo/init-repo.js';
import { redisUrl } from './services.js';

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

/** The online stores feature logging is tested on: the embedded default, and Redis under a key prefix. */
export function onlineBackends(prefix: string): { name: string; config: () => string }[] {
  return [
    { name: 'embedded defaults (SQLite online store)', config: () => '' },
    {
      name: 'Redis online store',
      config: () =>
        `online_store: { type: redis, url: "${redisUrl()}", key_prefix: ${prefix}${process.pid} }\n`,
    },
  ];
}

/**
 * A demo repo for a test suite (see {@link demoRepo}), made before its tests; its online data is removed after
 * them (from Redis; the SQLite file goes with the temp folder).
 */
export function demoRepoFixture(config: () => string): { readonly dir: string; readonly dataEnd: Date } {
  const fixture = { dir: '', dataEnd: new Date(0) };
  beforeAll(async () => {
    fixture.dir = join(mkdtempSync(join(tmpdir(), 'tessera-flog-')), 'repo');
    fixture.dataEnd = await demoRepo(fixture.dir, config());
  }, 180_000);
  afterAll(async () => {
    const store = await openWithLogging(fixture.dir, { enabled: false });
    for (const name of ['user_stats', 'item_stats', 'user_profile', 'user_engagement'])
      await store.online.deleteView({ project: 'ecommerce', name, ttlMs: 0 });
    await store.close();
  });
  return fixture;
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
      thread_priority: 'low',
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
