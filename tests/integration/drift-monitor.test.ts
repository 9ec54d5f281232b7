import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { FeatureStore } from '../../src/feature-store.js';
import type { DriftReport } from '../../src/monitoring/data-monitor.js';
import type {
  CategoricalColumnProfile,
  NumericColumnProfile,
  Profile,
} from '../../src/monitoring/profile.js';
import { buildServer } from '../../src/server/http-server.js';
import { plainCliEnv } from '../helpers/run-cli.js';
import { postgresUrl } from '../helpers/services.js';

/**
 * Profiles and drift end to end through the real CLI: a Parquet source generated with DuckDB (three months of
 * orders; March drifted: larger amounts, another device mix), reference profiles saved in and re-loaded from
 * both registries (SQLite and PostgreSQL), `monitor` against source windows and against a serving-log fixture.
 */

const ROOT = join(import.meta.dirname, '../..');
const base = mkdtempSync(join(tmpdir(), 'tessera-drift-'));
const data = join(base, 'data');
const sqliteRepo = join(base, 'repo-sqlite');
const pgRepo = join(base, 'repo-pg');
const pgUrl = postgresUrl();
const pgSchema = `tessera_test_drift_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

/** The real CLI in a child process (from sources via tsx): exit code, parsed --json output, text. */
function tesseraProcess(repo: string, ...args: string[]): CliResult {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), '--repo', repo, ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 180_000,
      env: plainCliEnv(),
    },
  );
  return result(r.status ?? -1, r.stdout, r.stderr);
}

/**
 * The same program in this process (`buildProgram`, as `bin/tessera.js` runs it), stdout and stderr captured:
 * a child process costs seconds of start-up on a loaded machine, so most calls run here.
 */
async function tessera(repo: string, ...args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const { stdout, stderr } = process;
  const writeOut = stdout.write;
  const writeErr = stderr.write;
  stdout.write = ((chunk: string | Uint8Array) => out.push(String(chunk)) > 0) as typeof stdout.write;
  stderr.write = ((chunk: string | Uint8Array) => err.push(String(chunk)) > 0) as typeof stderr.write;
  process.exitCode = 0;
  try {
    await buildProgram().parseAsync(['node', 'tessera', '--repo', repo, ...args]);
  } finally {
    stdout.write = writeOut;
    stderr.write = writeErr;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return result(code, out.join(''), err.join(''));
}

interface CliResult {
  code: number;
  json: unknown;
  stdout: string;
  stderr: string;
}

function result(code: number, stdout: string, stderr: string): CliResult {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, json, stdout, stderr };
}

const DEFINITIONS = `
entities:
  - name: user
    join_keys: { user_id: int64 }
sources:
  - name: orders
    type: parquet
    path: ${join(data, 'orders.parquet')}
    timestamp_field: ts
feature_views:
  - name: order_stats
    entities: [user]
    source: orders
    schema:
      amount: float64
      items: int64
      device: string
  - name: order_stats_loose
    entities: [user]
    source: orders
    schema:
      amount: float64
    monitoring: { psi: 10, ks: 1, null_rate: 1 }
