import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { FeatureStore } from '../../feature-store.js';
import type { ValidationReport } from '../../quality/data-quality.js';
import { initRepo } from '../../repo/init-repo.js';
import { action, emit, type GlobalOptions, table } from '../output.js';
import { progress } from '../progress.js';
import { catchBadFile, catchDrift, readDeadLetters } from './demo-quality.js';

/**
 * `demo`: the whole loop on embedded defaults (DuckDB, SQLite) with no services: generate e-commerce data,
 * apply definitions, build a training set, materialize (gated by data checks), serve over HTTP and query, stream
 * live events (a bad one dead-lettered), catch a broken file and a drifted feature, then summarize.
 */
export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the end-to-end demo on embedded defaults (no services needed)')
    .option('--events <n>', 'events to generate', (v) => Number.parseInt(v, 10), 1_000_000)
    .option('--dir <dir>', 'where to create the demo repo (default: a new temp dir)')
    .action(
      action(async (o: { events: number; dir?: string }, cmd: Command) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const say = (s: string) => {
          if (!g.json) process.stderr.write(`${s}\n`);
        };
        const dir = o.dir ? resolve(o.dir) : join(mkdtempSync(join(tmpdir(), 'tessera-demo-')), 'repo');
        const timings: Record<string, number> = {};
        const time = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
          const t0 = performance.now();
          const r = await f();
          timings[name] = (performance.now() - t0) / 1000;
          return r;
        };

        say(pc.bold(`1/8 generating ${o.events.toLocaleString()} e-commerce events in ${dir}`));
        const bar = progress(!g.json);
        const init = await time('generate', () =>
          initRepo(dir, { events: o.events, onProgress: (d, t) => bar.update('generating', d, t) }),
        );
        bar.stop();

        const store = await FeatureStore.open(dir);
        try {
          say(pc.bold('2/8 applying definitions (validated against the data)'));
          const { result } = await time('apply', () => store.apply({ message: 'demo', author: 'demo' }));
          const state = store.currentState();

          say(pc.bold('3/8 building a point-in-time-correct training set'));
          const trainingPath = join(dir, 'training_set.parquet');
          const set = await time('training', async () => {
            const s = await store.getHistoricalFeatures({
              spine: { kind: 'file', path: join(dir, 'data', 'training_spine.parquet') },
              featureService: 'ranker_v1',
            });
            await s.writeParquet(trainingPath);
            return s;
          });
          const trainingRows = await set.rows();
          const columns = set.columnNames;
          const featureColumns = set.featureColumnNames;
          await set.close();
          const filled = Object.fromEntries(
            featureColumns.map((c) => [
              c,
              trainingRows.filter((r) => r[c] !== null && r[c] !== undefined).length /
                Math.max(trainingRows.length, 1),
            ]),
          );

          say(pc.bold('4/8 materializing the latest values into the online store (SQLite)'));
          const end = new Date((init.data?.timeRange.end ?? new Date()).getTime() + 1);
          const mbar = progress(!g.json);
          const gates: ValidationReport[] = [];
          const reports = await time('materialize', () =>
            store.materializeIncremental({
              end,
              onProgress: (p) => mbar.update(p.view, p.rows),
              onValidation: (r) => gates.push(r),
            }),
          );
          const checked = gates.flatMap((r) => r.runs);
          mbar.stop();

          say(pc.bold('5/8 serving over HTTP and querying like a Feast client'));
          const { buildServer } = await import('../../server/http-server.js'); // see serve-command.ts
          const app = await buildServer(store);
          const address = await app.listen({ host: '127.0.0.1', port: 0 });
          const users = [...new Set(trainingRows.slice(0, 50).map((r) => Number(r['user_id'])))].slice(0, 3);
          const items = [...new Set(trainingRows.slice(0, 50).map((r) => Number(r['item_id'])))].slice(0, 3);
          const body = {
            feature_service: 'ranker_v1',
            entities: {
              user_id: users,
              item_id: items.slice(0, users.length),
              candidate_price: users.map(() => 49.9),
            },
          };
          const query = async () => {
            const res = await fetch(`${address}/get-online-features`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify(body),
            });
            return (await res.json()) as {
              metadata: { feature_names: string[] };
              results: { values: unknown[]; statuses: string[] }[];
            };
          };
          const answer = await query();
          const latencies: number[] = [];
          for (let i = 0; i < 500; i++) {
            const t0 = performance.now();
            await query();
            latencies.push(performance.now() - t0);
          }
          latencies.sort((a, b) => a - b);
          await app.close();

          say(pc.bold('6/8 streaming live events through the in-process stream engine'));
          const live = await store.startLocalStream({ source: 'events_source' });
          const probe = users[0] as number;
          const engagements = async () =>
            Number(
              (
                await store.getOnlineFeatures({
                  features: ['user_engagement:engagements_1h'],
                  entities: [{ user_id: probe }],
                })
              ).rows[0]?.['engagements_1h'] ?? 0,
            );
          const clickOf = (user_id: number) => ({
            user_id,
            item_id: items[0] ?? 1,
            event_type: 'click',
            price: 19.9,
            event_ts: new Date().toISOString(),
          });
          const beforeStream = await engagements();
          // Freshness: push one click of the probe user, then read until it is counted online.
          const freshness: number[] = [];
          for (let i = 1; i <= 40; i++) {
            const t0 = performance.now();
            live.push([clickOf(probe)]);
            while ((await engagements()) < beforeStream + i) await new Promise((r) => setTimeout(r, 1));
            freshness.push(performance.now() - t0);
          }
          // Throughput: a burst of clicks from every user.
          const burst = Array.from({ length: 20_000 }, (_, i) => clickOf(1 + (i % 500)));
          const burstStart = performance.now();
          live.push(burst);
          await live.flush();
          const burstSeconds = (performance.now() - burstStart) / 1000;
          // Two events that decode but break the source's expectations: refused, dead-lettered with the reason.
          live.push([
            { ...clickOf(probe), event_type: 'hover' },
            { ...clickOf(probe), price: -19.9 },
          ]);
          await live.flush();
          await live.stop();
          const deadLetters = readDeadLetters(store, 'events_source');
          freshness.sort((a, b) => a - b);
          const streamed = {
            events: live.counters.events,
            probe: {
              user_id: probe,
              engagements1hBefore: beforeStream,
              engagements1hAfter: await engagements(),
            },
            freshnessMs: { p50: pct(freshness, 0.5), p99: pct(freshness, 0.99), max: freshness.at(-1) ?? 0 },
            burst: {
              events: burst.length,
              seconds: burstSeconds,
              eventsPerSecond: Math.round(burst.length / burstSeconds),
            },
            refused: {
              invalid: live.counters.invalid,
              deadLetters: deadLetters.letters.map((d) => d.reason),
              path: deadLetters.dir,
            },
          };

          say(pc.bold('7/8 a partner upload with broken rows: validated, refused, quarantined'));
          const badFile = await time('badFile', () => catchBadFile(store, dir, new Date()));

          say(pc.bold('8/8 prices written in cents: caught as drift against a saved profile'));
          const range = init.data?.timeRange ?? { start: new Date(0), end };
          const drift = await time('drift', () => catchDrift(store, dir, range, new Date()));

          const summary = {
            repo: dir,
            events: o.events,
            registryVersion: result.version,
            definitions: {
              entities: state.entities.length,
              featureViews: state.featureViews.length,
              onDemandFeatureViews: state.onDemandFeatureViews.length,
              featureServices: state.featureServices.length,
            },
            trainingSet: { path: trainingPath, rows: trainingRows.length, columns, filledFraction: filled },
            materialized: reports.map((r) => ({ view: r.view, rows: r.rows, seconds: r.seconds })),
            checkedBeforeLoading: checked.map((r) => ({
              subject: `${r.subject.kind} ${r.subject.name}`,
              rows: r.rows,
              passed: r.passed,
              expectations: r.results.length,
            })),
            online: {
              address,
              request: body,
              response: answer,
              httpLatencyMs: {
                p50: pct(latencies, 0.5),
                p99: pct(latencies, 0.99),
                requests: latencies.length,
              },
            },
            stream: streamed,
            badFile,
            drift,
            seconds: timings,
          };
          emit(g, summary, () =>
            [
              '',
              pc.bold(pc.green('Tessera demo complete')),
              `repo: ${dir}  (registry version ${result.version}: ${summary.definitions.featureViews} views, ${summary.definitions.onDemandFeatureViews} on-demand, ${summary.definitions.featureServices} service)`,
              `data: ${o.events.toLocaleString()} events generated in ${timings['generate']?.toFixed(1)} s`,
              `training set: ${trainingRows.length.toLocaleString()} rows × ${columns.length} columns in ${timings['training']?.toFixed(2)} s → ${trainingPath}`,
              `  share of rows with a value (point-in-time, TTL applied): ${featureColumns.map((c) => `${c} ${(100 * (filled[c] ?? 0)).toFixed(0)}%`).join(', ')}`,
              `materialized: ${reports.map((r) => `${r.view} ${r.rows.toLocaleString()} rows`).join(', ')} in ${timings['materialize']?.toFixed(2)} s`,
              `  checked first: ${checked.map((r) => `${r.subject.name} ${r.results.length} expectations on ${r.rows.toLocaleString()} rows ${r.passed ? 'passed' : 'FAILED'}`).join(', ')}`,
              `online (HTTP, Feast JSON, ${users.length} entities × ranker_v1): p50 ${summary.online.httpLatencyMs.p50.toFixed(2)} ms, p99 ${summary.online.httpLatencyMs.p99.toFixed(2)} ms over ${latencies.length} requests`,
              `live stream (in-process): user ${probe} engagements_1h ${streamed.probe.engagements1hBefore} → ${streamed.probe.engagements1hAfter}; freshness push → online p50 ${streamed.freshnessMs.p50.toFixed(1)} ms, p99 ${streamed.freshnessMs.p99.toFixed(1)} ms; burst of ${streamed.burst.events.toLocaleString()} events in ${streamed.burst.seconds.toFixed(2)} s (${streamed.burst.eventsPerSecond.toLocaleString()}/s), appended to the lake too`,
              `bad events: ${streamed.refused.invalid} refused by the source's expectations → ${streamed.refused.path}: ${streamed.refused.deadLetters.join('; ')}`,
              `bad file: ${badFile.upload.rows.toLocaleString()} rows in ${badFile.upload.path}; validate: ${badFile.failed.map((f) => `${f.check} ${f.rows} rows`).join(', ')}`,
              `  materialize-incremental ${pc.red('refused')} (exit 5 in the CLI); with --quarantine: ${badFile.quarantine.rows} rows set aside with their reason → ${badFile.quarantine.path}, ${badFile.quarantine.loadedEvents.toLocaleString()} events loaded`,
              `drift: reference '${drift.reference.name}' v${drift.reference.version} (${drift.reference.rows.toLocaleString()} item snapshots); yesterday ${drift.yesterday.breached ? pc.red('ALERT') : pc.green('no alert')} (${driftLine(drift.yesterday.features)})`,
              `  a snapshot with prices in cents (every row passes its checks): ${drift.repriced.breached ? pc.red('ALERT') : pc.green('no alert')} (${driftLine(drift.repriced.features)})`,
              '',
              table(
                ['FEATURE', ...users.map((u) => `user ${u}`)],
                answer.metadata.feature_names.map((name, j) => [
                  name,
                  ...(answer.results[j]?.values ?? []).map(
                    (v, i) => `${short(v)} (${answer.results[j]?.statuses[i]})`,
                  ),
                ]),
              ),
              '',
              `explore: tessera --repo ${dir} list | describe ranker_v1 | get --service ranker_v1 -e user_id=${users[0]},item_id=${items[0]},candidate_price=49.9`,
              `         tessera --repo ${dir} validations | validate --source events_source | monitor --reference item_stats_baseline --source item_stats_source --since 1h`,
            ].join('\n'),
          );
        } finally {
          await store.close();
        }
      }),
    );
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

function short(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(3);
  if (Array.isArray(v)) return `[${v.slice(0, 3).map(short).join(',')}${v.length > 3 ? ',…' : ''}]`;
  return String(v);
}

function driftLine(
  features: readonly { feature: string; psi: number | null; ks: number | null; status: string }[],
) {
  return features
    .map((f) => `${f.feature} PSI ${f.psi?.toFixed(2) ?? '–'} KS ${f.ks?.toFixed(2) ?? '–'} ${f.status}`)
    .join(', ');
}
