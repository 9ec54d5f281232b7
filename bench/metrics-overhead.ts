/**
 * What Prometheus metrics cost online serving: the same requests with metrics on and off, side by side.
 *
 *   node --import tsx bench/metrics-overhead.ts [--runs 5] [--requests 3000] [--batches 1,100] [--stores sqlite,redis]
 *
 * One repo (one view of 50 features, 10k entities, materialized). Two paths, each run with metrics on and off
 * alternately (on, off, on, off…), so both see the same minutes of a shared machine:
 *   - `SDK`: `getOnlineFeatures` in this process; on = the serving observer of src/metrics/serving-metrics.ts
 *     (store-read histogram, values by status, fallbacks).
 *   - `HTTP`: two Fastify servers built by `buildServer` in this process, one with metrics (plus the
 *     `onResponse` histogram and counter), one with `metrics: false`; requests are sent one after another
 *     over one keep-alive connection with node:http, latency from send to the last byte of the answer.
 * Figures are medians over --runs of each run's p50 and p99 (µs). Requests draw entities at random.
 * Then, without any I/O, the CPU cost per request of the metrics alone: the serving observer on a captured
 * (plan, result) and the HTTP recorder, each called 200k times: CPU time (process.cpuUsage, so time the process
 * spends descheduled on a busy machine does not count) per call in ns, median of --runs.
 */
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { FeatureStore } from '../src/feature-store.js';
import { TesseraMetrics } from '../src/metrics/metrics.js';
import { httpRecorder, servingObserver } from '../src/metrics/serving-metrics.js';
import { buildServer } from '../src/server/http-server.js';
import type { ServingObserver } from '../src/serving/online-serving.js';
import { makeBenchRepo, median, percentile } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    requests: { type: 'string', default: '3000' },
    batches: { type: 'string', default: '1,100' },
    stores: { type: 'string', default: 'sqlite' },
    entities: { type: 'string', default: '10000' },
    /** Only the CPU cost of the metrics alone (no latency runs). */
    'cpu-only': { type: 'boolean', default: false },
  },
});
const RUNS = Number(args.runs);
const REQUESTS = Number(args.requests);
const ENTITIES = Number(args.entities);

let seed = 42;
const random = () => {
  seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
  return seed / 2 ** 32;
};
const entityBatch = (n: number) =>
  Array.from({ length: n }, () => ({ user_id: Math.floor(random() * ENTITIES) }));

/** Per-request latencies (µs) of `n` sequential calls. */
async function timed(n: number, call: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(200, n); i++) await call(); // warm-up: JIT, plan cache, connections
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await call();
    out[i] = (performance.now() - t0) * 1000;
  }
  return out.sort((a, b) => a - b);
}

function post(agent: Agent, port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/get-online-features',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface Row {
  store: string;
  path: string;
  batch: number;
  metrics: 'on' | 'off';
  p50: number;
  p99: number;
}

/** CPU per request of the metrics alone, without I/O: the serving observer and the HTTP recorder. */
async function metricsCpu(
  store: FeatureStore,
  features: string[],
  entities: { user_id: number }[],
  kind: string,
  batch: number,
): Promise<{ store: string; batch: number; observerNs: number; httpRecorderNs: number }> {
  let captured: Parameters<ServingObserver['served']> | undefined;
  store.observeServing({
    storeRead: () => undefined,
    served: (...a) => {
      captured = a;
    },
  });
  await store.getOnlineFeatures({ features, entities });
  store.observeServing(undefined);
  const [plan, result, deadline] = captured as Parameters<ServingObserver['served']>;
  const metrics = new TesseraMetrics({ defaultMetrics: false });
  const observer = servingObserver(metrics, kind);
  const record = httpRecorder(metrics);
  const N = 200_000;
  const observerNs: number[] = [];
  const recorderNs: number[] = [];
  const cpuNs = (since: NodeJS.CpuUsage) => {
    const d = process.cpuUsage(since);
    return ((d.user + d.system) * 1000) / N;
  };
  for (let r = 0; r < RUNS; r++) {
    let t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      observer.storeRead(0.0002, false);
      observer.served(plan, result, deadline);
    }
    observerNs.push(cpuNs(t0));
    t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) record('/get-online-features', 'POST', 200, 0.0005);
    recorderNs.push(cpuNs(t0));
  }
  return { store: kind, batch, observerNs: median(observerNs), httpRecorderNs: median(recorderNs) };
}

