import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

/**
 * Runs the real CLI in a child process (from sources via tsx) on the repo `repoDir`, returning exit code and
 * parsed --json output (undefined when stdout is not JSON).
 *
 * @example const r = runCli(dir, 'apply', '--json'); expect(r.code, r.stderr).toBe(0);
 */
export function runCli(
  repoDir: string,
  ...args: string[]
): { code: number; json: unknown; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), '--repo', repoDir, ...args],
    // Generous: a CLI call on a loaded 2-core machine can take minutes; a hung one still ends.
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
  );
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.status ?? -1, json, stdout: r.stdout, stderr: r.stderr };
}
