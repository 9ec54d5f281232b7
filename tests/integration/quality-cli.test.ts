/**
 * Data-quality expectations end to end through the real CLI (child processes): YAML expectations validated at
 * apply, `tessera validate` exit codes and report, materialize gated on the range it loads (exit 5 unless
 * --force), historical gated on the service's training-set expectations, history readable afterwards.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureStore } from '../../src/feature-store.js';
import type { ValidationReport } from '../../src/quality/data-quality.js';
import type { ValidationRun } from '../../src/quality/validation-result.js';
import { loadYamlDefinitions } from '../../src/repo/yaml-definitions.js';
import { buildServer } from '../../src/server/http-server.js';
import { runCli } from '../helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-quality-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tessera = (...args: string[]) => runCli(dir, ...args);

const FEATURES = (extra = '') => `entities:
  - name: user
    join_keys: { user_id: int64 }
sources:
  - name: orders
    type: parquet
    path: data/orders.parquet
    timestamp_field: ts
    expectations:
      - not_null: user_id
      - in_set: { column: status, values: [new, paid] }
        severity: warn
      - row_count: { min: 1 }
${extra}feature_views:
  - name: user_orders
    entities: [user]
    source: orders
    schema: { amount: float64, status: string }
    expectations:
      - between: { column: amount, min: 0 }
        severity: warn
feature_services:
  - name: ranker
    features: ['user_orders:amount']
    expectations:
      - not_null: amount
`;

beforeAll(async () => {
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, 'tessera.yaml'), 'project: dq\ndefinitions: [features.yaml]\n');
  writeFileSync(join(dir, 'features.yaml'), FEATURES());
  // Day 1 (May 1) is clean except one refunded status and one negative amount; day 2 has two null user ids.
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  await c.run(`COPY (SELECT * FROM (VALUES
      (1::BIGINT, TIMESTAMPTZ '2024-05-01 01:00:00+00', 10.0, 'new'),
      (2, TIMESTAMPTZ '2024-05-01 02:00:00+00', -3.0, 'paid'),
      (3, TIMESTAMPTZ '2024-05-01 03:00:00+00', 7.5, 'refunded'),
      (NULL, TIMESTAMPTZ '2024-05-02 01:00:00+00', 1.0, 'new'),
      (NULL, TIMESTAMPTZ '2024-05-02 02:00:00+00', 2.0, 'paid'),
      (4, TIMESTAMPTZ '2024-05-02 03:00:00+00', 3.0, 'paid')
    ) AS t(user_id, ts, amount, status)) TO '${join(dir, 'data/orders.parquet')}' (FORMAT parquet)`);
  await c.run(`COPY (SELECT * FROM (VALUES (1::BIGINT, TIMESTAMPTZ '2024-05-03 00:00:00+00'),
      (99, TIMESTAMPTZ '2024-05-03 00:00:00+00')) AS t(user_id, event_timestamp))
    TO '${join(dir, 'data/spine.parquet')}' (FORMAT parquet)`);
  c.closeSync();
  db.closeSync();
}, 60_000);

/** Each test spawns a few CLI processes (tsx start-up, DuckDB): seconds each, much more on a loaded machine. */
const SLOW = 400_000;

