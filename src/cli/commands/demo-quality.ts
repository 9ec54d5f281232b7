import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeBrokenUpload, writeRepricedSnapshot } from '../../demo/bad-data.js';
import type { FeatureStore } from '../../feature-store.js';
import type { FeatureDrift } from '../../monitoring/drift.js';
import { monitorOf, profileStoreOf } from '../../monitoring/repo-monitoring.js';
import { ValidationFailedError, type ValidationReport } from '../../quality/data-quality.js';

/**
 * The demo's data-quality and monitoring steps on its generated repo: a broken file refused by the checks
 * that gate materialization (then quarantined), and a valid-looking snapshot whose prices drifted, caught by
 * comparing it with a saved profile. Bad streamed events are shown in the stream step (dead letters).
 */

const DAY_MS = 86_400_000;

/** What step "a bad file" found. */
export interface BadFileOutcome {
  readonly upload: Awaited<ReturnType<typeof writeBrokenUpload>>;
  /** Failed checks of `tessera validate --source events_source` on the upload's day. */
  readonly failed: readonly { readonly check: string; readonly rows: number }[];
  /** Why `materialize-incremental` refused to load the day (the gate's message). */
  readonly refused: string;
  /** The run with `--quarantine`: rows set aside with their reason, the rest loaded. */
  readonly quarantine: { readonly path: string; readonly rows: number; readonly loadedEvents: number };
}

/**
 * A partner upload with broken rows lands in today's events partition: validation names each defect, the
 * gated incremental materialization refuses it, and a run with quarantine sets the bad rows aside.
 */
export async function catchBadFile(store: FeatureStore, repo: string, now: Date): Promise<BadFileOutcome> {
  const today = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
  const upload = await writeBrokenUpload(repo, today, now);
  const end = new Date(now.getTime() + 1);
  const report = await store.validate({ source: 'events_source', start: today, end });
  const failed = failedChecks(report);
  if (failed.length === 0) throw new Error('demo: the broken upload passed validation');

  let refused: string | undefined;
  try {
    await store.materializeIncremental({ end, views: ['user_engagement'] });
  } catch (e) {
    if (!(e instanceof ValidationFailedError)) throw e;
    refused = e.message;
  }
  if (refused === undefined) throw new Error('demo: materialization loaded the broken upload');

  let gate: ValidationReport | undefined;
  const [loaded] = await store.materialize({
    start: today,
    end,
    views: ['user_engagement'],
    quarantine: join(repo, 'quarantine'),
    onValidation: (r) => {
      gate = r;
    },
  });
  const set = gate?.runs.find((r) => r.quarantine)?.quarantine;
  if (!set) throw new Error('demo: nothing was quarantined');
  return {
    upload,
    failed,
    refused,
    quarantine: { path: set.path, rows: set.rows, loadedEvents: loaded?.rows ?? 0 },
  };
}

/** What step "a drifted feature" found. */
export interface DriftOutcome {
  readonly reference: { readonly name: string; readonly version: number; readonly rows: number };
  /** Yesterday's snapshot against the reference: the baseline, no alert expected. */
  readonly yesterday: { readonly breached: boolean; readonly features: readonly DriftSummary[] };
  /** The repriced snapshot against the reference. */
  readonly repriced: {
    readonly path: string;
    readonly rows: number;
    readonly breached: boolean;
    readonly features: readonly DriftSummary[];
  };
}

export interface DriftSummary {
  readonly feature: string;
  readonly psi: number | null;
  readonly ks: number | null;
  readonly status: FeatureDrift['status'];
}

/**
 * Saves a profile of the generated item snapshots as the reference, then compares yesterday's snapshot (calm)
 * and a new snapshot whose prices were written in cents (every row valid) with it.
 */
export async function catchDrift(
  store: FeatureStore,
  repo: string,
  range: { start: Date; end: Date },
  now: Date,
): Promise<DriftOutcome> {
  const columns = ['price', 'ctr_7d', 'category'];
  const monitor = monitorOf(store);
  const profiles = profileStoreOf(store.config);
  try {
    const profile = await monitor.profile({
      kind: 'source',
      source: 'item_stats_source',
      window: range,
      columns,
    });
    const saved = await profiles.save(store.config.project, 'item_stats_baseline', profile);
    const yesterday = await monitor.compare(saved, {
      kind: 'source',
      source: 'item_stats_source',
      window: { start: new Date(range.end.getTime() - DAY_MS), end: range.end },
    });
    const written = await writeRepricedSnapshot(repo, now);
    const repriced = await monitor.compare(saved, {
      kind: 'source',
      source: 'item_stats_source',
      window: { start: now, end: new Date(now.getTime() + 1) },
    });
    return {
      reference: { name: saved.name, version: saved.version, rows: profile.rowCount },
      yesterday: { breached: yesterday.breached, features: yesterday.features.map(summary) },
      repriced: { ...written, breached: repriced.breached, features: repriced.features.map(summary) },
    };
  } finally {
    await monitor.close();
    await profiles.close();
  }
}

/** The dead letters the stream engine wrote for `source` (oldest file first), parsed, and their folder. */
export function readDeadLetters(
  store: FeatureStore,
  source: string,
): { dir: string; letters: { reason: string; value: string }[] } {
  const dir = store.deadLetterDir(source);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return { dir, letters: [] };
  }
  const letters = files.sort().flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { reason: string; value: string }),
  );
  return { dir, letters };
}

function failedChecks(report: ValidationReport): { check: string; rows: number }[] {
  return report.runs.flatMap((run) =>
    run.results
      .filter((r) => !r.passed)
      .map((r) => ({ check: r.name, rows: r.failingRows ?? Number(r.observed ?? 0) })),
  );
}

function summary(f: FeatureDrift): DriftSummary {
  return { feature: f.feature, psi: f.psi, ks: f.ks, status: f.status };
}
