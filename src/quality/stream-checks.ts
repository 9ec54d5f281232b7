import type { Expectation, Severity } from './expectations.js';
import { ROW_LEVEL } from './expectations.js';

/** The first check an event fails: what the dead letter says. */
export interface EventCheckFailure {
  readonly name: string;
  readonly severity: Severity;
  readonly column: string;
  readonly reason: string;
}

/**
 * The row-level expectations of a source compiled once into small JS predicates, for the stream engine (one call
 * per event). Same meaning as the SQL (docs/semantics.md): nulls only fail `not_null`; NaN fails `between`;
 * `in_set` compares with strict equality (a number never equals its text).
 *
 * @example
 * const checker = compileEventChecks(source.expectations ?? []);
 * const failure = checker?.check(row); // undefined when every check passes
 */
export interface EventChecker {
  /** Columns the checks read (the event decoder must keep them). */
  readonly columns: readonly string[];
  /** The first failing `error` check, else undefined; failing `warn` checks are passed to `onWarn`. */
  check(
    row: Readonly<Record<string, unknown>>,
    onWarn?: (failure: EventCheckFailure) => void,
  ): EventCheckFailure | undefined;
}

type Predicate = (v: unknown) => boolean;

const isNull = (v: unknown) => v === null || v === undefined;

function predicate(e: Expectation): Predicate | undefined {
  switch (e.check) {
    case 'not_null':
      return (v) => !isNull(v);
    case 'between': {
      const min = e.min ?? Number.NEGATIVE_INFINITY;
      const max = e.max ?? Number.POSITIVE_INFINITY;
      return (v) => isNull(v) || (typeof v === 'number' && v >= min && v <= max);
    }
    case 'in_set': {
      const set = new Set<unknown>(e.values);
      return (v) => isNull(v) || set.has(v);
    }
    case 'matches': {
      const re = new RegExp(e.pattern);
      return (v) => isNull(v) || re.test(typeof v === 'string' ? v : String(v));
    }
    case 'type':
      return typePredicate(e.type);
    default:
      return undefined;
  }
}

function typePredicate(type: string): Predicate {
  const scalar = (t: string): Predicate => {
    switch (t) {
      case 'int32':
        return (v) => typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= 2 ** 31;
      case 'int64':
        return (v) => (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint';
      case 'float32':
      case 'float64':
        return (v) => typeof v === 'number';
      case 'bool':
        return (v) => typeof v === 'boolean';
      case 'string':
        return (v) => typeof v === 'string';
      case 'timestamp':
        return (v) =>
          v instanceof Date ||
          (typeof v === 'number' && Number.isFinite(v)) ||
          (typeof v === 'string' && !Number.isNaN(Date.parse(v)));
      default:
        return (v) => v instanceof Uint8Array;
    }
  };
  const m = /^list<(.+)>$/.exec(type);
  if (m) {
    const el = scalar(m[1] as string);
    return (v) => isNull(v) || (Array.isArray(v) && v.every((x) => isNull(x) || el(x)));
  }
  const p = scalar(type);
  return (v) => isNull(v) || p(v);
}

const shown = (v: unknown) => (v === undefined ? 'missing' : (JSON.stringify(v)?.slice(0, 80) ?? String(v)));

/** Compiles the row-level checks among `expectations`; undefined when there are none (no per-event cost). */
export function compileEventChecks(expectations: readonly Expectation[]): EventChecker | undefined {
  const compiled = expectations.flatMap((e) => {
    const test = ROW_LEVEL.has(e.check) ? predicate(e) : undefined;
    const column = 'column' in e ? e.column : undefined;
    return test && column !== undefined ? [{ e, column, test }] : [];
  });
  if (compiled.length === 0) return undefined;
  // Error-level checks first: an event is refused by the first one it fails.
  compiled.sort((a, b) => (a.e.severity === b.e.severity ? 0 : a.e.severity === 'error' ? -1 : 1));
  const failure = (c: (typeof compiled)[number], v: unknown): EventCheckFailure => ({
    name: c.e.name,
    severity: c.e.severity,
    column: c.column,
    reason: `expectation ${c.e.name} failed: got ${shown(v)}`,
  });
  return {
    columns: [...new Set(compiled.map((c) => c.column))],
    check(row, onWarn) {
      for (const c of compiled) {
        const v = row[c.column];
        if (c.test(v)) continue;
        if (c.e.severity === 'error') return failure(c, v);
        onWarn?.(failure(c, v));
      }
      return undefined;
    },
  };
}
