/**
 * Expectations on a PostgreSQL source run on PostgreSQL itself (the compiler's postgres dialect): observed values
 * equal the brute-force reference, samples come back, the range filter applies, a view's projection works.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateFromDefinitions } from '../../src/definitions/definition.js';
import { entity } from '../../src/definitions/entity.js';
import { featureView } from '../../src/definitions/feature-view.js';
import { postgresSource } from '../../src/definitions/source.js';
import { float64, int64 } from '../../src/definitions/value-types.js';
import { checks } from '../../src/quality/expectations.js';
import { Validator } from '../../src/quality/run-validation.js';
import { sourceSubject, viewSubject } from '../../src/quality/subjects.js';
import {
  QUALITY_CHECKS,
  type QualityRow,
  randomQualityRows,
  refObserved,
  T0,
} from '../helpers/quality-reference.js';
import { postgresUrl } from '../helpers/services.js';

const schema = `tessera_dq_${randomBytes(4).toString('hex')}`;
const url = postgresUrl();
let client: pg.Client;
let validator: Validator;
const rows: QualityRow[] = randomQualityRows(21, 700);

beforeAll(async () => {
  client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(
    `CREATE TABLE ${schema}.orders (user_id bigint, day integer, amount double precision, status text, email text, ts timestamptz)`,
  );
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200);
    const values: unknown[] = [];
    const tuples = chunk.map((r, j) => {
      values.push(
        r.user_id,
        r.day,
        r.amount === null ? null : String(r.amount),
        r.status,
        r.email,
        new Date(r.ts),
      );
      return `(${Array.from({ length: 6 }, (_, k) => `$${j * 6 + k + 1}`).join(', ')})`;
    });
    await client.query(`INSERT INTO ${schema}.orders VALUES ${tuples.join(', ')}`, values);
  }
  validator = new Validator({
    project: 'q',
    repoPath: '/tmp',
    connections: { warehouse: url },
    sampleRows: 2,
  });
});
afterAll(async () => {
  await validator.close();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

const source = (expectations = QUALITY_CHECKS) =>
  postgresSource({
    name: 'orders',
    table: `${schema}.orders`,
    connection: 'warehouse',
    timestampField: 'ts',
    expectations,
  });

describe('batch validation on PostgreSQL (push-down to the database)', () => {
  it('computes the same observed values as the brute-force reference', async () => {
    const run = await validator.run(sourceSubject(source()));
    expect(run.engine).toBe('postgres');
    expect(run.rows).toBe(rows.length);
    for (const e of QUALITY_CHECKS) {
      const result = run.results.find((r) => r.name === e.name);
      const want = refObserved(e, rows);
      if (want === null) expect(result?.observed).toBeNull();
      else expect(result?.observed as number, e.name).toBeCloseTo(want, 6);
    }
    const notNull = run.results.find((r) => r.name === 'not_null(user_id)');
    expect(notNull?.samples).toHaveLength(2);
    expect(notNull?.samples?.every((s) => s['user_id'] === null)).toBe(true);
  });

  it('filters the range and validates a view through its projection', async () => {
    const start = new Date(T0 + 5 * 3_600_000);
    const end = new Date(T0 + 9 * 3_600_000);
    const inRange = rows.filter((r) => r.ts >= start.getTime() && r.ts < end.getTime());
    const user = entity({ name: 'user', joinKeys: { user_id: int64() } });
    const src = source([checks.rowCount({ min: 1 })]);
    const view = featureView({
      name: 'spend',
      entities: [user],
      source: src,
      schema: { spend: float64() },
      columns: { spend: 'amount' },
      expectations: [
        checks.between('spend', { min: 0, max: 100 }),
        checks.type('spend', 'float64'),
        checks.maxStaleness('1h'),
      ],
    });
    const state = stateFromDefinitions('q', [user, src, view]);
    const run = await validator.run(viewSubject(state, view, src), { start, end });
    expect(run.rows).toBe(inRange.length);
    expect(run.results[0]?.observed).toBe(
      refObserved(checks.between('amount', { min: 0, max: 100 }), inRange),
    );
    expect(run.results[1]).toMatchObject({ passed: true, observed: 'DOUBLE' });
    const newest = Math.max(...inRange.map((r) => r.ts));
    expect(run.results[2]?.observed).toBe(new Date(newest).toISOString());
    expect(Object.keys(run.results[0]?.samples?.[0] ?? {}).sort()).toEqual(['spend', 'ts', 'user_id']);
  });
});
