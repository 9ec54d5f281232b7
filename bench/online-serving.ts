/**
 * Online serving benchmark: SDK and HTTP, 1 and 100 entities × 50 features, on SQLite and Redis.
 *
 *   npm run build && source $(bash scripts/services.sh start redis) && node --import tsx bench/online-serving.ts
 *
 * SDK: sequential calls in this process (latency per call, `performance.now()`), one turn of the event loop
 * apart (not timed), as a service's requests are; FeatureStore is the built package's (dist/), as users run it,
 * not src/ through tsx (see bench/shipped.ts: tsx's keepNames cost about 0.9 µs per named closure).
 *
 * HTTP: `tessera serve` (bin/tessera.js, so build first) in its own process, loaded by a second child process
 * running this file's load generator (`--load`), so neither shares an event loop with anything else. The
 * generator speaks HTTP/1.1 over keep-alive TCP connections with pre-encoded requests (64 distinct bodies, so
 * the server reads different entities) and a minimal response parser, to leave the machine's CPU to the
 * server. Latency runs from the write of a request to the last byte of its answer, timed with
 * `performance.now()` (µs resolution; autocannon, used before, records whole milliseconds). Two modes:
 *   - `HTTP @N rps` (open loop): a request is due every 1000/N ms whatever the server does, and goes out on a
 *     free connection (64 of them), so a slow answer never holds back the next request. A request that finds
 *     every connection busy waits, and its latency counts from when it was due (no coordinated omission);
 *     requests still waiting when the window closes count with the time waited so far. The generator's timer
 *     ticks in whole milliseconds and may fire late on a busy machine: `lag p99` says how late it sent
 *     requests; that lateness is not counted as server latency. (Before, autocannon's "rate" let each of 20
 *     connections send its share back to back at the start of every second: bursts of 20 concurrent
 *     requests, not a steady rate.)
 *   - `HTTP max` (closed loop): --connections connections, each sending its next request when the previous
 *     answer arrives; latency includes queueing in the server.
 *   - `floor @N rps`: the open-loop load against a bare Node HTTP server that answers every request with the
 *     same bytes as Tessera's answer and does nothing else. What the machine, Node's HTTP stack and the
 *     generator cost alone: no server doing real work can be faster, so read the HTTP latencies against it.
 * Each HTTP run starts with --warmup seconds of the same load that are not recorded. `req/s` counts answers
 * received in the recorded window. `cpu ms/req` is the server process's user+system CPU time (from
 * /proc/<pid>/stat) over the window divided by those answers: the least noise-sensitive figure on a shared
 * machine.
 *
 * With --logging off,1,0.1 the variants compared are feature logging off and on at those sample rates (this build;
 * queue_size 200000 so nothing is dropped at rate 1, flush_interval 1s): the SDK stores are opened with each
 * `feature_logging`, and each HTTP server runs on a folder holding only a tessera.yaml that points at the bench
 * repo's registry and online store with that `feature_logging`. After each run the variant's log is flushed (SDK)
 * or given 1.5 s to flush (HTTP) before the next variant runs, so no variant pays for another's writes; a
 * variant's own flushes (every second) fall inside its runs. A table of p50/p99 ratios to `log off` follows,
 * each the median of paired runs (run r of a variant over run r of `log off`, minutes apart at most). Give `off`
 * twice (--logging off,off,0.1,1) for an A/A control: the ratio between two identical servers is the noise.
 * A rate may name the log thread's priority (`1:idle`, `1:normal`; default `low`, as shipped) to compare those,
 * and a flush interval (`0.1@10s`; default 1s).
 *
 * `steal %` is the share of the VM's CPU time its hypervisor gave to other tenants during a run (/proc/stat):
 * stolen time stalls whatever runs, for tens to hundreds of ms, and on a shared VM it decides HTTP p99 far more
 * than anything measured here. With --max-steal N, a round (one run of every variant) in which any run lost
 * more than N% is thrown away and run again (at most 2 × --runs times); the table says how many were.
 *
 * Each figure is the median over --runs runs. With --compare <checkout>, every run is repeated against a
 * second build (its bin/tessera.js for HTTP, its dist/feature-store.js for the SDK; build it first), interleaved run by run
 * with this one, so before/after figures come from the same minutes of a noisy machine. Prints a table and,
 * with --json, a JSON document.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type FeatureLoggingConfig, loadRepoConfig } from '../src/config/repo-config.js';
import type { FeatureStore } from '../src/feature-store.js';
import { makeBenchRepo, median, percentile } from './bench-repo.js';
import { LatencyHistogram, pooledRatio } from './latency-histogram.js';
import { shippedFeatureStore } from './shipped.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '1' },
    entities: { type: 'string', default: '10000' },
    stores: { type: 'string', default: 'sqlite,redis' },
    batches: { type: 'string', default: '1,100' },
    paths: { type: 'string', default: 'sdk,rate,max,floor' },
    rate: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    compare: { type: 'string' },
    logging: { type: 'string' },
    /** Repeat a round of runs (one run of every variant) in which any run lost more than this % of CPU to steal. */
    'max-steal': { type: 'string' },
    json: { type: 'boolean', default: false },
    /** Internal: run the HTTP load generator with this JSON spec and print its result. */
    load: { type: 'string' },
  },
});
const RUNS = Number(args.runs);
const SECONDS = Number(args.seconds);
const WARMUP = Number(args.warmup);
const ENTITIES = Number(args.entities);
const RATES = args.rate.split(',').map(Number);
const BATCHES = args.batches.split(',').map(Number);
const PATHS = new Set(args.paths.split(','));
const MAX_STEAL = args['max-steal'] === undefined ? Number.POSITIVE_INFINITY : Number(args['max-steal']);
/** Rounds thrown away for steal, per table row group (printed with the results). */
const discardedRounds: string[] = [];

