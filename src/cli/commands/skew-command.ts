import type { Command } from 'commander';
import { TesseraError } from '../../core/errors.js';
import { parseTime } from '../../core/parse-time.js';
import { FeatureStore } from '../../feature-store.js';
import { action, EXIT, emit, type GlobalOptions, jsonReplacer, table } from '../output.js';

/** `skew`: served values (the feature log) against the offline recomputation at the time they were served. */
export function registerSkewCommand(program: Command): void {
  program
    .command('skew')
    .description(
      'recompute logged (entity, served_at) rows offline and compare with what was served; exit 5 below --min-match',
    )
    .option('--start <time>', "first served_at to check (ISO-8601, 'now-1d'); default: the whole log")
    .option('--end <time>', "end of the range, excluded (ISO-8601, 'now')")
    .option('--sample <n>', 'logged entity rows to check, at most', (v) => Number.parseInt(v, 10), 10_000)
    .option(
      '--min-match <rate>',
      'lowest acceptable match rate per feature, 0..1 (default 1: any mismatch fails)',
      (v) => Number(v),
      1,
    )
    .action(
      action(async (o: { start?: string; end?: string; sample: number; minMatch: number }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        if (!(o.minMatch >= 0 && o.minMatch <= 1)) {
          throw new TesseraError('--min-match must be a rate between 0 and 1', {
            field: '--min-match',
            expected: 'a number such as 0.99',
          });
        }
        if (!(o.sample > 0)) {
          throw new TesseraError('--sample must be a positive number of rows', { field: '--sample' });
        }
        const store = await FeatureStore.open(g.repo ?? '.');
        try {
          const report = await store.skewFromLogs({
            sample: o.sample,
            ...(o.start !== undefined ? { start: parseTime(o.start, '--start') } : {}),
            ...(o.end !== undefined ? { end: parseTime(o.end, '--end') } : {}),
          });
          const failing = report.features.filter((f) => f.matchRate < o.minMatch);
          emit(g, { ...report, minMatch: o.minMatch, failing: failing.map((f) => f.feature) }, () => {
            const lines = [
              `skew from logs: ${(report.matchRate * 100).toFixed(2)}% of ${report.compared} served values reproduced offline (${report.rows} logged rows)`,
              table(
                ['FEATURE', 'COMPARED', 'MATCH', 'DEFAULTED', ''],
                report.features.map((f) => [
                  f.feature,
                  f.compared,
                  `${(f.matchRate * 100).toFixed(2)}%`,
                  f.defaulted,
                  f.matchRate < o.minMatch ? 'below --min-match' : '',
                ]),
              ),
            ];
            for (const f of failing) {
              for (const m of f.mismatches) {
                lines.push(
                  `  ${f.feature} ${JSON.stringify(m.entity, jsonReplacer)} at ${m.servedAt}: served ${JSON.stringify(m.served, jsonReplacer)} (${m.status}), offline ${JSON.stringify(m.offline, jsonReplacer)}`,
                );
              }
            }
            for (const s of report.skipped) lines.push(`  not checked: ${s.column} (${s.reason})`);
            return lines.join('\n');
          });
          if (failing.length > 0) process.exitCode = EXIT.checkFailed;
        } finally {
          await store.close();
        }
      }),
    );
}
