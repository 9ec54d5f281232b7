import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';

const _ROOT = join(import.meta.dirname, '../..');
const dir = join(mkdtempSync(join(tmpdir(), 'tessera-cli-')), 'repo');

/** Runs the real CLI in a child process (from sources via tsx) on the test repo. */
function tessera(...args: string[]): { code: number; json: unknown; stdout: string; stderr: string } {
  return runCli(dir, ...args);
}

describe('tessera CLI', () => {
  beforeAll(() => {
    const r = tessera('init', dir, '--events', '5000', '--json');
    expect(r.code, r.stderr).toBe(0);
  }, 120_000);

  it('plans, applies, lists and shows history as JSON', () => {
    const plan = tessera('plan', '--json');
    expect(plan.code, plan.stderr).toBe(0);
    expect((plan.json as { hasChanges: boolean }).hasChanges).toBe(true);
    const apply = tessera('apply', '--json', '-m', 'first');
    expect(apply.code, apply.stderr).toBe(0);
    expect((apply.json as { result: { version: number } }).result.version).toBe(1);
    const list = tessera('list', 'views', '--json');
    expect((list.json as { definitions: { name: string }[] }).definitions.map((d) => d.name)).toEqual([
      'item_stats',
      'user_engagement',
      'user_profile',
      'user_stats',
    ]);
    const history = tessera('registry', 'history', '--json');
    expect((history.json as { version: number; message: string }[])[0]).toMatchObject({
      version: 1,
      message: 'first',
    });
    const lineage = tessera('lineage', 'user_stats', '--json');
    expect((lineage.json as { edges: { from: string; to: string }[] }).edges).toContainEqual(
      expect.objectContaining({ from: 'Source/user_stats_source', to: 'FeatureView/user_stats' }),
    );
  });

  it('builds a training set, materializes and reads online', () => {
    const out = join(dir, 'train.parquet');
    const hist = tessera(
      'historical',
      '--spine',
      join(dir, 'data/training_spine.parquet'),
      '--service',
      'ranker_v1',
      '--out',
      out,
      '--json',
    );
    expect(hist.code, hist.stderr).toBe(0);
    expect((hist.json as { rows: number; out: string }).rows).toBeGreaterThan(0);
    const mat = tessera('materialize-incremental', '--end', 'now', '--json');
    expect(mat.code, mat.stderr).toBe(0);
    expect((mat.json as { view: string; rows: number }[]).map((r) => r.view).sort()).toEqual([
      'item_stats',
      'user_engagement',
      'user_profile',
      'user_stats',
    ]);
    const get = tessera('get', '--features', 'user_profile:country', '-e', 'user_id=1', '--json');
    expect(get.code, get.stderr).toBe(0);
    expect((get.json as { statuses: string[][] }).statuses[0]).toEqual(['PRESENT', 'PRESENT']);
  });

  it('exits 4 for unknown names and 2 for bad input, with the reason', () => {
    const unknown = tessera('get', '--features', 'nope:x', '-e', 'user_id=1');
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/unknown feature view 'nope'/);
    const badTime = tessera('materialize', '--start', 'yesterday', '--end', 'now', '--json');
    expect(badTime.code).toBe(2);
    expect((badTime.json as { error: string }).error).toMatch(/invalid time 'yesterday'/);
    writeFileSync(
      join(dir, 'rows.json'),
      JSON.stringify([{ user_id: 1, updated_at: 'not a time', country: 'FR' }]),
    );
    const push = tessera('push', '--view', 'user_profile', '--file', join(dir, 'rows.json'));
    expect(push.code).toBe(2);
    expect(push.stderr).toMatch(/row 0, field 'updated_at': invalid timestamp/);
    const usage = tessera('frobnicate');
    expect(usage.code).toBe(2);
  });

  it('refuses a breaking change (exit 3) unless --allow-breaking, and names schema mismatches (exit 2)', () => {
    const features = join(dir, 'features.ts');
    const original = readFileSync(features, 'utf8');
    writeFileSync(features, original.replace('views_7d: int64(),', 'views_7d: float64(),'));
    const refused = tessera('apply');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/views_7d/);
    const plan = tessera('plan', '--json');
    expect((plan.json as { breaking: { code: string }[] }).breaking.map((b) => b.code)).toContain(
      'feature-type-changed',
    );
    expect(tessera('apply', '--allow-breaking').code).toBe(0);

    writeFileSync(features, original.replace('views_7d: int64(),', 'views_7d: string(),'));
    const mismatch = tessera('apply', '--allow-breaking', '--json');
    expect(mismatch.code).toBe(2);
    expect((mismatch.json as { error: string }).error).toMatch(
      /data\/user_stats, field 'views_7d': feature 'views_7d' column 'views_7d' of source 'user_stats_source' has an incompatible type; expected a column readable as string, got BIGINT/,
    );
    writeFileSync(features, original);
  });
});