interface Row {
  store: string;
  build: string;
  path: string;
  batch: number;
  p50: number;
  p99: number;
  max: number;
  rps: number;
  cpuMs: number | null;
  /** Of cpuMs: the server's main thread, and its feature-log thread. */
  cpuMainMs: number | null;
  cpuLogMs: number | null;
  lagP99: number | null;
  /** Share of the machine's CPU time the hypervisor gave to other tenants during the run, in %. */
  stealPct: number | null;
  /** The runs the medians come from, in order: run r of every variant ran in the same minute. */
  runs: Run[];
}

interface Build {
  readonly label: string;
  readonly bin: string;
  readonly open: (dir: string) => Promise<FeatureStore>;
  /** The folder `tessera serve` runs on for the bench repo `dir` (default `dir`). */
  readonly serveDir?: (dir: string) => string;
}

/**
 * `feature_logging` of a --logging variant other than 'off': a sample rate, optionally with the log thread's
 * priority after a colon (`1:idle`; default low) and the flush interval after an at sign (`0.1@10s`; default
 * 1s), its log under the bench repo. Runs must be much longer than the interval, or a variant's writes fall
 * in the flush after its run, outside the timed window.
 */
function loggingSection(mode: string, dir: string): FeatureLoggingConfig {
  const [setting = '', flush = '1s'] = mode.split('@');
  const [rate, priority = 'low'] = setting.split(':');
  if (priority !== 'idle' && priority !== 'low' && priority !== 'normal')
    throw new Error(`--logging ${mode}: the log thread's priority is idle, low or normal`);
  return {
    enabled: true,
    sample_rate: Number(rate),
    path: join(dir, `feature_logs_${mode.replace(/[:@]/g, '_')}`),
    queue_size: 200_000,
    flush_interval: flush,
    max_file_rows: 100_000,
    thread_priority: priority,
    services: {},
  };
}

