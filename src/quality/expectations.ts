import { type DurationInput, parseDuration } from '../core/duration.js';
import { definitionError, TesseraError } from '../core/errors.js';
import { parseValueType, type ValueType } from '../definitions/value-types.js';

/**
 * Data-quality expectations: plain, frozen data tagged `kind: 'Expectation'`, attached to sources, feature views
 * and feature services (training sets) and stored in the registry with them. The exact meaning of each check is
 * in docs/semantics.md, "Data quality expectations".
 *
 * @example
 * parquetSource({ name: 'orders', path: 'data/orders', timestampField: 'ts',
 *   expectations: [checks.notNull('user_id'), checks.between('amount', { min: 0 }, { severity: 'warn' })] });
 */

/** `error` stops the job it gates (unless forced); `warn` is reported and the job goes on. */
export type Severity = 'error' | 'warn';

interface Base {
  readonly kind: 'Expectation';
  /** Stable name used in reports and history: `not_null(user_id)`, `quantile(amount,0.95)`. */
  readonly name: string;
  readonly severity: Severity;
}

/** Bounds of a `between`-style check; both inclusive, either may be left out. */
export interface Bounds {
  readonly min?: number;
  readonly max?: number;
}

export interface NotNull extends Base {
  readonly check: 'not_null';
  readonly column: string;
}
export interface Unique extends Base {
  readonly check: 'unique';
  readonly columns: readonly string[];
}
export interface Between extends Base, Bounds {
  readonly check: 'between';
  readonly column: string;
}
export type SetValue = string | number | boolean;
export interface InSet extends Base {
  readonly check: 'in_set';
  readonly column: string;
  readonly values: readonly SetValue[];
}
export interface Matches extends Base {
  readonly check: 'matches';
  readonly column: string;
  readonly pattern: string;
}
export interface ColumnTypeCheck extends Base {
  readonly check: 'type';
  readonly column: string;
  readonly type: ValueType;
}
export interface RowCount extends Base, Bounds {
  readonly check: 'row_count';
}
export interface Mean extends Base, Bounds {
  readonly check: 'mean';
  readonly column: string;
}
export interface Stddev extends Base, Bounds {
  readonly check: 'stddev';
  readonly column: string;
}
export interface Quantile extends Base, Bounds {
  readonly check: 'quantile';
  readonly column: string;
  /** The quantile, in [0, 1]: 0.5 is the median. */
  readonly q: number;
}
export interface MaxStaleness extends Base {
  readonly check: 'max_staleness';
  /** Timestamp column; default the subject's event-timestamp column. */
  readonly column?: string;
  readonly maxAgeMs: number;
}

export type Expectation =
  | NotNull
  | Unique
  | Between
  | InSet
  | Matches
  | ColumnTypeCheck
  | RowCount
  | Mean
  | Stddev
  | Quantile
  | MaxStaleness;
export type CheckKind = Expectation['check'];

/** Checks decided row by row (they have failing rows, can run per stream event and be quarantined). */
export const ROW_LEVEL: ReadonlySet<CheckKind> = new Set([
  'not_null',
  'between',
  'in_set',
  'matches',
  'type',
]);

export const CHECK_KINDS: readonly CheckKind[] = [
  'not_null',
  'unique',
  'between',
  'in_set',
  'matches',
  'type',
  'row_count',
  'mean',
  'stddev',
  'quantile',
  'max_staleness',
];

/** Options every builder takes. */
export interface CheckOptions {
  readonly severity?: Severity;
  /** Overrides the derived name (it must stay unique within the subject). */
  readonly name?: string;
}

function make<E extends Expectation>(body: Omit<E, 'kind' | 'name' | 'severity'>, opts: CheckOptions): E {
  const severity = opts.severity ?? 'error';
  if (severity !== 'error' && severity !== 'warn') {
    throw definitionError(`invalid severity ${JSON.stringify(severity)}`, {
      field: 'severity',
      expected: "'error' or 'warn'",
    });
  }
  const e = { kind: 'Expectation', ...body, severity } as unknown as E;
  const name = opts.name ?? defaultName(e);
  return Object.freeze({ ...(e as object), name }) as unknown as E;
}

