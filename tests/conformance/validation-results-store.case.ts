import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ValidationResultsStore } from '../../src/quality/results-store.js';
import type { ValidationRun } from '../../src/quality/validation-result.js';

/** A run as the Validator makes it, with every optional part present. */
export function sampleRun(project: string, over: Partial<ValidationRun> = {}): ValidationRun {
  return {
    id: randomUUID(),
    project,
    subject: { kind: 'source', name: 'orders' },
    trigger: 'validate',
    startedAt: new Date().toISOString(),
    seconds: 0.25,
    range: { start: '2024-05-01T00:00:00.000Z', end: '2024-05-02T00:00:00.000Z' },
    engine: 'duckdb',
    rows: 1234,
    passed: false,
    failed: { error: 1, warn: 0 },
    results: [
      {
        name: 'not_null(user_id)',
        check: 'not_null',
        severity: 'error',
        passed: false,
        observed: 2,
        expected: 'no null values',
        failingRows: 2,
        samples: [{ user_id: null, amount: 1.5, ts: '2024-05-01T10:00:00.000Z' }],
      },
      {
        name: 'mean(amount)',
        check: 'mean',
        severity: 'warn',
        passed: true,
        observed: 3.25,
        expected: 'mean ≤ 10',
      },
    ],
    quarantine: { path: '/tmp/q.parquet', rows: 2 },
    ...over,
  };
}

/**
 * The behaviour every `ValidationResultsStore` must have; stores from `create` share storage, tests isolate
 * themselves by project name.
 *
 * @example runValidationResultsStoreConformance('sqlite', async () => new SqliteResultsStore(file));
 */
export function runValidationResultsStoreConformance(
  name: string,
  create: () => Promise<ValidationResultsStore>,
): void {
  describe(`ValidationResultsStore conformance: ${name}`, () => {
    const opened: ValidationResultsStore[] = [];
    const open = async () => {
      const s = await create();
      opened.push(s);
      return s;
    };
    const project = () => `p_${randomUUID().replaceAll('-', '')}`;
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    it('saves a run and reads it back unchanged', async () => {
      const store = await open();
      const p = project();
      const run = sampleRun(p);
      await store.save(run);
      expect(await store.get(p, run.id)).toEqual(run);
      expect(await store.get(p, 'missing')).toBeUndefined();
      expect(await store.get(project(), run.id)).toBeUndefined();
    });

    it('lists history newest first, filtered by subject and failure, limited, per project', async () => {
      const store = await open();
      const p = project();
      const t = Date.UTC(2024, 4, 1);
      const runs = Array.from({ length: 6 }, (_, i) =>
        sampleRun(p, {
          startedAt: new Date(t + i * 1000).toISOString(),
          subject: { kind: i % 2 === 0 ? 'source' : 'view', name: i % 2 === 0 ? 'orders' : 'user_stats' },
          passed: i % 3 !== 0,
        }),
      );
      for (const r of [...runs].reverse()) await store.save(r);
      await store.save(sampleRun(project()));
      const all = await store.list(p);
      expect(all.map((r) => r.id)).toEqual([...runs].reverse().map((r) => r.id));
      expect((await store.list(p, { limit: 2 })).map((r) => r.id)).toEqual([runs[5]?.id, runs[4]?.id]);
      expect((await store.list(p, { subject: 'orders' })).map((r) => r.id)).toEqual(
        [runs[4], runs[2], runs[0]].map((r) => r?.id),
      );
      expect((await store.list(p, { failedOnly: true })).map((r) => r.id)).toEqual([
        runs[3]?.id,
        runs[0]?.id,
      ]);
    });

    it('is shared by every store on the same storage', async () => {
      const [a, b] = [await open(), await open()];
      const p = project();
      const run = sampleRun(p);
      await a.save(run);
      expect((await b.list(p)).map((r) => r.id)).toEqual([run.id]);
    });
  });
}
