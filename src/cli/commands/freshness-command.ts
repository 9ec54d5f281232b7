import type { Command } from 'commander';
import pc from 'picocolors';
import { TesseraError } from '../../core/errors.js';
import { FeatureStore } from '../../feature-store.js';
import { action, EXIT, emit, type GlobalOptions, table } from '../output.js';

/** `freshness`: each online view's newest-value age and stream lag against its thresholds; exit 5 on a breach. */
export function registerFreshnessCommand(program: Command): void {
  program
    .command('freshness')
    .description(
      'age of the newest online value per view and stream lag, against freshness thresholds; exit 5 on a breach',
    )
    .option(
      '--group <source=group>',
      'consumer group whose checkpoints give the stream lag of a source (repeatable; default <project>.<source>)',
      (v, prev: string[]) => [...prev, v],
      [],
    )
    .action(
      action(async (o: { group: string[] }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const consumers: Record<string, string> = {};
        for (const pair of o.group) {
          const at = pair.indexOf('=');
          if (at <= 0 || at === pair.length - 1) {
            throw new TesseraError(`invalid --group '${pair}'`, {
              field: 'group',
              expected: '<source>=<consumer group>, e.g. --group clicks=shop.clicks',
            });
          }
          consumers[pair.slice(0, at)] = pair.slice(at + 1);
        }
        const store = await FeatureStore.open(g.repo ?? '.');
        try {
          const report = await store.freshness({ consumers });
          emit(g, report, () => {
            const fmt = (s: number | null) => (s === null ? '-' : `${s.toFixed(1)}s`);
            const lines = [
              table(
                ['VIEW', 'NEWEST EVENT', 'AGE', 'MAX AGE', 'STREAM LAG', 'MAX LAG', 'STATUS'],
                report.views.map((v) => [
                  v.view,
                  v.newestEventAt ?? '-',
                  fmt(v.ageSeconds),
                  fmt(v.maxAgeSeconds),
                  fmt(v.streamLagSeconds),
                  fmt(v.maxLagSeconds),
                  v.breaches.length > 0 ? pc.red('BREACHED') : 'ok',
                ]),
              ),
            ];
            for (const v of report.views) for (const b of v.breaches) lines.push(`  ${v.view}: ${b.message}`);
            if (report.streams.length > 0) {
              lines.push(
                '',
                table(
                  ['SOURCE', 'PARTITION', 'NEXT OFFSET', 'WATERMARK', 'EVENT LAG'],
                  report.streams.map((p) => [
                    p.source,
                    p.partition,
                    p.next,
                    p.watermark ?? '-',
                    fmt(p.lagSeconds),
                  ]),
                ),
              );
            }
            if (report.views.length === 0) lines.push('no online views');
            return lines.join('\n');
          });
          if (report.breached) process.exitCode = EXIT.checkFailed;
        } finally {
          await store.close();
        }
      }),
    );
}