/** The name a check gets when none is given: the check and its arguments. */
export function defaultName(e: Expectation): string {
  switch (e.check) {
    case 'unique':
      return `unique(${e.columns.join(',')})`;
    case 'row_count':
      return 'row_count';
    case 'quantile':
      return `quantile(${e.column},${e.q})`;
    case 'max_staleness':
      return `max_staleness(${e.column ?? 'timestamp'})`;
    default:
      return `${e.check}(${e.column})`;
  }
}

const column = (c: unknown, field = 'column'): string => {
  if (typeof c !== 'string' || c === '') {
    throw definitionError('a check needs a column name', { field, expected: 'a column name' });
  }
  return c;
};

function bounds(b: { min?: unknown; max?: unknown }, needOne = true): Bounds {
  const out: { min?: number; max?: number } = {};
  for (const k of ['min', 'max'] as const) {
    const v = b[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || Number.isNaN(v)) {
      throw definitionError(`${k} must be a number`, {
        field: k,
        expected: 'a number',
        actual: JSON.stringify(v),
      });
    }
    out[k] = v;
  }
  if (needOne && out.min === undefined && out.max === undefined) {
    throw definitionError('a range check needs min, max or both', {
      field: 'min',
      expected: 'min and/or max',
    });
  }
  if (out.min !== undefined && out.max !== undefined && out.min > out.max) {
    throw definitionError('min is greater than max', {
      field: 'min',
      expected: `min ≤ max`,
      actual: `${out.min} > ${out.max}`,
    });
  }
  return out;
}

/**
 * Builders for expectations, one per check.
 *
 * @example
 * expectations: [
 *   checks.notNull('user_id'),
 *   checks.unique(['user_id', 'day']),
 *   checks.between('amount', { min: 0, max: 10_000 }),
 *   checks.inSet('status', ['new', 'paid']),
 *   checks.matches('email', '^[^@]+@[^@]+$', { severity: 'warn' }),
 *   checks.rowCount({ min: 1 }),
 *   checks.quantile('amount', 0.99, { max: 5000 }),
 *   checks.maxStaleness('1d'),
 * ]
 */
export const checks = {
  notNull: (col: string, opts: CheckOptions = {}): NotNull =>
    make<NotNull>({ check: 'not_null', column: column(col) }, opts),
  unique: (cols: string | readonly string[], opts: CheckOptions = {}): Unique => {
    const list = typeof cols === 'string' ? [cols] : [...cols];
    if (list.length === 0) throw definitionError('unique needs at least one column', { field: 'columns' });
    return make<Unique>(
      { check: 'unique', columns: Object.freeze(list.map((c) => column(c, 'columns'))) },
      opts,
    );
  },
  between: (col: string, b: Bounds, opts: CheckOptions = {}): Between =>
    make<Between>({ check: 'between', column: column(col), ...bounds(b) }, opts),
  inSet: (col: string, values: readonly SetValue[], opts: CheckOptions = {}): InSet => {
    if (!Array.isArray(values) || values.length === 0) {
      throw definitionError('in_set needs a non-empty list of values', {
        field: 'values',
        expected: 'a list',
      });
    }
    const bad = values.find((v) => !['string', 'number', 'boolean'].includes(typeof v));
    if (bad !== undefined) {
      throw definitionError('in_set values must be strings, numbers or booleans', {
        field: 'values',
        actual: JSON.stringify(bad),
      });
    }
    return make<InSet>({ check: 'in_set', column: column(col), values: Object.freeze([...values]) }, opts);
  },
  matches: (col: string, pattern: string, opts: CheckOptions = {}): Matches => {
    if (typeof pattern !== 'string' || pattern === '') {
      throw definitionError('matches needs a pattern', {
        field: 'pattern',
        expected: 'a regular expression',
      });
    }
    try {
      new RegExp(pattern);
    } catch (e) {
      throw definitionError(`invalid regular expression ${JSON.stringify(pattern)}`, {
        field: 'pattern',
        actual: (e as Error).message,
      });
    }
    return make<Matches>({ check: 'matches', column: column(col), pattern }, opts);
  },
  type: (col: string, type: ValueType | string, opts: CheckOptions = {}): ColumnTypeCheck =>
    make<ColumnTypeCheck>(
      { check: 'type', column: column(col), type: parseValueType(type, { field: 'type' }) },
      opts,
    ),
  rowCount: (b: Bounds, opts: CheckOptions = {}): RowCount =>
    make<RowCount>({ check: 'row_count', ...bounds(b) }, opts),
  mean: (col: string, b: Bounds, opts: CheckOptions = {}): Mean =>
    make<Mean>({ check: 'mean', column: column(col), ...bounds(b) }, opts),
  stddev: (col: string, b: Bounds, opts: CheckOptions = {}): Stddev =>
    make<Stddev>({ check: 'stddev', column: column(col), ...bounds(b) }, opts),
  quantile: (col: string, q: number, b: Bounds, opts: CheckOptions = {}): Quantile => {
    if (typeof q !== 'number' || !(q >= 0 && q <= 1)) {
      throw definitionError('quantile q must be in [0, 1]', {
        field: 'q',
        expected: '0 ≤ q ≤ 1',
        actual: String(q),
      });
    }
    return make<Quantile>({ check: 'quantile', column: column(col), q, ...bounds(b) }, opts);
  },
  /** The newest timestamp is at most `maxAge` old (column: default the event timestamp). */
  maxStaleness: (
    maxAge: DurationInput | number,
    opts: CheckOptions & { column?: string } = {},
  ): MaxStaleness => {
    const ms = parseDuration(maxAge, 'max_age');
    if (!(ms > 0))
      throw definitionError('max_age must be positive', { field: 'max_age', expected: 'a duration > 0' });
    const { column: col, ...rest } = opts;
    return make<MaxStaleness>(
      { check: 'max_staleness', maxAgeMs: ms, ...(col !== undefined ? { column: column(col) } : {}) },
      rest,
    );
  },
} as const;

