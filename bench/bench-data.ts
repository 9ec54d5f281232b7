import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

/**
 * Generates a benchmark dataset once: runs `build` with a UTC DuckDB connection and a helper quoting paths in
 * `dataDir`, then marks the folder done. Later runs reuse it (delete the folder to regenerate).
 */
export async function generateOnce(
  dataDir: string,
  build: (c: DuckDBConnection, file: (name: string) => string) => Promise<void>,
): Promise<void> {
  if (existsSync(join(dataDir, 'DONE'))) return;
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const started = performance.now();
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  await c.run("SET TimeZone = 'UTC'");
  await build(c, (name) => `'${join(dataDir, name)}'`);
  c.closeSync();
  instance.closeSync();
  await writeFile(join(dataDir, 'DONE'), new Date().toISOString());
  console.error(`generated ${dataDir} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
