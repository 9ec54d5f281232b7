import { TesseraError } from '../core/errors.js';
import {
  type DefinitionKind,
  deserializeState,
  emptyState,
  type RegistryState,
  serializeState,
} from '../definitions/definition.js';
import { changeSummary, nextObjectVersions, type Plan, planChanges } from './diff.js';
import { type LineageDirection, type LineageGraph, lineageGraph, lineageOf } from './lineage.js';
import {
  RegistryConflictError,
  type RegistryStore,
  type StoredVersion,
  type VersionInfo,
} from './registry-store.js';

/** A project's definitions at one version; version 0 is the empty state before the first apply. */
export interface RegistrySnapshot {
  readonly version: number;
  readonly state: RegistryState;
  /** Per-object version numbers, keyed `Kind/name` (see `objectKey`). */
  readonly objectVersions: Readonly<Record<string, number>>;
}

export interface UpdateOptions {
  /** Recorded in history. Default: the `USER` environment variable. */
  readonly author?: string;
  readonly message?: string;
}

export interface ApplyOptions extends UpdateOptions {
  /** Apply only if the latest version is still this one (e.g. the `baseVersion` of a reviewed plan). */
  readonly expectedVersion?: number;
}

export interface ApplyResult {
  /** The latest version after the call: the new one, or the unchanged latest when nothing changed. */
  readonly version: number;
  /** False when the desired state equalled the latest one, so no version was written. */
  readonly created: boolean;
  /** The plan that was applied (against the version it was applied on). */
  readonly plan: Plan;
  readonly objectVersions: Readonly<Record<string, number>>;
  /** How many read-diff-commit rounds it took (more than 1 when other writers got in between). */
  readonly attempts: number;
}

export interface RegistryOptions {
  /** Attempts of `update` (and `apply` without `expectedVersion`) before a conflict surfaces. Default 20. */
  readonly maxAttempts?: number;
}

/**
 * The registry service of one project: plans, applies, history, lineage and materialization bookmarks, over
 * any `RegistryStore`. Holds no cache: every call reads the store, so several processes can share it.
 *
 * @example
 * const registry = new Registry(openRegistryStore({ type: 'sqlite', path: '.tessera/registry.db' }), 'shop');
 * const plan = await registry.plan(desired);
 * await registry.apply(desired, { message: 'add user_stats', expectedVersion: plan.baseVersion });
 */
export class Registry {
  private readonly maxAttempts: number;

