import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { TesseraError } from '../core/errors.js';

let hookInstalled = false;

/**
 * Feature repos import the DSL as `from 'tessera'`. A repo created anywhere (with no node_modules of its own)
 * must resolve that to this very package, so a resolve hook maps the bare specifier to our entry point.
 * The hook is inline JavaScript so it works from the compiled package and from sources under tsx/vitest.
 */
function installTesseraResolveHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  const entry = new URL('../index.js', import.meta.url).href;
  const hook = `
    export async function resolve(specifier, context, next) {
      if (specifier === 'tessera') return next(${JSON.stringify(entry)}, context);
      return next(specifier, context);
    }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
}

/**
 * Imports a TypeScript or JavaScript module of a feature repo (fresh each call, so `apply` sees edits).
 *
 * @example const mod = await importRepoModule('/repo/features.ts');
 */
export async function importRepoModule(absPath: string): Promise<Record<string, unknown>> {
  installTesseraResolveHook();
  const { tsImport } = await import('tsx/esm/api');
  try {
    return (await tsImport(pathToFileURL(absPath).href, import.meta.url)) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes(absPath)) {
      throw new TesseraError('definition module not found', { file: absPath, hint: 'check the definitions list in tessera.yaml' }, 'INVALID_DEFINITION');
    }
    throw new TesseraError(`failed to load module: ${err.message}`, { file: absPath }, 'INVALID_DEFINITION', e);
  }
}
