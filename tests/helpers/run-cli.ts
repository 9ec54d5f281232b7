import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

/**
 * The environment for a CLI child process: plain text, whatever the caller's terminal or CI sets
 * (FORCE_COLOR in CI would otherwise put ANSI codes between the words tests match on).
 */
export function plainCliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  return env;
}

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
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: plainCliEnv() },
  );
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { code: r.status ?? -1, json, stdout: r.stdout, stderr: r.stderr };
}
