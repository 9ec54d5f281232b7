import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { TesseraError } from '../core/errors.js';
import type { PostgresSource } from '../definitions/source.js';
import { connectionUrl, describePostgres, pgRelation } from '../offline/duckdb/postgres-import.js';
import { fileRelation, resolvePath } from '../offline/duckdb/source-relation.js';
import { describeTable } from '../offline/duckdb/spine.js';
import type { SourceColumn } from '../offline/offline-store.js';
import { columnsOf, type Expectation, ROW_LEVEL } from './expectations.js';
import type { ValidationSubject } from './subjects.js';
import {
  countFailures,
  type ExpectationResult,
  evaluateChecks,
  type ValidationRun,
} from './validation-result.js';
import {
  compileValidation,
  type Dialect,
  failingRowSql,
  quoteIdent,
  quoteLiteral,
} from './validation-sql.js';

export interface ValidatorOptions {
  readonly project: string;
  /** Relative source paths are resolved against it. */
  readonly repoPath: string;
  /** Named PostgreSQL connections → URL (PostgreSQL sources are validated on the database itself). */
  readonly connections: Readonly<Record<string, string>>;
  /** Failing rows shown per failed check (default 5). */
  readonly sampleRows?: number;
  readonly threads?: number;
  readonly memoryLimit?: string;
}

export interface RunOptions {
  /** Only rows with event time in [start, end). */
  readonly start?: Date;
  readonly end?: Date;
  /** What runs the validation (kept in history). */
  readonly trigger?: string;
  /** Write failing rows of row-level `error` checks, with a `_reason` column, under this folder (files only). */
  readonly quarantineDir?: string;
  /**
   * With `quarantineDir`, on a source subject: also write the range's other rows to a clean Parquet copy here,
   * mark the quarantined checks, and leave them out of the verdict (the job loads the clean copy).
   */
  readonly cleanCopyDir?: string;
  /** The instant staleness is measured from when no `end` is given (default now). */
  readonly now?: Date;
}

