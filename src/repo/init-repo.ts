import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TesseraError } from '../core/errors.js';
import { generateEcommerceData } from '../demo/ecommerce-data.js';

/** The example repo shipped with the package; `init` copies its definitions. */
export const EXAMPLE_DIR = fileURLToPath(new URL('../../examples/ecommerce/', import.meta.url));

const TEMPLATE_FILES = ['tessera.yaml', 'features.ts', 'transforms.ts'];

export interface InitSummary {
  readonly path: string;
  readonly files: readonly string[];
  readonly data?: Awaited<ReturnType<typeof generateEcommerceData>>;
}

/**
 * Creates a feature repo: config, TypeScript definitions of the e-commerce example (importing from
 * 'tessera'), and sample data generated locally (deterministic).
 *
 * @example await initRepo('my_repo', { events: 100_000 })
 */
export async function initRepo(
  dir: string,
  opts: {
    events?: number;
    data?: boolean;
    seed?: number;
    /** First day of generated data (default: 30 days before today, UTC). */
    start?: Date;
    onProgress?: (done: number, total: number) => void;
  } = {},
): Promise<InitSummary> {
  const path = resolve(dir);
  if (existsSync(path) && readdirSync(path).length > 0) {
    throw new TesseraError(
      'directory is not empty',
      { file: path, hint: 'choose a new directory name' },
      'CONFLICT',
    );
  }
  mkdirSync(path, { recursive: true });
  const files: string[] = [];
  for (const name of TEMPLATE_FILES) {
    const text = readFileSync(join(EXAMPLE_DIR, name), 'utf8')
      // The example imports the sources of this package; a user's repo imports the package.
      .replace(/from '(?:\.\.\/)+src\/[^']*'/g, "from 'tessera'");
    writeFileSync(join(path, name), text);
    files.push(name);
  }
  writeFileSync(join(path, '.gitignore'), '.tessera/\n');
  // Definitions are ES modules; saying so keeps tsx from compiling them to CommonJS.
  writeFileSync(
    join(path, 'package.json'),
    `${JSON.stringify({ name: basename(path), private: true, type: 'module' }, null, 2)}\n`,
  );
  files.push('.gitignore', 'package.json');
  if (opts.data === false) return { path, files };
  // Data ends at today's UTC midnight, so TTLs measured against "now" find recent values when serving.
  const days = 30;
  const start = opts.start ?? new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000 - days * 86_400_000);
  const data = await generateEcommerceData({
    outDir: path,
    start,
    days,
    ...(opts.events !== undefined ? { events: opts.events } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  files.push('data/');
  return { path, files, data };
}
