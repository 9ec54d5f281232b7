/**
 * What feature logging costs per logged entity row, on each of the two threads that do its work.
 *
 *   node --import tsx bench/feature-log.ts [--runs 5] [--batch 100] [--files 2000,10000,100000] [--threaded 200000]
 *
 * One repo (one view of 50 features, half DOUBLE and half BIGINT, 10k entities, materialized into SQLite);
 * 64 distinct --batch-entity results are served once and then logged over and over:
 *   - `pack (serving thread)`: FeatureLogger.log at sample rate 1, which packs the values and statuses
 *     column-major into its batch (src/logging/log-batch.ts); the rows go to a writer that does nothing.
 *     2,000 calls, 20 at a time (then a flush that is not counted).
 *   - `write N-row files (log thread)`: LogFiles + DuckDbLogWriter writing the packed entries as Parquet
 *     files of N rows, in this thread (on the server it is the log's own thread; every DuckDB statement runs on
 *     the calling thread, so this is all of its work).
 *   - `through the log thread`: the path as served, FeatureLogger handing batches to the log's own thread
 *     (`tessera-log`) at the default flush interval, --threaded rows logged 20 requests per turn of the event
 *     loop; CPU per thread from /proc/self/task (Linux): the serving thread (packing, hand-over, its collector),
 *     the log thread (copying and writing), and all others (V8's collector helpers, which are not niced).
 * Figures are CPU time (process.cpuUsage: user + system of the whole process, so V8's collector threads count
 * too, and time spent descheduled on a busy machine does not) per logged row in µs, median of --runs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { RegistryState } from '../src/definitions/definition.js';
import { FeatureStore } from '../src/feature-store.js';
import { FeatureLogger } from '../src/logging/feature-logger.js';
import { DuckDbLogWriter, type LogFileWriter } from '../src/logging/log-writer.js';
import type { ServedResult } from '../src/serving/online-serving.js';
import type { OnlineFeaturesRequest } from '../src/serving/types.js';
import { makeBenchRepo, median } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    batch: { type: 'string', default: '100' },
    files: { type: 'string', default: '2000,10000,100000' },
    /** Rows logged through the log's own thread per run (0: skip that measurement). */
    threaded: { type: 'string', default: '200000' },
    entities: { type: 'string', default: '10000' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const BATCH = Number(args.batch);
const ENTITIES = Number(args.entities);
const THREADED_ROWS = Number(args.threaded);
const FILE_ROWS = args.files.split(',').map(Number);

interface Served {
  readonly request: OnlineFeaturesRequest;
  readonly result: ServedResult;
}

/** CPU µs (user + system) that `work` takes. */
async function cpu(work: () => Promise<void> | void): Promise<number> {
  const start = process.cpuUsage();
  await work();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

/** Packing: µs of CPU per logged row, FeatureLogger.log into a writer that does nothing. */
async function packRun(state: RegistryState, served: readonly Served[]): Promise<number> {
  const discard: LogFileWriter = { write: async () => undefined, close: async () => undefined };
  const logger = new FeatureLogger({
    dir: tmpdir(),
    sampleRate: 1,
    queueSize: 1e9,
    flushIntervalMs: 3_600_000,
    maxFileRows: 1e9,
    writer: discard,
  });
  const calls = 2000;
  for (let i = 0; i < 200; i++) {
    const s = served[i % served.length] as Served;
    logger.log(state, s.request, s.result, Date.now()); // warm-up: JIT
  }
  await logger.flush();
  // 20 requests at a time, then a flush (not counted), as the server hands entries over every turn of its event
  // loop: holding all of them would charge the packing with the collector's work on 2,000 held entries.
  let used = 0;
  for (let i = 0; i < calls; i += 20) {
    used += await cpu(() => {
      for (let k = i; k < i + 20; k++) {
        const s = served[k % served.length] as Served;
        logger.log(state, s.request, s.result, Date.now());
      }
    });
    await logger.flush();
  }
  await logger.close();
  return used / (calls * BATCH);
}

/** CPU time of this process's threads so far, in µs, by thread id, with each thread's name (Linux /proc). */
function threadTimes(): Map<string, { name: string; us: number }> {
  const ticks = 1e6 / 100; // USER_HZ is 100 on Linux
  const times = new Map<string, { name: string; us: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15; the list starts at field 3.
      times.set(tid, { name, us: (Number(fields[14 - 3]) + Number(fields[15 - 3])) * ticks });
    } catch {
      // the thread ended while being read
    }
  }
  return times;
}

/**
 * Through the log's own thread, as served: µs of CPU per logged row on the serving thread, on the log thread,
 * and on every other thread of the process (V8's collector helpers, libuv), for `rows` rows logged 20 requests
 * per turn of the event loop, with the default flush interval (1 s) and files of at most 100,000 rows.
 */
async function threadedRun(
  state: RegistryState,
  served: readonly Served[],
  rows: number,
): Promise<{ serving: number; log: number; other: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-flog-'));
  const logger = new FeatureLogger({
    dir,
    sampleRate: 1,
    queueSize: 1e9,
    flushIntervalMs: 1000,
    maxFileRows: 100_000,
  });
  for (let i = 0; i < 20; i++) {
    const s = served[i % served.length] as Served;
    logger.log(state, s.request, s.result, Date.now()); // warm-up: the thread's start, DuckDB's first statements
  }
  await logger.flush();
  const before = threadTimes();
  const requests = Math.ceil(rows / BATCH);
  for (let i = 0; i < requests; i += 20) {
    for (let k = i; k < Math.min(i + 20, requests); k++) {
      const s = served[k % served.length] as Served;
      logger.log(state, s.request, s.result, Date.now());
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await logger.flush();
  const after = threadTimes();
  await logger.close();
  if (logger.counters.failedRows > 0) throw new Error(`log files failed: ${logger.counters.lastError}`);
  rmSync(dir, { recursive: true, force: true });
  const used = { serving: 0, log: 0, other: 0 };
  for (const [tid, { name, us }] of after) {
    const spent = us - (before.get(tid)?.us ?? 0);
    if (tid === String(process.pid)) used.serving += spent;
    else if (name === 'tessera-log') used.log += spent;
    else used.other += spent;
  }
  const logged = requests * BATCH;
  return { serving: used.serving / logged, log: used.log / logged, other: used.other / logged };
}

/** Writing: µs of CPU per logged row, for files of `fileRows` rows written by DuckDbLogWriter in this thread. */
async function writeRun(state: RegistryState, served: readonly Served[], fileRows: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-flog-'));
  const logger = new FeatureLogger({
    dir,
    sampleRate: 1,
    queueSize: 1e9,
    flushIntervalMs: 3_600_000,
    maxFileRows: 1e9,
    writer: new DuckDbLogWriter(),
  });
  const log = (requests: number) => {
    for (let i = 0; i < requests; i++) {
      const s = served[i % served.length] as Served;
      logger.log(state, s.request, s.result, Date.now());
    }
  };
  log(20); // warm-up: DuckDB's first statements, JIT
  await logger.flush();
  const requests = Math.ceil(fileRows / BATCH);
  const files = Math.max(1, Math.round(100_000 / fileRows)); // about 100k rows in all
  let used = 0;
  for (let f = 0; f < files; f++) {
    log(requests); // packed here, outside the measured flush
    used += await cpu(() => logger.flush());
  }
  await logger.close();
  if (logger.counters.failedRows > 0) throw new Error(`log files failed: ${logger.counters.lastError}`);
  rmSync(dir, { recursive: true, force: true });
  return used / (files * requests * BATCH);
}

async function main(): Promise<void> {
  const repo = await makeBenchRepo({ online: 'sqlite', features: 50, entities: ENTITIES });
  const store = await FeatureStore.open(repo.dir);
  await store.apply({ message: 'bench' });
  await store.materialize({ start: new Date(0), end: new Date(Date.now() + 60_000) });
  const features = repo.features.map((f) => `v0:${f}`);
  const served: Served[] = [];
  for (let k = 0; k < 64; k++) {
    const request: OnlineFeaturesRequest = {
      features,
      entities: Array.from({ length: BATCH }, (_, j) => ({ user_id: (k * 7919 + j * 104729) % ENTITIES })),
    };
    served.push({ request, result: await store.getOnlineFeatures(request) });
  }
  const state = store.currentState() as RegistryState;

  const pack: number[] = [];
  const write = new Map<number, number[]>(FILE_ROWS.map((n) => [n, []]));
  const threaded = { serving: [] as number[], log: [] as number[], other: [] as number[] };
  for (let r = 0; r < RUNS; r++) {
    pack.push(await packRun(state, served));
    for (const n of FILE_ROWS) write.get(n)?.push(await writeRun(state, served, n));
    if (THREADED_ROWS > 0) {
      const t = await threadedRun(state, served, THREADED_ROWS);
      threaded.serving.push(t.serving);
      threaded.log.push(t.log);
      threaded.other.push(t.other);
    }
  }
  await store.close();

  const rows = [
    { what: 'pack (serving thread)', usPerRow: median(pack) },
    ...FILE_ROWS.map((n) => ({
      what: `write ${n}-row files (log thread)`,
      usPerRow: median(write.get(n) ?? []),
    })),
    ...(THREADED_ROWS > 0
      ? [
          { what: 'through the log thread: serving thread', usPerRow: median(threaded.serving) },
          { what: 'through the log thread: log thread', usPerRow: median(threaded.log) },
          { what: 'through the log thread: other threads', usPerRow: median(threaded.other) },
        ]
      : []),
  ];
  if (args.json) {
    console.log(JSON.stringify({ runs: RUNS, batch: BATCH, features: 50, results: rows }, null, 2));
    return;
  }
  console.log(`feature logging, ${BATCH} entities x 50 features per request, median of ${RUNS} runs`);
  console.log(`${'what'.padEnd(42)}CPU µs/row`);
  for (const r of rows) console.log(`${r.what.padEnd(42)}${r.usPerRow.toFixed(2).padStart(10)}`);
}

await main();