/** A relation to run the compiled SQL on, and how to run it. */
interface Engine {
  readonly dialect: Dialect;
  readonly relation: string;
  readonly columns: readonly SourceColumn[];
  query(sql: string): Promise<Record<string, unknown>[]>;
  /** Rows as JSON-ready objects (timestamps as text, big integers as text when unsafe). */
  queryJson(sql: string): Promise<Record<string, unknown>[]>;
  exec?(sql: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs expectations by SQL push-down: one aggregate scan per subject, then a sample query per failed row-level
 * check. Files (Parquet, CSV, training sets) run on an in-process DuckDB; PostgreSQL sources on PostgreSQL.
 *
 * @example
 * const v = new Validator({ project: 'shop', repoPath: '/repo', connections: {} });
 * const run = await v.run(sourceSubject(orders), { start: new Date('2024-05-01'), end: new Date('2024-05-02') });
 * if (!run.passed) console.log(run.results.filter((r) => !r.passed));
 * await v.close();
 */
export class Validator {
  private instance: Promise<DuckDBInstance> | undefined;

  constructor(private readonly options: ValidatorOptions) {}

  async run(subject: ValidationSubject, opts: RunOptions = {}): Promise<ValidationRun> {
    const t0 = performance.now();
    const startedAt = new Date();
    const engine = await this.engineFor(subject);
    try {
      const columnTypes = new Map(engine.columns.map((c) => [c.name, c.type]));
      const missing = missingColumns(subject, columnTypes);
      // Checks on missing columns fail on their own (the SQL would not compile); the others still run.
      const runnable = subject.expectations.filter((e) => e.check === 'type' || !missing.has(e.name));
      const plan = compileValidation({
        relation: engine.relation,
        dialect: engine.dialect,
        expectations: runnable,
        columnTypes,
        ...(subject.timestampField !== undefined && columnTypes.has(subject.timestampField)
          ? { timestampField: subject.timestampField }
          : {}),
        ...(opts.start !== undefined ? { startUs: BigInt(opts.start.getTime()) * 1000n } : {}),
        ...(opts.end !== undefined ? { endUs: BigInt(opts.end.getTime()) * 1000n } : {}),
      });
      const row = (await engine.query(plan.aggregateSql))[0] ?? {};
      const referenceMs = Math.min(
        opts.end?.getTime() ?? Number.POSITIVE_INFINITY,
        (opts.now ?? new Date()).getTime(),
      );
      const evaluated = evaluateChecks(plan.checks, row, columnTypes, referenceMs);
      const limit = this.options.sampleRows ?? 5;
      const withSamples: ExpectationResult[] = [];
      for (const [i, r] of evaluated.entries()) {
        const sampleSql = plan.checks[i]?.sampleSql;
        withSamples.push(
          !r.passed && sampleSql && limit > 0
            ? { ...r, samples: await engine.queryJson(sampleSql(limit)) }
            : r,
        );
      }
      const results = subject.expectations.map(
        (e) => withSamples.find((r) => r.name === e.name) ?? missingResult(e, missing.get(e.name) ?? []),
      );
      let quarantine: ValidationRun['quarantine'];
      let verdict = results;
      if (opts.quarantineDir !== undefined && engine.exec !== undefined) {
        const checks = runnable.filter((e) => ROW_LEVEL.has(e.check) && e.severity === 'error');
        const failedNames = new Set(results.filter((r) => !r.passed).map((r) => r.name));
        const failing = checks.filter((e) => failedNames.has(e.name));
        if (failing.length > 0) {
          const stamp = `${subject.kind}-${subject.name}-${Date.now()}`;
          const path = resolve(opts.quarantineDir, `${stamp}.parquet`);
          const clean =
            opts.cleanCopyDir !== undefined && subject.data.type === 'source' && !subject.data.projection
              ? resolve(opts.cleanCopyDir, `${stamp}.parquet`)
              : undefined;
          quarantine = {
            path,
            rows: await writeQuarantine(engine, failing, columnTypes, plan.where, path, clean),
            ...(clean !== undefined ? { cleanPath: clean } : {}),
          };
          if (clean !== undefined) {
            const names = new Set(failing.map((e) => e.name));
            verdict = results.map((r) => (names.has(r.name) ? { ...r, quarantined: true } : r));
          }
        }
      }
      const failed = countFailures(verdict.filter((r) => !r.quarantined));
      const rows = Number(row['n'] ?? 0);
      return {
        id: randomUUID(),
        project: this.options.project,
        subject: { kind: subject.kind, name: subject.name },
        trigger: opts.trigger ?? 'validate',
        startedAt: startedAt.toISOString(),
        seconds: (performance.now() - t0) / 1000,
        ...(opts.start !== undefined || opts.end !== undefined
          ? {
              range: {
                ...(opts.start ? { start: opts.start.toISOString() } : {}),
                ...(opts.end ? { end: opts.end.toISOString() } : {}),
              },
            }
          : {}),
        engine: engine.dialect,
        rows,
        passed: failed.error === 0,
        failed,
        results: verdict,
        ...(quarantine !== undefined ? { quarantine } : {}),
      };
    } catch (e) {
      if (e instanceof TesseraError) throw e;
      throw new TesseraError(
        `validating ${subject.kind} '${subject.name}' failed`,
        { actual: (e as Error).message.split('\n')[0] ?? '' },
        'BACKEND',
        e,
      );
    } finally {
      await engine.close();
    }
  }

  async close(): Promise<void> {
    if (this.instance !== undefined) {
      const i = await this.instance;
      this.instance = undefined;
      i.closeSync();
    }
  }

  private async duck(): Promise<DuckDBConnection> {
    if (this.instance === undefined) {
      const config: Record<string, string> = {};
      if (this.options.threads !== undefined) config['threads'] = String(this.options.threads);
      if (this.options.memoryLimit !== undefined) config['memory_limit'] = this.options.memoryLimit;
      this.instance = DuckDBInstance.create(':memory:', config);
    }
    const c = await (await this.instance).connect();
    await c.run("SET TimeZone = 'UTC'");
    return c;
  }

  private async engineFor(subject: ValidationSubject): Promise<Engine> {
    const data = subject.data;
    if (data.type === 'source' && data.source.type === 'postgres') {
      return postgresEngine(data.source, this.options.connections, data.projection);
    }
    let relation: string;
    let path: string;
    if (data.type === 'file') {
      path = resolvePath(data.path, this.options.repoPath);
      relation = `read_parquet(${quoteLiteral(path)})`;
    } else {
      const rel = await fileRelation(
        data.source as Exclude<typeof data.source, PostgresSource>,
        this.options.repoPath,
      );
      relation = rel.sql;
      path = rel.path;
    }
    const connection = await this.duck();
    try {
      if (data.type === 'source' && data.projection) relation = project(relation, data.projection);
      let columns: SourceColumn[];
      try {
        columns = await describeTable(connection, relation);
      } catch (e) {
        const message = (e as Error).message;
        throw new TesseraError(
          `${subject.kind} '${subject.name}': cannot read its data`,
          { file: path, actual: message.split('\n')[0] ?? message },
          /No files found|does not exist/i.test(message) ? 'NOT_FOUND' : 'INVALID_INPUT',
          e,
        );
      }
      return {
        dialect: 'duckdb',
        relation,
        columns,
        query: async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJS(),
        queryJson: async (sql) => jsonRows((await connection.runAndReadAll(sql)).getRowObjectsJS()),
        exec: async (sql) => {
          await connection.run(sql);
        },
        close: async () => connection.closeSync(),
      };
    } catch (e) {
      connection.closeSync();
      throw e;
    }
  }
}

/** A view's projection of its source: output names from source columns (DuckDB and PostgreSQL alike). */
function project(relation: string, projection: readonly { name: string; column: string }[]): string {
  const cols = projection.map((p) =>
    p.name === p.column ? quoteIdent(p.name) : `${quoteIdent(p.column)} AS ${quoteIdent(p.name)}`,
  );
  return `(SELECT ${cols.join(', ')} FROM ${relation}) AS "__tessera_v"`;
}

async function postgresEngine(
  source: PostgresSource,
  connections: Readonly<Record<string, string>>,
  projection: readonly { name: string; column: string }[] | undefined,
): Promise<Engine> {
  const url = connectionUrl(source, connections);
  const described = await describePostgres(source, url);
  const columns = projection
    ? projection.flatMap((p) => {
        const c = described.find((d) => d.name === p.column);
        return c ? [{ name: p.name, type: c.type }] : [];
      })
    : described;
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    await client.query("SET TimeZone = 'UTC'");
  } catch (e) {
    await client.end().catch(() => undefined);
    throw new TesseraError(
      `postgres source '${source.name}': cannot connect`,
      { field: 'connection', actual: (e as Error).message },
      'BACKEND',
      e,
    );
  }
  const base = pgRelation(source);
  const query = async (sql: string) => (await client.query(sql)).rows as Record<string, unknown>[];
  return {
    dialect: 'postgres',
    relation: projection ? project(base, projection) : base,
    columns,
    query,
    queryJson: async (sql) => jsonRows(await query(sql)),
    close: () => client.end(),
  };
}

/** Expectations whose columns are missing from the subject, with the missing columns. */
function missingColumns(
  subject: ValidationSubject,
  types: ReadonlyMap<string, string>,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of subject.expectations) {
    if (e.check === 'type') continue;
    const cols = [...columnsOf(e)];
    if (e.check === 'max_staleness' && e.column === undefined && subject.timestampField !== undefined)
      cols.push(subject.timestampField);
    const missing = cols.filter((c) => !types.has(c));
    if (missing.length > 0) out.set(e.name, missing);
  }
  return out;
}

