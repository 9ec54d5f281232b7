/**
 * Data-quality expectations on real Parquet and CSV files (written by DuckDB here): the SQL push-down's observed
 * values against a brute-force JS reference on random data, samples of failing rows, time ranges, staleness,
 * missing columns, quarantine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvSource, parquetSource } from '../../src/definitions/source.js';
import { checks } from '../../src/quality/expectations.js';
import { Validator } from '../../src/quality/run-validation.js';
import { sourceSubject } from '../../src/quality/subjects.js';
import {
  QUALITY_CHECKS as all,
  type QualityRow as Row,
  randomQualityRows as randomRows,
  refObserved,
  T0,
} from '../helpers/quality-reference.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-quality-'));
const HOUR = 3_600_000;
let validator: Validator;

const lit = (v: unknown) =>
  v === null ? 'NULL' : typeof v === 'string' ? `'${v}'` : Number.isNaN(v) ? "'NaN'::DOUBLE" : String(v);

/** Writes rows with DuckDB as `<name>.parquet` and `<name>.csv`. */
async function writeFiles(name: string, rows: readonly Row[]): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  await c.run("SET TimeZone = 'UTC'");
  await c.run(
    'CREATE TABLE t (user_id BIGINT, day INTEGER, amount DOUBLE, status VARCHAR, email VARCHAR, ts TIMESTAMPTZ)',
  );
  for (let i = 0; i < rows.length; i += 500) {
    const chunk = rows.slice(i, i + 500);
    await c.run(
      `INSERT INTO t VALUES ${chunk
        .map(
          (x) =>
            `(${lit(x.user_id)}, ${lit(x.day)}, ${lit(x.amount)}, ${lit(x.status)}, ${lit(x.email)}, make_timestamptz(${x.ts * 1000}))`,
        )
        .join(', ')}`,
    );
  }
  await c.run(`COPY t TO '${join(dir, `${name}.parquet`)}' (FORMAT parquet)`);
  await c.run(`COPY t TO '${join(dir, `${name}.csv`)}' (HEADER, DELIMITER ',')`);
  c.closeSync();
  db.closeSync();
}

