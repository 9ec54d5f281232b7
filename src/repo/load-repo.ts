import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { CONFIG_FILE, loadRepoConfig, type RepoConfig } from '../config/repo-config.js';
import { TesseraError } from '../core/errors.js';
import {
  COLLECTIONS,
  type Definition,
  type RegistryState,
  stateFromDefinitions,
} from '../definitions/definition.js';
import type {
  OnDemandFeatureView,
  TransformFn,
  TransformRef,
} from '../definitions/on-demand-feature-view.js';
import { importRepoModule } from './load-module.js';
import { loadYamlDefinitions } from './yaml-definitions.js';

/** A feature repo as read from disk: its config, its definitions, and where each came from. */
export interface LoadedRepo {
  readonly config: RepoConfig;
  readonly state: RegistryState;
  /** File each definition was read from, keyed `Kind/name`, for error messages. */
  readonly origins: ReadonlyMap<string, string>;
}

const DEFINITION_KINDS = new Set(Object.keys(COLLECTIONS));

/**
 * Reads `tessera.yaml` and every definition file it lists (TypeScript modules: exported definitions; YAML
 * files: see docs). Definitions of on-demand views written in TypeScript get a `transformRef` naming their
 * module and export, so the server and training load the very same function later.
 *
 * @example const repo = await loadRepo('examples/ecommerce'); repo.state.featureViews.length
 */
export async function loadRepo(repoDir: string): Promise<LoadedRepo> {
  const config = loadRepoConfig(repoDir);
  const files = expandDefinitionPaths(config.repoPath, config.definitions);
  const defs: Definition[] = [];
  const origins = new Map<string, string>();
  for (const file of files) {
    const rel = relative(config.repoPath, file);
    const found = isYaml(file)
      ? loadYamlDefinitions(readFileSync(file, 'utf8'), rel)
      : await definitionsOfModule(file, rel);
    for (const d of found) {
      const key = `${d.kind}/${d.name}`;
      const prior = origins.get(key);
      if (prior !== undefined) {
        throw new TesseraError(
          `duplicate ${d.kind} '${d.name}'`,
          {
            file: rel,
            field: 'name',
            hint: `also defined in ${prior}; names are unique per kind`,
          },
          'INVALID_DEFINITION',
        );
      }
      origins.set(key, rel);
      defs.push(d);
    }
  }
  return { config, state: stateFromDefinitions(config.project, defs), origins };
}

async function definitionsOfModule(file: string, rel: string): Promise<Definition[]> {
  const mod = await importRepoModule(file);
  const out: Definition[] = [];
  const seen = new Set<unknown>();
  for (const [exportName, value] of Object.entries(mod)) {
    if (!isDefinition(value) || seen.has(value)) continue;
    seen.add(value);
    if (value.kind === 'OnDemandFeatureView' && value.transformRef === undefined) {
      const transformRef: TransformRef = { module: rel, export: exportName };
      out.push(Object.freeze({ ...value, transformRef }) as OnDemandFeatureView);
    } else {
      out.push(value);
    }
  }
  return out;
}

function isDefinition(v: unknown): v is Definition {
  return (
    typeof v === 'object' && v !== null && DEFINITION_KINDS.has((v as { kind?: unknown }).kind as string)
  );
}

const isYaml = (f: string) => ['.yaml', '.yml'].includes(extname(f));

/** Expands the `definitions` list: plain paths, or `*` globs within one directory (`features/*.yaml`). */
export function expandDefinitionPaths(repoPath: string, patterns: readonly string[]): string[] {
  const out: string[] = [];
  for (const pattern of patterns) {
    const abs = resolve(repoPath, pattern);
    if (!pattern.includes('*')) {
      if (!exists(abs)) {
        throw new TesseraError(
          'definition file not found',
          {
            file: abs,
            field: 'definitions',
            hint: 'fix the definitions list in tessera.yaml',
          },
          'INVALID_CONFIG',
        );
      }
      out.push(abs);
      continue;
    }
    const dir = dirname(abs);
    const re = new RegExp(
      `^${basename(abs)
        .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
        .replaceAll('*', '.*')}$`,
    );
    // The config file is never a definitions file, even when a glob like *.yaml matches it.
    const matches = exists(dir)
      ? readdirSync(dir)
          .filter((f) => re.test(f) && join(dir, f) !== join(repoPath, CONFIG_FILE))
          .sort()
      : [];
    out.push(...matches.map((f) => join(dir, f)));
  }
  return [...new Set(out)];
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Loads the transform function of an on-demand view from its module, as the server and training do.
 * Cached per (repo, module, export) since modules are immutable for the life of a process.
 */
const transformCache = new Map<string, Promise<TransformFn>>();
export function loadTransform(repoPath: string, view: OnDemandFeatureView): Promise<TransformFn> {
  if (view.transform) return Promise.resolve(view.transform);
  const ref = view.transformRef;
  if (!ref) {
    return Promise.reject(
      new TesseraError(
        `on-demand view '${view.name}' has no transform`,
        { field: 'transform' },
        'INVALID_DEFINITION',
      ),
    );
  }
  const key = `${repoPath}\u0000${ref.module}\u0000${ref.export}`;
  let p = transformCache.get(key);
  if (!p) {
    p = (async () => {
      const file = resolve(repoPath, ref.module);
      const mod = await importRepoModule(file);
      let fn = mod[ref.export];
      // An exported on-demand view definition carries its function; a plain exported function is used as is.
      if (isDefinition(fn) && fn.kind === 'OnDemandFeatureView') fn = fn.transform;
      if (typeof fn !== 'function') {
        throw new TesseraError(
          `transform '${ref.export}' of on-demand view '${view.name}' is not a function`,
          {
            file: ref.module,
            field: ref.export,
            expected: 'an exported function (row) => outputs',
          },
          'INVALID_DEFINITION',
        );
      }
      return fn as TransformFn;
    })();
    p.catch(() => transformCache.delete(key));
    transformCache.set(key, p);
  }
  return p;
}
