/**
 * The built package (dist/, from `npm run build`), as users run it. Benchmarks that time per-call work load
 * FeatureStore from here rather than from src/ through tsx: tsx keeps function names by wrapping every named
 * closure in an Object.defineProperty call, about 0.9 µs each on this machine against 0.02 µs for the closure
 * itself, which the built code does not pay (a per-request closure made logging look several % dearer).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FeatureStore } from '../src/feature-store.js';

/**
 * FeatureStore of the checkout at `root` (default this one), from its dist/. Fails if it was not built, or was
 * built before the latest change to its src/: a benchmark must not time stale code.
 *
 * @example const Store = await shippedFeatureStore(); const store = await Store.open(repoDir);
 */
export async function shippedFeatureStore(
  root = join(import.meta.dirname, '..'),
): Promise<typeof FeatureStore> {
  const built = join(root, 'dist/feature-store.js');
  let builtAt: number;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    throw new Error(`${built} is missing: run \`npm run build\` in ${root} first`);
  }
  const changed = newestChange(join(root, 'src'));
  if (changed.mtimeMs > builtAt) {
    throw new Error(
      `${changed.path} changed after ${built} was built: run \`npm run build\` in ${root} first`,
    );
  }
  const mod = (await import(pathToFileURL(built).href)) as { FeatureStore: typeof FeatureStore };
  return mod.FeatureStore;
}

function newestChange(dir: string): { path: string; mtimeMs: number } {
  let newest = { path: dir, mtimeMs: 0 };
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name);
    const { mtimeMs } = statSync(path);
    if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
  }
  return newest;
}
