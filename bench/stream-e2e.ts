/**
 * Stream engine benchmark, end to end: Kafka → one worker → Redis tiles (docs/benchmarks.md, "Stream engine").
 *
 *   source $(bash scripts/services.sh start redis kafka)
 *   node --import tsx bench/stream-e2e.ts [--events 1000000] [--entities 100000] [--batch-sizes 500,2000,5000]
 *        [--runs 3] [--mode store|worker|source] [--lake] [--linger 50] [--profile] [--compare <checkout>] [--json]
 *
 * Setup, per run (so runs are independent): a fresh feature repo (Redis online store under its own key prefix,
 * a `kafka://` connection) whose `orders` source streams from a fresh 4-partition topic; one online aggregation
 * view with count, sum(amount), max(amount) and count_distinct(item), each over 10m, 1h and 1d (hops 30s, 5m,
 * 1h: every event touches 3 tiles). --events JSON records (as in tests/integration/stream-kafka.test.ts: ISO
 * event time, keyed by entity, idempotent producer with the compatibility partitioner), over --entities
 * entities at random, with event times at random within the last hour, are produced before the clock starts.
 *
 * Timed: one worker in this process, from the call that starts it until its checkpoints (polled every 50 ms
 * with `readCheckpoints`) reach the topic's end offsets. Ways to run it:
 *   - `--mode store` (default): `FeatureStore.stream()`, exactly what `tessera stream` runs: StreamWorker +
 *     KafkaSource, with the Parquet lake append of accepted events.
 *   - `--mode worker`: StreamWorker + KafkaSource built here, without the lake unless --lake, with --linger;
 *     it also times each batch's parts (readTiles, writeTiles, the rest of `batch()`, and the wait for records).
 *   - `--mode source`: KafkaSource alone with a handler that only notes offsets: what consuming costs before
 *     the worker does anything (the floor of this process's CPU per event).
 *   - `--compare <checkout>`: worker mode, alternating run by run between this checkout's StreamWorker and
 *     `<checkout>/src/stream/stream-worker.ts`, for before/after figures taken in the same minutes.
 * `events/s` counts from the start (group join included); `steady/s` from the first commit.
 *
 * CPU: this process's CPU time (process.cpuUsage), Redis's (INFO cpu) and the broker's (/proc/<pid>/stat, pid
 * from $TESSERA_SERVICES_DIR/kafka/kafka.pid) over the timed window. --profile records the timed window with
 * V8's sampling CPU profiler (the one behind `node --cpu-prof`, started through node:inspector so that setup
 * and producing are left out), writes the .cpuprofile under .bench-data/ and prints where the time goes: each
 * sample goes to the innermost frame on its stack that belongs to a known part (decode, tiles, encode, Redis,
 * Kafka, lake, …).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Admin,
  compatibilityPartitioner,
  ListOffsetTimestamps,
  ProduceAcks,
  Producer,
  stringSerializers,
} from '@platformatic/kafka';
import { Redis } from 'ioredis';
import type { AggregationSelection } from '../src/definitions/resolve.js';
import { resolveFeatures } from '../src/definitions/resolve.js';
import { FeatureStore } from '../src/feature-store.js';
import type { OnlineStore } from '../src/online/online-store.js';
import { KafkaSource } from '../src/stream/kafka/kafka-source.js';
import { StreamWorker } from '../src/stream/stream-worker.js';
import { prng } from '../tests/helpers/prng.js';
import { median } from './bench-repo.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '')
    throw new Error(`${name} is not set: source $(bash scripts/services.sh start redis kafka) first`);
  return v;
}

/** A throwaway repo streaming `orders` from its own topic: the view of the benchmark (3 windows × 4 functions). */
export interface StreamBenchRepo {
  readonly dir: string;
  readonly topic: string;
  readonly keyPrefix: string;
  readonly group: string;
  readonly partitions: number;
  readonly redisUrl: string;
  readonly brokers: string[];
}

