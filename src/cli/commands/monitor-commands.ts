import { resolve } from 'node:path';
import type { Command } from 'commander';
import pc from 'picocolors';
import { TesseraError } from '../../core/errors.js';
import { parseTime } from '../../core/parse-time.js';
import { FeatureStore } from '../../feature-store.js';
import type {
  CurrentRequest,
  DriftReport,
  ProfileRequest,
  TimeWindow,
} from '../../monitoring/data-monitor.js';
import { DEFAULT_THRESHOLDS } from '../../monitoring/drift.js';
import type { Profile } from '../../monitoring/profile.js';
import { isProfileName } from '../../monitoring/profile-store.js';
import {
  monitorOf,
  notFoundProfile,
  parseReference,
  profileStoreOf,
  timeWindow,
} from '../../monitoring/repo-monitoring.js';
import { action, EXIT, emit, type GlobalOptions, table } from '../output.js';

/** [start, end) from --start/--end or --since; undefined when none is given. */
function windowOf(o: { start?: string; end?: string; since?: string }): TimeWindow | undefined {
  return timeWindow(o, parseTime, (option) => `--${option}`);
}

const n = (x: number | null | undefined, digits = 3): string =>
  x === null || x === undefined ? '' : Number.isInteger(x) ? x.toLocaleString('en-US') : x.toFixed(digits);

/** The human rendering of a profile: one line per column. */
function renderProfile(profile: Profile): string {
  const rows = profile.columns.map((c) => {
    const nulls = `${n(c.nulls)} (${((100 * c.nulls) / Math.max(profile.rowCount, 1)).toFixed(1)}%)`;
    if (c.kind === 'numeric') {
      const q = (level: number) => c.quantiles.values[c.quantiles.levels.indexOf(level)];
      return [
        c.name,
        c.type,
        n(c.count),
        nulls,
        n(c.distinct),
        n(c.min),
        n(c.mean),
        n(q(0.5)),
        n(c.max),
        n(c.stddev),
        '',
      ];
    }
    const top =
      c.kind === 'categorical'
        ? c.topValues
            .slice(0, 3)
            .map((t) => `${t.value} ${((100 * t.count) / Math.max(c.count, 1)).toFixed(1)}%`)
            .join(', ')
        : '';
    return [
      c.name,
      c.type,
      n(c.count),
      nulls,
      n(c.distinct),
      c.kind === 'other' ? (c.min ?? '') : '',
      '',
      '',
      c.kind === 'other' ? (c.max ?? '') : '',
      '',
      top,
    ];
  });
  const window = profile.window ? ` in [${profile.window.start}, ${profile.window.end})` : '';
  return [
    `${pc.bold('profile')} of ${JSON.stringify(profile.target)}${window}: ${profile.rowCount.toLocaleString('en-US')} rows`,
    table(
      ['COLUMN', 'TYPE', 'COUNT', 'NULLS', 'DISTINCT≈', 'MIN', 'MEAN', 'P50', 'MAX', 'STDDEV', 'TOP VALUES'],
      rows,
    ),
  ].join('\n');
}

function renderReport(report: DriftReport): string {
  const colour = (s: string) =>
    s === 'alert' ? pc.red(s) : s === 'warn' ? pc.yellow(s) : s === 'ok' ? pc.green(s) : s;
  const lines = [
    `${pc.bold('drift')} of ${report.current.description} (${report.current.rows.toLocaleString('en-US')} rows${report.current.window ? ` in [${report.current.window.start}, ${report.current.window.end})` : ''}) against profile '${report.reference.name}'${report.reference.version ? ` v${report.reference.version}` : ''}`,
    table(
      ['FEATURE', 'STATUS', 'PSI', 'KS', 'NULL RATE Δ', 'MEAN SHIFT (σ)', 'BREACHED'],
      report.features.map((f) => [
        f.feature,
        colour(f.status),
        n(f.psi),
        f.ks === null ? '' : `${n(f.ks)} ±${n(f.ksMaxError)}`,
        n(f.nullRate.change),
        n(f.mean.shiftInStddevs, 2),
        f.breaches.join('; '),
      ]),
    ),
  ];
  if (report.unmatched.length > 0)
    lines.push(pc.dim(`not compared (no such column): ${report.unmatched.join(', ')}`));
  const alerts = report.features.filter((f) => f.status === 'alert').map((f) => f.feature);
  const t = report.thresholds;
  lines.push(
    report.breached
      ? pc.red(`drift detected in ${alerts.join(', ')}`)
      : pc.green(
          `no drift past thresholds (PSI ${t.psi}, KS ${t.ks}, null rate +${t.nullRate}, unless a view sets its own)`,
        ),
  );
  return lines.join('\n');
}

