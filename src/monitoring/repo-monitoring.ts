import type { RepoConfig } from '../config/repo-config.js';
import { parseDuration } from '../core/duration.js';
import { TesseraError } from '../core/errors.js';
import type { FeatureStore } from '../feature-store.js';
import { DataMonitor, type TimeWindow } from './data-monitor.js';
import { openProfileStore } from './open-profile-store.js';
import { isProfileName, type ProfileStore } from './profile-store.js';

/**
 * Monitoring over a repo: its profile store (in the registry database) and a data monitor on its definitions
 * and serving logs; shared by the CLI (`profile`, `monitor`) and the HTTP API (`/profiles`, `/drift`).
 *
 * @example
 * const profiles = profileStoreOf(store.config);
 * const monitor = monitorOf(store);
 * const ref = parseReference('orders_q1@2', 'reference'); // { name: 'orders_q1', version: 2 }
 */
/** The profile store in the repo's registry database. */
export function profileStoreOf(config: RepoConfig): ProfileStore {
  const r = config.registry;
  return openProfileStore(
    r.type === 'sqlite'
      ? { type: 'sqlite', path: r.path }
      : { type: 'postgres', url: r.url, ...(r.schema ? { schema: r.schema } : {}) },
  );
}

/** A monitor over an open store's repo, definitions and feature logs. */
export function monitorOf(store: FeatureStore): DataMonitor {
  const c = store.config;
  // `feature_logging` is read loosely: the serving-log settings may be absent from older configs.
  const logging = (c as { feature_logging?: { path?: string } }).feature_logging;
  return new DataMonitor({
    repoPath: c.repoPath,
    connections: Object.fromEntries(Object.entries(c.connections).map(([k, v]) => [k, v.url])),
    state: store.currentState(),
    ...(logging?.path ? { featureLogPath: logging.path } : {}),
    ...(c.offline_store.memory_limit ? { memoryLimit: c.offline_store.memory_limit } : {}),
    ...(c.offline_store.threads ? { threads: c.offline_store.threads } : {}),
  });
}

/** A profile reference, `name` or `name@version`, as the CLI and the HTTP API take it. */
export function parseReference(text: string, field: string): { name: string; version?: number } {
  const m = /^(.+?)(?:@(\d+))?$/.exec(text.trim());
  const name = m?.[1] ?? '';
  if (!isProfileName(name)) {
    throw new TesseraError(`invalid profile name '${text}'`, {
      field,
      expected: 'letters, digits, _ . - (optionally @version, e.g. orders_q1@2)',
    });
  }
  return m?.[2] === undefined ? { name } : { name, version: Number(m[2]) };
}

/** The error for an unknown profile, listing the saved ones (or how to save one). */
export function notFoundProfile(
  ref: { name: string; version?: number },
  known: readonly { name: string }[],
): TesseraError {
  return new TesseraError(
    `no profile '${ref.name}'${ref.version !== undefined ? ` version ${ref.version}` : ''}`,
    {
      field: 'name',
      hint:
        known.length > 0
          ? `saved profiles: ${known.map((k) => k.name).join(', ')}`
          : 'save one with tessera profile --source <name> --save <name>',
    },
    'NOT_FOUND',
  );
}

/**
 * The window [start, end) given as `since` (a duration up to `end`, default now) or `start` [`end`]; undefined
 * when none is given. `parse` reads a time; `name` spells an option in errors (`--since` on the CLI, `since`
 * over HTTP).
 *
 * @example timeWindow({ since: '1d' }, (t) => new Date(t), (n) => n) // the last day
 */
export function timeWindow(
  o: { readonly start?: string; readonly end?: string; readonly since?: string },
  parse: (text: string, field: string) => Date,
  name: (option: 'since' | 'start' | 'end') => string,
): TimeWindow | undefined {
  if (o.since !== undefined && o.start !== undefined) {
    throw new TesseraError(`give ${name('since')} or ${name('start')}, not both`, {
      field: name('since'),
      expected: `${name('since')} 1d, or ${name('start')} … [${name('end')} …]`,
    });
  }
  const end = o.end !== undefined ? parse(o.end, name('end')) : new Date();
  if (o.since !== undefined) {
    return { start: new Date(end.getTime() - parseDuration(o.since, name('since'))), end };
  }
  if (o.start !== undefined) {
    const start = parse(o.start, name('start'));
    if (start.getTime() >= end.getTime()) {
      throw new TesseraError('empty time window', {
        field: name('start'),
        expected: 'a start before the end',
        actual: `${start.toISOString()} ≥ ${end.toISOString()}`,
      });
    }
    return { start, end };
  }
  if (o.end !== undefined) {
    throw new TesseraError(`${name('end')} needs ${name('start')} or ${name('since')}`, {
      field: name('end'),
    });
  }
  return undefined;
}
