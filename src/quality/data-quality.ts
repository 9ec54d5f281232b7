import { TesseraError } from '../core/errors.js';
import type { RegistryState } from '../definitions/definition.js';
import type { Source } from '../definitions/source.js';
import { recordValidationFailures } from '../metrics/metrics.js';
import { type ExpectationInput, normalizeExpectations } from './expectations.js';
import { PostgresResultsStore } from './postgres/postgres-results-store.js';
import type { ValidationListFilter, ValidationResultsStore } from './results-store.js';
import { type RunOptions, Validator, type ValidatorOptions } from './run-validation.js';
import { SqliteResultsStore } from './sqlite/sqlite-results-store.js';
import { gateSubjects, subjectsOf, trainingSetSubject, type ValidationSubject } from './subjects.js';
import type { ValidationRun } from './validation-result.js';

/**
 * The state a job should read after a gate that quarantined rows: each source whose failing rows were set aside
 * is replaced by its clean copy (Parquet, the checked range only).
 *
 * @example const state2 = withQuarantinedSources(state, await dq.gate(state, views, { quarantineDir, cleanCopyDir }));
 */
export function withQuarantinedSources(state: RegistryState, report: ValidationReport): RegistryState {
  const clean = new Map(
    report.runs.flatMap((r) =>
      r.subject.kind === 'source' && r.quarantine?.cleanPath
        ? [[r.subject.name, r.quarantine.cleanPath]]
        : [],
    ),
  );
  if (clean.size === 0) return state;
  return {
    ...state,
    sources: state.sources.map((s) => {
      const path = clean.get(s.name);
      if (path === undefined) return s;
      const {
        delimiter: _d,
        table: _t,
        query: _q,
        connection: _c,
        ...rest
      } = s as Source & {
        delimiter?: string;
        table?: string;
        query?: string;
        connection?: string;
      };
      return Object.freeze({ ...rest, type: 'parquet', path }) as Source;
    }),
  };
}

/** The runs of one validation (one per subject) and their verdict. */
export interface ValidationReport {
  readonly runs: readonly ValidationRun[];
  /** No `error` expectation failed in any run. */
  readonly passed: boolean;
  readonly failed: { readonly error: number; readonly warn: number };
}

/**
 * An `error` expectation failed while gating a job: the job did not run. Carries the report; exits the CLI with
 * `checkFailed` (5).
 */
export class ValidationFailedError extends TesseraError {
  constructor(
    readonly report: ValidationReport,
    what: string,
  ) {
    const failed = report.runs.flatMap((r) =>
      r.results
        .filter((x) => !x.passed && x.severity === 'error')
        .map(
          (x) =>
            `${r.subject.kind} '${r.subject.name}': ${x.name} (observed ${x.observed ?? 'none'}; expected ${x.expected})`,
        ),
    );
    super(
      `${what} stopped: ${report.failed.error} data-quality expectation(s) failed:\n${failed.map((f) => `  - ${f}`).join('\n')}`,
      { hint: 'fix the data, or pass --force (force: true) to run anyway; see `tessera validate`' },
      'CHECK_FAILED',
    );
  }

  /** The error with the whole report, for `--json` and HTTP. */
  override toJSON(): ReturnType<TesseraError['toJSON']> & { report: ValidationReport } {
    return { ...super.toJSON(), report: this.report };
  }
}

export interface DataQualityOptions extends ValidatorOptions {
  /** Where results are kept: the registry's database. */
  readonly results:
    | { readonly type: 'sqlite'; readonly path: string }
    | { readonly type: 'postgres'; readonly url: string; readonly schema?: string };
}

/** What `validate` checks and over which data. */
export interface ValidateRequest extends Omit<RunOptions, 'trigger'> {
  readonly source?: string;
  readonly view?: string;
  /** A feature service: its expectations are checked on `trainingSet`. */
  readonly service?: string;
  /** Path of a training set (Parquet) for `service`. */
  readonly trainingSet?: string;
  readonly trigger?: string;
}

/**
 * Data-quality checks for the SDK and CLI: runs expectations (by SQL push-down), gates jobs, and keeps every
 * run in the registry database.
 *
 * @example
 * const dq = new DataQuality({ project: 'shop', repoPath, connections: {}, results: { type: 'sqlite', path } });
 * const report = await dq.validate(state, { source: 'orders', start, end });
 */
export class DataQuality {
  private readonly validator: Validator;
  private resultsStore: ValidationResultsStore | undefined;

  constructor(private readonly options: DataQualityOptions) {
    this.validator = new Validator(options);
  }