const positive = (field: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isFinite(x) || x < 0)
    throw new TesseraError(`invalid ${field} '${v}'`, { field, expected: 'a number ≥ 0' });
  return x;
};
const integer = (field: string) => (v: string) => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 1)
    throw new TesseraError(`invalid ${field} '${v}'`, { field, expected: 'an integer ≥ 1' });
  return x;
};

/** `profile` (compute, save, list, show) and `monitor` (drift against a reference profile). */
export function registerMonitorCommands(program: Command): void {
  program
    .command('profile')
    .description(
      'profile a source, a view or a training set (save it as a reference); `profile list`, `profile show <name>`',
    )
    .argument('[action]', 'list | show (default: compute a profile)')
    .argument('[name]', 'profile name (show), as name or name@version')
    .option('--source <name>', 'profile a source (all its columns but the timestamp)')
    .option(
      '--view <name>',
      "profile a feature view's features, read from its source (columns named view__feature)",
    )
    .option('--training-set <file>', 'profile a training set file (.parquet or .csv)')
    .option('--columns <names>', 'only these source columns (with --source)', (v) =>
      v.split(',').map((s) => s.trim()),
    )
    .option('--start <time>', "window start (event time, ISO-8601 or 'now-7d')")
    .option('--end <time>', 'window end (exclusive; default now)')
    .option('--since <duration>', "window of this length up to --end, e.g. '30d'")
    .option('--save <name>', 'save as a named reference profile (a new version if the name exists)')
    .option('--bins <n>', 'histogram bins', integer('--bins'))
    .option('--top-k <n>', 'top values kept per categorical column', integer('--top-k'))
    .action(
      action(
        async (
          actionName: string | undefined,
          name: string | undefined,
          o: {
            source?: string;
            view?: string;
            trainingSet?: string;
            columns?: string[];
            start?: string;
            end?: string;
            since?: string;
            save?: string;
            bins?: number;
            topK?: number;
          },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          const store = await FeatureStore.open(g.repo ?? '.');
          const profiles = profileStoreOf(store.config);
          const project = store.config.project;
          try {
            if (actionName === 'list') {
              const all = await profiles.list(project);
              emit(g, all, () =>
                all.length === 0
                  ? 'no saved profiles (tessera profile --source <name> --save <name>)'
                  : table(
                      ['NAME', 'VERSION', 'SAVED', 'TARGET', 'ROWS'],
                      all.map((p) => [p.name, p.version, p.savedAt.toISOString(), p.target, n(p.rowCount)]),
                    ),
              );
              return;
            }
            if (actionName === 'show') {
              if (name === undefined)
                throw new TesseraError('which profile?', {
                  field: 'name',
                  expected: 'tessera profile show <name>[@version]',
                });
              const ref = parseReference(name, 'name');
              const stored = await profiles.get(project, ref.name, ref.version);
              if (!stored) throw notFoundProfile(ref, await profiles.list(project));
              const history = await profiles.history(project, ref.name, 10);
              emit(g, { ...stored, history }, () =>
                [
                  `${pc.bold(stored.name)} v${stored.version} saved ${stored.savedAt.toISOString()} (${history.length} version${history.length === 1 ? '' : 's'})`,
                  renderProfile(stored.profile),
                ].join('\n'),
              );
              return;
            }
            if (actionName !== undefined) {
              throw new TesseraError(`unknown profile action '${actionName}'`, {
                field: 'action',
                expected: 'list, show <name>, or options such as --source <name>',
              });
            }
            const given = [o.source, o.view, o.trainingSet].filter((x) => x !== undefined).length;
            if (given !== 1) {
              throw new TesseraError('give exactly one thing to profile', {
                field: '--source',
                expected: '--source <name>, --view <name> or --training-set <file>',
              });
            }
            if (o.save !== undefined && !isProfileName(o.save)) {
              throw new TesseraError(`invalid profile name '${o.save}'`, {
                field: '--save',
                expected: 'letters, digits, _ . - (a new version is added when the name exists)',
              });
            }
            const window = windowOf(o);
            if (window && o.trainingSet !== undefined) {
              throw new TesseraError('a training set has no event-time window here', {
                field: '--start',
                hint: 'filter the spine instead',
              });
            }
            const request: ProfileRequest =
              o.trainingSet !== undefined
                ? { kind: 'training-set', path: resolve(o.trainingSet) }
                : o.view !== undefined
                  ? { kind: 'view', view: o.view, ...(window ? { window } : {}) }
                  : {
                      kind: 'source',
                      source: o.source as string,
                      ...(window ? { window } : {}),
                      ...(o.columns ? { columns: o.columns } : {}),
                    };
            const monitor = monitorOf(store);
            try {
              const t0 = performance.now();
              const profile = await monitor.profile(request, {
                ...(o.bins ? { bins: o.bins } : {}),
                ...(o.topK ? { topK: o.topK } : {}),
              });
              const seconds = (performance.now() - t0) / 1000;
              const saved = o.save !== undefined ? await profiles.save(project, o.save, profile) : undefined;
              emit(
                g,
                {
                  profile,
                  seconds,
                  ...(saved ? { saved: { name: saved.name, version: saved.version } } : {}),
                },
                () =>
                  [
                    renderProfile(profile),
                    `${seconds.toFixed(2)} s${saved ? `; ${pc.green('saved')} as '${saved.name}' v${saved.version}` : ''}`,
                  ].join('\n'),
              );
            } finally {
              await monitor.close();
            }
          } finally {
            await profiles.close();
            await store.close();
          }
        },
      ),
    );

  program
    .command('monitor')
    .description('compare serving logs or a recent source window with a reference profile; exit 5 on drift')
    .requiredOption('--reference <name>', 'reference profile, name or name@version')
    .option('--logs', 'compare the serving logs (the default)')
    .option('--source <name>', 'compare a window of this source instead')
    .option('--since <duration>', "window length up to --end, e.g. '1d'")
    .option('--start <time>', 'window start')
    .option('--end <time>', 'window end (exclusive; default now)')
    .option('--feature-service <name>', 'only logs of this feature service')
    .option(
      '--psi-threshold <x>',
      `PSI alert level (default ${DEFAULT_THRESHOLDS.psi}, or the view's monitoring.psi)`,
      positive('--psi-threshold'),
    )
    .option(
      '--psi-warn <x>',
      `PSI warning level, reported, does not fail (default ${DEFAULT_THRESHOLDS.psiWarn})`,
      positive('--psi-warn'),
    )
    .option(
      '--ks-threshold <x>',
      `Kolmogorov–Smirnov alert level (default ${DEFAULT_THRESHOLDS.ks}, or monitoring.ks)`,
      positive('--ks-threshold'),
    )
    .option(
      '--null-rate-threshold <x>',
      `alert when the null rate grows by this much, absolute (default ${DEFAULT_THRESHOLDS.nullRate})`,
      positive('--null-rate-threshold'),
    )
    .action(
      action(
        async (
          o: {
            reference: string;
            logs?: boolean;
            source?: string;
            since?: string;
            start?: string;
            end?: string;
            featureService?: string;
            psiThreshold?: number;
            psiWarn?: number;
            ksThreshold?: number;
            nullRateThreshold?: number;
          },
          cmd: Command,
        ) => {
          const g = cmd.optsWithGlobals<GlobalOptions>();
          if (o.logs && o.source !== undefined) {
            throw new TesseraError('give --logs or --source, not both', { field: '--source' });
          }
          const ref = parseReference(o.reference, '--reference');
          const window = windowOf(o);
          const current: CurrentRequest =
            o.source !== undefined
              ? { kind: 'source', source: o.source, ...(window ? { window } : {}) }
              : {
                  kind: 'logs',
                  ...(window ? { window } : {}),
                  ...(o.featureService ? { featureService: o.featureService } : {}),
                };
          const store = await FeatureStore.open(g.repo ?? '.');
          const profiles = profileStoreOf(store.config);
          const monitor = monitorOf(store);
          try {
            const stored = await profiles.get(store.config.project, ref.name, ref.version);
            if (!stored) throw notFoundProfile(ref, await profiles.list(store.config.project));
            const report = await monitor.compare(stored, current, {
              ...(o.psiThreshold !== undefined ? { psi: o.psiThreshold } : {}),
              ...(o.psiWarn !== undefined ? { psiWarn: o.psiWarn } : {}),
              ...(o.ksThreshold !== undefined ? { ks: o.ksThreshold } : {}),
              ...(o.nullRateThreshold !== undefined ? { nullRate: o.nullRateThreshold } : {}),
            });
            emit(g, report, () => renderReport(report));
            if (report.breached) process.exitCode = EXIT.checkFailed;
          } finally {
            await monitor.close();
            await profiles.close();
            await store.close();
          }
        },
      ),
    );
}
