/**
 * Online serving benchmark: SDK and HTTP, 1 and 100 entities × 50 features, on SQLite and Redis.
 *
 *   npm run build && source $(bash scripts/services.sh start redis) && node --import tsx bench/online-serving.ts
 *
 * SDK: sequential calls in this process (latency per call). HTTP: `tessera serve` in its own process, loaded
 * by autocannon from this one at a fixed 1,000 requests/s (latency at load), then flat out (throughput).
 * Each figure is the median of --runs runs. Prints a table and, with --json, a JSON document.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { FeatureStore } from '../src/feature-store.js';
import { makeBenchRepo, median, percentile } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    entities: { type: 'string', default: '10000' },
    stores: { type: 'string', default: 'sqlite,redis' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const SECONDS = Number(args.seconds);
const ENTITIES = Number(args.entities);

interface Row {
  store: string;
  path: 'SDK' | 'HTTP @1000 rps' | 'HTTP max';
  batch: number;
  p50: number;
  p99: number;
  max: number;
  rps: number;
}

async function main(): Promise<void> {
  const results: Row[] = [];
  for (const storeKind of args.stores.split(',')) {
    const online =
      storeKind === 'redis'
        ? { redisUrl: requireEnv('TESSERA_TEST_REDIS_URL'), keyPrefix: `bench${process.pid}` }
        : ('sqlite' as const);
    const repo = await makeBenchRepo({ online, features: 50, entities: ENTITIES });
    const store = await FeatureStore.open(repo.dir);
    await store.apply({ message: 'bench' });
    await store.materialize({ start: new Date(0), end: new Date(Date.now() + 60_000) });
    const features = repo.features.map((f) => `v0:${f}`);

    for (const batch of [1, 100]) {
      const runs = [];
      for (let r = 0; r < RUNS; r++) runs.push(await sdkRun(store, features, batch));
      results.push(summarize(storeKind, 'SDK', batch, runs));
    }
    await store.close();

    const server = await startServer(repo.dir);
    try {
      for (const batch of [1, 100]) {
        const atRate = [];
        const flat = [];
        for (let r = 0; r < RUNS; r++) {
          atRate.push(await httpRun(server.url, features, batch, 1000));
          flat.push(await httpRun(server.url, features, batch, 0));
        }
        results.push(summarize(storeKind, 'HTTP @1000 rps', batch, atRate));
        results.push(summarize(storeKind, 'HTTP max', batch, flat));
      }
    } finally {
      server.child.kill('SIGTERM');
    }
  }
  print(results);
}

type Run = { p50: number; p99: number; max: number; rps: number };

async function sdkRun(store: FeatureStore, features: string[], batch: number): Promise<Run> {
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  let i = 0;
  const t0 = performance.now();
  while (performance.now() < deadline) {
    const entities = Array.from({ length: batch }, (_, j) => ({
      user_id: (i * 7919 + j * 104729) % ENTITIES,
    }));
    const s = performance.now();
    const r = await store.getOnlineFeatures({ features, entities });
    latencies.push(performance.now() - s);
    if (r.statuses[0]?.[1] !== 'PRESENT') throw new Error(`unexpected status ${r.statuses[0]?.[1]}`);
    i++;
  }
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.at(-1) ?? 0,
    rps: latencies.length / seconds,
  };
}

async function httpRun(url: string, features: string[], batch: number, rate: number): Promise<Run> {
  // A pool of distinct request bodies so the server reads different entities.
  const bodies = Array.from({ length: 64 }, (_, k) =>
    JSON.stringify({
      features,
      entities: { user_id: Array.from({ length: batch }, (_, j) => (k * 7919 + j * 104729) % ENTITIES) },
    }),
  );
  let n = 0;
  const result = await autocannon({
    url: `${url}/get-online-features`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    duration: SECONDS,
    connections: rate > 0 ? 20 : 16,
    pipelining: 1,
    ...(rate > 0 ? { overallRate: rate } : {}),
    requests: [{ setupRequest: (req) => ({ ...req, body: bodies[n++ % bodies.length] as string }) }],
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`HTTP errors: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return {
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    rps: result.requests.average,
  };
}

async function startServer(repoDir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '../bin/tessera.js'), 'serve', '--repo', repoDir, '--port', '0', '--json'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
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

function summarize(store: string, path: Row['path'], batch: number, runs: Run[]): Row {
  return {
    store,
    path,
    batch,
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    max: median(runs.map((r) => r.max)),
    rps: median(runs.map((r) => r.rps)),
  };
}

function print(rows: Row[]): void {
  if (args.json) {
    console.log(
      JSON.stringify(
        { runs: RUNS, seconds: SECONDS, entities: ENTITIES, features: 50, results: rows },
        null,
        2,
      ),
    );
    return;
  }
  console.log(`online serving, 50 features, ${ENTITIES} entities, median of ${RUNS} runs of ${SECONDS} s`);
  console.log('store   path            batch   p50 ms   p99 ms   max ms      req/s');
  for (const r of rows) {
    console.log(
      `${r.store.padEnd(8)}${r.path.padEnd(16)}${String(r.batch).padStart(5)}${r.p50.toFixed(3).padStart(9)}${r.p99.toFixed(3).padStart(9)}${r.max.toFixed(2).padStart(9)}${Math.round(r.rps).toString().padStart(11)}`,
    );
  }
}

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: source $(bash scripts/services.sh start redis) first`);
  return v;
}

await main();
