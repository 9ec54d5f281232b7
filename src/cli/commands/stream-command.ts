import type { Command } from 'commander';
import { FeatureStore } from '../../feature-store.js';
import { processMetrics } from '../../metrics/metrics.js';
import { type MetricsServer, serveMetrics } from '../../metrics/metrics-server.js';
import type { StreamCounters } from '../../stream/stream-worker.js';
import { action, EXIT, emit, type GlobalOptions, table } from '../output.js';

/** `stream`: the stream engine for one source, until SIGINT/SIGTERM. */
export function registerStreamCommand(program: Command): void {
  program
    .command('stream')
    .description(
      "run the stream engine for a source's Kafka topic: live aggregation tiles, lake append, dead letters",
    )
    .requiredOption('--source <name>', 'source whose stream to consume')
    .option(
      '--group <id>',
      'consumer group (workers of one group share the partitions); default <project>.<source>',
    )
    .option(
      '--instance <id>',
      'static group membership id: a restarted worker takes its partitions back at once',
    )
    .option('--batch-size <n>', 'records per batch, at most', (v) => Number.parseInt(v, 10), 2000)
    .option('--metrics-port <port>', 'serve Prometheus metrics at GET /metrics on this port', (v) =>
      Number.parseInt(v, 10),
    )
    .option('--metrics-host <host>', 'address the metrics endpoint listens on', '127.0.0.1')
    .action(
      action(
        async (
          o: {
            source: string;
            group?: string;
            instance?: string;
            replay?: string;
            batchSize: number;
            metricsPort?: number;
            metricsHost: string;
          },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          const store = await FeatureStore.open(g.repo ?? '.');
          let metricsServer: MetricsServer | undefined;
          if (o.metricsPort !== undefined) {
            try {
              metricsServer = await serveMetrics(processMetrics(), {
                port: o.metricsPort,
                host: o.metricsHost,
              });
            } catch (e) {
              await store.close();
              throw e;
            }
            process.stderr.write(`metrics on http://${o.metricsHost}:${metricsServer.port}/metrics\n`);
          }
          const ac = new AbortController();
          const stop = () => ac.abort();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          const started = Date.now();
          let lastReport = 0;
          const report = (c: StreamCounters, final: boolean) => {
            const seconds = (Date.now() - started) / 1000;
            const line = { status: final ? 'stopped' : 'running', source: o.source, seconds, ...c };
            if (g.json) process.stdout.write(`${JSON.stringify(line)}\n`);
            else
              process.stderr.write(
                `${o.source}: ${c.events} events (${Math.round(c.events / Math.max(seconds, 0.001))}/s), ${c.late} late, ${c.malformed} malformed, ${c.batches} batches${final ? ', stopped' : ''}\n`,
              );
          };
          try {
            const counters = await store.stream({
              source: o.source,
              signal: ac.signal,
              batchSize: o.batchSize,
              ...(o.group !== undefined ? { groupId: o.group } : {}),
              ...(o.instance !== undefined ? { instanceId: o.instance } : {}),
              ...(o.replay !== undefined ? { replay: o.replay } : {}),
              ...(metricsServer !== undefined ? { metrics: processMetrics() } : {}),
              onBatch: (c) => {
                if (Date.now() - lastReport >= 5000) {
                  lastReport = Date.now();
                  report(c, false);
                }
              },
            });
            report(counters, true);
          } finally {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            await metricsServer?.close();
            await store.close();
          }
        },
      ),
    );
}

/** `verify-consistency`: online values against the offline recomputation, for sampled entities. */
export function registerVerifyConsistencyCommand(program: Command): void {
  program
    .command('verify-consistency')
    .description(
      'compare online aggregation values with the offline recomputation now; exit 5 on any mismatch',
    )
    .option(
      '--view <name>',
      'aggregation view to check (repeatable; default: every online one)',
      (v, prev: string[]) => [...prev, v],
      [],
    )
    .option('--sample <n>', 'entities per view', (v) => Number.parseInt(v, 10), 1000)
    .action(
      action(async (o: { view: string[]; sample: number }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const store = await FeatureStore.open(g.repo ?? '.');
        try {
          const report = await store.verifyConsistency({
            sample: o.sample,
            ...(o.view.length > 0 ? { views: o.view } : {}),
          });
          emit(g, report, () => {
            const lines = [
              `consistency score ${(report.score * 100).toFixed(2)}% (${report.compared} values compared at ${report.at})`,
              table(
                ['VIEW', 'ENTITIES', 'VALUES', 'MISMATCHES'],
                report.views.map((v) => [v.view, v.entities, v.compared, v.mismatches.length]),
              ),
            ];
            for (const v of report.views) {
              for (const m of v.mismatches.slice(0, 20)) {
                lines.push(
                  `  ${v.view}:${m.feature} ${JSON.stringify(m.entity)}: online ${JSON.stringify(m.online)}, offline ${JSON.stringify(m.offline)}`,
                );
              }
            }
            return lines.join('\n');
          });
          if (report.score < 1) process.exitCode = EXIT.checkFailed;
        } finally {
          await store.close();
        }
      }),
    );
}
