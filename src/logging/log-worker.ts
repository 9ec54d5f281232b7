/**
 * The feature log's thread (started by WorkerLogSink in src/logging/log-sink.ts): receives logged requests as
 * plain data, and turns them into Parquet files (LogFiles, DuckDbLogWriter) away from the serving thread, whose
 * only logging work is copying the served values over. Messages are handled in order, so a flush covers every
 * request sent before it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type FileOutcome, LogFiles } from './log-files.js';
import type { ToLogThread, WorkerSetup } from './log-sink.js';
import { DuckDbLogWriter } from './log-writer.js';

const port = parentPort;
if (port === null) throw new Error('src/logging/log-worker.ts runs as a worker thread (see WorkerLogSink)');
const setup = workerData as WorkerSetup;
const files = new LogFiles({
  dir: setup.dir,
  maxFileRows: setup.maxFileRows,
  writer: new DuckDbLogWriter(),
  onFiles: (outcomes: FileOutcome[]) => port.postMessage({ type: 'files', outcomes }),
});

port.on('message', (message: ToLogThread) => {
  switch (message.type) {
    case 'layout':
      files.defineLayout(message.id, message.layout);
      break;
    case 'entries':
      files.add(message.entries);
      break;
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