beforeAll(() => {
  validator = new Validator({ project: 'q', repoPath: dir, connections: {}, sampleRows: 3, threads: 1 });
});
afterAll(async () => {
  await validator.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('batch validation on files (DuckDB push-down)', () => {
  for (const seed of [1, 2, 3]) {
    it(`observed values equal a brute-force reference (seed ${seed}, Parquet and CSV)`, async () => {
      const rows = randomRows(seed, 400 + seed * 137);
      await writeFiles(`r${seed}`, rows);
      // NaN has no text form DuckDB's CSV reader keeps as a double; the CSV copy is compared without NaN rows.
      for (const type of ['parquet', 'csv'] as const) {
        const src =
          type === 'parquet'
            ? parquetSource({
                name: 'orders',
                path: `r${seed}.parquet`,
                timestampField: 'ts',
                expectations: all,
              })
            : csvSource({ name: 'orders', path: `r${seed}.csv`, timestampField: 'ts', expectations: all });
        const run = await validator.run(sourceSubject(src));
        expect(run.rows).toBe(rows.length);
        for (const e of all) {
          const result = run.results.find((r) => r.name === e.name);
          const want = refObserved(e, rows);
          if (want === null) expect(result?.observed).toBeNull();
          else if (Number.isNaN(want)) expect(Number.isNaN(result?.observed)).toBe(true);
          else expect(result?.observed as number, `${type} ${e.name}`).toBeCloseTo(want, 6);
        }
      }
    });
  }

  it('reports failing rows with samples, severities and the verdict', async () => {
    const rows = randomRows(7, 300);
    await writeFiles('s', rows);
    const src = parquetSource({
      name: 'orders',
      path: 's.parquet',
      timestampField: 'ts',
      expectations: [
        checks.notNull('user_id'),
        checks.inSet('status', ['new', 'paid', 'refunded'], { severity: 'warn' }),
        checks.unique(['user_id', 'day'], { severity: 'warn' }),
        checks.type('amount', 'float64'),
        checks.type('status', 'int64', { severity: 'warn' }),
      ],
    });
    const run = await validator.run(sourceSubject(src));
    const byName = new Map(run.results.map((r) => [r.name, r]));
    expect(byName.get('not_null(user_id)')?.passed).toBe(false);
    expect(byName.get('not_null(user_id)')?.samples?.length).toBe(3);
    expect(byName.get('not_null(user_id)')?.samples?.every((s) => s['user_id'] === null)).toBe(true);
    expect(byName.get('in_set(status)')?.samples?.every((s) => s['status'] === 'bogus')).toBe(true);
    expect(byName.get('unique(user_id,day)')?.samples?.[0]?.['rows']).toBeGreaterThan(1);
    expect(byName.get('type(amount)')).toMatchObject({ passed: true, observed: 'DOUBLE' });
    expect(byName.get('type(status)')).toMatchObject({ passed: false, observed: 'VARCHAR' });
    expect(run.passed).toBe(false);
    expect(run.failed).toEqual({ error: 1, warn: 3 });
  });

  it('checks only the given time range, and measures staleness from its end', async () => {
    const rows = randomRows(9, 500);
    await writeFiles('range', rows);
    const src = parquetSource({
      name: 'orders',
      path: 'range.parquet',
      timestampField: 'ts',
      expectations: [checks.rowCount({ min: 1 }), checks.maxStaleness('1h')],
    });
    const start = new Date(T0 + 10 * HOUR);
    const end = new Date(T0 + 20 * HOUR);
    const run = await validator.run(sourceSubject(src), { start, end });
    const inRange = rows.filter((r) => r.ts >= start.getTime() && r.ts < end.getTime());
    expect(run.rows).toBe(inRange.length);
    const newest = Math.max(...inRange.map((r) => r.ts));
    expect(run.results[1]).toMatchObject({
      passed: end.getTime() - newest <= HOUR,
      observed: new Date(newest).toISOString(),
    });
    // Without a range, staleness is measured from now: data of 2024 is stale.
    const now = await validator.run(sourceSubject(src));
    expect(now.results[1]?.passed).toBe(false);
    // An empty range: no rows, staleness fails, statistics have nothing to judge.
    const empty = await validator.run(sourceSubject(src), { start: new Date(0), end: new Date(1000) });
    expect(empty.rows).toBe(0);
    expect(empty.results[0]?.passed).toBe(false);
    expect(empty.results[1]).toMatchObject({ passed: false, observed: null });
  });

  it('fails checks on missing columns without stopping the others, and quarantines failing rows', async () => {
    const rows = randomRows(11, 200);
    await writeFiles('q', rows);
    const src = parquetSource({
      name: 'orders',
      path: 'q.parquet',
      timestampField: 'ts',
      expectations: [
        checks.notNull('nope'),
        checks.notNull('user_id'),
        checks.between('amount', { min: 0, max: 100 }),
        checks.inSet('status', ['new', 'paid', 'refunded'], { severity: 'warn' }),
      ],
    });
    const run = await validator.run(sourceSubject(src), { quarantineDir: join(dir, 'quarantine') });
    expect(run.results[0]).toMatchObject({ passed: false, note: 'missing column(s): nope' });
    const expected = rows.filter(
      (r) =>
        r.user_id === null ||
        (r.amount !== null && (Number.isNaN(r.amount) || r.amount < 0 || r.amount > 100)),
    );
    expect(run.quarantine?.rows).toBe(expected.length);
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    const reasons = (
      await c.runAndReadAll(
        `SELECT _reason, count(*) AS n FROM read_parquet('${run.quarantine?.path}') GROUP BY 1`,
      )
    ).getRowObjectsJson();
    c.closeSync();
    db.closeSync();
    const both = expected.filter(
      (r) =>
        r.user_id === null && r.amount !== null && (Number.isNaN(r.amount) || r.amount < 0 || r.amount > 100),
    ).length;
    const n = (reason: string) => Number(reasons.find((x) => x['_reason'] === reason)?.['n'] ?? 0);
    expect(n('not_null(user_id); between(amount)')).toBe(both);
    expect(n('not_null(user_id)') + n('between(amount)') + both).toBe(expected.length);
  });
});
