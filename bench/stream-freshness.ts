/**
 * Stream engine benchmark, freshness: how long from producing an event until an online read sees its effect,
 * while the worker keeps up with a steady load (docs/benchmarks.md, "Stream engine").
 *
 *   source $(bash scripts/services.sh start redis kafka)
 *   node --import tsx bench/stream-freshness.ts [--rate 20000] [--tick 10] [--seconds 40] [--warmup 5]
 *        [--markers 20] [--poll 2] [--batch-size 2000] [--linger 50] [--max-wait 100] [--lake] [--runs 3]
 *        [--worker-node-options "--max-semi-space-size=64"] [--json]
 *
 * Three processes besides the broker and Redis, all on this machine (the VM has 2 cores: they share them):
 *   - the worker (`--role worker`, a child process): StreamWorker + KafkaSource as `FeatureStore.stream` builds
 *     them (with the Parquet lake append when --lake, as `tessera stream` runs), with --batch-size, --linger
 *     (KafkaSource lingerMs: how long a partial batch waits for more records) and --max-wait (the consumer's
 *     fetch maxWaitTime);
 *   - the load (`--role load`, a child process): --rate events/s for --warmup + --seconds, sent every --tick ms
 *     (rate × tick / 1000 events per send; a late tick sends what is due, so the rate holds on average), keyed
 *     by 100k entities, JSON records as in tests/integration/stream-kafka.test.ts, event time = now;
 *   - this process: --markers marker events per second, each for a dedicated probe entity (40 of them, taken in
 *     turn, so each probe gets a marker every 2 s), sent by their own producer; and a reader that polls
 *     `getOnlineFeatures` every --poll ms for the probes with markers in flight, until each probe's
 *     `orders_10m` count reaches the marker's number. Freshness = when the read saw it − when the marker's send
 *     was called (performance.now() in this process; producer → broker → worker → Redis → read). A read takes
 *     ~1 ms, so freshness is measured to within poll + read time.
 * Markers of the warm-up are not counted. Throughput is what the load sent in the measured window and what the
 * worker committed in it (from its checkpoints). The load average and each process's CPU are reported: on a
 * shared 2-core VM they bound what any setting can reach.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ProduceAcks } from '@platformatic/kafka';
import { Redis } from 'ioredis';
import { FeatureStore } from '../src/feature-store.js';
import { KafkaSource } from '../src/stream/kafka/kafka-source.js';
import { prng } from '../tests/helpers/prng.js';
import { median, percentile } from './bench-repo.js';
import {
  buildWorker,
  dropStreamRepo,
  makeStreamRepo,
  newProducer,
  orderJson,
  ROOT,
  type StreamBenchRepo,
  serviceCpu,
  sleep,
} from './stream-e2e.js';

const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'main' },
    repo: { type: 'string' },
    rate: { type: 'string', default: '20000' },
    tick: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
    markers: { type: 'string', default: '20' },
    poll: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '2000' },
    linger: { type: 'string', default: '50' },
    'max-wait': { type: 'string', default: '100' },
    lake: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    'worker-node-options': { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
  },
});

const PROBES = 40;
const PROBE_BASE = 10_000_000; // probe entity ids: above the load's 1..100k
const LOAD_ENTITIES = 100_000;

// ---------------------------------------------------------------------------------------------------------------
// Child: the worker

async function workerRole(repo: StreamBenchRepo): Promise<void> {
  const store = await FeatureStore.open(repo.dir);
  await store.refresh();
  const worker = buildWorker(store, repo, { lake: args.lake });
  const kafka = new KafkaSource({
    brokers: repo.brokers,
    topic: repo.topic,
    groupId: repo.group,
    batchSize: Number(args['batch-size']),
    lingerMs: Number(args.linger),
    maxWaitMs: Number(args['max-wait']),
  });
  const ac = new AbortController();
  process.once('SIGTERM', () => ac.abort());
  // How long each batch took in the worker (decode, tiles, Redis read and commit) and the gap before it (the
  // wait for records, including the linger).
  const batchMs: number[] = [];
  const gapMs: number[] = [];
  let last = 0;
  try {
    await kafka.consume(
      {
        assigned: (p) => worker.assigned(p),
        revoked: (p) => worker.revoked(p),
        batch: async (records) => {
          const t = performance.now();
          if (last > 0) gapMs.push(t - last);
          await worker.batch(records);
          last = performance.now();
          batchMs.push(last - t);
          if (process.env['TESSERA_BENCH_VERBOSE'])
            process.stderr.write(`batch ${records.length} in ${(last - t).toFixed(1)} ms\n`);
        },
      },
      ac.signal,
    );
  } finally {
    await kafka.close();
    await store.close();
  }
  const q = (xs: number[], p: number) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      p,
    );
  process.stdout.write(
    `${JSON.stringify({
      ...worker.counters,
      batchP50: q(batchMs, 0.5),
      batchP99: q(batchMs, 0.99),
      batchMax: q(batchMs, 1),
      gapP50: q(gapMs, 0.5),
    })}\n`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Child: the load

async function loadRole(repo: StreamBenchRepo): Promise<void> {
  const rate = Number(args.rate);
  const tickMs = Number(args.tick);
  const totalMs = (Number(args.warmup) + Number(args.seconds)) * 1000;
  const producer = newProducer(repo.brokers, `tessera-bench-load-${process.pid}`);
  const rnd = prng(process.pid);
  let sent = 0;
  const sendMs: number[] = [];
  // Connect before the clock starts, then tell the main process (its measured window starts from this line).
  await producer.send({
    messages: [{ topic: repo.topic, key: '1', value: orderJson(1, Date.now(), rnd) }],
    acks: ProduceAcks.ALL,
  });
  process.stdout.write('ready\n');
  const t0 = performance.now();
  try {
    for (let tick = 1; ; tick++) {
      const elapsed = performance.now() - t0;
      if (elapsed >= totalMs) break;
      const due = Math.floor((Math.min(elapsed, totalMs) * rate) / 1000) - sent;
      if (due > 0) {
        const now = Date.now();
        const messages = [];
        for (let i = 0; i < due; i++) {
          const user = 1 + Math.floor(rnd() * LOAD_ENTITIES);
          messages.push({ topic: repo.topic, key: String(user), value: orderJson(user, now, rnd) });
        }
        const t = performance.now();
        await producer.send({ messages, acks: ProduceAcks.ALL });
        sendMs.push(performance.now() - t);
        sent += due;
      }
      const next = t0 + tick * tickMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
  } finally {
    await producer.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const sorted = sendMs.sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({ sent, seconds, sends: sorted.length, sendP50: percentile(sorted, 0.5), sendP99: percentile(sorted, 0.99) })}\n`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Main: markers, reader, and the two children

function child(role: string, repo: StreamBenchRepo, nodeOptions: string[] = []): ChildProcess {
  const argv = process.argv.slice(2).filter((a, i, all) => a !== '--role' && all[i - 1] !== '--role');
  return spawn(
    process.execPath,
    [
      ...nodeOptions,
      '--import',
      'tsx',
      resolve(ROOT, 'bench/stream-freshness.ts'),
      ...argv,
      '--role',
      role,
      '--repo',
      JSON.stringify(repo),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

/** Collects a child's stdout and resolves with its last line, parsed, when it exits. */
function result<T>(p: ChildProcess, onReady?: () => void): Promise<T> {
  let out = '';
  p.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
    if (onReady && out.startsWith('ready\n')) {
      onReady();
      onReady = undefined;
    }
  });
  return new Promise((res, rej) =>
    p.once('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 && last === '') rej(new Error(`child exited with ${code}`));
      else res(JSON.parse(last) as T);
    }),
  );
}

