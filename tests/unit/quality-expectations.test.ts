import { describe, expect, it } from 'vitest';
import { deserializeState, serializeState, stateFromDefinitions } from '../../src/definitions/definition.js';
import { parquetSource } from '../../src/definitions/source.js';
import { checks, normalizeExpectations, parseExpectation } from '../../src/quality/expectations.js';
import { sourceSubject } from '../../src/quality/subjects.js';
import { validateExpectationsAgainstColumns } from '../../src/quality/validate-expectations.js';
import { evaluateChecks } from '../../src/quality/validation-result.js';
import { compileValidation, failingRowSql, fullMatchBody } from '../../src/quality/validation-sql.js';
import { planChanges } from '../../src/registry/diff.js';

describe('expectation definitions', () => {
  it('builds frozen checks with stable names and default severity error', () => {
    const all = [
      checks.notNull('user_id'),
      checks.unique(['user_id', 'day']),
      checks.between('amount', { min: 0 }),
      checks.inSet('status', ['a', 'b'], { severity: 'warn' }),
      checks.matches('email', '@'),
      checks.type('amount', 'float64'),
      checks.rowCount({ max: 10 }),
      checks.mean('amount', { min: 1, max: 2 }),
      checks.stddev('amount', { max: 2 }),
      checks.quantile('amount', 0.95, { max: 2 }),
      checks.maxStaleness('1d'),
      checks.maxStaleness('2h', { column: 'updated_at', name: 'fresh' }),
    ];
    expect(all.map((e) => e.name)).toEqual([
      'not_null(user_id)',
      'unique(user_id,day)',
      'between(amount)',
      'in_set(status)',
      'matches(email)',
      'type(amount)',
      'row_count',
      'mean(amount)',
      'stddev(amount)',
      'quantile(amount,0.95)',
      'max_staleness(timestamp)',
      'fresh',
    ]);
    expect(all.every((e) => Object.isFrozen(e) && e.kind === 'Expectation')).toBe(true);
    expect(all.map((e) => e.severity).filter((s) => s === 'warn')).toHaveLength(1);
    expect(all[10]).toMatchObject({ maxAgeMs: 86_400_000 });
  });

  it('parses the YAML form into the same data as the builders', () => {
    expect(parseExpectation({ not_null: 'user_id' })).toEqual(checks.notNull('user_id'));
    expect(parseExpectation({ unique: ['a', 'b'], severity: 'warn' })).toEqual(
      checks.unique(['a', 'b'], { severity: 'warn' }),
    );
    expect(parseExpectation({ between: { column: 'x', max: 3 } })).toEqual(checks.between('x', { max: 3 }));
    expect(parseExpectation({ quantile: { column: 'x', q: 0.5, min: 1 }, name: 'median' })).toEqual(
      checks.quantile('x', 0.5, { min: 1 }, { name: 'median' }),
    );
    expect(parseExpectation({ max_staleness: { max_age: '1h', column: 'ts' } })).toEqual(
      checks.maxStaleness('1h', { column: 'ts' }),
    );
  });

  it('reports bad input naming the entry and field', () => {
    const bad = (input: unknown[]) => () => normalizeExpectations(input, "source 'orders'");
    expect(bad([{ not_null: 'a' }, { nul: 'a' }])).toThrow(
      /field 'expectations\.1\.nul'.*unknown expectation/,
    );
    expect(bad([{ between: { column: 'a' } }])).toThrow(
      /expectations\.0\.between\.min'.*needs min, max or both/,
    );
    expect(bad([{ between: { column: 'a', min: 3, max: 1 } }])).toThrow(/min is greater than max/);
    expect(bad([{ matches: { column: 'a', pattern: '(' } }])).toThrow(/invalid regular expression/);
    expect(bad([{ quantile: { column: 'a', q: 2, max: 1 } }])).toThrow(/q must be in \[0, 1\]/);
    expect(bad([{ not_null: 'a', severity: 'fatal' }])).toThrow(
      /invalid severity "fatal"; expected 'error' or 'warn'/,
    );
    expect(bad([{ not_null: 'a' }, { not_null: 'a' }])).toThrow(
      /two expectations of source 'orders' are named 'not_null\(a\)'/,
    );
    expect(bad([{ type: { column: 'a', type: 'decimal' } }])).toThrow(/unknown type 'decimal'/);
  });

  it('serializes into the registry state and survives a round trip; a change shows in the diff', () => {
    const a = parquetSource({
      name: 'o',
      path: 'o',
      timestampField: 'ts',
      expectations: [checks.notNull('x')],
    });
    const b = parquetSource({
      name: 'o',
      path: 'o',
      timestampField: 'ts',
      expectations: [checks.notNull('x', { severity: 'warn' }), { max_staleness: { max_age: '1d' } }],
    });
    const sa = stateFromDefinitions('p', [a]);
    const back = deserializeState(JSON.parse(JSON.stringify(serializeState(sa))));
    expect(back.sources[0]?.expectations).toEqual(a.expectations);
    // A state read back re-normalizes (another copy of the package) to the same data.
    expect(normalizeExpectations(back.sources[0]?.expectations, 'x')).toEqual(a.expectations);
    const plan = planChanges(sa, stateFromDefinitions('p', [b]));
    expect(plan.changes.find((c) => c.name === 'o')?.change).toBe('changed');
    // Sources without expectations serialize exactly as before (no empty list).
    expect('expectations' in parquetSource({ name: 'o', path: 'o', timestampField: 'ts' })).toBe(false);
  });
});