/** The builds compared with --logging: this build, with feature logging off and at each sample rate given. */
function loggingBuilds(Store: typeof FeatureStore, modes: readonly string[], bin: string): Build[] {
  const seen = new Map<string, number>();
  return modes.map((mode) => {
    // A mode given twice (`off,off,...`) is an A/A control: its ratio to the first shows the noise alone.
    const n = (seen.get(mode) ?? 0) + 1;
    seen.set(mode, n);
    return {
      label: `${mode === 'off' ? 'log off' : `log ${mode}`}${n > 1 ? ` #${n}` : ''}`,
      bin,
      open: (dir) =>
        Store.fromConfig({
          ...loadRepoConfig(dir),
          ...(mode === 'off' ? {} : { feature_logging: loggingSection(mode, dir) }),
        }),
      serveDir: (dir) => {
        const variant = `${dir}-serve-${mode}`;
        mkdirSync(variant, { recursive: true });
        const yaml = readFileSync(join(dir, 'tessera.yaml'), 'utf8').replace(
          /path: \.tessera\//g,
          `path: ${dir}/.tessera/`,
        );
        const logging =
          mode === 'off' ? '' : `feature_logging: ${JSON.stringify(loggingSection(mode, dir))}\n`;
        writeFileSync(
          join(variant, 'tessera.yaml'),
          `${yaml}registry: { type: sqlite, path: ${dir}/.tessera/registry.db }\n${logging}`,
        );
        return variant;
      },
    };
  });
}

async function main(): Promise<void> {
  const Store = await shippedFeatureStore();
  const builds: Build[] = [
    {
      label: args.compare ? 'this' : '',
      bin: join(import.meta.dirname, '../bin/tessera.js'),
      open: (dir) => Store.open(dir),
    },
  ];
  if (args.logging)
    builds.splice(0, 1, ...loggingBuilds(Store, args.logging.split(','), builds[0]?.bin as string));
  else if (args.compare) {
    const root = resolve(args.compare);
    const Base = await shippedFeatureStore(root);
    builds.push({ label: 'base', bin: join(root, 'bin/tessera.js'), open: (dir) => Base.open(dir) });
  }
  const results: Row[] = [];
  for (const [storeIndex, storeKind] of args.stores.split(',').entries()) {
    const online =
      storeKind === 'redis'
        ? { redisUrl: requireEnv('TESSERA_TEST_REDIS_URL'), keyPrefix: `bench${process.pid}` }
        : ('sqlite' as const);
    const repo = await makeBenchRepo({ online, features: 50, entities: ENTITIES });
    const setup = await Store.open(repo.dir);
    await setup.apply({ message: 'bench' });
    await setup.materialize({ start: new Date(0), end: new Date(Date.now() + 60_000) });
    await setup.close();
    const features = repo.features.map((f) => `v0:${f}`);

    if (PATHS.has('sdk')) {
      const stores = await Promise.all(builds.map((b) => b.open(repo.dir)));
      for (const batch of BATCHES) {
        const runs = await rounds(`${storeKind} SDK b${batch}`, builds.length, async (b) => {
          const store = stores[b] as FeatureStore;
          const run = await sdkRun(store, features, batch);
          await store.featureLogger?.flush(); // written before the next variant runs
          return run;
        });
        builds.forEach((b, i) => {
          results.push(summarize(storeKind, b.label, 'SDK', batch, runs[i] as Run[]));
        });
      }
      for (const [b, s] of stores.entries()) {
        const c = s.featureLogger?.counters;
        if (c) console.error(`${storeKind} SDK ${builds[b]?.label}: ${JSON.stringify(c)}`);
        await s.close();
      }
    }

    const modes = [...(PATHS.has('rate') ? RATES : []), ...(PATHS.has('max') ? [0] : [])];
    if (modes.length === 0) continue;
    const servers: { url: string; child: ChildProcess }[] = [];
    try {
      for (const b of builds) servers.push(await startServer(b.bin, b.serveDir?.(repo.dir) ?? repo.dir));
      for (const batch of BATCHES) {
        for (const rate of modes) {
          const runs = await rounds(`${storeKind} HTTP b${batch} @${rate}`, builds.length, async (b) => {
            const run = await httpRun(
              servers[b] as { url: string; child: ChildProcess },
              features,
              batch,
              rate,
            );
            if (args.logging) await sleep(1500); // the server's last flush, before the next variant
            return run;
          });
          builds.forEach((b, i) => {
            const path = rate > 0 ? `HTTP @${rate} rps` : 'HTTP max';
            results.push(summarize(storeKind, b.label, path, batch, runs[i] as Run[]));
          });
        }
        // The floor: the same answer bytes from a bare Node server doing nothing else (once, not per store).
        if (storeIndex === 0 && PATHS.has('floor') && PATHS.has('rate')) {
          const floor = await startFloorServer(await oneAnswer(servers[0]?.url as string, features, batch));
          try {
            for (const rate of RATES) {
              const runs: Run[] = [];
              for (let r = 0; r < RUNS; r++) runs.push(await httpRun(floor, features, batch, rate));
              results.push(summarize('none', '', `floor @${rate} rps`, batch, runs));
            }
          } finally {
            floor.child.kill('SIGTERM');
          }
        }
      }
    } finally {
      for (const s of servers) s.child.kill('SIGTERM');
    }
  }
  print(results, builds.length > 1);
  if (args.logging) printRatios(results);
}

