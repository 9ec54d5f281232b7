/**
 * Materialization of a large source in bounded memory: a 10M-row Parquet source (2M entities, 5 rows each,
 * 10 features: half double, half int64), materialized into SQLite and into Redis. Each run is a fresh child
 * process, so its memory is that run's alone; it samples its RSS every --sample-ms while `materialize` runs and
 * reads the kernel's high-water mark (VmHWM) at the end.
 *
 *   source $(bash scripts/services.sh start redis) && node --import tsx bench/materialize-large.ts \
 *     [--rows 10000000] [--entities 2000000] [--features 10] [--stores sqlite,redis] [--runs 3] \
 *     [--memory-limit 1GB] [--threads 2] [--order entity|time] [--sample-ms 20] [--json]
 *
 * The source is generated once with DuckDB SQL under .bench-data/ (regenerated after a day, since event times
 * are relative to the generation time and the view has a 7-day TTL). `--order time` writes it in event-time
 * order, as an append log is; `entity` (the default) entity by entity, as bench/materialize.ts does.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DuckDBInstance, version as duckdbVersion } from '@duckdb/node-api';
import { FeatureStore } from '../src/feature-store.js';
import { makeBenchRepo, median, writeBenchSource } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    entities: { type: 'string', default: '2000000' },
    features: { type: 'string', default: '10' },
    stores: { type: 'string', default: 'sqlite,redis' },
    runs: { type: 'string', default: '3' },
    'memory-limit': { type: 'string' },
    threads: { type: 'string' },
    order: { type: 'string', default: 'entity' },
    'sample-ms': { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    child: { type: 'string' },
  },
});

/** What one run (one child process) measures. */
interface RunResult {
  store: string;
  rows: number;
  seconds: number;
  firstChunkSeconds: number;
  rowsPerSecond: number;
  /** RSS when the first chunk arrived: DuckDB has aggregated the whole interval, nothing is written yet. */
  rssAtFirstChunkMb: number;
  /** RSS after opening the store and applying the repo, before materializing. */
  baselineRssMb: number;
  /** Largest sampled `process.memoryUsage().rss` during materialization. */
  peakRssMb: number;
  /** The kernel's peak RSS of the process (VmHWM): exact, whole process lifetime. */
  hwmMb: number;
  /** Largest sampled anonymous RSS (RssAnon): memory that is not file pages (SQLite's mmap of its database). */
  peakAnonMb: number;
  peakHeapUsedMb: number;
  samples: number;
  duckdbMemoryLimit: string;
  duckdbThreads: string;
}

interface ChildSpec {
  store: 'sqlite' | 'redis';
  sourceFile: string;
  features: number;
  memoryLimit?: string;
  threads?: number;
  sampleMs: number;
  keyPrefix: string;
}

const MB = 1024 * 1024;

/** Resident memory fields of /proc/self/status, in bytes (Linux). */
function procStatus(): { rss: number; anon: number; hwm: number } {
  const text = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), hwm: kb('VmHWM') };
}