/**
 * An expectation as written: built (`checks.notNull('x')`) or in the YAML form, an object with one check key and
 * optional `severity` and `name`: `{ not_null: user_id }`, `{ unique: [a, b] }`,
 * `{ between: { column: amount, min: 0 }, severity: warn }`, `{ max_staleness: { max_age: 1d } }`.
 */
export type ExpectationInput = Expectation | Readonly<Record<string, unknown>>;

/**
 * Normalizes the `expectations` of a definition: each entry built or parsed, names unique. Errors name the
 * entry (`expectations.2`) and what was expected.
 *
 * @example normalizeExpectations([{ not_null: 'user_id' }, checks.rowCount({ min: 1 })], "source 'orders'")
 */
export function normalizeExpectations(input: unknown, owner: string): readonly Expectation[] {
  if (!Array.isArray(input)) {
    throw definitionError(`expectations of ${owner} must be a list`, {
      field: 'expectations',
      expected: 'a list',
    });
  }
  const out = input.map((raw, i) => {
    try {
      return parseExpectation(raw);
    } catch (e) {
      if (e instanceof TesseraError) throw e.at({ field: `expectations.${i}` });
      throw e;
    }
  });
  const seen = new Set<string>();
  out.forEach((e, i) => {
    if (seen.has(e.name)) {
      throw definitionError(`two expectations of ${owner} are named '${e.name}'`, {
        field: `expectations.${i}`,
        hint: 'give one of them a name',
      });
    }
    seen.add(e.name);
  });
  return Object.freeze(out);
}

/** Parses one expectation in the built or YAML form (see {@link ExpectationInput}). */
export function parseExpectation(raw: unknown): Expectation {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw definitionError('an expectation must be an object', {
      expected: `one of ${CHECK_KINDS.join(', ')} as key, e.g. { not_null: user_id }`,
    });
  }
  const r = raw as Record<string, unknown>;
  if (r['kind'] === 'Expectation') return rebuild(r);
  const { severity, name, ...rest } = r;
  const keys = Object.keys(rest);
  const check = keys[0] as CheckKind | undefined;
  if (keys.length !== 1 || check === undefined || !CHECK_KINDS.includes(check)) {
    throw definitionError(`unknown expectation ${JSON.stringify(keys.join(', '))}`, {
      field: keys[0] ?? '',
      expected: `exactly one of ${CHECK_KINDS.join(', ')} (plus optional severity and name)`,
    });
  }
  const opts: CheckOptions = {
    ...(severity !== undefined ? { severity: severity as Severity } : {}),
    ...(name !== undefined ? { name: String(name) } : {}),
  };
  const v = rest[check];
  const args = (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : { column: v }) as Record<
    string,
    unknown
  >;
  try {
    return build(check, args, opts);
  } catch (e) {
    if (e instanceof TesseraError) throw e.at({ field: check });
    throw e;
  }
}