  get results(): ValidationResultsStore {
    if (this.resultsStore === undefined) {
      const r = this.options.results;
      this.resultsStore =
        r.type === 'sqlite'
          ? new SqliteResultsStore(r.path)
          : new PostgresResultsStore(
              r.schema === undefined ? { url: r.url } : { url: r.url, schema: r.schema },
            );
    }
    return this.resultsStore;
  }

  /** Runs the expectations of the selected subjects (all with expectations by default) and records the runs. */
  async validate(state: RegistryState, request: ValidateRequest = {}): Promise<ValidationReport> {
    let subjects: ValidationSubject[];
    if (request.service !== undefined) {
      const svc = state.featureServices.find((s) => s.name === request.service);
      if (!svc) {
        throw new TesseraError(
          `unknown feature service '${request.service}'`,
          {
            field: 'service',
            hint: `known: ${state.featureServices.map((s) => s.name).join(', ') || 'none'}`,
          },
          'NOT_FOUND',
        );
      }
      if (request.trainingSet === undefined) {
        throw new TesseraError(`validating feature service '${svc.name}' needs a training set`, {
          field: 'training-set',
          expected: 'the path of a training set written by `tessera historical --out`',
        });
      }
      subjects = [trainingSetSubject(svc.name, svc.expectations ?? [], request.trainingSet)];
    } else {
      subjects = subjectsOf(state, {
        ...(request.source !== undefined ? { source: request.source } : {}),
        ...(request.view !== undefined ? { view: request.view } : {}),
      });
    }
    return this.runAll(subjects, { ...request, trigger: request.trigger ?? 'validate' });
  }

  /**
   * Runs the expectations that gate a job over views (their sources' and their own) for the range it processes;
   * throws {@link ValidationFailedError} when an `error` check fails, unless `force`. `warn` failures are
   * returned for the caller to print.
   */
  async gate(
    state: RegistryState,
    views: readonly string[],
    opts: RunOptions & {
      readonly force?: boolean;
      readonly trigger: string;
      /** Leave out `max_staleness` (historical retrieval reads the past on purpose). */
      readonly skipStaleness?: boolean;
      /** Called with the report before a failure is thrown (to print it). */
      readonly onReport?: ((report: ValidationReport) => void) | undefined;
    },
  ): Promise<ValidationReport> {
    const subjects = gateSubjects(state, views).map((s) =>
      opts.skipStaleness
        ? { ...s, expectations: s.expectations.filter((e) => e.check !== 'max_staleness') }
        : s,
    );
    return this.enforce(await this.runAll(subjects, opts), opts);
  }

  /**
   * Checks a training set written to `path` against a service's expectations plus `extra` ones (passed to the
   * retrieval call); throws like {@link gate}.
   */
  async gateTrainingSet(
    name: string,
    expectations: readonly ExpectationInput[],
    path: string,
    opts: {
      readonly force?: boolean;
      readonly trigger: string;
      readonly onReport?: ((report: ValidationReport) => void) | undefined;
    },
  ): Promise<ValidationReport> {
    const normalized = normalizeExpectations(expectations, `training set '${name}'`);
    return this.enforce(await this.runAll([trainingSetSubject(name, normalized, path)], opts), opts);
  }

  private enforce(
    report: ValidationReport,
    opts: { force?: boolean; trigger: string; onReport?: ((report: ValidationReport) => void) | undefined },
  ): ValidationReport {
    opts.onReport?.(report);
    if (!report.passed && !opts.force) throw new ValidationFailedError(report, opts.trigger);
    return report;
  }

  private async runAll(subjects: readonly ValidationSubject[], opts: RunOptions): Promise<ValidationReport> {
    const runs: ValidationRun[] = [];
    for (const s of subjects) {
      if (s.expectations.length === 0) continue;
      const run = await this.validator.run(s, opts);
      await this.results.save(run);
      // One count per failed expectation run (row counts are in the report), as the metric's doc says.
      for (const r of run.results) {
        if (!r.passed) {
          recordValidationFailures({ subject: s.name, expectation: r.name, severity: r.severity });
        }
      }
      runs.push(run);
    }
    const failed = {
      error: runs.reduce((n, r) => n + r.failed.error, 0),
      warn: runs.reduce((n, r) => n + r.failed.warn, 0),
    };
    return { runs, passed: failed.error === 0, failed };
  }

  /** Past runs, newest first. */
  history(filter: ValidationListFilter = {}): Promise<ValidationRun[]> {
    return this.results.list(this.options.project, filter);
  }

  /** One past run. */
  async run(id: string): Promise<ValidationRun> {
    const run = await this.results.get(this.options.project, id);
    if (!run) throw new TesseraError(`unknown validation run '${id}'`, { field: 'id' }, 'NOT_FOUND');
    return run;
  }

  async close(): Promise<void> {
    await this.validator.close();
    await this.resultsStore?.close();
  }
}