const micro: { store: string; batch: number; observerNs: number; httpRecorderNs: number }[] = [];

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const kind of args.stores.split(',')) {
    const online =
      kind === 'redis'
        ? { redisUrl: process.env['TESSERA_TEST_REDIS_URL'] as string, keyPrefix: `mbench${process.pid}` }
        : ('sqlite' as const);
    const repo = await makeBenchRepo({ online, features: 50, entities: ENTITIES });
    const setup = await FeatureStore.open(repo.dir);
    await setup.apply({ message: 'bench' });
    await setup.materialize({ start: new Date(0), end: new Date(Date.now() + 60_000) });
    await setup.close();
    const features = repo.features.map((f) => `v0:${f}`);

    const stores = { on: await FeatureStore.open(repo.dir), off: await FeatureStore.open(repo.dir) };
    stores.on.observeServing(servingObserver(new TesseraMetrics(), stores.on.online.kind));
    const apps: Record<'on' | 'off', FastifyInstance> = {
      on: await buildServer(stores.on, { metrics: new TesseraMetrics() }),
      off: await buildServer(stores.off, { metrics: false }),
    };
    const ports = { on: 0, off: 0 };
    for (const m of ['on', 'off'] as const) {
      await apps[m].listen({ host: '127.0.0.1', port: 0 });
      ports[m] = (apps[m].server.address() as { port: number }).port;
    }
    try {
      for (const batch of args.batches.split(',').map(Number)) {
        const bodies = Array.from({ length: 64 }, () =>
          JSON.stringify({
            features,
            entities: { user_id: entityBatch(batch).map((e) => e.user_id) },
          }),
        );
        const requests = Array.from({ length: 64 }, () => entityBatch(batch));
        // One keep-alive connection per server.
        const agents = {
          on: new Agent({ keepAlive: true, maxSockets: 1 }),
          off: new Agent({ keepAlive: true, maxSockets: 1 }),
        };
        for (const path of args['cpu-only'] ? [] : (['SDK', 'HTTP'] as const)) {
          const runs: Record<'on' | 'off', { p50: number[]; p99: number[] }> = {
            on: { p50: [], p99: [] },
            off: { p50: [], p99: [] },
          };
          for (let r = 0; r < RUNS; r++) {
            for (const m of r % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
              let i = 0;
              const lat = await timed(REQUESTS, () =>
                path === 'SDK'
                  ? stores[m].getOnlineFeatures({
                      features,
                      entities: requests[i++ % 64] as { user_id: number }[],
                    })
                  : post(agents[m], ports[m], bodies[i++ % 64] as string),
              );
              runs[m].p50.push(percentile(lat, 0.5));
              runs[m].p99.push(percentile(lat, 0.99));
            }
          }
          for (const m of ['on', 'off'] as const) {
            rows.push({
              store: kind,
              path,
              batch,
              metrics: m,
              p50: median(runs[m].p50),
              p99: median(runs[m].p99),
            });
          }
          const on = rows[rows.length - 2] as Row;
          const off = rows[rows.length - 1] as Row;
          process.stderr.write(
            `${kind} ${path} ${batch} entities: p50 ${off.p50.toFixed(0)} → ${on.p50.toFixed(0)} µs, p99 ${off.p99.toFixed(0)} → ${on.p99.toFixed(0)} µs (off → on)\n`,
          );
        }
        agents.on.destroy();
        agents.off.destroy();
        micro.push(await metricsCpu(stores.off, features, requests[0] as { user_id: number }[], kind, batch));
      }
    } finally {
      for (const m of ['on', 'off'] as const) {
        await apps[m].close();
        await stores[m].close();
      }
    }
  }
  console.table(rows.map((r) => ({ ...r, p50: Math.round(r.p50), p99: Math.round(r.p99) })));
  console.table(
    micro.map((m) => ({
      ...m,
      observerNs: Math.round(m.observerNs),
      httpRecorderNs: Math.round(m.httpRecorderNs),
    })),
  );
}

await main();
