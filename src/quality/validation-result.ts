import { formatDuration } from '../core/duration.js';
import { type Bounds, describeExpected, type Expectation, type Severity } from './expectations.js';
import { type CompiledCheck, typeSatisfies } from './validation-sql.js';

/** The outcome of one expectation on one subject. */
export interface ExpectationResult {
  readonly name: string;
  readonly check: Expectation['check'];
  readonly severity: Severity;
  readonly passed: boolean;
  /** What was measured: a count of failing rows, a statistic, a type name, an ISO timestamp; null if none. */
  readonly observed: string | number | null;
  /** What the check expects, in words. */
  readonly expected: string;
  /** Rows that fail a row-level check (duplicate rows for `unique`). */
  readonly failingRows?: number;
  /** A few failing rows (or duplicate keys with their count), JSON-ready. */
  readonly samples?: readonly Record<string, unknown>[];
  /** Why the check passed without a value, or extra detail (`observed min -3, max 120`). */
  readonly note?: string;
  /** Its failing rows were set aside (quarantine) and the job went on without them. */
  readonly quarantined?: boolean;
}

export type SubjectKind = 'source' | 'view' | 'service';

/** One validation run of one subject: what `tessera validate` prints and the results store keeps. */
export interface ValidationRun {
  readonly id: string;
  readonly project: string;
  readonly subject: { readonly kind: SubjectKind; readonly name: string };
  /** What ran it: `validate`, `materialize`, `materialize-incremental`, `historical`. */
  readonly trigger: string;
  readonly startedAt: string;
  readonly seconds: number;
  /** The data range checked (ISO), when the run was limited to one. */
  readonly range?: { readonly start?: string; readonly end?: string };
  /** The engine the SQL ran on. */
  readonly engine: 'duckdb' | 'postgres';
  readonly rows: number;
  /** No `error` expectation failed. */
  readonly passed: boolean;
  readonly failed: { readonly error: number; readonly warn: number };
  readonly results: readonly ExpectationResult[];
  /** Where failing rows were written with `--quarantine`. */
  readonly quarantine?: {
    readonly path: string;
    readonly rows: number;
    /** The checked range without the quarantined rows, which the job loaded instead of the source. */
    readonly cleanPath?: string;
  };
}

const num = (v: unknown): number | null => {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return null;
};

function inBounds(value: number, b: Bounds): boolean {
  // NaN is in no range: both comparisons are false.
  return (b.min === undefined || value >= b.min) && (b.max === undefined || value <= b.max);
}

const toDate = (v: unknown): Date | null => {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v;
  if (typeof v === 'string' || typeof v === 'number') {
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  // DuckDB's JS form of a timestamp: { micros: bigint } (and { days } for a DATE).
  const o = v as { micros?: bigint; days?: number };
  if (typeof o.micros === 'bigint') return new Date(Number(o.micros / 1000n));
  if (typeof o.days === 'number') return new Date(o.days * 86_400_000);
  return null;
};

/**
 * Decides each check from the aggregate row (and the column types, for `type`). `referenceMs` is the instant
 * staleness is measured from: the end of the checked range, or now.
 */
export function evaluateChecks(
  compiled: readonly CompiledCheck[],
  row: Readonly<Record<string, unknown>>,
  columnTypes: ReadonlyMap<string, string>,
  referenceMs: number,
): ExpectationResult[] {
  return compiled.map((c) => evaluateOne(c, row, columnTypes, referenceMs));
}

function evaluateOne(
  { expectation: e, outputs }: CompiledCheck,
  row: Readonly<Record<string, unknown>>,
  columnTypes: ReadonlyMap<string, string>,
  referenceMs: number,
): ExpectationResult {
  const base = { name: e.name, check: e.check, severity: e.severity, expected: describeExpected(e) };
  const get = (k: string) => (outputs[k] === undefined ? undefined : row[outputs[k] as string]);
  switch (e.check) {
    case 'not_null':
    case 'between':
    case 'in_set':
    case 'matches':
    case 'unique': {
      const fail = num(get('fail')) ?? 0;
      const note =
        e.check === 'between' && get('min') !== null && get('min') !== undefined
          ? `observed min ${num(get('min'))}, max ${num(get('max'))}`
          : undefined;
      return {
        ...base,
        passed: fail === 0,
        observed: fail,
        failingRows: fail,
        ...(note !== undefined ? { note } : {}),
      };
    }
    case 'type': {
      const actual = columnTypes.get(e.column);
      return {
        ...base,
        passed: actual !== undefined && typeSatisfies(e.type, actual),
        observed: actual ?? 'missing',
      };
    }
    case 'row_count':
    case 'mean':
    case 'stddev':
    case 'quantile': {
      const value = num(get('value'));
      if (value === null) {
        return { ...base, passed: true, observed: null, note: 'no non-null values: nothing to judge' };
      }
      return { ...base, passed: inBounds(value, e), observed: value };
    }
    case 'max_staleness': {
      const newest = toDate(get('value'));
      if (newest === null)
        return { ...base, passed: false, observed: null, note: 'no rows with a timestamp' };
      const age = referenceMs - newest.getTime();
      return {
        ...base,
        passed: age <= e.maxAgeMs,
        observed: newest.toISOString(),
        note: `age ${formatDuration(Math.max(0, age))} at ${new Date(referenceMs).toISOString()}`,
      };
    }
  }
}

/** Failed counts per severity. */
export function countFailures(results: readonly ExpectationResult[]): { error: number; warn: number } {
  let error = 0;
  let warn = 0;
  for (const r of results) {
    if (r.passed) continue;
    if (r.severity === 'error') error++;
    else warn++;
  }
  return { error, warn };
}
