import { existsSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TesseraError } from '../core/errors.js';

let hooksInstalled = false;

/**
 * Feature repos import the DSL as `from 'tessera'`. A repo created anywhere (with no node_modules of its own)
 * must resolve that to this very package. ES modules go through a resolve hook (inline JavaScript, so it works
 * from the compiled package and from sources under tsx/vitest); files tsx compiles to CommonJS (a repo without
 * `"type": "module"`) go through require's resolver, patched for that one name.
 */
function installTesseraResolution(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const entry = new URL('../index.js', import.meta.url);
  const hook = `
    export async function resolve(specifier, context, next) {
      if (specifier === 'tessera') return next(${JSON.stringify(entry.href)}, context);
      return next(specifier, context);
    }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);

  const Module = createRequire(import.meta.url)('node:module') as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
  };
  const original = Module._resolveFilename;
  // From sources (tsx, vitest) the entry is index.ts; tsx's require hook compiles it.
  const entryJs = fileURLToPath(entry);
  const entryPath = existsSync(entryJs) ? entryJs : entryJs.replace(/\.js$/, '.ts');
  Module._resolveFilename = function resolveTessera(request: string, ...rest: unknown[]) {
    return original.call(this, request === 'tessera' ? entryPath : request, ...rest);
  };
}

/**
 * Imports a TypeScript or JavaScript module of a feature repo (fresh each call, so `apply` sees edits).
 *
 * @example const mod = await importRepoModule('/repo/features.ts');
 */
export async function importRepoModule(absPath: string): Promise<Record<string, unknown>> {
  installTesseraResolution();
  const { tsImport } = await import('tsx/esm/api');
  try {
    return (await tsImport(pathToFileURL(absPath).href, import.meta.url)) as Record<string, unknown>;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes(absPath)) {
      throw new TesseraError(
        'definition module not found',
        { file: absPath, hint: 'check the definitions list in tessera.yaml' },
        'INVALID_DEFINITION',
      );
    }
    throw new TesseraError(
      `failed to load module: ${err.message}`,
      { file: absPath },
      'INVALID_DEFINITION',
      e,
    );
  }
}