/**
 * p50 and p99 of each logging variant against `log off`, two ways. Paired: the median over runs of run r's
 * figure over `log off`'s run r, which ran in the same minute (interleaved). Pooled: the quantile of all the
 * variant's latencies over that of all `log off`'s, with a 90% interval from a paired bootstrap over runs
 * (bench/latency-histogram.ts), which says how far the machine's noise alone moves it. With `off` given
 * twice, the `off #2` lines are an A/A control: what identical servers show.
 */
function printRatios(rows: readonly Row[]): void {
  console.log(
    `\n${'ratio to log off'.padEnd(34)} paired p50   p99  pooled p50   p99  (90% interval)   p99 by run`,
  );
  for (const r of rows) {
    if (r.build === 'log off' || !r.build.startsWith('log ')) continue;
    const off = rows.find(
      (o) => o.build === 'log off' && o.store === r.store && o.path === r.path && o.batch === r.batch,
    );
    if (off === undefined) continue;
    const paired = (k: 'p50' | 'p99') => r.runs.map((run, i) => run[k] / (off.runs[i]?.[k] ?? Number.NaN));
    const histograms = (row: Row) => row.runs.map((run) => run.histogram ?? new LatencyHistogram());
    const p50 = pooledRatio(histograms(r), histograms(off), 0.5, 0);
    const p99 = pooledRatio(histograms(r), histograms(off), 0.99);
    const label = `${r.store} ${r.path} b${r.batch} ${r.build.slice(4)}`;
    const p99s = paired('p99');
    const f = (x: number, w: number) => x.toFixed(3).padStart(w);
    console.log(
      `${label.padEnd(34)} ${f(median(paired('p50')), 10)}${f(median(p99s), 6)}${f(p50.ratio, 12)}${f(p99.ratio, 6)}` +
        `  (${p99.low.toFixed(2)}–${p99.high.toFixed(2)})   ${p99s.map((x) => x.toFixed(2)).join(' ')}`,
    );
  }
}

interface Run {
  p50: number;
  p99: number;
  max: number;
  rps: number;
  cpuMs?: number;
  cpuMainMs?: number;
  cpuLogMs?: number;
  lagP99?: number;
  stealPct?: number;
  /** Every latency of the run, for pooled quantiles across runs (printRatios). */
  histogram?: LatencyHistogram;
}

async function sdkRun(store: FeatureStore, features: string[], batch: number): Promise<Run> {
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  let i = 0;
  const t0 = performance.now();
  const stolen0 = stolenMs();
  while (performance.now() < deadline) {
    const entities = Array.from({ length: batch }, (_, j) => ({
      user_id: (i * 7919 + j * 104729) % ENTITIES,
    }));
    const s = performance.now();
    const r = await store.getOnlineFeatures({ features, entities });
    latencies.push(performance.now() - s);
    if (r.statuses[0]?.[1] !== 'PRESENT') throw new Error(`unexpected status ${r.statuses[0]?.[1]}`);
    i++;
    // A turn of the event loop between calls, as a service has between requests: without it, calls to SQLite
    // (synchronous underneath) would chain as microtasks for the whole run, and no timer or message (the
    // feature log's) would run until it ended.
    await new Promise<void>((done) => setImmediate(done));
  }
  const seconds = (performance.now() - t0) / 1000;
  const stolen = stolenMs() - stolen0;
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? 0,
    rps: latencies.length / seconds,
    stealPct: stealPct(stolen, seconds * 1000),
    histogram: LatencyHistogram.of(latencies),
  };
}

