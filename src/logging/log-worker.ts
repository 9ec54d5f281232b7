/**
 * The feature log's thread (started by WorkerLogSink in src/logging/log-sink.ts): receives logged requests in
 * packed, column-major batches (LogBatch), and turns them into Parquet files (LogFiles, DuckDbLogWriter) away
 * from the serving thread, whose only logging work is packing the served values; the batches' buffers go back
 * as soon as they are copied. Messages are handled in order, so a flush covers every
 * request sent before it.
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { constants, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { sliceBatch } from './log-batch.js';
import { type FileOutcome, LogFiles } from './log-files.js';
import type { LogThreadPriority, ToLogThread, WorkerSetup } from './log-sink.js';
import { DuckDbLogWriter } from './log-writer.js';

const port = parentPort;
if (port === null) throw new Error('src/logging/log-worker.ts runs as a worker thread (see WorkerLogSink)');
const setup = workerData as WorkerSetup;
nameAndPrioritize(setup.priority);
const files = new LogFiles({
  dir: setup.dir,
  maxFileRows: setup.maxFileRows,
  writer: new DuckDbLogWriter(),
  // The buffers written here are this thread's copies (see 'batch' below): nothing to give back.
  onFiles: (outcomes: FileOutcome[]) => port.postMessage({ type: 'files', outcomes }),
});

port.on('message', (message: ToLogThread) => {
  switch (message.type) {
    case 'layout':
      files.defineLayout(message.id, message.layout);
      break;
    case 'batch': {
      // Copied at once and the serving thread's buffer sent straight back, to be filled again: held here until
      // written (a flush interval), buffers would leave serving to allocate fresh ones at the rate it logs, and
      // its collector to run full collections for that memory.
      const { batch } = message;
      files.add(sliceBatch(batch, 0, batch.rows));
      port.postMessage({ type: 'buffer', buffer: batch.buffer }, [batch.buffer]);
      break;
    }
    case 'flush':
      void files.flush().then(() => port.postMessage({ type: 'flushed', id: message.id }));
      break;
    case 'close':
      void files
        .flush()
        .then(() => files.close())
        .finally(() => {
          port.postMessage({ type: 'closed' });
          port.close();
        });
      break;
  }
});

/**
 * Names this thread `tessera-log` (what `top -H` and /proc/<pid>/task/<tid>/comm show, so its CPU can be told
 * from serving's) and gives it `priority` (see LogThreadPriority). Linux only: scheduling is per thread there,
 * and /proc/thread-self names this thread's id. `idle` takes nice 19 first, so that it still yields to serving
 * if `chrt` (util-linux) cannot set SCHED_IDLE; Node has no call of its own for a scheduling policy. Elsewhere
 * the thread keeps its name and priority.
 */
function nameAndPrioritize(priority: LogThreadPriority): void {
  try {
    writeFileSync('/proc/thread-self/comm', 'tessera-log');
  } catch {
    // not Linux: unnamed
  }
  if (priority === 'normal') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return;
    setPriority(tid, constants.priority.PRIORITY_LOW);
    if (priority === 'idle') execFileSync('chrt', ['--idle', '--pid', '0', String(tid)], { stdio: 'ignore' });
  } catch {
    // not Linux, no chrt, or not allowed: as far as it got
  }
}