function build(check: CheckKind, a: Record<string, unknown>, opts: CheckOptions): Expectation {
  const b = { min: a['min'], max: a['max'] } as Bounds;
  const col = a['column'] as string;
  switch (check) {
    case 'not_null':
      return checks.notNull(col, opts);
    case 'unique':
      return checks.unique((a['columns'] ?? a['column']) as string[], opts);
    case 'between':
      return checks.between(col, b, opts);
    case 'in_set':
      return checks.inSet(col, a['values'] as SetValue[], opts);
    case 'matches':
      return checks.matches(col, a['pattern'] as string, opts);
    case 'type':
      return checks.type(col, a['type'] as string, opts);
    case 'row_count':
      return checks.rowCount(b, opts);
    case 'mean':
      return checks.mean(col, b, opts);
    case 'stddev':
      return checks.stddev(col, b, opts);
    case 'quantile':
      return checks.quantile(col, a['q'] as number, b, opts);
    case 'max_staleness':
      return checks.maxStaleness((a['max_age'] ?? a['maxAge'] ?? a['max_age_ms']) as DurationInput, {
        ...opts,
        ...(a['column'] !== undefined ? { column: a['column'] as string } : {}),
      });
  }
}

/** A built expectation read back (registry, another copy of the package): checked again through its builder. */
function rebuild(r: Record<string, unknown>): Expectation {
  const opts: CheckOptions = { severity: r['severity'] as Severity, name: r['name'] as string };
  const check = r['check'] as CheckKind;
  if (!CHECK_KINDS.includes(check)) {
    throw definitionError(`unknown check ${JSON.stringify(check)}`, {
      field: 'check',
      expected: CHECK_KINDS.join(', '),
    });
  }
  if (check === 'max_staleness') {
    return checks.maxStaleness(`${Number(r['maxAgeMs'])}ms`, {
      ...opts,
      ...(r['column'] !== undefined ? { column: r['column'] as string } : {}),
    });
  }
  return build(check, r, opts);
}

/** Human text of what a check expects, for reports: `no nulls`, `0 ≤ value ≤ 100`. */
export function describeExpected(e: Expectation): string {
  const range = (b: Bounds, what: string) =>
    b.min !== undefined && b.max !== undefined
      ? `${b.min} ≤ ${what} ≤ ${b.max}`
      : b.min !== undefined
        ? `${what} ≥ ${b.min}`
        : `${what} ≤ ${b.max}`;
  switch (e.check) {
    case 'not_null':
      return 'no null values';
    case 'unique':
      return `no two rows share (${e.columns.join(', ')})`;
    case 'between':
      return `every non-null value in ${e.min ?? '-∞'}..${e.max ?? '+∞'}`;
    case 'in_set':
      return `every non-null value in {${e.values.map((v) => JSON.stringify(v)).join(', ')}}`;
    case 'matches':
      return `every non-null value matches /${e.pattern}/`;
    case 'type':
      return `column '${e.column}' readable as ${e.type}`;
    case 'row_count':
      return range(e, 'rows');
    case 'mean':
      return range(e, 'mean');
    case 'stddev':
      return range(e, 'stddev');
    case 'quantile':
      return range(e, `q${e.q}`);
    case 'max_staleness':
      return `newest timestamp at most ${e.maxAgeMs} ms old`;
  }
}

/** The columns a check reads (for validation against the subject's columns). */
export function columnsOf(e: Expectation): readonly string[] {
  if (e.check === 'unique') return e.columns;
  if (e.check === 'row_count') return [];
  if (e.check === 'max_staleness') return e.column === undefined ? [] : [e.column];
  return [e.column];
}

/** Where expectations can be attached: the kinds whose definitions carry an `expectations` list. */
export interface WithExpectations {
  readonly expectations?: readonly Expectation[];
}