/** What the load-generator process is told to do. */
interface LoadSpec {
  url: string;
  serverPid: number;
  features: string[];
  batch: number;
  entities: number;
  /** Requests per second (open loop), or 0 for flat out (closed loop). */
  rate: number;
  connections: number;
  seconds: number;
  warmup: number;
}

interface LoadResult extends Omit<Run, 'histogram'> {
  /** Every recorded latency, in ms rounded to µs. */
  latencies: number[];
  answered: number;
  non2xx: number;
  /** Statuses of the second output column of one answer, to check the server really found the entities. */
  sampleStatus: string | undefined;
}

/** Runs one HTTP load in a separate process (this file with --load), so it does not share our event loop. */
async function httpRun(
  server: { url: string; child: ChildProcess },
  features: string[],
  batch: number,
  rate: number,
): Promise<Run> {
  const spec: LoadSpec = {
    url: server.url,
    serverPid: server.child.pid as number,
    features,
    batch,
    entities: ENTITIES,
    rate,
    connections: rate > 0 ? 64 : Number(args.connections),
    seconds: SECONDS,
    warmup: WARMUP,
  };
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', import.meta.filename, '--load', JSON.stringify(spec)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const code = await new Promise<number | null>((res) => child.once('exit', res));
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  const r = JSON.parse(out) as LoadResult;
  if (r.non2xx > 0) throw new Error(`HTTP errors: ${r.non2xx} non-2xx answers`);
  if (r.sampleStatus !== 'PRESENT') throw new Error(`unexpected status ${r.sampleStatus}`);
  const { latencies, ...run } = r;
  return { ...run, histogram: LatencyHistogram.of(latencies) };
}

// ---------------------------------------------------------------------------------------------------------
// Load generator (runs in its own process).

/** One keep-alive connection with at most one request in flight. */
class Connection {
  readonly socket: Socket;
  /** When the request in flight started (performance.now()); its latency runs from here. */
  start = 0;
  /** True when the request in flight was due in the recorded window. */
  recorded = false;
  #chunks: Buffer[] = [];
  #received = 0;
  #bodyStart = -1;
  #total = -1;
  #status = 0;

  constructor(
    host: string,
    port: number,
    private readonly onAnswer: (c: Connection, status: number, body: Buffer | undefined) => void,
    private readonly wantBody: () => boolean,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (d: Buffer) => this.#onData(d));
    this.socket.on('error', (e) => {
      console.error(e);
      process.exit(1);
    });
  }

  send(request: Buffer, start: number, recorded: boolean): void {
    this.start = start;
    this.recorded = recorded;
    this.socket.write(request);
  }

