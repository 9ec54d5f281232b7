import cliProgress from 'cli-progress';

/**
 * A progress display for long work, on stderr, only when stderr is a terminal and output is not --json
 * (so pipes and CI logs stay clean).
 */
export interface Progress {
  update(label: string, done: number, total?: number): void;
  stop(): void;
}

export function progress(enabled: boolean): Progress {
  if (!enabled || !process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: ' {label} [{bar}] {value}/{total} {unit} | {rate}/s | {duration_formatted}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let t0 = Date.now();
  return {
    update(label, done, total) {
      if (!started) {
        started = true;
        t0 = Date.now();
        bar.start(total ?? Math.max(done, 1), done, { label, unit: 'rows', rate: 0 });
      }
      if (total !== undefined) bar.setTotal(total);
      else if (done > bar.getTotal()) bar.setTotal(done);
      const rate = Math.round(done / Math.max((Date.now() - t0) / 1000, 0.001));
      bar.update(done, { label, rate });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
