/**
 * Errors that users see. Every error says where the problem is (file, row, field) and what was expected,
 * so a message alone is enough to fix the input.
 *
 * @example
 * throw new TesseraError('schema mismatch', { file: 'data/orders.parquet', field: 'amount',
 *   expected: 'float64', hint: 'cast the column or change the feature type' });
 */
export interface ErrorLocation {
  /** The file (definition, data or config) the problem was found in. */
  file?: string;
  /** 1-based row (data) or line (definitions) number. */
  row?: number;
  /** The field, column or definition property at fault. */
  field?: string;
  /** What was expected there. */
  expected?: string;
  /** What was found instead. */
  actual?: string;
  /** How to fix it. */
  hint?: string;
}

export type ErrorCode =
  | 'INVALID_DEFINITION'
  | 'INVALID_CONFIG'
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'SCHEMA_MISMATCH'
  | 'BACKEND'
  | 'UNAUTHORIZED'
  | 'DEADLINE_EXCEEDED'
  /** A data check ran and failed (data-quality expectations); the CLI exits with `checkFailed`. */
  | 'CHECK_FAILED';

export class TesseraError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation;
  /** The message without the location prefix and suffixes. */
  readonly detail: string;

  constructor(
    message: string,
    location: ErrorLocation = {},
    code: ErrorCode = 'INVALID_INPUT',
    cause?: unknown,
  ) {
    super(formatMessage(message, location), cause === undefined ? undefined : { cause });
    this.name = 'TesseraError';
    this.code = code;
    this.location = location;
    this.detail = message;
  }

  /**
   * The same error seen from further out: `outer` fills in where it happened (file, row) and a field path
   * prefix, keeping what the inner error knew (expected, actual, hint).
   *
   * @example e.at({ file: 'features.yaml', row: 12, field: 'feature_views.0' })
   */
  at(outer: ErrorLocation): TesseraError {
    const field =
      outer.field !== undefined && this.location.field !== undefined
        ? `${outer.field}.${this.location.field}`
        : (this.location.field ?? outer.field);
    const location: ErrorLocation = { ...this.location, ...outer, ...(field !== undefined ? { field } : {}) };
    for (const k of ['expected', 'actual', 'hint'] as const) {
      if (this.location[k] !== undefined) location[k] = this.location[k];
    }
    return new TesseraError(this.detail, location, this.code, this);
  }

  toJSON(): { error: string; code: ErrorCode; location: ErrorLocation } {
    return { error: this.message, code: this.code, location: this.location };
  }
}

/** Several problems found at once (validation reports all of them, not just the first). */
export class TesseraAggregateError extends TesseraError {
  readonly errors: readonly TesseraError[];
  constructor(summary: string, errors: readonly TesseraError[]) {
    super(
      `${summary}:\n${errors.map((e) => `  - ${e.message}`).join('\n')}`,
      {},
      errors[0]?.code ?? 'INVALID_INPUT',
    );
    this.errors = errors;
  }
}

function formatMessage(message: string, loc: ErrorLocation): string {
  const where = [
    loc.file,
    loc.row === undefined ? undefined : `row ${loc.row}`,
    loc.field === undefined ? undefined : `field '${loc.field}'`,
  ].filter((p): p is string => p !== undefined);
  let out = where.length > 0 ? `${where.join(', ')}: ${message}` : message;
  if (loc.expected !== undefined) out += `; expected ${loc.expected}`;
  if (loc.actual !== undefined) out += `, got ${loc.actual}`;
  if (loc.hint !== undefined) out += ` (${loc.hint})`;
  return out;
}

export const definitionError = (message: string, location: ErrorLocation = {}): TesseraError =>
  new TesseraError(message, location, 'INVALID_DEFINITION');