`;

/** Pseudo-random uniform in (0, 1) from a row number and a salt: deterministic, no RNG state. */
const uniform = (salt: number) => `((hash(i * 7919 + ${salt}) % 1000000) + 0.5) / 1000000.0`;
/** A standard normal by Box–Muller from two uniforms. */
const normal = (salt: number) => `sqrt(-2 * ln(${uniform(salt)})) * cos(2 * pi() * ${uniform(salt + 1)})`;
/** Device by the uniform: web/ios/android at 50/30/20 %, or 20/30/50 % when drifted. */
const device = (drifted: string) =>
  `CASE WHEN ${uniform(5)} < (CASE WHEN ${drifted} THEN 0.2 ELSE 0.5 END) THEN 'web'
        WHEN ${uniform(5)} < 0.8 THEN 'ios' ELSE 'android' END`;

/** Rows of the serving-log fixture: `n` served rows at `day`, drifted or not, as the logging contract has them. */
function logRows(n: number, day: string, drifted: boolean, seed: number, withDevice: boolean): string {
  const d = drifted ? 'true' : 'false';
  return `SELECT uuid()::VARCHAR AS request_id,
      TIMESTAMPTZ '${day}' + to_seconds((i * 37) % 86400) AS served_at,
      'ranker' AS feature_service,
      (i % 500)::BIGINT AS user_id,
      CASE WHEN i % 20 = 0 THEN NULL ELSE 50 + 10 * ${normal(seed)} + (CASE WHEN ${d} THEN 9 ELSE 0 END) END AS order_stats__amount,
      CASE WHEN i % 20 = 0 THEN 'NOT_FOUND' ELSE 'PRESENT' END AS order_stats__amount__status
      ${withDevice ? `, ${device(d)} AS order_stats__device, 'PRESENT' AS order_stats__device__status` : ''}
    FROM range(${n}) t(i)`;
}

beforeAll(async () => {
  mkdirSync(data, { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  await c.run("SET TimeZone = 'UTC'");
  // 91 days × 2000 orders from 2024-01-01; from 2024-03-01 on, amounts are 0.9σ larger and the device mix flips.
  const drifted = `i >= 60 * 2000`;
  await c.run(`COPY (
    SELECT (i % 1000)::BIGINT AS user_id,
      TIMESTAMPTZ '2024-01-01' + to_seconds(i * 43200 // 1000) AS ts,
      CASE WHEN i % 50 = 0 THEN NULL ELSE 50 + 10 * ${normal(1)} + (CASE WHEN ${drifted} THEN 9 ELSE 0 END) END AS amount,
      (floor(${uniform(3)} * 5) + 1)::BIGINT AS items,
      ${device(drifted)} AS device
    FROM range(91 * 2000) t(i)
  ) TO '${join(data, 'orders.parquet')}' (FORMAT parquet)`);
  // Serving logs: April 1st like January (two files, one without the device column: read by name), April 2nd
  // drifted.
  for (const [day, drift, file, seed, withDevice] of [
    ['2024-04-01', false, 'a', 11, true],
    ['2024-04-01', false, 'b', 13, false],
    ['2024-04-02', true, 'c', 17, true],
  ] as const) {
    const dir = join(sqliteRepo, 'feature_logs', `date=${day}`);
    mkdirSync(dir, { recursive: true });
    await c.run(
      `COPY (${logRows(3000, day, drift, seed, withDevice)}) TO '${join(dir, `${file}-${randomUUID()}.parquet`)}' (FORMAT parquet)`,
    );
  }
  c.closeSync();
  instance.closeSync();

  for (const [repo, registry] of [
    [sqliteRepo, '{ type: sqlite, path: .tessera/registry.db }'],
    [pgRepo, `{ type: postgres, url: "${pgUrl}", schema: ${pgSchema} }`],
  ] as const) {
    mkdirSync(join(repo, '.tessera'), { recursive: true });
    writeFileSync(
      join(repo, 'tessera.yaml'),
      `project: drift\nregistry: ${registry}\nonline_store: { type: sqlite, path: .tessera/online.db }\ndefinitions: [features.yaml]\n`,
    );
    writeFileSync(join(repo, 'features.yaml'), DEFINITIONS);
    const apply = await tessera(repo, 'apply', '--json');
    expect(apply.code, apply.stderr + apply.stdout).toBe(0);
  }
}, 240_000);

afterAll(async () => {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
  } finally {
    await client.end();
  }
});

const januaryArgs = ['--start', '2024-01-01', '--end', '2024-02-01'];
const SAVE_JANUARY = ['profile', '--source', 'orders', ...januaryArgs, '--save', 'orders_jan', '--json'];

describe('tessera profile', { timeout: 180_000 }, () => {
  let january: Profile;

  it('profiles a window of a Parquet source and saves it as a reference', async () => {
    const r = await tessera(sqliteRepo, ...SAVE_JANUARY);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as { profile: Profile; saved: { name: string; version: number } };
    january = out.profile;
    expect(out.saved).toEqual({ name: 'orders_jan', version: 1 });
    expect(january.rowCount).toBe(31 * 2000);
    expect(january.target).toEqual({ kind: 'source', source: 'orders' });
    expect(january.columns.map((c) => [c.name, c.kind])).toEqual([
      ['user_id', 'numeric'],
      ['amount', 'numeric'],
      ['items', 'numeric'],
      ['device', 'categorical'],
    ]);
    const amount = january.columns[1] as NumericColumnProfile;
    expect(amount.nulls).toBe((31 * 2000) / 50);
    expect(amount.mean).toBeGreaterThan(49.5);
    expect(amount.mean).toBeLessThan(50.5);
    expect(amount.stddev).toBeGreaterThan(9.7);
    expect(amount.stddev).toBeLessThan(10.3);
    expect(amount.quantiles.values).toHaveLength(101);
    expect(amount.histogram.counts.reduce((s, v) => s + v, 0)).toBe(amount.count);
    expect(amount.histogram.edges).toHaveLength(11);
    const items = january.columns[2] as NumericColumnProfile;
    expect([items.min, items.max, items.distinct]).toEqual([1, 5, 5]);
    const deviceProfile = january.columns[3] as CategoricalColumnProfile;
    expect(deviceProfile.topValues.map((t) => t.value)).toEqual(['web', 'ios', 'android']);
    expect(deviceProfile.topValues[0]?.count ?? 0).toBeGreaterThan(0.48 * 62_000);
  });

  it('re-loads the saved profile from the SQLite registry, with history', async () => {
    const again = await tessera(sqliteRepo, ...SAVE_JANUARY);
    expect((again.json as { saved: { version: number } }).saved.version).toBe(2);
    const show = await tessera(sqliteRepo, 'profile', 'show', 'orders_jan@1', '--json');
    expect(show.code, show.stderr).toBe(0);
    const shown = show.json as { version: number; profile: Profile; history: { version: number }[] };
    expect(shown.version).toBe(1);
    expect(shown.profile).toEqual(january);
    expect(shown.history.map((h) => h.version)).toEqual([2, 1]);
    const list = await tessera(sqliteRepo, 'profile', 'list', '--json');
    expect(list.json).toEqual([
      expect.objectContaining({ name: 'orders_jan', version: 2, target: 'source orders', rowCount: 62_000 }),
    ]);
    const human = await tessera(sqliteRepo, 'profile', 'show', 'orders_jan');
    expect(human.stdout).toMatch(/amount\s+DOUBLE\s+60,760/);
    const missing = await tessera(sqliteRepo, 'profile', 'show', 'nope', '--json');
    expect(missing.code).toBe(4);
    expect((missing.json as { error: string }).error).toMatch(/no profile 'nope'/);
  });

  it('saves to and re-loads from the PostgreSQL registry', async () => {
    const r = await tessera(pgRepo, ...SAVE_JANUARY);
    expect(r.code, r.stderr).toBe(0);
    const show = await tessera(pgRepo, 'profile', 'show', 'orders_jan', '--json');
    expect(show.code, show.stderr).toBe(0);
    const { createdAt: _a, ...fromPg } = (show.json as { profile: Profile }).profile;
    const { createdAt: _b, ...fromSqlite } = january;
    expect(fromPg).toEqual(fromSqlite);
  });

  it("profiles a view's features under view__feature names", async () => {
    const r = await tessera(
      sqliteRepo,
      'profile',
      '--view',
      'order_stats',
      ...januaryArgs,
      '--save',
      'view_jan',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const profile = (r.json as { profile: Profile }).profile;
    expect(profile.target).toEqual({ kind: 'view', view: 'order_stats', source: 'orders' });
    expect(profile.columns.map((c) => [c.name, c.sourceColumn])).toEqual([
      ['order_stats__amount', 'amount'],
      ['order_stats__items', 'items'],
      ['order_stats__device', 'device'],
    ]);
  });

  it('profiles a training set file', async () => {
    const file = join(base, 'train.parquet');
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    await c.run(
      `COPY (SELECT i::BIGINT AS user_id, i * 0.5 AS order_stats__amount, 'x' || (i % 3) AS label FROM range(1000) t(i)) TO '${file}' (FORMAT parquet)`,
    );
    c.closeSync();
    instance.closeSync();
    const r = await tessera(sqliteRepo, 'profile', '--training-set', file, '--save', 'train_v1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const profile = (r.json as { profile: Profile }).profile;
    expect(profile.rowCount).toBe(1000);
    const amount = profile.columns.find((col) => col.name === 'order_stats__amount') as NumericColumnProfile;
    expect([amount.min, amount.max, amount.mean]).toEqual([0, 499.5, 249.75]);
  });

  it('says how to fix bad input', async () => {
    const none = await tessera(sqliteRepo, 'profile', '--json');
    expect(none.code).toBe(2);
    expect((none.json as { error: string }).error).toMatch(/give exactly one thing to profile/);
    const unknown = await tessera(sqliteRepo, 'profile', '--source', 'nope', '--json');
    expect(unknown.code).toBe(4);
    expect((unknown.json as { error: string }).error).toMatch(/no source 'nope'.*sources: orders/);
    const badName = await tessera(sqliteRepo, 'profile', '--source', 'orders', '--save', 'jan@1', '--json');
    expect(badName.code).toBe(2);
    expect((badName.json as { error: string }).error).toMatch(/invalid profile name 'jan@1'/);
  });
});

/** `monitor` of the orders source over [start, end) against the January reference. */
const monitorOrders = (start: string, end: string) => [
  'monitor',
  '--reference',
  'orders_jan',
  '--source',
  'orders',
  '--start',
  start,
  '--end',
  end,
];
/** March: drifted. */
const MARCH = monitorOrders('2024-03-01', '2024-04-01');

describe('tessera monitor', { timeout: 180_000 }, () => {
  const featureOf = (report: DriftReport, name: string) => report.features.find((f) => f.feature === name);

  it('finds no drift in a window like the reference (exit 0)', async () => {
    const r = await tessera(sqliteRepo, ...monitorOrders('2024-02-01', '2024-03-01'), '--json');
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const report = r.json as DriftReport;
    expect(report.breached).toBe(false);
    expect(report.current.rows).toBe(29 * 2000);
    for (const f of report.features) {
      expect(f.status, f.feature).toBe('ok');
      expect(f.psi ?? 0).toBeLessThan(0.02);
    }
    expect(featureOf(report, 'amount')?.ks ?? 1).toBeLessThan(0.03);
  });

  it('catches a drifted slice, names the features and exits 5', async () => {
    const r = await tessera(sqliteRepo, ...MARCH, '--json');
    expect(r.code, r.stderr).toBe(5);
    const report = r.json as DriftReport;
    expect(report.breached).toBe(true);
    const amount = featureOf(report, 'amount');
    expect(amount?.status).toBe('alert');
    expect(amount?.ks ?? 0).toBeGreaterThan(0.3);
    expect(amount?.mean.shiftInStddevs ?? 0).toBeGreaterThan(0.8);
    expect(featureOf(report, 'device')).toMatchObject({ status: 'alert', ks: null });
    expect(featureOf(report, 'device')?.psi ?? 0).toBeGreaterThan(0.2);
    expect(featureOf(report, 'items')?.status).toBe('ok');
    const human = tesseraProcess(sqliteRepo, ...MARCH);
    expect(human.code).toBe(5);
    expect(human.stdout).toMatch(/amount\s+alert/);
    expect(human.stdout).toMatch(/drift detected/);
  });

  it('compares serving logs with a view profile', async () => {
    const calm = await tessera(
      sqliteRepo,
      'monitor',
      '--reference',
      'view_jan',
      '--logs',
      '--start',
      '2024-04-01',
      '--end',
      '2024-04-02',
      '--json',
    );
    expect(calm.code, calm.stderr + calm.stdout).toBe(0);
    const report = calm.json as DriftReport;
    expect(report.current.rows).toBe(6000);
    // items is not served: reported as not compared, not as drift.
    expect(report.unmatched).toEqual(['order_stats__items']);
    expect(featureOf(report, 'order_stats__amount')).toMatchObject({ status: 'ok', currentCount: 5700 });
    // Rows of the file without the device column (another service) are not about that feature: not nulls.
    expect(featureOf(report, 'order_stats__device')).toMatchObject({ status: 'ok', currentCount: 3000 });
    expect(featureOf(report, 'order_stats__device')?.nullRate.current).toBe(0);

    const drifted = await tessera(
      sqliteRepo,
      'monitor',
      '--reference',
      'view_jan',
      '--logs',
      '--start',
      '2024-04-02',
      '--end',
      '2024-04-03',
      '--json',
    );
    expect(drifted.code, drifted.stderr).toBe(5);
    const driftReport = drifted.json as DriftReport;
    expect(featureOf(driftReport, 'order_stats__amount')?.status).toBe('alert');
    expect(featureOf(driftReport, 'order_stats__device')?.status).toBe('alert');
  });

  it('matches a training-set column named by feature alone to its logged view__feature column', async () => {
    const r = await tessera(
      sqliteRepo,
      'profile',
      '--source',
      'orders',
      '--columns',
      'amount',
      ...januaryArgs,
      '--save',
      'amount_jan',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const m = await tessera(
      sqliteRepo,
      'monitor',
      '--reference',
      'amount_jan',
      '--start',
      '2024-04-02',
      '--end',
      '2024-04-03',
      '--ks-threshold',
      '0.5',
      '--psi-threshold',
      '5',
      '--json',
    );
    const report = m.json as DriftReport;
    expect(report.features.map((f) => [f.feature, f.column])).toEqual([['amount', 'order_stats__amount']]);
    // With thresholds raised past the drift, nothing breaches.
    expect(m.code, m.stderr).toBe(0);
  });

  it("judges a view's features by its own monitoring thresholds, unless flags override them", async () => {
    const saved = await tessera(
      sqliteRepo,
      'profile',
      '--view',
      'order_stats_loose',
      ...januaryArgs,
      '--save',
      'loose_jan',
      '--json',
    );
    expect(saved.code, saved.stderr).toBe(0);
    const loose = await tessera(
      sqliteRepo,
      ...MARCH.map((a) => (a === 'orders_jan' ? 'loose_jan' : a)),
      '--json',
    );
    expect(loose.code, loose.stderr).toBe(0);
    const feature = (loose.json as DriftReport).features[0];
    // Past the warning level (PSI ≥ 0.1, reported) but under the view's alert levels: no failure.
    expect(feature).toMatchObject({ feature: 'order_stats_loose__amount', column: 'amount', status: 'warn' });
    expect(feature?.thresholds).toMatchObject({ psi: 10, ks: 1, nullRate: 1, psiWarn: 0.1 });
    const strict = await tessera(
      sqliteRepo,
      ...MARCH.map((a) => (a === 'orders_jan' ? 'loose_jan' : a)),
      '--ks-threshold',
      '0.1',
      '--json',
    );
    expect(strict.code).toBe(5);
    expect((strict.json as DriftReport).features[0]?.breaches).toEqual([expect.stringMatching(/^ks /)]);
  });

  it('fails clearly without a reference or without logs', async () => {
    const r = await tessera(sqliteRepo, 'monitor', '--reference', 'nope', '--json');
    expect(r.code).toBe(4);
    expect((r.json as { error: string }).error).toMatch(/no profile 'nope'.*saved profiles/);
    const noLogs = await tessera(pgRepo, 'monitor', '--reference', 'orders_jan', '--json');
    expect(noLogs.code).toBe(4);
    expect((noLogs.json as { error: string }).error).toMatch(/no serving logs.*feature_logging/);
  });
});

describe('profiles and drift over HTTP', { timeout: 180_000 }, () => {
  it('lists and shows saved profiles, and reports drift like tessera monitor --json', async () => {
    const store = await FeatureStore.open(sqliteRepo);
    const app = await buildServer(store);
    try {
      const list = await app.inject({ method: 'GET', url: '/profiles' });
      expect(list.statusCode, list.body).toBe(200);
      const names = (list.json() as { profiles: { name: string; version: number }[] }).profiles;
      expect(names.map((p) => p.name)).toContain('orders_jan');

      const one = await app.inject({ method: 'GET', url: '/profiles/orders_jan?version=1' });
      expect(one.statusCode, one.body).toBe(200);
      expect(one.json()).toMatchObject({
        name: 'orders_jan',
        version: 1,
        profile: { target: { kind: 'source' } },
      });
      const missing = await app.inject({ method: 'GET', url: '/profiles/nope' });
      expect(missing.statusCode).toBe(404);
      expect(missing.body).toMatch(/saved profiles: .*orders_jan/);

      const march = await app.inject({
        method: 'GET',
        url: '/drift?reference=orders_jan&source=orders&start=2024-03-01&end=2024-04-01',
      });
      expect(march.statusCode, march.body).toBe(200);
      const viaHttp = march.json() as DriftReport;
      const viaCli = (await tessera(sqliteRepo, ...MARCH, '--json')).json as DriftReport;
      expect(viaHttp.breached).toBe(true);
      expect(viaHttp.features.map((f) => [f.feature, f.status, f.psi, f.ks])).toEqual(
        viaCli.features.map((f) => [f.feature, f.status, f.psi, f.ks]),
      );

      const bad = await app.inject({
        method: 'GET',
        url: '/drift?reference=orders_jan&source=orders&since=1d&start=2024-03-01',
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.body).toMatch(/give since or start, not both/);
    } finally {
      await app.close();
      await store.close();
    }
  });
});
