/**
 * What feature logging costs per logged entity row, on each of the two threads that do its work.
 *
 *   node --import tsx bench/feature-log.ts [--runs 5] [--batch 100] [--files 2000,10000,100000]
 *
 * One repo (one view of 50 features, half DOUBLE and half BIGINT, 10k entities, materialized into SQLite);
 * 64 distinct --batch-entity results are served once and then logged over and over:
 *   - `pack (serving thread)`: FeatureLogger.log at sample rate 1, which packs the values and statuses
 *     column-major into its batch (src/logging/log-batch.ts); the rows go to a writer that does nothing. 2,000 calls, 20
 *     at a time (then a flush that is not counted).
 *   - `write N-row files (log thread)`: LogFiles + DuckDbLogWriter writing the packed entries as Parquet
 *     files of N rows, in this thread (on the server it is the log's own thread; every DuckDB statement runs on
 *     the calling thread, so this is all of its work).
 * Figures are CPU time (process.cpuUsage: user + system of the whole process, so V8's collector threads count
 * too, and time spent descheduled on a busy machine does not) per logged row in µs, median of --runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
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
    entities: { type: 'string', default: '10000' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const BATCH = Number(args.batch);
const ENTITIES = Number(args.entities);
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
  for (let r = 0; r < RUNS; r++) {
    pack.push(await packRun(state, served));
    for (const n of FILE_ROWS) write.get(n)?.push(await writeRun(state, served, n));
  }
  await store.close();

  const rows = [
    { what: 'pack (serving thread)', usPerRow: median(pack) },
    ...FILE_ROWS.map((n) => ({
      what: `write ${n}-row files (log thread)`,
      usPerRow: median(write.get(n) ?? []),
    })),
  ];
  if (args.json) {
    console.log(JSON.stringify({ runs: RUNS, batch: BATCH, features: 50, results: rows }, null, 2));
    return;
  }
  console.log(`feature logging, ${BATCH} entities x 50 features per request, median of ${RUNS} runs`);
  console.log('what                                   CPU µs/row');
  for (const r of rows) console.log(`${r.what.padEnd(38)}${r.usPerRow.toFixed(2).padStart(11)}`);
}

await main();
