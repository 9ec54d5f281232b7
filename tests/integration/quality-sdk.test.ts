/**
 * Data-quality gates through the SDK, on a CSV source: materialize throws ValidationFailedError (with the report)
 * unless `force`, warnings reach `onValidation`, expectations passed to one historical retrieval are checked on
 * its training set, and every run lands in the history.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { FeatureStore } from '../../src/feature-store.js';
import { ValidationFailedError, type ValidationReport } from '../../src/quality/data-quality.js';
import { checks } from '../../src/quality/expectations.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-quality-sdk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('data-quality gates in the SDK', () => {
  it('gates materialize and historical, and records every run', async () => {
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'tessera.yaml'), 'project: dqsdk\ndefinitions: [features.yaml]\n');
    writeFileSync(
      join(dir, 'data', 'profiles.csv'),
      [
        'customer_id,updated_at,tier,score',
        '1,2024-06-01T00:00:00Z,gold,0.9',
        '2,2024-06-01T01:00:00Z,silver,0.4',
        '3,2024-06-01T02:00:00Z,platinum,1.7',
        '4,2024-06-02T00:00:00Z,gold,',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'features.yaml'),
      `entities:
  - name: customer
    join_keys: { customer_id: int64 }
sources:
  - name: profiles
    type: csv
    path: data/profiles.csv
    timestamp_field: updated_at
    expectations:
      - between: { column: score, min: 0, max: 1 }
feature_views:
  - name: customer_profile
    entities: [customer]
    source: profiles
    schema: { tier: string, score: float64 }
    expectations:
      - in_set: { column: tier, values: [gold, silver] }
        severity: warn
`,
    );
    const store = await FeatureStore.open(dir);
    try {
      await store.apply();
      const reports: ValidationReport[] = [];
      const onValidation = (r: ValidationReport) => reports.push(r);
      const day = (d: number) => new Date(Date.UTC(2024, 5, d));

      const failure = await store
        .materialize({ start: day(1), end: day(2), onValidation })
        .catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(ValidationFailedError);
      const report = (failure as ValidationFailedError).report;
      expect(report.failed).toEqual({ error: 1, warn: 1 });
      expect(report.runs[0]?.results[0]).toMatchObject({
        name: 'between(score)',
        observed: 1,
        failingRows: 1,
      });
      expect(report.runs[0]?.results[0]?.samples?.[0]).toMatchObject({ customer_id: 3, score: 1.7 });
      expect(reports).toHaveLength(1); // reported before it threw
      expect(
        (
          await store.getOnlineFeatures({
            features: ['customer_profile:tier'],
            entities: [{ customer_id: 1 }],
          })
        ).rows[0]?.['tier'],
      ).toBeNull();

      // Day 2 alone is clean.
      expect((await store.materialize({ start: day(2), end: day(3) }))[0]?.rows).toBe(1);
      // Quarantined: the failing row is set aside with its reason, the other rows load.
      const qdir = join(dir, 'quarantine');
      const loaded = await store.materialize({ start: day(1), end: day(2), quarantine: qdir, onValidation });
      expect(loaded[0]?.rows).toBe(2);
      const q = reports.at(-1)?.runs[0];
      expect(q?.passed).toBe(true);
      expect(q?.results[0]).toMatchObject({ name: 'between(score)', passed: false, quarantined: true });
      expect(q?.quarantine?.rows).toBe(1);
      const db = await DuckDBInstance.create(':memory:');
      const c = await db.connect();
      const quarantined = (
        await c.runAndReadAll(`SELECT customer_id, _reason FROM read_parquet('${q?.quarantine?.path}')`)
      ).getRows();
      c.closeSync();
      db.closeSync();
      expect(quarantined).toEqual([[3n, 'between(score)']]);
      const online = async (customer_id: number) =>
        (await store.getOnlineFeatures({ features: ['customer_profile:tier'], entities: [{ customer_id }] }))
          .rows[0]?.['tier'];
      expect([await online(1), await online(3)]).toEqual(['gold', null]);
      // Forced, day 1 loads whole with its failures reported.
      const forced = await store.materialize({ start: day(1), end: day(2), force: true, onValidation });
      expect(forced[0]?.rows).toBe(3);
      expect(reports.at(-1)?.passed).toBe(false);

      // Checks passed to one retrieval run on its training set (customer 9 has no profile: a null tier).
      const spine = {
        kind: 'rows' as const,
        rows: [1, 9].map((customer_id) => ({ customer_id, event_timestamp: day(5) })),
      };
      const request = {
        spine,
        features: ['customer_profile:tier', 'customer_profile:score'],
        expectations: [checks.notNull('tier'), checks.rowCount({ min: 2, max: 2 })],
        onValidation,
      };
      await expect(store.getHistoricalFeatures({ ...request, force: true })).resolves.toBeDefined();
      const trainingRun = reports.at(-1)?.runs[0];
      expect(trainingRun?.subject).toEqual({ kind: 'service', name: 'training_set' });
      expect(trainingRun?.results.map((r) => [r.name, r.passed, r.observed])).toEqual([
        ['not_null(tier)', false, 1],
        ['row_count', true, 2],
      ]);
      await expect(store.getHistoricalFeatures(request)).rejects.toThrow(/historical stopped/);

      const history = await store.quality.history({ limit: 100 });
      // Each gate checks the source and the view: materialize failed, day 2, quarantined, forced (8 runs);
      // historical: forced with the training set (3), stopped (2).
      expect(history.map((r) => r.trigger).sort()).toEqual([
        ...Array(5).fill('historical'),
        ...Array(8).fill('materialize'),
      ]);
    } finally {
      await store.close();
    }
  });
});