describe('data-quality expectations through the CLI', () => {
  it(
    'refuses expectations on missing or unsuitable columns at apply, naming file and field',
    () => {
      writeFileSync(
        join(dir, 'features.yaml'),
        FEATURES().replace(
          '      - row_count: { min: 1 }\n',
          '      - row_count: { min: 1 }\n      - mean: { column: status, max: 3 }\n      - not_null: nope\n',
        ),
      );
      const bad = tessera('plan');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(
        /features\.yaml.*field 'expectations\.3'.*mean\(status\).*expected a number column, got VARCHAR/,
      );
      expect(bad.stderr).toMatch(/not_null\(nope\).*column 'nope' is missing/);
      expect(() =>
        loadYamlDefinitions(FEATURES().replace('min: 0 }', 'min: zero }'), 'features.yaml'),
      ).toThrow(
        /features\.yaml, row 20, field 'feature_views\.0\.expectations\.0\.between\.min'.*expected a number/,
      );
      writeFileSync(join(dir, 'features.yaml'), FEATURES());
      expect(tessera('apply').code).toBe(0);
    },
    SLOW,
  );

  it(
    'validate exits 5 on an error-level failure and prints observed values and samples',
    () => {
      const all = tessera('validate', '--json');
      expect(all.code, all.stderr).toBe(5);
      const report = all.json as ValidationReport;
      expect(report.runs.map((r) => `${r.subject.kind}/${r.subject.name}`)).toEqual([
        'source/orders',
        'view/user_orders',
      ]);
      const notNull = report.runs[0]?.results.find((r) => r.name === 'not_null(user_id)');
      expect(notNull).toMatchObject({ passed: false, observed: 2, severity: 'error' });
      expect(notNull?.samples).toHaveLength(2);
      const human = tessera('validate', '--source', 'orders');
      expect(human.code).toBe(5);
      expect(human.stdout).toMatch(
        /FAIL\s+not_null\(user_id\)\s+error\s+observed 2; expected no null values/,
      );
      expect(human.stdout).toMatch(/warn\s+in_set\(status\)\s+warn\s+observed 1/);
      expect(human.stdout).toContain('"status":"refunded"');
      // Day 1 alone: only warnings.
      const day1 = tessera('validate', '--start', '2024-05-01', '--end', '2024-05-02', '--json');
      expect(day1.code, day1.stderr).toBe(0);
      expect((day1.json as ValidationReport).failed).toEqual({ error: 0, warn: 2 });
    },
    SLOW,
  );

  it(
    'materialize is gated on the range it loads; --force loads anyway',
    () => {
      const ok = tessera('materialize', '--start', '2024-05-01', '--end', '2024-05-02', '--json');
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stderr).toMatch(/in_set\(status\)/); // warnings printed, job went on
      const stopped = tessera('materialize', '--start', '2024-05-01', '--end', '2024-05-03', '--json');
      expect(stopped.code).toBe(5);
      expect((stopped.json as { code: string; report: ValidationReport }).report.failed.error).toBe(1);
      const forced = tessera(
        'materialize',
        '--start',
        '2024-05-01',
        '--end',
        '2024-05-03',
        '--force',
        '--json',
      );
      expect(forced.code, forced.stderr).toBe(0);
      expect((forced.json as { rows: number }[])[0]?.rows).toBe(4);
    },
    SLOW,
  );

  it(
    "historical checks the service's training set",
    () => {
      const args = [
        'historical',
        '--spine',
        join(dir, 'data/spine.parquet'),
        '--service',
        'ranker',
        '--json',
      ];
      // Source errors stop it first; forced, the training set's own check (user 99 has no amount) still reports.
      const stopped = tessera(...args);
      expect(stopped.code).toBe(5);
      const forced = tessera(...args, '--force');
      expect(forced.code, forced.stderr).toBe(0);
      expect(forced.stderr).toMatch(/service ranker: FAILED.*\n.*not_null\(amount\)\s+error\s+observed 1/);
    },
    SLOW,
  );

  it(
    'keeps every run in the registry database, readable with validations',
    async () => {
      const list = tessera('validations', '--json', '--limit', '100');
      expect(list.code, list.stderr).toBe(0);
      const runs = list.json as ValidationRun[];
      expect(runs.length).toBeGreaterThanOrEqual(10);
      expect(new Set(runs.map((r) => r.trigger))).toEqual(new Set(['validate', 'materialize', 'historical']));
      expect(Date.parse(runs[0]?.startedAt ?? '')).toBeGreaterThanOrEqual(
        Date.parse(runs.at(-1)?.startedAt ?? ''),
      );
      const store = await FeatureStore.open(dir);
      try {
        const failed = await store.quality.history({ failedOnly: true, subject: 'orders' });
        expect(failed.length).toBeGreaterThan(0);
        expect(failed.every((r) => !r.passed && r.subject.name === 'orders')).toBe(true);
        expect(await store.quality.run(runs[0]?.id ?? '')).toEqual(runs[0]);
        // The same history over HTTP.
        const app = await buildServer(store);
        try {
          const listed = await app.inject({
            method: 'GET',
            url: '/validations?subject=orders&failed=true&limit=2',
          });
          expect(listed.statusCode).toBe(200);
          expect((listed.json() as { runs: ValidationRun[] }).runs.map((r) => r.id)).toEqual(
            failed.slice(0, 2).map((r) => r.id),
          );
          const one = await app.inject({ method: 'GET', url: `/validations/${runs[0]?.id}` });
          expect(one.json()).toEqual(runs[0]);
          expect((await app.inject({ method: 'GET', url: '/validations/nope' })).statusCode).toBe(404);
          expect((await app.inject({ method: 'GET', url: '/validations?limit=x' })).statusCode).toBe(400);
        } finally {
          await app.close();
        }
      } finally {
        await store.close();
      }
      const one = tessera('validations', runs[0]?.id ?? '');
      expect(one.stdout).toContain(runs[0]?.id);
      expect(tessera('validations', 'no-such-run').code).toBe(4);
    },
    SLOW,
  );
});