/** User + system CPU seconds of a process, from /proc. */
function procCpu(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

interface FreshnessResult {
  markers: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  unresolved: number;
  loadSent: number;
  loadPerSec: number;
  committedPerSec: number;
  sendP50: number;
  sendP99: number;
  markerSendP50: number;
  batches: number;
  meanBatch: number;
  /** Time in the worker's batch() per batch, p50/p99/max, and the p50 gap between batches, ms. */
  batchMs: { p50: number; p99: number; max: number; gapP50: number };
  cpu: { worker: number; load: number; main: number; redis: number; kafka: number | null };
  load: number[];
}

async function runOnce(): Promise<FreshnessResult> {
  const repo = await makeStreamRepo({ name: 'fresh', partitions: 4, lateness: '1h' });
  const redis = new Redis(repo.redisUrl);
  const store = await FeatureStore.open(repo.dir);
  const producer = newProducer(repo.brokers, `tessera-bench-markers-${process.pid}`);
  const workerOptions = args['worker-node-options'].split(' ').filter((o) => o !== '');
  const worker = child('worker', repo, workerOptions);
  const workerDone = result<{
    events: number;
    batches: number;
    batchP50: number;
    batchP99: number;
    batchMax: number;
    gapP50: number;
  }>(worker);
  let load: ChildProcess | undefined;
  try {
    await store.refresh();
    const rnd = prng(42);
    const committed = async () =>
      [...(await store.online.readCheckpoints(repo.group)).values()].reduce((t, c) => t + c.next, 0);
    // The worker is ready once it has committed a first event (group joined, partitions assigned).
    await producer.send({
      messages: [{ topic: repo.topic, key: '1', value: orderJson(1, Date.now(), rnd) }],
      acks: ProduceAcks.ALL,
    });
    const until = Date.now() + 60_000;
    while ((await committed()) === 0) {
      if (Date.now() > until) throw new Error('the worker did not start');
      await sleep(50);
    }

    load = child('load', repo);
    let loadReady: () => void = () => undefined;
    const ready = new Promise<void>((r) => {
      loadReady = r;
    });
    const loadDone = result<{ sent: number; seconds: number; sendP50: number; sendP99: number }>(load, () =>
      loadReady(),
    );
    await Promise.race([ready, loadDone]);
    const warmupMs = Number(args.warmup) * 1000;
    const measureMs = Number(args.seconds) * 1000;
    const markerEveryMs = 1000 / Number(args.markers);
    const pollMs = Number(args.poll);
    const t0 = performance.now();

    // Markers in flight per probe: the count that shows each, and when it was sent.
    const counts = new Array<number>(PROBES).fill(0);
    const inFlight = new Map<number, { count: number; sentAt: number; measured: boolean }[]>();
    const freshness: number[] = [];
    const markerSends: number[] = [];
    let sending = true;
    let measureStart = 0;
    let committedAtStart = 0;
    let cpuAtStart = { worker: 0, load: 0, main: 0 };
    let servicesAtStart = { redis: 0, kafka: null as number | null };
    let loadAtStart = 0;

    const markerLoop = (async () => {
      for (let k = 0; sending; k++) {
        const due = t0 + k * markerEveryMs;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        if (!sending) break;
        const probe = k % PROBES;
        const id = PROBE_BASE + probe;
        counts[probe] = (counts[probe] as number) + 1;
        const sentAt = performance.now();
        const list = inFlight.get(probe) ?? [];
        list.push({ count: counts[probe] as number, sentAt, measured: sentAt - t0 >= warmupMs });
        inFlight.set(probe, list);
        await producer.send({
          messages: [{ topic: repo.topic, key: String(id), value: orderJson(id, Date.now(), rnd) }],
          acks: ProduceAcks.ALL,
        });
        markerSends.push(performance.now() - sentAt);
      }
    })();

    let reading = true;
    const readerLoop = (async () => {
      while (reading) {
        const probes = [...inFlight].filter(([, l]) => l.length > 0).map(([p]) => p);
        if (probes.length > 0) {
          const res = await store.getOnlineFeatures({
            features: ['user_orders:orders_10m'],
            entities: probes.map((p) => ({ user_id: PROBE_BASE + p })),
          });
          const seenAt = performance.now();
          probes.forEach((p, i) => {
            const seen = Number(res.rows[i]?.['orders_10m'] ?? 0);
            const list = inFlight.get(p) ?? [];
            while (list.length > 0 && (list[0]?.count as number) <= seen) {
              const m = list.shift() as { count: number; sentAt: number; measured: boolean };
              if (m.measured) freshness.push(seenAt - m.sentAt);
            }
          });
        }
        await sleep(pollMs);
      }
    })();

    // Start of the measured window: after the warm-up.
    await sleep(warmupMs);
    measureStart = performance.now();
    committedAtStart = await committed();
    cpuAtStart = { worker: procCpu(worker.pid), load: procCpu(load.pid), main: cpuSec() };
    servicesAtStart = await serviceCpu(redis);
    loadAtStart = loadavg()[0] as number;
    await sleep(measureMs);
    sending = false;
    const measureEnd = performance.now();
    const committedAtEnd = await committed();
    const cpuAtEnd = { worker: procCpu(worker.pid), load: procCpu(load.pid), main: cpuSec() };
    const servicesAtEnd = await serviceCpu(redis);
    const loadAtEnd = loadavg()[0] as number;
    await markerLoop;
    // Let the last markers arrive (a worker that fell behind gets up to 20 s).
    const drainUntil = performance.now() + 20_000;
    while ([...inFlight.values()].some((l) => l.length > 0) && performance.now() < drainUntil)
      await sleep(20);
    reading = false;
    await readerLoop;
    const unresolved = [...inFlight.values()].reduce((t, l) => t + l.filter((m) => m.measured).length, 0);
    const loadResult = await loadDone;
    worker.kill('SIGTERM');
    const counters = await workerDone;
    const sorted = [...freshness].sort((a, b) => a - b);
    const windowSec = (measureEnd - measureStart) / 1000;
    return {
      markers: sorted.length,
      p50: percentile(sorted, 0.5),
      p90: percentile(sorted, 0.9),
      p99: percentile(sorted, 0.99),
      max: sorted[sorted.length - 1] ?? Number.NaN,
      unresolved,
      loadSent: loadResult.sent,
      loadPerSec: loadResult.sent / loadResult.seconds,
      committedPerSec: (committedAtEnd - committedAtStart) / windowSec,
      sendP50: loadResult.sendP50,
      sendP99: loadResult.sendP99,
      markerSendP50: median(markerSends),
      batches: counters.batches,
      meanBatch: counters.events / Math.max(1, counters.batches),
      batchMs: {
        p50: counters.batchP50,
        p99: counters.batchP99,
        max: counters.batchMax,
        gapP50: counters.gapP50,
      },
      cpu: {
        worker: (cpuAtEnd.worker - cpuAtStart.worker) / windowSec,
        load: (cpuAtEnd.load - cpuAtStart.load) / windowSec,
        main: (cpuAtEnd.main - cpuAtStart.main) / windowSec,
        redis: (servicesAtEnd.redis - servicesAtStart.redis) / windowSec,
        kafka:
          servicesAtEnd.kafka === null || servicesAtStart.kafka === null
            ? null
            : (servicesAtEnd.kafka - servicesAtStart.kafka) / windowSec,
      },
      load: [loadAtStart, loadAtEnd],
    };
  } finally {
    if (worker.exitCode === null) worker.kill('SIGTERM');
    if (load && load.exitCode === null) load.kill('SIGTERM');
    await producer.close();
    await store.close();
    await redis.quit();
    await dropStreamRepo(repo);
  }
}

const cpuSec = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};
const ms = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  process.stdout.write(
    `stream freshness: ${args.rate} events/s in sends every ${args.tick} ms, ${args.markers} markers/s, poll ${args.poll} ms, ` +
      `${args.seconds} s (+${args.warmup} s warm-up); worker: batch ${args['batch-size']}, linger ${args.linger} ms, ` +
      `fetch maxWait ${args['max-wait']} ms, lake ${args.lake ? 'on' : 'off'}${args['worker-node-options'] ? `, node ${args['worker-node-options']}` : ''}\n`,
  );
  const results: FreshnessResult[] = [];
  for (let r = 0; r < Number(args.runs); r++) {
    const x = await runOnce();
    results.push(x);
    process.stdout.write(
      `run ${r + 1}: freshness p50 ${ms(x.p50)} / p90 ${ms(x.p90)} / p99 ${ms(x.p99)} / max ${ms(x.max)} ms over ${x.markers} markers` +
        `${x.unresolved > 0 ? ` (${x.unresolved} never seen)` : ''}; load sent ${Math.round(x.loadPerSec)}/s ` +
        `(send p50 ${ms(x.sendP50)} ms, p99 ${ms(x.sendP99)} ms), worker committed ${Math.round(x.committedPerSec)}/s ` +
        `in ${x.batches} batches of ${Math.round(x.meanBatch)} (batch() p50 ${ms(x.batchMs.p50)} / p99 ${ms(x.batchMs.p99)} / ` +
        `max ${ms(x.batchMs.max)} ms, gap p50 ${ms(x.batchMs.gapP50)} ms); cpu cores: worker ${x.cpu.worker.toFixed(2)}, ` +
        `load ${x.cpu.load.toFixed(2)}, reader+markers ${x.cpu.main.toFixed(2)}, redis ${x.cpu.redis.toFixed(2)}, ` +
        `kafka ${x.cpu.kafka?.toFixed(2) ?? '?'}; load avg ${x.load.map((l) => l.toFixed(1)).join('→')}\n`,
    );
  }
  const m = (f: (r: FreshnessResult) => number) => median(results.map(f));
  process.stdout.write(
    `median of ${results.length}: p50 ${ms(m((r) => r.p50))} / p99 ${ms(m((r) => r.p99))} / max ${ms(m((r) => r.max))} ms; ` +
      `load ${Math.round(m((r) => r.loadPerSec))}/s, committed ${Math.round(m((r) => r.committedPerSec))}/s, ` +
      `mean batch ${Math.round(m((r) => r.meanBatch))}\n`,
  );
  if (args.json) process.stdout.write(`${JSON.stringify(results)}\n`);
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  if (args.role === 'worker') await workerRole(JSON.parse(args.repo as string) as StreamBenchRepo);
  else if (args.role === 'load') await loadRole(JSON.parse(args.repo as string) as StreamBenchRepo);
  else await main();
}