describe('validation SQL compiler', () => {
  const types = new Map([
    ['user_id', 'BIGINT'],
    ['amount', 'DOUBLE'],
    ['qty', 'INTEGER'],
    ['email', 'VARCHAR'],
    ['ts', 'TIMESTAMP WITH TIME ZONE'],
  ]);
  const expectations = [
    checks.notNull('user_id'),
    checks.between('amount', { min: 0, max: 10 }),
    checks.between('qty', { min: 0 }),
    checks.matches('email', '^[a-z]+@x\\.io$'),
    checks.inSet('email', ["o'brien", 'b']),
    checks.unique(['user_id', 'qty']),
    checks.quantile('amount', 0.9, { max: 1 }),
    checks.stddev('qty', { max: 1 }),
    checks.maxStaleness('1d'),
    checks.type('amount', 'float64'),
  ];

  it('compiles all checks of a subject into one aggregate scan over the range', () => {
    const plan = compileValidation({
      relation: "read_parquet('/d/*.parquet')",
      dialect: 'duckdb',
      expectations,
      columnTypes: types,
      timestampField: 'ts',
      startUs: 1_714_521_600_000_000n,
      endUs: 1_714_608_000_000_000n,
    });
    expect(plan.aggregateSql.match(/\bFROM\b/g)).toHaveLength(1);
    expect(plan.aggregateSql).toContain(
      'WHERE "ts" >= TIMESTAMPTZ \'2024-05-01 00:00:00.000000+00\' AND "ts" < TIMESTAMPTZ \'2024-05-02 00:00:00.000000+00\'',
    );
    expect(plan.aggregateSql).toContain('count(*) FILTER (WHERE "user_id" IS NULL) AS "e0_fail"');
    expect(plan.aggregateSql).toContain('("amount" < 0 OR "amount" > 10 OR isnan("amount"))');
    expect(plan.aggregateSql).toContain('("qty" < 0)'); // integers need no NaN test
    expect(plan.aggregateSql).toContain('NOT regexp_full_match(CAST("email" AS VARCHAR), \'[a-z]+@x\\.io\')');
    expect(fullMatchBody('^a|b$')).toBeUndefined();
    expect(fullMatchBody('^ab\\$')).toBeUndefined();
    expect(fullMatchBody('^a\\\\$')).toBe('a\\\\');
    expect(fullMatchBody('^(?i)ab$')).toBeUndefined();
    expect(failingRowSql(checks.matches('e', '@'), 'duckdb', types)).toContain(
      'regexp_matches(CAST("e" AS VARCHAR), \'@\')',
    );
    expect(plan.aggregateSql).toContain("NOT IN ('o''brien', 'b')");
    expect(plan.aggregateSql).toContain('count(DISTINCT ROW("user_id", "qty"))');
    expect(plan.aggregateSql).toContain(
      'quantile_cont(CAST("amount" AS DOUBLE PRECISION), 0.9) FILTER (WHERE isfinite("amount"))',
    );
    expect(plan.aggregateSql).toContain('stddev_samp(CAST("qty" AS DOUBLE PRECISION)) AS');
    expect(plan.aggregateSql).toContain('max("ts")');
    expect(plan.checks).toHaveLength(expectations.length);
    expect(plan.checks[0]?.sampleSql?.(3)).toMatch(/WHERE \(.*\) AND "user_id" IS NULL LIMIT 3$/);
    expect(plan.checks[5]?.sampleSql?.(2)).toMatch(
      /GROUP BY "user_id", "qty" HAVING count\(\*\) > 1 .* LIMIT 2$/,
    );
  });

  it('switches regex, quantile and NaN tests for PostgreSQL', () => {
    const plan = compileValidation({
      relation: 'public.orders',
      dialect: 'postgres',
      expectations,
      columnTypes: types,
    });
    expect(plan.aggregateSql).toContain('NOT (CAST("email" AS TEXT) ~ \'^[a-z]+@x\\.io$\')');
    expect(plan.aggregateSql).toContain(
      "percentile_cont(0.9) WITHIN GROUP (ORDER BY CAST(\"amount\" AS DOUBLE PRECISION)) FILTER (WHERE \"amount\" NOT IN ('NaN', 'Infinity', '-Infinity'))",
    );
    expect(plan.aggregateSql).toContain('"amount" = CAST(\'NaN\' AS DOUBLE PRECISION)');
    expect(plan.aggregateSql).toMatch(/FROM public\.orders WHERE TRUE$/);
    expect(failingRowSql(checks.rowCount({ min: 1 }), 'postgres', types)).toBeUndefined();
  });

  it('decides each check from the aggregate row', () => {
    const plan = compileValidation({
      relation: 't',
      dialect: 'duckdb',
      expectations,
      columnTypes: types,
      timestampField: 'ts',
    });
    const row: Record<string, unknown> = {
      n: 100n,
      e0_fail: 0n,
      e1_fail: 3n,
      e1_min: -1,
      e1_max: 12,
      e2_fail: 0n,
    };
    row['e3_fail'] = 0n;
    row['e4_fail'] = 1n;
    row['e5_fail'] = 0n;
    row['e6_value'] = 0.5;
    row['e7_value'] = null;
    row['e8_value'] = new Date(Date.UTC(2024, 4, 1));
    const results = evaluateChecks(plan.checks, row, types, Date.UTC(2024, 4, 1, 12));
    expect(results.map((r) => [r.name, r.passed, r.observed])).toEqual([
      ['not_null(user_id)', true, 0],
      ['between(amount)', false, 3],
      ['between(qty)', true, 0],
      ['matches(email)', true, 0],
      ['in_set(email)', false, 1],
      ['unique(user_id,qty)', true, 0],
      ['quantile(amount,0.9)', true, 0.5],
      ['stddev(qty)', true, null],
      ['max_staleness(timestamp)', true, '2024-05-01T00:00:00.000Z'],
      ['type(amount)', true, 'DOUBLE'],
    ]);
    expect(results[1]?.note).toBe('observed min -1, max 12');
    expect(results[7]?.note).toMatch(/nothing to judge/);
  });

  it('checks expectations against the real columns at load time', () => {
    const src = parquetSource({
      name: 'orders',
      path: 'data/o.parquet',
      timestampField: 'ts',
      expectations: [
        checks.mean('email', { max: 1 }),
        checks.matches('qty', 'x'),
        checks.inSet('qty', ['a']),
        checks.notNull('ghost'),
        checks.type('ghost', 'int64'),
        checks.maxStaleness('1d', { column: 'user_id' }),
      ],
    });
    const cols = [...types].map(([name, type]) => ({ name, type }));
    const errors = validateExpectationsAgainstColumns(
      sourceSubject(src),
      cols,
      'data/o.parquet',
      'features.ts',
    );
    const text = errors.map((e) => e.message).join('\n');
    expect(text).toMatch(
      /features\.ts, field 'expectations\.0': expectation 'mean\(email\)'.*expected a number column, got VARCHAR/,
    );
    expect(text).toMatch(/expectations\.1'.*matches\(qty\).*expected a text column, got INTEGER/);
    expect(text).toMatch(
      /expectations\.2'.*in_set\(qty\).*expected number values for a INTEGER column, got "a"/,
    );
    expect(text).toMatch(/expectations\.3'.*column 'ghost' is missing/);
    expect(text).toMatch(/expectations\.5'.*max_staleness\(user_id\).*expected a timestamp column/);
    expect(errors).toHaveLength(5); // the type check is judged by validate, not at load
  });
});