async function runChild(spec: ChildSpec): Promise<RunResult> {
  const online =
    spec.store === 'redis'
      ? { redisUrl: process.env['TESSERA_TEST_REDIS_URL'] ?? fail(), keyPrefix: spec.keyPrefix }
      : ('sqlite' as const);
  const offline = {
    ...(spec.memoryLimit === undefined ? {} : { memoryLimit: spec.memoryLimit }),
    ...(spec.threads === undefined ? {} : { threads: spec.threads }),
  };
  const repo = await makeBenchRepo({ online, features: spec.features, sourceFile: spec.sourceFile, offline });
  const store = await FeatureStore.open(repo.dir);
  try {
    await store.apply({});
    const baseline = process.memoryUsage().rss;
    let peakRss = baseline;
    let peakAnon = procStatus().anon;
    let peakHeap = process.memoryUsage().heapUsed;
    let samples = 0;
    const sample = () => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakAnon = Math.max(peakAnon, procStatus().anon);
      samples++;
    };
    const timer = setInterval(sample, spec.sampleMs);
    const t0 = performance.now();
    let firstChunk = 0;
    let rssAtFirstChunk = 0;
    const [report] = await store.materialize({
      start: new Date(0),
      end: new Date(Date.now() + 60_000),
      onProgress: () => {
        if (firstChunk > 0) return;
        firstChunk = performance.now();
        rssAtFirstChunk = process.memoryUsage().rss;
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    sample();
    const hwm = procStatus().hwm;
    const rows = report?.rows ?? 0;
    // The memory_limit and threads DuckDB resolves for the store's settings (its default limit is 80% of RAM).
    const settings = await duckdbSettings(offline);
    if (spec.store === 'redis') await store.online.deleteView({ project: 'bench', name: 'v0', ttlMs: 0 });
    return {
      store: spec.store,
      rows,
      seconds,
      firstChunkSeconds: (firstChunk - t0) / 1000,
      rowsPerSecond: rows / seconds,
      rssAtFirstChunkMb: rssAtFirstChunk / MB,
      baselineRssMb: baseline / MB,
      peakRssMb: peakRss / MB,
      hwmMb: hwm / MB,
      peakAnonMb: peakAnon / MB,
      peakHeapUsedMb: peakHeap / MB,
      samples,
      duckdbMemoryLimit: settings.memoryLimit,
      duckdbThreads: settings.threads,
    };
  } finally {
    await store.close();
    rmSync(repo.dir, { recursive: true, force: true });
  }
}

async function duckdbSettings(offline: {
  memoryLimit?: string;
  threads?: number;
}): Promise<{ memoryLimit: string; threads: string }> {
  const config: Record<string, string> = {};
  if (offline.memoryLimit !== undefined) config['memory_limit'] = offline.memoryLimit;
  if (offline.threads !== undefined) config['threads'] = String(offline.threads);
  const db = await DuckDBInstance.create(':memory:', config);
  const con = await db.connect();
  const row = (
    await con.runAndReadAll("SELECT current_setting('memory_limit'), current_setting('threads')")
  ).getRows()[0];
  con.closeSync();
  db.closeSync();
  return { memoryLimit: String(row?.[0]), threads: String(row?.[1]) };
}

async function runParent(): Promise<void> {
  const rows = Number(args.rows);
  const entities = Number(args.entities);
  const features = Number(args.features);
  if (!Number.isInteger(rows / entities)) throw new Error('--rows must be a multiple of --entities');
  if (args.order !== 'entity' && args.order !== 'time') throw new Error('--order is entity or time');
  const timeOrdered = args.order === 'time';
  const dataDir = resolve('.bench-data', `materialize-r${rows}-e${entities}-f${features}-${args.order}`);
  const sourceFile = join(dataDir, 'source.parquet');
  const done = join(dataDir, 'DONE');
  if (!existsSync(done) || Date.now() - Number(readFileSync(done, 'utf8')) > 86_400_000) {
    await mkdir(dataDir, { recursive: true });
    const t0 = performance.now();
    const nowMs = Date.now();
    await writeBenchSource(sourceFile, {
      features,
      entities,
      rowsPerEntity: rows / entities,
      nowMs,
      timeOrdered,
    });
    await writeFile(done, String(nowMs));
    log(`generated ${sourceFile} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const parquetMb = statSync(sourceFile).size / MB;
  // Raw column bytes (user_id, event_ts and the features, 8 bytes each): the source fully decoded, no overhead.
  const columnarMb = (rows * (2 + features) * 8) / MB;
  const jsRowBytes = measureJsRowBytes(features);
  const setup = {
    rows,
    entities,
    features,
    order: args.order,
    parquetMb: round(parquetMb),
    columnarMb: round(columnarMb),
    jsRowsMb: round((rows * jsRowBytes) / MB),
    latestColumnarMb: round((entities * (2 + features) * 8) / MB),
    chunkRows: 50_000,
    duckdb: duckdbVersion(),
    node: process.version,
  };
  log(
    `source: ${rows} rows, ${entities} entities, ${features} features, ${args.order} order; Parquet ${setup.parquetMb} MB; ` +
      `decoded ~${setup.columnarMb} MB as columns, ~${setup.jsRowsMb} MB as JS row objects (${Math.round(jsRowBytes)} B/row)`,
  );

  const results: RunResult[] = [];
  for (const store of args.stores.split(',') as ('sqlite' | 'redis')[]) {
    for (let r = 0; r < Number(args.runs); r++) {
      const spec: ChildSpec = {
        store,
        sourceFile,
        features,
        sampleMs: Number(args['sample-ms']),
        keyPrefix: `matl${process.pid}r${r}`,
        ...(args['memory-limit'] === undefined ? {} : { memoryLimit: args['memory-limit'] }),
        ...(args.threads === undefined ? {} : { threads: Number(args.threads) }),
      };
      const result = await child(spec);
      results.push(result);
      log(
        `${store} run ${r + 1}: ${result.rows} rows in ${result.seconds.toFixed(1)} s ` +
          `(first chunk ${result.firstChunkSeconds.toFixed(1)} s) = ${Math.round(result.rowsPerSecond)} rows/s; ` +
          `RSS ${Math.round(result.baselineRssMb)} → ${Math.round(result.rssAtFirstChunkMb)} at first chunk → peak ${Math.round(result.peakRssMb)} MB ` +
          `(VmHWM ${Math.round(result.hwmMb)}, anon ${Math.round(result.peakAnonMb)}, heap ${Math.round(result.peakHeapUsedMb)}); ` +
          `DuckDB memory_limit ${result.duckdbMemoryLimit}, threads ${result.duckdbThreads}`,
      );
    }
  }
  const summary = [...new Set(results.map((r) => r.store))].map((store) => {
    const mine = results.filter((r) => r.store === store);
    const med = (f: (r: RunResult) => number) => round(median(mine.map(f)));
    return {
      store,
      runs: mine.length,
      seconds: med((r) => r.seconds),
      rowsPerSecond: Math.round(median(mine.map((r) => r.rowsPerSecond))),
      firstChunkSeconds: med((r) => r.firstChunkSeconds),
      rssAtFirstChunkMb: med((r) => r.rssAtFirstChunkMb),
      peakRssMb: med((r) => r.peakRssMb),
      maxPeakRssMb: round(Math.max(...mine.map((r) => r.peakRssMb))),
      hwmMb: med((r) => r.hwmMb),
      peakAnonMb: med((r) => r.peakAnonMb),
      duckdbMemoryLimit: mine[0]?.duckdbMemoryLimit,
    };
  });
  if (args.json) console.log(JSON.stringify({ setup, runs: results, summary }, null, 2));
  else {
    console.log(
      'store    runs  median s   rows/s  1st chunk s  RSS at 1st MB  peak RSS MB (max)  VmHWM MB  anon MB  memory_limit',
    );
    for (const s of summary) {
      const cells = [
        s.store.padEnd(8),
        String(s.runs).padStart(5),
        String(s.seconds).padStart(9),
        String(s.rowsPerSecond).padStart(8),
        String(s.firstChunkSeconds).padStart(12),
        String(s.rssAtFirstChunkMb).padStart(14),
        `${s.peakRssMb} (${s.maxPeakRssMb})`.padStart(18),
        String(s.hwmMb).padStart(9),
        String(s.peakAnonMb).padStart(8),
        ` ${s.duckdbMemoryLimit}`,
      ];
      console.log(cells.join(' '));
    }
  }
}

/** Runs one measurement in a fresh Node process and returns what it printed. */
function child(spec: ChildSpec): Promise<RunResult> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolvePromise, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, '--child', JSON.stringify(spec)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0) resolvePromise(JSON.parse(last) as RunResult);
      else reject(new Error(`run failed (exit ${code}): ${out}`));
    });
  });
}

/**
 * Heap bytes per source row held as a JS object (`{ user_id, event_ts: Date, f0…fN }`, what a reader that
 * collected the source as rows would hold), measured on 200k rows.
 */
function measureJsRowBytes(features: number): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const n = 200_000;
  gc();
  const before = process.memoryUsage().heapUsed;
  const rows: Record<string, unknown>[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const row: Record<string, unknown> = { user_id: i, event_ts: new Date(1_700_000_000_000 + i) };
    for (let f = 0; f < features; f++) row[`f${f}`] = f % 2 === 0 ? i / 7 + f : (i + f) % 1000;
    rows[i] = row;
  }
  gc();
  const bytes = (process.memoryUsage().heapUsed - before) / n;
  rows.length = 0;
  return bytes;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
function log(message: string): void {
  console.error(message);
}
function fail(): never {
  throw new Error('TESSERA_TEST_REDIS_URL is not set: source $(bash scripts/services.sh start redis) first');
}

if (args.child !== undefined) {
  console.log(JSON.stringify(await runChild(JSON.parse(args.child) as ChildSpec)));
  process.exit(0);
} else {
  await runParent();
}