function missingResult(e: Expectation, missing: readonly string[]): ExpectationResult {
  return {
    name: e.name,
    check: e.check,
    severity: e.severity,
    passed: false,
    observed: null,
    expected: `column(s) ${missing.join(', ')} present`,
    note: `missing column(s): ${missing.join(', ')}`,
  };
}

/**
 * Writes the rows failing any of `checks` to one Parquet file, each with `_reason` listing the checks it fails.
 * Returns the number of rows written.
 */
async function writeQuarantine(
  engine: Engine,
  checks: readonly Expectation[],
  columnTypes: ReadonlyMap<string, string>,
  where: string,
  path: string,
  cleanPath?: string,
): Promise<number> {
  const conds = checks.map((e) => ({ name: e.name, sql: failingRowSql(e, 'duckdb', columnTypes) as string }));
  const reason = `concat_ws('; ', ${conds.map((c) => `CASE WHEN ${c.sql} THEN ${quoteLiteral(c.name)} END`).join(', ')})`;
  const anyFails = `(${conds.map((c) => c.sql).join(' OR ')})`;
  const select = `SELECT *, ${reason} AS "_reason" FROM ${engine.relation} WHERE (${where}) AND ${anyFails}`;
  await mkdir(dirname(path), { recursive: true });
  await engine.exec?.(`COPY (${select}) TO ${quoteLiteral(path)} (FORMAT parquet)`);
  if (cleanPath !== undefined) {
    // IS NOT TRUE: a condition that is NULL (a null compared) does not fail the row, so the row stays.
    await mkdir(dirname(cleanPath), { recursive: true });
    await engine.exec?.(
      `COPY (SELECT * FROM ${engine.relation} WHERE (${where}) AND ${anyFails} IS NOT TRUE) TO ${quoteLiteral(cleanPath)} (FORMAT parquet)`,
    );
  }
  const n = await engine.query(`SELECT count(*) AS n FROM read_parquet(${quoteLiteral(path)})`);
  return Number(n[0]?.['n'] ?? 0);
}

/** Rows as JSON-ready objects: Dates as ISO text, big integers as numbers when exact, else text. */
function jsonRows(rows: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  return JSON.parse(
    JSON.stringify(rows, (_k, v: unknown) =>
      typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
    ),
  ) as Record<string, unknown>[];
}

/** The default quarantine folder of a repo. */
export const defaultQuarantineDir = (repoPath: string): string => join(repoPath, 'quarantine');
