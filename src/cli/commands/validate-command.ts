import { resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { parseTime } from '../../core/parse-time.js';
import { FeatureStore } from '../../feature-store.js';
import type { ValidationReport } from '../../quality/data-quality.js';
import { formatReport, formatRun } from '../../quality/format-report.js';
import { defaultQuarantineDir } from '../../quality/run-validation.js';
import { action, EXIT, emit, type GlobalOptions, table } from '../output.js';

/**
 * Prints the warnings of a validation that gated a job (to stderr, so `--json` output stays one document).
 *
 * @example store.materialize({ start, end, onValidation: printGateWarnings })
 */
export function printGateWarnings(report: ValidationReport): void {
  if (report.failed.warn === 0 && report.failed.error === 0) return;
  process.stderr.write(`${pc.yellow('data quality:')}\n${formatReport(report, { onlyFailed: true })}\n`);
}

/** `validate` (run expectations now) and `validations` (their history). */
export function registerValidateCommands(program: Command): void {
  program
    .command('validate')
    .description(
      'check data-quality expectations (all sources and views with some, or the one named); exit 5 if an error-level one fails',
    )
    .option('--source <name>', 'only this source')
    .option('--view <name>', 'only this feature view')
    .option('--service <name>', "a feature service's expectations, on --training-set")
    .option('--training-set <path>', 'training set (Parquet) to check for --service')
    .option('--start <time>', "only rows with event time ≥ start (ISO-8601, 'now-1d')")
    .option('--end <time>', 'only rows with event time < end')
    .option('--quarantine [dir]', 'write failing rows of row-level error checks to Parquet with _reason')
    .action(
      action(
        async (
          o: {
            source?: string;
            view?: string;
            service?: string;
            trainingSet?: string;
            start?: string;
            end?: string;
            quarantine?: string | boolean;
          },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          const store = await FeatureStore.open(g.repo ?? '.');
          try {
            const report = await store.validate({
              ...(o.source !== undefined ? { source: o.source } : {}),
              ...(o.view !== undefined ? { view: o.view } : {}),
              ...(o.service !== undefined ? { service: o.service } : {}),
              ...(o.trainingSet !== undefined ? { trainingSet: resolve(o.trainingSet) } : {}),
              ...(o.start !== undefined ? { start: parseTime(o.start, '--start') } : {}),
              ...(o.end !== undefined ? { end: parseTime(o.end, '--end') } : {}),
              ...(o.quarantine !== undefined && o.quarantine !== false
                ? {
                    quarantineDir:
                      o.quarantine === true
                        ? defaultQuarantineDir(store.config.repoPath)
                        : resolve(o.quarantine),
                  }
                : {}),
            });
            emit(g, report, () => formatReport(report));
            if (!report.passed) process.exitCode = EXIT.checkFailed;
          } finally {
            await store.close();
          }
        },
      ),
    );

  program
    .command('validations')
    .argument('[id]', 'show one run in full')
    .description('history of data-quality validation runs, newest first (kept in the registry database)')
    .option('--subject <name>', 'only runs of this source, view or service')
    .option('--failed', 'only runs where an error-level expectation failed')
    .option('--limit <n>', 'at most n runs', (v) => Number.parseInt(v, 10), 20)
    .action(
      action(
        async (
          id: string | undefined,
          o: { subject?: string; failed?: boolean; limit: number },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          const store = await FeatureStore.open(g.repo ?? '.');
          try {
            if (id !== undefined) {
              const run = await store.quality.run(id);
              emit(g, run, () => formatRun(run));
              return;
            }
            const runs = await store.quality.history({
              limit: o.limit,
              ...(o.subject !== undefined ? { subject: o.subject } : {}),
              ...(o.failed ? { failedOnly: true } : {}),
            });
            emit(g, runs, () =>
              runs.length === 0
                ? 'no validation runs yet (run `tessera validate`)'
                : table(
                    ['ID', 'STARTED', 'SUBJECT', 'TRIGGER', 'ROWS', 'RESULT'],
                    runs.map((r) => [
                      r.id,
                      r.startedAt,
                      `${r.subject.kind} ${r.subject.name}`,
                      r.trigger,
                      r.rows,
                      r.passed
                        ? r.failed.warn > 0
                          ? `passed, ${r.failed.warn} warn`
                          : 'passed'
                        : `FAILED: ${r.failed.error} error, ${r.failed.warn} warn`,
                    ]),
                  ),
            );
          } finally {
            await store.close();
          }
        },
      ),
    );
}