export async function makeStreamRepo(opts: {
  name: string;
  partitions: number;
  /** Allowed lateness of the view (events up to this far behind the watermark are aggregated). */
  lateness: string;
}): Promise<StreamBenchRepo> {
  const redisUrl = requireEnv('TESSERA_TEST_REDIS_URL');
  const brokers = requireEnv('TESSERA_TEST_KAFKA_BROKERS').split(',');
  const id = randomUUID().slice(0, 8);
  const dir = mkdtempSync(join(tmpdir(), `tessera-${opts.name}-`));
  const topic = `tessera-bench-${opts.name}-${id}`;
  const keyPrefix = `tsr_bench_${opts.name}_${id}`;
  writeFileSync(
    join(dir, 'tessera.yaml'),
    [
      'project: bench',
      'definitions: [features.yaml]',
      `online_store: { type: redis, url: "${redisUrl}", key_prefix: ${keyPrefix} }`,
      `connections: { events: { url: "kafka://${brokers.join(',')}" } }`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'features.yaml'),
    `entities:
  - name: user
    join_keys: { user_id: int64 }
sources:
  - name: orders
    type: parquet
    path: lake/orders
    timestamp_field: ts
    stream: { type: kafka, topic: ${topic}, connection: events }
aggregation_views:
  - name: user_orders
    entities: [user]
    source: orders
    allowed_lateness: ${opts.lateness}
    aggregations:
      orders: { fn: count, windows: [10m, 1h, 1d] }
      spend: { fn: sum, column: amount, type: float64, windows: [10m, 1h, 1d] }
      top: { fn: max, column: amount, type: float64, windows: [10m, 1h, 1d] }
      items: { fn: count_distinct, column: item, type: string, windows: [10m, 1h, 1d] }
`,
  );
  const admin = new Admin({ clientId: `tessera-bench-${id}`, bootstrapBrokers: brokers });
  try {
    await admin.createTopics({ topics: [topic], partitions: opts.partitions, replicas: 1 });
    for (let i = 0; i < 50; i++) {
      const md = await admin.metadata({ topics: [topic], forceUpdate: true });
      if (md.topics.get(topic)?.partitionsCount === opts.partitions) break;
      await sleep(100);
    }
  } finally {
    await admin.close();
  }
  const store = await FeatureStore.open(dir);
  try {
    await store.apply();
  } finally {
    await store.close();
  }
  return {
    dir,
    topic,
    keyPrefix,
    group: `bench.orders.${id}`,
    partitions: opts.partitions,
    redisUrl,
    brokers,
  };
}

