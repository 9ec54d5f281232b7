import pc from 'picocolors';
import type { ValidationReport } from './data-quality.js';
import type { ExpectationResult, ValidationRun } from './validation-result.js';

const MAX_SAMPLE_TEXT = 160;

function value(v: ExpectationResult['observed']): string {
  if (v === null) return '—';
  if (typeof v === 'number' && !Number.isInteger(v)) return Number(v.toPrecision(6)).toString();
  return String(v);
}

function status(r: ExpectationResult): string {
  if (r.passed) return pc.green('pass');
  if (r.quarantined) return pc.yellow('quar');
  return r.severity === 'error' ? pc.red('FAIL') : pc.yellow('warn');
}

/**
 * A validation run as text for terminals: one line per expectation (status, name, severity, observed,
 * expected), then the sample failing rows of each failed check.
 *
 * @example process.stdout.write(formatRun(run));
 */
export function formatRun(run: ValidationRun, opts: { onlyFailed?: boolean } = {}): string {
  const range =
    run.range === undefined ? 'all rows' : `[${run.range.start ?? '-∞'}, ${run.range.end ?? '+∞'})`;
  const verdict = run.passed
    ? run.failed.warn > 0
      ? pc.yellow(`passed with ${run.failed.warn} warning(s)`)
      : pc.green('passed')
    : pc.red(`FAILED (${run.failed.error} error, ${run.failed.warn} warn)`);
  const lines = [
    `${pc.bold(`${run.subject.kind} ${run.subject.name}`)}: ${verdict} — ${run.rows.toLocaleString()} rows, ${range}, ${run.engine}, ${run.seconds.toFixed(2)} s ${pc.dim(`(run ${run.id})`)}`,
  ];
  const shown = opts.onlyFailed ? run.results.filter((r) => !r.passed) : run.results;
  const width = Math.max(10, ...shown.map((r) => r.name.length));
  for (const r of shown) {
    lines.push(
      `  ${status(r)}  ${r.name.padEnd(width)}  ${r.severity.padEnd(5)}  observed ${value(r.observed)}; expected ${r.expected}${r.note ? pc.dim(` (${r.note})`) : ''}`,
    );
    for (const s of r.samples ?? []) {
      const text = JSON.stringify(s);
      lines.push(
        pc.dim(`        ${text.length > MAX_SAMPLE_TEXT ? `${text.slice(0, MAX_SAMPLE_TEXT)}…` : text}`),
      );
    }
  }
  if (run.quarantine) lines.push(`  quarantined ${run.quarantine.rows} row(s) → ${run.quarantine.path}`);
  return lines.join('\n');
}

/** Every run of a report, and a one-line total. */
export function formatReport(report: ValidationReport, opts: { onlyFailed?: boolean } = {}): string {
  if (report.runs.length === 0) return 'no expectations to check';
  const total = report.passed
    ? pc.green(`all error-level expectations passed (${report.failed.warn} warning(s))`)
    : pc.red(`${report.failed.error} error-level expectation(s) failed, ${report.failed.warn} warning(s)`);
  return [...report.runs.map((r) => formatRun(r, opts)), total].join('\n');
}