  #onData(d: Buffer): void {
    this.#chunks.push(d);
    this.#received += d.length;
    if (this.#bodyStart < 0) {
      const head = this.#chunks.length === 1 ? d : Buffer.concat(this.#chunks);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const text = head.toString('latin1', 0, end).toLowerCase();
      const m = /\r\ncontent-length: *(\d+)/.exec(text);
      if (!m) throw new Error(`answer without content-length: ${text}`);
      this.#status = Number(text.slice(9, 12));
      this.#bodyStart = end + 4;
      this.#total = this.#bodyStart + Number(m[1]);
    }
    if (this.#received < this.#total) return;
    if (this.#received > this.#total) throw new Error('more bytes than one answer (no pipelining here)');
    const body = this.wantBody() ? Buffer.concat(this.#chunks).subarray(this.#bodyStart) : undefined;
    this.#chunks = [];
    this.#received = 0;
    this.#bodyStart = -1;
    this.#total = -1;
    this.onAnswer(this, this.#status, body);
  }
}

async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const url = new URL(spec.url);
  const requests = Array.from({ length: 64 }, (_, k) => {
    const body = JSON.stringify({
      features: spec.features,
      entities: {
        user_id: Array.from({ length: spec.batch }, (_, j) => (k * 7919 + j * 104729) % spec.entities),
      },
    });
    return Buffer.from(
      `POST /get-online-features HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });
  let next = 0;
  const nextRequest = () => requests[next++ % requests.length] as Buffer;

  const latencies: number[] = [];
  const lags: number[] = [];
  let answered = 0;
  let non2xx = 0;
  let sample: Buffer | undefined;
  const t0 = performance.now() + 200; // connections open meanwhile
  const windowStart = t0 + spec.warmup * 1000;
  const windowEnd = windowStart + spec.seconds * 1000;
  let cpuStart: ThreadCpu = { total: 0, main: 0, log: 0 };
  let cpuEnd: ThreadCpu = { total: 0, main: 0, log: 0 };
  let stolenStart = 0;
  let stolenEnd = 0;

  const free: Connection[] = [];
  const waiting: number[] = []; // due times of requests waiting for a connection
  let stopping = false;
  let outstanding = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((res) => {
    done = res;
  });

  const onAnswer = (c: Connection, status: number, body: Buffer | undefined) => {
    const now = performance.now();
    outstanding--;
    if (c.recorded) latencies.push(now - c.start);
    if (now >= windowStart && now < windowEnd) answered++;
    if (status < 200 || status >= 300) non2xx++;
    if (body && sample === undefined) sample = body;
    if (spec.rate === 0) {
      if (now < windowEnd) send(c, now);
      else if (outstanding === 0) done();
      return;
    }
    const due = waiting.shift();
    if (due !== undefined) send(c, due, due >= windowStart);
    else {
      free.push(c);
      if (stopping && outstanding === 0) done();
    }
  };
  const send = (c: Connection, start: number, recorded = start >= windowStart && start < windowEnd) => {
    outstanding++;
    c.send(nextRequest(), start, recorded);
  };

  const conns = Array.from(
    { length: spec.connections },
    () => new Connection(url.hostname, Number(url.port), onAnswer, () => sample === undefined),
  );
  await Promise.all(conns.map((c) => new Promise((res) => c.socket.once('connect', res))));
  await sleep(Math.max(0, t0 - performance.now()));

  // The recorded window opens and closes on timers, independent of the answers.
  setTimeout(
    () => {
      cpuStart = threadCpu(spec.serverPid);
      stolenStart = stolenMs();
    },
    Math.max(0, windowStart - performance.now()),
  );
  const windowClosed = new Promise<void>((res) =>
    setTimeout(
      () => {
        cpuEnd = threadCpu(spec.serverPid);
        stolenEnd = stolenMs();
        res();
      },
      Math.max(0, windowEnd - performance.now()),
    ),
  );

  if (spec.rate === 0) {
    for (const c of conns) send(c, performance.now());
  } else {
    free.push(...conns);
    const interval = 1000 / spec.rate;
    let due = performance.now();
    const tick = () => {
      const now = performance.now();
      while (due <= now && due < windowEnd) {
        if (due >= windowStart) lags.push(now - due);
        const c = free.pop();
        // Sent now: latency counts from the write. Waiting for a connection: from when it was due.
        if (c) send(c, now, due >= windowStart);
        else waiting.push(due);
        due += interval;
      }
      if (due < windowEnd) {
        setTimeout(tick, due - performance.now());
        return;
      }
      // A server that cannot keep up leaves requests waiting for a connection: they count with the time
      // they have waited so far (a lower bound on their latency), and are not sent.
      stopping = true;
      for (const d of waiting.splice(0)) if (d >= windowStart) latencies.push(now - d);
      if (outstanding === 0) done();
    };
    tick();
  }
  await Promise.all([finished, windowClosed]);
  for (const c of conns) c.socket.destroy();

  latencies.sort((a, b) => a - b);
  lags.sort((a, b) => a - b);
  let sampleStatus: string | undefined;
  if (sample) {
    const parsed = JSON.parse(sample.toString()) as { results?: { statuses: string[] }[] };
    sampleStatus = parsed.results?.[1]?.statuses[0];
  }
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? 0,
    rps: answered / spec.seconds,
    cpuMs: answered > 0 ? (cpuEnd.total - cpuStart.total) / answered : Number.NaN,
    cpuMainMs: answered > 0 ? (cpuEnd.main - cpuStart.main) / answered : Number.NaN,
    cpuLogMs: answered > 0 ? (cpuEnd.log - cpuStart.log) / answered : Number.NaN,
    ...(spec.rate > 0 ? { lagP99: percentile(lags, 0.99) } : {}),
    stealPct: stealPct(stolenEnd - stolenStart, spec.seconds * 1000),
    latencies: latencies.map((ms) => Math.round(ms * 1000) / 1000),
    answered,
    non2xx,
    sampleStatus,
  };
}

/** CPU time of a process so far in ms: in all, on its main thread, and on its feature-log thread. */
interface ThreadCpu {
  total: number;
  main: number;
  log: number;
}

let clockTicks = 0;
/**
 * CPU time (user + system) of a process so far, from /proc/<pid>/stat, split by thread from
 * /proc/<pid>/task/<tid>/stat: the main thread (tid = pid) and the feature log's thread (named `tessera-log`,
 * see src/logging/log-worker.ts); the rest is libuv's pool (where DuckDB runs its statements), V8's helpers and
 * any other thread.
 */
function threadCpu(pid: number): ThreadCpu {
  if (clockTicks === 0) clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const ms = (stat: string) => {
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  };
  const total = ms(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  let main = 0;
  let log = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      if (tid === String(pid)) main = ms(stat);
      else if (stat.includes('(tessera-log)')) log += ms(stat);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return { total, main, log };
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

// ---------------------------------------------------------------------------------------------------------

async function startServer(bin: string, repoDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [bin, 'serve', '--repo', repoDir, '--port', '0', '--json'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return listening(child);
}

/** Waits for a server child to print its `{"status":"listening","address":…}` line. */
async function listening(child: ChildProcess): Promise<{ url: string; child: ChildProcess }> {
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve((JSON.parse(line) as { address: string }).address);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { url, child };
}

/** The answer to the load generator's first request body, as the server sends it. */
async function oneAnswer(url: string, features: string[], batch: number): Promise<Buffer> {
  const res = await fetch(`${url}/get-online-features`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      features,
      entities: { user_id: Array.from({ length: batch }, (_, j) => (j * 104729) % ENTITIES) },
    }),
  });
  if (!res.ok) throw new Error(`answer ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/**
 * A bare Node HTTP server answering every request with `body`: what the machine, Node's HTTP stack and the
 * load generator cost without any feature serving. Latency here is the floor of the HTTP figures.
 */
async function startFloorServer(body: Buffer): Promise<{ url: string; child: ChildProcess }> {
  const file = join(tmpdir(), `tessera-floor-${process.pid}.json`);
  writeFileSync(file, body);
  const code = `
    const http = require('node:http');
    const body = require('node:fs').readFileSync(process.argv[1]);
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
        res.end(body);
      });
    });
    server.listen(0, '127.0.0.1', () => {
      console.log(JSON.stringify({ status: 'listening', address: 'http://127.0.0.1:' + server.address().port }));
    });`;
  return listening(spawn(process.execPath, ['-e', code, file], { stdio: ['ignore', 'pipe', 'inherit'] }));
}

/**
 * RUNS rounds of one run per variant (variant b by `run(b)`), interleaved so that every round's runs share the
 * same minutes. With --max-steal, a round in which any run lost more than that share of the machine's CPU to
 * the hypervisor (other tenants of a shared VM) is thrown away and run again, at most 2 × RUNS extra times:
 * stolen time stalls whichever variant happens to be running, and is no part of what is compared. A first round
 * is run and thrown away: on a slow day the first run after the repo was built had a p99 4-5x the rest's (its
 * warm-up second was not enough), which made every variant look 2-5x faster than `log off` in that round.
 */
async function rounds(what: string, variants: number, run: (b: number) => Promise<Run>): Promise<Run[][]> {
  for (let b = 0; b < variants; b++) await run(b);
  const runs: Run[][] = Array.from({ length: variants }, () => []);
  let discarded = 0;
  for (let attempt = 0; (runs[0]?.length ?? 0) < RUNS && attempt < 3 * RUNS; attempt++) {
    // Each round starts one variant further on (off, 0.1, 1; then 0.1, 1, off; …), so that no variant always
    // runs first, or always right after the one that logged most: measured A/A ratios of 0.88 came from that.
    const round: Run[] = new Array(variants);
    for (let k = 0; k < variants; k++) {
      const b = (attempt + k) % variants;
      round[b] = await run(b);
    }
    if (round.some((r) => (r.stealPct ?? 0) > MAX_STEAL)) {
      discarded++;
      continue;
    }
    round.forEach((r, b) => {
      runs[b]?.push(r);
    });
  }
  if (discarded > 0) discardedRounds.push(`${what}: ${discarded} round(s) over ${MAX_STEAL}% steal rerun`);
  if ((runs[0]?.length ?? 0) < RUNS) discardedRounds.push(`${what}: only ${runs[0]?.length} quiet round(s)`);
  return runs;
}

/** CPU time stolen from this VM so far (all its CPUs, ms), from /proc/stat's `steal` column. */
function stolenMs(): number {
  if (clockTicks === 0) clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  const cpu = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]?.trim().split(/\s+/) ?? [];
  return (Number(cpu[8] ?? 0) * 1000) / clockTicks;
}

/** The share of the machine's CPU time stolen between two readings (`stolenMs()`) `elapsedMs` apart, in %. */
const stealPct = (stolenDeltaMs: number, elapsedMs: number) =>
  (100 * stolenDeltaMs) / (elapsedMs * availableParallelism());

function summarize(store: string, build: string, path: string, batch: number, runs: Run[]): Row {
  const med = (k: 'cpuMs' | 'cpuMainMs' | 'cpuLogMs' | 'lagP99' | 'stealPct') =>
    runs.every((r) => r[k] !== undefined) ? median(runs.map((r) => r[k] as number)) : null;
  return {
    store,
    build,
    path,
    batch,
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    max: median(runs.map((r) => r.max)),
    rps: median(runs.map((r) => r.rps)),
    cpuMs: med('cpuMs'),
    cpuMainMs: med('cpuMainMs'),
    cpuLogMs: med('cpuLogMs'),
    lagP99: med('lagP99'),
    stealPct: med('stealPct'),
    runs,
  };
}

function print(rows: Row[], compare: boolean): void {
  if (args.json) {
    console.log(
      JSON.stringify(
        {
          runs: RUNS,
          seconds: SECONDS,
          warmup: WARMUP,
          entities: ENTITIES,
          features: 50,
          // Per-run figures without their histograms (thousands of bucket counts each).
          results: rows.map((r) => ({ ...r, runs: r.runs.map(({ histogram: _, ...run }) => run) })),
        },
        null,
        2,
      ),
    );
    return;
  }
  console.log(
    `online serving, 50 features, ${ENTITIES} entities, median of ${RUNS} runs of ${SECONDS} s (+${WARMUP} s warm-up)`,
  );
  const b = compare ? Math.max(6, ...rows.map((r) => r.build.length + 1)) : 0;
  console.log(
    `store   ${compare ? 'build '.padEnd(b) : ''}path            batch   p50 ms   p99 ms   max ms      req/s  cpu ms/req  main / log  lag p99  steal %`,
  );
  const fmt = (v: number | null, digits: number, width: number) =>
    (v === null ? '' : v.toFixed(digits)).padStart(width);
  for (const r of rows) {
    console.log(
      `${r.store.padEnd(8)}${r.build.padEnd(b)}${r.path.padEnd(16)}${String(r.batch).padStart(5)}` +
        `${fmt(r.p50, 3, 9)}${fmt(r.p99, 3, 9)}${fmt(r.max, 2, 9)}${Math.round(r.rps).toString().padStart(11)}` +
        `${fmt(r.cpuMs, 3, 12)}${r.cpuMainMs === null ? ''.padStart(12) : `${fmt(r.cpuMainMs, 2, 6)} /${fmt(r.cpuLogMs, 2, 5)}`}` +
        `${fmt(r.lagP99, 2, 9)}${fmt(r.stealPct, 1, 9)}`,
    );
  }
  for (const line of discardedRounds) console.log(line);
}

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: source $(bash scripts/services.sh start redis) first`);
  return v;
}

if (args.load !== undefined) {
  process.stdout.write(`${JSON.stringify(await runLoad(JSON.parse(args.load) as LoadSpec))}\n`);
  process.exit(0);
} else {
  await main();
}
