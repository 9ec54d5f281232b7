import type { ValidationRun } from './validation-result.js';

/**
 * Where validation runs are kept, with history, beside the registry (the same SQLite file or PostgreSQL schema).
 *
 * In the contract: append a run, list runs newest first (optionally of one subject), read one by id. Runs are
 * immutable once saved. Not in the contract: running checks or deciding pass/fail (the `Validator` does).
 *
 * @example
 * await store.save(run);
 * const recent = await store.list('shop', { subject: 'orders', limit: 10 });
 */
export interface ValidationResultsStore {
  readonly kind: string;
  save(run: ValidationRun): Promise<void>;
  /** Runs of a project, newest first. */
  list(project: string, filter?: ValidationListFilter): Promise<ValidationRun[]>;
  /** One run by id, or undefined. */
  get(project: string, id: string): Promise<ValidationRun | undefined>;
  close(): Promise<void>;
}

export interface ValidationListFilter {
  /** Only runs of this subject name (source, view or service). */
  readonly subject?: string;
  /** Only failed runs (an `error` expectation failed). */
  readonly failedOnly?: boolean;
  /** At most this many (default 50). */
  readonly limit?: number;
}

export const DEFAULT_LIST_LIMIT = 50;