  constructor(
    readonly store: RegistryStore,
    readonly project: string,
    options: RegistryOptions = {},
  ) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 20);
  }

  /** The latest state, or version 0 with an empty state before the first apply. */
  async state(): Promise<RegistrySnapshot> {
    return this.toSnapshot(await this.store.latest(this.project));
  }

  /** The state at one version (0 = empty); throws NOT_FOUND for a version that does not exist. */
  async at(version: number): Promise<RegistrySnapshot> {
    if (version === 0) return this.toSnapshot(undefined);
    const stored = await this.store.get(this.project, version);
    if (stored === undefined) {
      const latest = (await this.store.latest(this.project))?.version ?? 0;
      throw new TesseraError(
        `project '${this.project}' has no registry version ${version}`,
        { field: 'version', expected: latest === 0 ? 'no versions yet' : `a version from 1 to ${latest}` },
        'NOT_FOUND',
      );
    }
    return this.toSnapshot(stored);
  }

  /**
   * What `apply(desired)` would change now: per-object diffs and breaking findings.
   *
   * @example (await registry.plan(desired)).breaking.map((b) => b.message)
   */
  async plan(desired: RegistryState): Promise<Plan> {
    this.assertProject(desired);
    const { version, state } = await this.state();
    return planChanges(state, desired, version);
  }

  /**
   * Replaces the project's definitions with `desired` (declarative: objects not in it are removed).
   * With `expectedVersion`, fails with RegistryConflictError when someone applied since; without it, retries
   * on conflicts like `update`. Writes no version when nothing changed.
   *
   * @example await registry.apply(desired, { author: 'ci', message: 'release 42', expectedVersion: 7 })
   */
  async apply(desired: RegistryState, options: ApplyOptions = {}): Promise<ApplyResult> {
    this.assertProject(desired);
    const { expectedVersion, ...rest } = options;
    if (expectedVersion === undefined) return this.update(() => desired, rest);
    return this.attempt(() => desired, rest, 1, expectedVersion);
  }

  /**
   * Reads the latest state, applies `mutate`, and commits; on a concurrent commit it starts over from the
   * new latest state, so additive changes from many writers all land (none is lost).
   *
   * @example
   * await registry.update((s) => ({ ...s, featureViews: [...s.featureViews.filter((v) => v.name !== 'clicks'), clicks] }));
   */
  async update(
    mutate: (state: RegistryState) => RegistryState,
    options: UpdateOptions = {},
  ): Promise<ApplyResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(mutate, options, attempt);
      } catch (err) {
        if (!isConflict(err) || attempt >= this.maxAttempts) throw err;
        await sleep(backoffMs(attempt));
      }
    }
  }

  /** Versions newest first (without snapshots). */
  history(limit?: number): Promise<VersionInfo[]> {
    return this.store.history(this.project, limit);
  }

  /** The lineage graph of the latest state. */
  async lineage(): Promise<LineageGraph> {
    return lineageGraph((await this.state()).state);
  }

  /**
   * What one object depends on and/or what depends on it, in the latest state.
   *
   * @example await registry.lineageOf('FeatureView', 'user_stats', 'downstream')
   */
  async lineageOf(
    kind: DefinitionKind,
    name: string,
    direction: LineageDirection = 'both',
  ): Promise<LineageGraph> {
    return lineageOf(await this.lineage(), kind, name, direction);
  }

  /** End (epoch ms) of the last materialized interval of a view, or undefined before the first run. */
  getBookmark(view: string): Promise<number | undefined> {
    return this.store.getBookmark(this.project, view);
  }

  setBookmark(view: string, endMs: number): Promise<void> {
    return this.store.setBookmark(this.project, view, endMs);
  }

  /** Closes the underlying store (a Registry owns the store it was given). */
  close(): Promise<void> {
    return this.store.close();
  }

  private async attempt(
    mutate: (state: RegistryState) => RegistryState,
    options: UpdateOptions,
    attempts: number,
    expectedVersion?: number,
  ): Promise<ApplyResult> {
    const base = await this.state();
    // Checked before diffing so that a stale plan is reported even when it would change nothing.
    if (expectedVersion !== undefined && expectedVersion !== base.version) {
      throw new RegistryConflictError(this.project, expectedVersion);
    }
    const desired = mutate(base.state);
    this.assertProject(desired);
    const plan = planChanges(base.state, desired, base.version);
    if (!plan.hasChanges) {
      return { version: base.version, created: false, plan, objectVersions: base.objectVersions, attempts };
    }
    const objectVersions = nextObjectVersions(plan, base.objectVersions);
    const stored = await this.store.commit(this.project, base.version, {
      state: serializeState(desired),
      objectVersions,
      author: options.author ?? defaultAuthor(),
      message: options.message ?? '',
      changes: changeSummary(plan),
    });
    return { version: stored.version, created: true, plan, objectVersions, attempts };
  }

  private toSnapshot(stored: StoredVersion | undefined): RegistrySnapshot {
    if (stored === undefined) return { version: 0, state: emptyState(this.project), objectVersions: {} };
    return {
      version: stored.version,
      state: deserializeState(stored.snapshot.state),
      objectVersions: stored.snapshot.objectVersions,
    };
  }

  private assertProject(state: RegistryState): void {
    if (state.project !== this.project) {
      throw new TesseraError(
        `state of project '${state.project}' given to the registry of project '${this.project}'`,
        { field: 'project', expected: this.project, actual: state.project },
        'INVALID_INPUT',
      );
    }
  }
}

/** By name too, so an error thrown by another copy of the package is recognised. */
const isConflict = (err: unknown): boolean =>
  err instanceof RegistryConflictError || (err instanceof Error && err.name === 'RegistryConflictError');

/** Exponential up to 200 ms, jittered so that writers that collided once do not collide again in lockstep. */
const backoffMs = (attempt: number): number => Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random());

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const defaultAuthor = (): string => process.env['USER'] ?? process.env['USERNAME'] ?? 'unknown';
