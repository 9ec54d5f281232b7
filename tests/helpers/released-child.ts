import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A child process started by {@link startReleasedChild}. */
export interface ReleasedChild {
  /** Settles once the child printed `ready` (or died first: `done` then says why). */
  readonly ready: Promise<void>;
  /** Releases the child: sends the line it waits for on stdin. */
  go(): void;
  /** What the child printed after `ready`, once it exits with 0; rejects with its stderr otherwise. */
  readonly done: Promise<string>;
  kill(): void;
}

/**
 * Runs a TypeScript helper script in its own Node process that prints `ready`, then waits for a line on stdin
 * before doing its work. Starting several and releasing them together makes them really run at the same
 * moment, whatever each one's start-up time.
 *
 * @example
 * const kids = [1, 2].map((i) => startReleasedChild('tests/helpers/sqlite-opener.ts', [dir, String(i)]));
 * await Promise.all(kids.map((k) => k.ready));
 * for (const k of kids) k.go();
 * await Promise.all(kids.map((k) => k.done));
 */
export function startReleasedChild(script: string, args: readonly string[]): ReleasedChild {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) onReady();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const done = new Promise<string>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(out.slice('ready\n'.length).trim());
      else reject(new Error(`${script} ${args.join(' ')} exited with ${code}:\n${err}`));
    });
  });
  return {
    // A child that dies before it is ready must fail the test, not hang it.
    ready: Promise.race([ready, done.then(() => undefined)]),
    go: () => child.stdin.end('go\n'),
    done,
    kill: () => child.kill(),
  };
}

/** Starts every child, waits until all are ready, releases them together and returns what each printed. */
export async function runReleasedTogether(children: readonly ReleasedChild[]): Promise<string[]> {
  try {
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.go();
    return await Promise.all(children.map((c) => c.done));
  } catch (err) {
    for (const c of children) c.kill();
    throw err;
  }
}

/**
 * The child's side: prints `ready`, then waits for the parent's go line. Exits with 2 if the parent went away
 * without releasing it: there is nothing to do then.
 */
export async function awaitRelease(): Promise<void> {
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => {
    const orphaned = () => process.exit(2);
    process.stdin.once('end', orphaned);
    process.stdin.once('data', () => {
      process.stdin.off('end', orphaned);
      resolve();
    });
  });
  process.stdin.pause();
}
