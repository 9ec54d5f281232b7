import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LogBatch } from './log-batch.js';
import type { FileOutcome } from './log-files.js';
import type { LogLayout } from './log-layout.js';

/**
 * Where the feature logger sends what it logged: LogFiles in process (given a writer: tests, embedding), or
 * WorkerLogSink, the default, which hands it to a thread of its own. Outcomes, and the batches' buffers once
 * done with (to be filled again), come back through the callback each was made with.
 */
export interface LogSink {
  /** Names a layout (a served selection's columns) for the entries that follow. */
  defineLayout(id: number, layout: LogLayout): void;
  /**
   * Takes a batch of requests' rows; its buffer is the sink's until given back. Throws only when it cannot be
   * handed over (a value that cannot be copied), and then has not taken it.
   */
  add(batch: LogBatch): void;
  /** Resolves once everything added before is written (or reported failed). Never rejects. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** What the serving thread tells the log thread. */
export type ToLogThread =
  | { readonly type: 'layout'; readonly id: number; readonly layout: LogLayout }
  | { readonly type: 'batch'; readonly batch: LogBatch }
  | { readonly type: 'flush'; readonly id: number }
  | { readonly type: 'close' };

/** What the log thread tells the serving thread. */
export type FromLogThread =
  | { readonly type: 'files'; readonly outcomes: FileOutcome[] }
  /** A batch's buffer, copied by the thread and given back to be filled again. */
  | { readonly type: 'buffer'; readonly buffer: ArrayBuffer }
  | { readonly type: 'flushed'; readonly id: number }
  | { readonly type: 'closed' };

/**
 * CPU priority of the log's thread, on Linux (elsewhere it keeps the process's). `low` (the default) is nice 19:
 * the thread takes the CPU serving leaves and yields to it when both want one. `idle` is the SCHED_IDLE policy,
 * which runs the thread only on CPU time nothing else wants: a waking thread preempts it at once, and the kernel
 * places others on its CPU as if that were idle; measured with logging at rate 1 it cost serving's p99 as much
 * as `low` or more (docs/benchmarks.md), so it is a choice, not the default. `normal` competes with serving as
 * an equal, for hosts with cores to spare where a complete log matters more. A thread that cannot keep up
 * leaves rows queued, and once the queue is full they are dropped and counted, never waited for.
 */
export type LogThreadPriority = 'idle' | 'low' | 'normal';

export interface WorkerSetup {
  readonly dir: string;
  readonly maxFileRows: number;
  readonly priority: LogThreadPriority;
}

/**
 * The feature log's thread, seen from the serving thread. Batches go to it by postMessage: their buffers
 * transferred (and transferred back as soon as the thread has copied them), other values copied by structured
 * clone; the thread encodes and writes the files.
 * The thread holds the process open only while a flush or close is awaited, so a process that never closes its
 * store still exits. If the thread dies, everything it held and everything after is reported failed.
 */
export class WorkerLogSink implements LogSink {
  private readonly worker: Worker;
  private nextFlush = 0;
  private readonly flushes = new Map<number, () => void>();
  private closing: (() => void) | undefined;
  /** Replies awaited (see awaitReply). */
  private awaiting = 0;
  private dead: Error | undefined;

  constructor(
    setup: WorkerSetup,
    private readonly onFiles: (outcomes: FileOutcome[], buffers: ArrayBuffer[]) => void,
    private readonly onDeath: (error: Error) => void,
  ) {
    this.worker = import.meta.url.endsWith('.ts')
      ? new Worker(fromSources(), { eval: true, workerData: setup })
      : new Worker(new URL('./log-worker.js', import.meta.url), { workerData: setup });
    this.worker.unref();
    this.worker.on('message', (m: FromLogThread) => this.receive(m));
    this.worker.on('error', (e) => this.die(e));
    this.worker.on('exit', (code) => {
      if (this.closing === undefined) this.die(new Error(`the feature log thread exited (code ${code})`));
      this.closing?.();
    });
  }

  defineLayout(id: number, layout: LogLayout): void {
    this.post({ type: 'layout', id, layout });
  }

  add(batch: LogBatch): void {
    // The buffer moves to the thread rather than being copied (it is not used here until given back).
    this.post({ type: 'batch', batch }, [batch.buffer]);
  }

  flush(): Promise<void> {
    if (this.dead) return Promise.resolve();
    const id = this.nextFlush++;
    return this.awaitReply((resolve) => {
      this.flushes.set(id, resolve);
      this.post({ type: 'flush', id });
    });
  }

  close(): Promise<void> {
    if (this.dead) return this.worker.terminate().then(() => undefined);
    return this.awaitReply((resolve) => {
      this.closing = resolve;
      this.post({ type: 'close' });
    });
  }

  private post(message: ToLogThread, transfer: ArrayBuffer[] = []): void {
    if (this.dead) throw this.dead;
    this.worker.postMessage(message, transfer);
  }

  /**
   * Keeps the process alive while any reply is due (a flush's or the close's; the thread is unref'd otherwise),
   * counted, so one reply arriving does not let the process exit while another is still awaited.
   */
  private async awaitReply(send: (resolve: () => void) => void): Promise<void> {
    if (this.awaiting++ === 0) this.worker.ref();
    try {
      await new Promise<void>(send);
    } finally {
      if (--this.awaiting === 0) this.worker.unref();
    }
  }

  private receive(message: FromLogThread): void {
    if (message.type === 'files') this.onFiles(message.outcomes, []);
    else if (message.type === 'buffer') this.onFiles([], [message.buffer]);
    else if (message.type === 'flushed') {
      this.flushes.get(message.id)?.();
      this.flushes.delete(message.id);
    } else void this.worker.terminate(); // 'closed': its files are written; 'exit' resolves close()
  }

  private die(error: Error): void {
    if (this.dead) return;
    this.dead = error;
    this.onDeath(error);
    for (const resolve of this.flushes.values()) resolve();
    this.flushes.clear();
  }
}

/**
 * Running from the TypeScript sources (tsx, vitest), the worker is log-worker.ts, started through tsx's loader
 * (a worker does not take `--import`): a small script loads tsx in the thread, then imports it.
 */
function fromSources(): string {
  // tsx's ES-module API (index.mjs, next to the index.cjs that require resolves) registers its hooks in the
  // calling thread, which can then import TypeScript.
  const api = pathToFileURL(
    join(dirname(createRequire(import.meta.url).resolve('tsx/esm/api')), 'index.mjs'),
  ).href;
  const entry = new URL('./log-worker.ts', import.meta.url).href;
  return `import(${JSON.stringify(api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
}
