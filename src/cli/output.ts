import pc from 'picocolors';
import { TesseraAggregateError, TesseraError } from '../core/errors.js';
import { RegistryConflictError } from '../registry/registry-store.js';

/** Exit codes every command uses; scripts can branch on them. */
export const EXIT = {
  ok: 0,
  /** Unexpected failure: a backend down, a bug. */
  failure: 1,
  /** Bad usage, bad input, invalid definitions or config: fix the input and re-run. */
  invalid: 2,
  /** Refused: a breaking change without --allow-breaking, or a concurrent registry update. */
  conflict: 3,
  /** Something named does not exist (view, feature, service, file). */
  notFound: 4,
  /**
   * A check ran and failed: online and offline values disagree (verify-consistency, skew), an `error`
   * data-quality expectation failed (validate, and materialize/historical without --force), or a freshness
   * threshold is breached (freshness).
   */
  checkFailed: 5,
} as const;

export interface GlobalOptions {
  json?: boolean;
  repo?: string;
}

/** Prints a command's result: the JSON document with --json, else the human rendering. */
export function emit(opts: GlobalOptions, data: unknown, human: () => string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(data, jsonReplacer, 2)}\n`);
  else {
    const text = human();
    if (text) process.stdout.write(`${text}\n`);
  }
}

export function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  return v;
}

/** Runs a command body, turning errors into a message (or JSON with --json) and the right exit code. */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as { optsWithGlobals?: () => GlobalOptions };
    const opts = cmd.optsWithGlobals?.() ?? {};
    try {
      await fn(...args);
    } catch (e) {
      const code = exitCodeOf(e);
      if (opts.json) {
        const body =
          e instanceof TesseraError ? e.toJSON() : { error: (e as Error).message, code: 'FAILURE' };
        process.stdout.write(`${JSON.stringify(body, jsonReplacer, 2)}\n`);
      } else {
        process.stderr.write(`${pc.red('error:')} ${(e as Error).message}\n`);
        if (code === EXIT.failure && process.env['TESSERA_DEBUG'])
          process.stderr.write(`${(e as Error).stack}\n`);
      }
      process.exitCode = code;
    }
  };
}

export function exitCodeOf(e: unknown): number {
  if (e instanceof RegistryConflictError) return EXIT.conflict;
  if (e instanceof TesseraAggregateError) return EXIT.invalid;
  if (!(e instanceof TesseraError)) return EXIT.failure;
  switch (e.code) {
    case 'NOT_FOUND':
      return EXIT.notFound;
    case 'CONFLICT':
      return EXIT.conflict;
    case 'BACKEND':
      return EXIT.failure;
    case 'CHECK_FAILED':
      return EXIT.checkFailed;
    default:
      return EXIT.invalid;
  }
}

/** A fixed-width text table for human output. */
export function table(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r, ri) => {
      const line = r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd();
      return ri === 0 ? pc.bold(line) : line;
    })
    .join('\n');
}