/** Deletes the repo's topic, its Redis keys and its folder. */
export async function dropStreamRepo(repo: StreamBenchRepo): Promise<void> {
  const admin = new Admin({ clientId: 'tessera-bench-drop', bootstrapBrokers: repo.brokers });
  await admin.deleteTopics({ topics: [repo.topic] }).catch(() => undefined);
  await admin.close();
  const redis = new Redis(repo.redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${repo.keyPrefix}:*`, 'COUNT', 5000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
  rmSync(repo.dir, { recursive: true, force: true });
}

export function newProducer(brokers: string[], clientId: string) {
  return new Producer({
    clientId,
    bootstrapBrokers: brokers,
    serializers: stringSerializers,
    partitioner: compatibilityPartitioner,
    idempotent: true,
  });
}

/** One order event as JSON text, as a client would send it. */
export function orderJson(user: number, ts: number, rnd: () => number): string {
  return JSON.stringify({
    user_id: user,
    ts: new Date(ts).toISOString(),
    amount: Math.round(rnd() * 10_000) / 100,
    item: `i${Math.floor(rnd() * 1000)}`,
  });
}

/** End offset of every partition of the topic, by partition id as the worker names them (`topic/3`). */
export async function endOffsets(repo: StreamBenchRepo): Promise<Map<string, number>> {
  const admin = new Admin({ clientId: 'tessera-bench-offsets', bootstrapBrokers: repo.brokers });
  try {
    const [offsets] = await admin.listOffsets({
      topics: [
        {
          name: repo.topic,
          partitions: Array.from({ length: repo.partitions }, (_, partitionIndex) => ({
            partitionIndex,
            timestamp: ListOffsetTimestamps.LATEST,
          })),
        },
      ],
    });
    return new Map(
      (offsets?.partitions ?? []).map((p) => [`${repo.topic}/${p.partitionIndex}`, Number(p.offset)]),
    );
  } finally {
    await admin.close();
  }
}

/** The StreamWorker that `FeatureStore.stream` would build for the repo's `orders` source. */
export function buildWorker(
  store: FeatureStore,
  repo: StreamBenchRepo,
  opts: { online?: OnlineStore; lake: boolean; Worker?: typeof StreamWorker },
): StreamWorker {
  const state = store.currentState();
  const source = state.sources.find((s) => s.name === 'orders');
  if (source === undefined) throw new Error('no orders source');
  const views = state.aggregationViews
    .filter((v) => v.source === source.name && v.online)
    .map(
      (v) => resolveFeatures(state, { features: [`${v.name}:*`] }).aggregations[0] as AggregationSelection,
    );
  const Worker = opts.Worker ?? StreamWorker;
  return new Worker({
    project: state.project,
    consumer: repo.group,
    source,
    views,
    online: opts.online ?? store.online,
    ...(opts.lake
      ? {
          lake: {
            writer: store.offline,
            repoPath: repo.dir,
            // What FeatureStore.stream derives for a lake that does not exist yet.
            columns: [
              { name: 'user_id', type: 'BIGINT' },
              { name: 'ts', type: 'TIMESTAMPTZ' },
              { name: 'amount', type: 'DOUBLE' },
              { name: 'item', type: 'VARCHAR' },
            ],
          },
        }
      : {}),
    stagingDir: join(repo.dir, '.tessera', 'stream', 'bench'),
    deadLetterDir: join(repo.dir, 'dead-letters', 'orders'),
  });
}

/**
 * CPU seconds of Redis (INFO cpu) and of the Kafka broker (/proc), and Redis's own time in the commands the
 * worker sends (INFO commandstats: EVALSHA is the checkpointed tile write, MGET the tile read), for the window
 * of a run.
 */
export async function serviceCpu(
  redis: Redis,
): Promise<{ redis: number; kafka: number | null; evalsha: number; mget: number }> {
  const info = `${await redis.info('cpu')}\n${await redis.info('commandstats')}`;
  const num = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  const usec = (cmd: string) =>
    Number(new RegExp(`cmdstat_${cmd}:calls=\\d+,usec=(\\d+)`).exec(info)?.[1] ?? 0) / 1e6;
  let kafka: number | null = null;
  const pidFile = join(process.env['TESSERA_SERVICES_DIR'] ?? '/tmp/tessera-services', 'kafka', 'kafka.pid');
  if (existsSync(pidFile)) {
    try {
      const stat = readFileSync(`/proc/${readFileSync(pidFile, 'utf8').trim()}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      kafka = (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (100 Hz)
    } catch {
      kafka = null;
    }
  }
  return {
    redis: num('used_cpu_user') + num('used_cpu_sys'),
    kafka,
    evalsha: usec('evalsha'),
    mget: usec('mget'),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// CPU profile summary

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The part of the engine a stack frame belongs to, or undefined when its caller decides. */
function partOf(f: ProfileNode['callFrame']): string | undefined {
  const { functionName: fn, url } = f;
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'V8/native (program)';
  if (fn === 'decodeEvent') return 'decode records (JSON.parse + checks)';
  // Plain-data conversion of states belongs to the encode or decode of the tile around it.
  if (/^(toPlain|fromPlain|tileToPlain|tileFromPlain)$/.test(fn)) return undefined;
  if (fn === 'encodeTile') return 'encode tiles (msgpack)';
  if (fn === 'decodeTile') return 'decode stored tiles';
  if (fn === 'encodeEntityKey') return 'worker: entity keys';
  if (url.includes('/src/aggregation/')) return 'fold into tiles (aggregators)';
  if (url.includes('@platformatic/kafka')) return 'Kafka fetch + record parsing (@platformatic/kafka)';
  if (/ioredis|redis-parser|denque|standard-as-callback|cluster-key-slot|redis-online-store/.test(url))
    return 'Redis client + commit args (ioredis, store)';
  if (/duckdb|\/src\/offline\/|staged-files/.test(url)) return 'lake (Parquet via DuckDB), staged files';
  if (url.includes('stream-worker')) {
    return fn.includes('applyToTiles') ? 'worker: tile cache, touches, dirty set' : 'worker: batch loop';
  }
  if (url.includes('kafka-source')) return 'Kafka source (buffering, linger)';
  if (url.includes('/bench/')) return 'bench harness (checkpoint polling)';
  return undefined;
}

/** Milliseconds per part, attributing each sample to the innermost frame of its stack with a known part. */
export function summarizeProfile(profile: CpuProfile): { part: string; ms: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const partOfNode = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let part: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined && part === undefined; cur = parent.get(cur)) {
      part = partOf((byId.get(cur) as ProfileNode).callFrame);
    }
    const out = part ?? 'other (Node runtime, timers, streams)';
    memo.set(id, out);
    return out;
  };
  const ms = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const part = partOfNode(id);
    ms.set(part, (ms.get(part) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...ms].map(([part, t]) => ({ part, ms: t })).sort((a, b) => b.ms - a.ms);
}

export function printProfile(summary: { part: string; ms: number }[], label: string): void {
  const busy = summary.filter((s) => s.part !== 'idle').reduce((t, s) => t + s.ms, 0);
  process.stdout.write(`\ncpu profile ${label}: ${(busy / 1000).toFixed(2)} s on CPU (idle excluded)\n`);
  for (const s of summary) {
    const pct = s.part === 'idle' ? '' : `${((100 * s.ms) / busy).toFixed(1)}%`;
    process.stdout.write(`  ${s.part.padEnd(52)} ${(s.ms / 1000).toFixed(2).padStart(7)} s  ${pct}\n`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The benchmark

type Mode = 'store' | 'worker' | 'source';

interface RunResult {
  mode: Mode;
  /** `current`, or `compare` for the --compare checkout's worker. */
  label: string;
  batchSize: number;
  events: number;
  seconds: number;
  eventsPerSec: number;
  steadyPerSec: number;
  firstCommitSec: number;
  batches: number;
  meanBatch: number;
  /** CPU seconds over the timed window; evalsha/mget: Redis's own time in those commands. */
  cpu: { node: number; redis: number; kafka: number | null; evalsha: number; mget: number };
  load: number[];
  /** --mode worker: seconds in each part of the batches, summed. */
  parts?: { readTiles: number; writeTiles: number; restOfBatch: number; waitForRecords: number };
  profile?: { part: string; ms: number }[];
}

async function produceAll(repo: StreamBenchRepo, events: number, entities: number, seed: number) {
  const producer = newProducer(repo.brokers, `tessera-bench-${repo.topic}`);
  const rnd = prng(seed);
  const now = Date.now();
  const started = performance.now();
  const CHUNK = 5000;
  try {
    for (let i = 0; i < events; i += CHUNK) {
      const messages = [];
      for (let j = i; j < Math.min(events, i + CHUNK); j++) {
        const user = 1 + Math.floor(rnd() * entities);
        messages.push({
          topic: repo.topic,
          key: String(user),
          value: orderJson(user, now - Math.floor(rnd() * 3_600_000), rnd),
        });
      }
      await producer.send({ messages, acks: ProduceAcks.ALL });
    }
  } finally {
    await producer.close();
  }
  return (performance.now() - started) / 1000;
}

/** The online store with readTiles and writeTiles timed into `parts`. */
function timedStore(online: OnlineStore, parts: { readTiles: number; writeTiles: number }): OnlineStore {
  const readTiles: OnlineStore['readTiles'] = async (requests) => {
    const t = performance.now();
    try {
      return await online.readTiles(requests);
    } finally {
      parts.readTiles += (performance.now() - t) / 1000;
    }
  };
  const writeTiles: OnlineStore['writeTiles'] = async (batches, commit) => {
    const t = performance.now();
    try {
      return await online.writeTiles(batches, commit);
    } finally {
      parts.writeTiles += (performance.now() - t) / 1000;
    }
  };
  // A proxy, not Object.create: the store's methods use private fields of the real instance.
  return new Proxy(online, {
    get(target, prop) {
      if (prop === 'readTiles') return readTiles;
      if (prop === 'writeTiles') return writeTiles;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

async function runOnce(opts: {
  mode: Mode;
  lake: boolean;
  lingerMs: number;
  batchSize: number;
  events: number;
  entities: number;
  partitions: number;
  profile: boolean;
  seed: number;
  /** --mode worker: the StreamWorker class to run (another checkout's, for before/after). */
  Worker?: typeof StreamWorker;
  label: string;
}): Promise<RunResult> {
  const repo = await makeStreamRepo({ name: 'e2e', partitions: opts.partitions, lateness: '2h' });
  const redis = new Redis(repo.redisUrl);
  const session = opts.profile ? new Session() : undefined;
  try {
    const produceSec = await produceAll(repo, opts.events, opts.entities, opts.seed);
    const ends = await endOffsets(repo);
    const total = [...ends.values()].reduce((a, b) => a + b, 0);
    process.stderr.write(`  produced ${total} events in ${produceSec.toFixed(1)} s; consuming…\n`);
    const store = await FeatureStore.open(repo.dir);
    await store.refresh();
    const parts = { readTiles: 0, writeTiles: 0, restOfBatch: 0, waitForRecords: 0 };
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
    }
    const ac = new AbortController();
    // --mode source: where each partition got to (next offset), without a worker or a store.
    const reached = new Map<string, number>();
    const cpuBefore = await serviceCpu(redis);
    const loadBefore = loadavg()[0] as number;
    await session?.post('Profiler.start');
    const nodeBefore = process.cpuUsage();
    const t0 = performance.now();
    let counters: Promise<{ events: number; batches: number }>;
    if (opts.mode === 'store') {
      counters = store.stream({
        source: 'orders',
        signal: ac.signal,
        batchSize: opts.batchSize,
        groupId: repo.group,
      });
    } else {
      const worker = buildWorker(store, repo, {
        online: timedStore(store.online, parts),
        lake: opts.lake,
        ...(opts.Worker ? { Worker: opts.Worker } : {}),
      });
      const kafka = new KafkaSource({
        brokers: repo.brokers,
        topic: repo.topic,
        groupId: repo.group,
        batchSize: opts.batchSize,
        lingerMs: opts.lingerMs,
      });
      const own = { events: 0, batches: 0 };
      let inBatch = 0;
      let lastBatchEnd = t0;
      counters = (async () => {
        try {
          await kafka.consume(
            opts.mode === 'source'
              ? {
                  assigned: async (ps) => new Map(ps.map((p) => [p, null])),
                  revoked: async () => undefined,
                  batch: async (records) => {
                    for (const r of records) reached.set(r.partition, r.offset + 1);
                    own.events += records.length;
                    own.batches++;
                  },
                }
              : {
                  assigned: (p) => worker.assigned(p),
                  revoked: (p) => worker.revoked(p),
                  batch: async (records) => {
                    const t = performance.now();
                    if (worker.counters.batches > 0) parts.waitForRecords += (t - lastBatchEnd) / 1000;
                    const before = parts.readTiles + parts.writeTiles;
                    await worker.batch(records);
                    lastBatchEnd = performance.now();
                    inBatch += (lastBatchEnd - t) / 1000 - (parts.readTiles + parts.writeTiles - before);
                  },
                },
            ac.signal,
          );
        } finally {
          await kafka.close();
        }
        parts.restOfBatch = inBatch;
        return opts.mode === 'source' ? own : worker.counters;
      })();
    }
    let failed: unknown;
    counters.catch((e) => {
      failed = e;
    });
    let firstCommit: number | undefined;
    let eventsAtFirst = 0;
    for (;;) {
      if (failed !== undefined) throw failed;
      const at =
        opts.mode === 'source'
          ? reached
          : new Map([...(await store.online.readCheckpoints(repo.group))].map(([p, c]) => [p, c.next]));
      const done = [...at.values()].reduce((t, n) => t + n, 0);
      if (firstCommit === undefined && done > 0) {
        firstCommit = performance.now();
        eventsAtFirst = done;
      }
      if ([...ends].every(([p, end]) => (at.get(p) ?? 0) === end)) break;
      await sleep(opts.mode === 'source' ? 5 : 50);
    }
    const tEnd = performance.now();
    const seconds = (tEnd - t0) / 1000;
    const nodeCpu = process.cpuUsage(nodeBefore);
    const profile = session
      ? ((await session.post('Profiler.stop')) as { profile: CpuProfile }).profile
      : undefined;
    const cpuAfter = await serviceCpu(redis);
    const loadAfter = loadavg()[0] as number;
    ac.abort();
    const c = await counters;
    await store.close();
    const steadySec = (tEnd - (firstCommit as number)) / 1000;
    let summary: RunResult['profile'];
    if (profile) {
      const dir = join(ROOT, '.bench-data');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `stream-e2e-${opts.mode}-${opts.batchSize}-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      process.stderr.write(`  profile: ${file}\n`);
      summary = summarizeProfile(profile);
    }
    return {
      mode: opts.mode,
      label: opts.label,
      batchSize: opts.batchSize,
      events: total,
      seconds,
      eventsPerSec: total / seconds,
      steadyPerSec: (total - eventsAtFirst) / Math.max(steadySec, 1e-3),
      firstCommitSec: ((firstCommit as number) - t0) / 1000,
      batches: c.batches,
      meanBatch: c.events / Math.max(1, c.batches),
      cpu: {
        node: (nodeCpu.user + nodeCpu.system) / 1e6,
        redis: cpuAfter.redis - cpuBefore.redis,
        kafka: cpuAfter.kafka === null || cpuBefore.kafka === null ? null : cpuAfter.kafka - cpuBefore.kafka,
        evalsha: cpuAfter.evalsha - cpuBefore.evalsha,
        mget: cpuAfter.mget - cpuBefore.mget,
      },
      load: [loadBefore, loadAfter],
      ...(opts.mode === 'worker' ? { parts } : {}),
      ...(summary ? { profile: summary } : {}),
    };
  } finally {
    session?.disconnect();
    await redis.quit();
    await dropStreamRepo(repo);
  }
}

const fmt = (x: number, d = 1) => x.toFixed(d);

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      entities: { type: 'string', default: '100000' },
      partitions: { type: 'string', default: '4' },
      'batch-sizes': { type: 'string', default: '500,2000,5000' },
      runs: { type: 'string', default: '3' },
      mode: { type: 'string', default: 'store' },
      lake: { type: 'boolean', default: false },
      linger: { type: 'string', default: '50' },
      profile: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      /** A checkout (its src/stream/stream-worker.ts) to run alternately with this one; implies --mode worker. */
      compare: { type: 'string' },
    },
  });
  const mode: Mode =
    args.compare !== undefined
      ? 'worker'
      : args.mode === 'worker' || args.mode === 'source'
        ? args.mode
        : 'store';
  const variants: { label: string; Worker?: typeof StreamWorker }[] = [{ label: 'current' }];
  if (args.compare !== undefined) {
    const mod = (await import(pathToFileURL(resolve(args.compare, 'src/stream/stream-worker.ts')).href)) as {
      StreamWorker: typeof StreamWorker;
    };
    variants.push({ label: 'compare', Worker: mod.StreamWorker });
  }
  const sizes = args['batch-sizes'].split(',').map(Number);
  const runs = Number(args.runs);
  const results: RunResult[] = [];
  const setup =
    mode === 'store'
      ? 'FeatureStore.stream (lake on)'
      : mode === 'worker'
        ? `StreamWorker + KafkaSource, lake ${args.lake ? 'on' : 'off'}, linger ${args.linger} ms`
        : `KafkaSource alone (no worker), linger ${args.linger} ms`;
  process.stdout.write(
    `stream e2e: ${args.events} events over ${args.entities} entities, ${args.partitions} partitions; ${setup}; ` +
      `node ${process.version}, ${process.execArgv.filter((a) => a.startsWith('--max')).join(' ') || 'default heap'}\n`,
  );
  // Interleave batch sizes run by run, so every size sees the same minutes of a noisy machine.
  for (let r = 0; r < runs; r++) {
    for (const batchSize of sizes) {
      // With --compare, alternate which variant goes first.
      for (const variant of r % 2 === 0 ? variants : [...variants].reverse()) {
        process.stderr.write(`run ${r + 1}/${runs}, batch size ${batchSize} ${variant.label}\n`);
        const res = await runOnce({
          label: variant.label,
          ...(variant.Worker ? { Worker: variant.Worker } : {}),
          mode,
          lake: mode === 'store' || args.lake,
          lingerMs: Number(args.linger),
          batchSize,
          events: Number(args.events),
          entities: Number(args.entities),
          partitions: Number(args.partitions),
          profile: args.profile,
          seed: 1000 * r + batchSize,
        });
        results.push(res);
        const p = res.parts;
        const k = res.cpu.kafka;
        process.stdout.write(
          `${variants.length > 1 ? `${res.label} ` : ''}batch ${batchSize}: ${res.events} events in ${fmt(res.seconds, 2)} s = ${Math.round(res.eventsPerSec)}/s ` +
            `(steady ${Math.round(res.steadyPerSec)}/s, first commit ${fmt(res.firstCommitSec, 2)} s), ` +
            `${res.batches} batches of ${Math.round(res.meanBatch)}; cpu s: node ${fmt(res.cpu.node)}, ` +
            `redis ${fmt(res.cpu.redis)} (evalsha ${fmt(res.cpu.evalsha)}, mget ${fmt(res.cpu.mget)}), ` +
            `kafka ${k === null ? '?' : fmt(k)}; load ${res.load.map((l) => fmt(l)).join('→')}` +
            (p
              ? `; readTiles ${fmt(p.readTiles)} s, writeTiles ${fmt(p.writeTiles)} s, rest of batch ${fmt(p.restOfBatch)} s, wait ${fmt(p.waitForRecords)} s`
              : '') +
            '\n',
        );
        if (res.profile) printProfile(res.profile, `(${res.label}, batch ${batchSize})`);
      }
    }
  }
  process.stdout.write('\nmedians:\n');
  for (const { label } of variants)
    for (const batchSize of sizes) {
      const rs = results.filter((r) => r.batchSize === batchSize && r.label === label);
      const m = (f: (r: RunResult) => number) => median(rs.map(f));
      const perEvent = (f: (r: RunResult) => number) => fmt(m((r) => (f(r) / r.events) * 1e6));
      process.stdout.write(
        `  ${variants.length > 1 ? `${label.padEnd(8)}` : ''}batch ${String(batchSize).padStart(5)}: ${Math.round(m((r) => r.eventsPerSec))} events/s ` +
          `[${rs.map((r) => Math.round(r.eventsPerSec)).join(', ')}], steady ${Math.round(m((r) => r.steadyPerSec))}/s, ` +
          `mean batch ${Math.round(m((r) => r.meanBatch))}; cpu µs/event: node ${perEvent((r) => r.cpu.node)}, ` +
          `redis ${perEvent((r) => r.cpu.redis)}, kafka ${perEvent((r) => r.cpu.kafka ?? Number.NaN)}; ` +
          `load ${rs.map((r) => r.load.map((l) => fmt(l)).join('→')).join(', ')}\n`,
      );
    }
  if (args.json) process.stdout.write(`${JSON.stringify(results)}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
