/**
 * `tessera demo` as the README runs it (embedded defaults, a child process), smaller: every step completes and
 * the data-quality steps catch what they plant — bad events dead-lettered with the reason, a broken file
 * refused then quarantined row for row, prices in cents flagged as drift while yesterday's data is calm.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';

const base = mkdtempSync(join(tmpdir(), 'tessera-demo-test-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

interface DemoSummary {
  trainingSet: { rows: number };
  checkedBeforeLoading: { subject: string; passed: boolean; expectations: number }[];
  stream: { refused: { invalid: number; deadLetters: string[] } };
  badFile: {
    upload: { rows: number; broken: { nullUserId: number; unknownEventType: number; negativePrice: number } };
    failed: { check: string; rows: number }[];
    refused: string;
    quarantine: { path: string; rows: number; loadedEvents: number };
  };
  drift: {
    yesterday: { breached: boolean };
    repriced: { breached: boolean; features: { feature: string; status: string; psi: number | null }[] };
  };
}

describe('tessera demo', () => {
  it('runs every step and catches a bad event, a bad file and a drifted feature', async () => {
    const dir = join(base, 'repo');
    const r = runCli(dir, 'demo', '--events', '20000', '--dir', dir, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = r.json as DemoSummary;
    expect(s.trainingSet.rows).toBeGreaterThan(0);

    // The generated data passes every check that gates its materialization.
    expect(s.checkedBeforeLoading.map((c) => c.subject)).toEqual(
      expect.arrayContaining(['source events_source', 'source item_stats_source']),
    );
    expect(s.checkedBeforeLoading.every((c) => c.passed)).toBe(true);

    expect(s.stream.refused.invalid).toBe(2);
    expect(s.stream.refused.deadLetters).toEqual([
      expect.stringMatching(/in_set\(event_type\).*hover/),
      expect.stringMatching(/between\(price\).*-19\.9/),
    ]);

    const { broken } = s.badFile.upload;
    expect(Object.fromEntries(s.badFile.failed.map((f) => [f.check, f.rows]))).toEqual({
      'not_null(user_id)': broken.nullUserId,
      'in_set(event_type)': broken.unknownEventType,
      'between(price)': broken.negativePrice,
    });
    expect(s.badFile.refused).toMatch(/not_null\(user_id\)/);
    const total = broken.nullUserId + broken.unknownEventType + broken.negativePrice;
    expect(s.badFile.quarantine.rows).toBe(total);
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    const quarantined = (
      await c.runAndReadAll(
        `SELECT count(*)::INTEGER AS n, count(_reason)::INTEGER AS with_reason FROM read_parquet('${s.badFile.quarantine.path}')`,
      )
    ).getRowObjectsJson();
    c.closeSync();
    db.closeSync();
    expect(quarantined).toEqual([{ n: total, with_reason: total }]);

    expect(s.drift.yesterday.breached).toBe(false);
    expect(s.drift.repriced.breached).toBe(true);
    const price = s.drift.repriced.features.find((f) => f.feature === 'price');
    expect(price?.status).toBe('alert');
  }, 600_000);
});
