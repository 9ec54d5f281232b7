/**
 * The stream engine against a real Kafka broker (started by scripts/services.sh), as separate OS processes
 * (`tessera stream`): killed with SIGKILL at random moments at least 10 times while events keep arriving, then
 * restarted until it has consumed the topic. Afterwards every entity's online values must equal the offline
 * recomputation over the lake the engine wrote, which must hold each accepted event exactly once; each malformed
 * event must be in the dead letters exactly once.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  Admin,
  compatibilityPartitioner,
  ListOffsetTimestamps,
  ProduceAcks,
  Producer,
  stringSerializers,
} from '@platformatic/kafka';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FeatureStore } from '../../src/feature-store.js';
import { sameAggregate } from '../helpers/aggregation-reference.js';
import { prng } from '../helpers/prng.js';
import { kafkaBrokers, redisUrl } from '../helpers/services.js';

const ROOT = resolve(import.meta.dirname, '../..');
const brokers = kafkaBrokers();
const run = randomUUID().slice(0, 8);
const topic = `tessera-clicks-${run}`;
const keyPrefix = `tsr_kafka_${run}`;
const PARTITIONS = 4;
const USERS = 60;
let dir: string;
const admin = new Admin({ clientId: `tessera-test-${run}`, bootstrapBrokers: brokers });
const producer = new Producer({
  clientId: `tessera-test-${run}`,
  bootstrapBrokers: brokers,
  serializers: stringSerializers,
  partitioner: compatibilityPartitioner,
  idempotent: true,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-kafka-'));
  writeFileSync(
    join(dir, 'tessera.yaml'),
    [
      'project: clicks',
      'definitions: [features.yaml]',
      `online_store: { type: redis, url: "${redisUrl()}", key_prefix: ${keyPrefix} }`,
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
  - name: clicks
    type: parquet
    path: lake/clicks
    timestamp_field: ts
    stream: { type: kafka, topic: ${topic}, connection: events }
aggregation_views:
  - name: user_clicks
    entities: [user]
    source: clicks
    where: [{ column: kind, op: ne, value: bot }]
    allowed_lateness: 1h
    aggregations:
      clicks: { fn: count, windows: [10m, 1h, 1d] }
      spend: { fn: sum, column: amount, type: float64, windows: [1h, 1d] }
      top: { fn: max, column: amount, type: float64, windows: [1d] }
      recent: { fn: last_k, column: item, type: string, k: 3, windows: [1h] }
      items: { fn: count_distinct, column: item, type: string, windows: [1d] }
`,
  );
  await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  for (let i = 0; i < 50; i++) {
    const md = await admin.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    if (t && t.partitionsCount === PARTITIONS) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const store = await FeatureStore.open(dir);
  await store.apply();
  await store.close();
});

afterAll(async () => {
  await producer.close();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.close();
  const redis = new Redis(redisUrl());
  const keys = await redis.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await redis.unlink(...keys);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

const rnd = prng(4242);
let produced = 0;
let malformed = 0;

/** Sends `n` click events over the last 50 minutes, keyed by user, plus a malformed record now and then. */
async function produce(n: number): Promise<void> {
  const messages = [];
  for (let i = 0; i < n; i++) {
    const user = 1 + Math.floor(rnd() * USERS);
    const bad = produced % 211 === 7;
    if (bad) malformed++;
    const value = bad
      ? '{"user_id": 1, "ts": "yesterday-ish"}'
      : JSON.stringify({
          user_id: user,
          ts: new Date(Date.now() - Math.floor(rnd() * 50 * 60_000)).toISOString(),
          amount: Math.round(rnd() * 10_000) / 100,
          item: `i${Math.floor(rnd() * 40)}`,
          kind: rnd() < 0.1 ? 'bot' : 'human',
        });
    produced++;
    messages.push({ topic, key: String(user), value });
  }
  for (let i = 0; i < messages.length; i += 500) {
    await producer.send({ messages: messages.slice(i, i + 500), acks: ProduceAcks.ALL });
  }
}

function startWorker(): ChildProcess {
  return spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/cli/run.ts'),
      '--repo',
      dir,
      'stream',
      '--source',
      'clicks',
      '--instance',
      'w1',
      '--batch-size',
      '300',
      '--json',
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('tessera stream on Kafka', () => {
  it('survives 10+ kill -9 at random moments: online = offline recomputation, lake and dead letters exact', async () => {
    await produce(3000);
    const probe = await FeatureStore.open(dir);
    const progress = async () =>
      [...(await probe.online.readCheckpoints('clicks.clicks')).values()].reduce((t, c) => t + c.next, 0);
    let kills = 0;
    let killedMidStream = 0;
    // The stream keeps flowing while workers die: a producer sends 100 events every 100 ms meanwhile.
    let producing = true;
    const background = (async () => {
      while (producing) {
        await produce(100);
        await sleep(100);
      }
    })();
    try {
      while (kills < 12) {
        const before = await progress();
        const worker = startWorker();
        // Kill once the worker is consuming (its checkpoint moved), at a random moment after that.
        const until = Date.now() + 30_000;
        while ((await progress()) === before && Date.now() < until) await sleep(50);
        await sleep(Math.floor(rnd() * 700));
        worker.kill('SIGKILL');
        await new Promise((r) => worker.once('exit', r));
        kills++;
        if ((await progress()) > before) killedMidStream++;
      }
    } finally {
      producing = false;
      await background;
      await probe.close();
    }
    // The kills landed while workers were consuming, not before they started.
    expect(killedMidStream).toBeGreaterThanOrEqual(10);
    // Last run: until every partition's checkpoint reaches the end of the topic.
    const worker = startWorker();
    let stderr = '';
    worker.stderr?.on('data', (d) => {
      stderr += String(d);
    });
    const [offsets] = await admin.listOffsets({
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: PARTITIONS }, (_, partitionIndex) => ({
            partitionIndex,
            timestamp: ListOffsetTimestamps.LATEST,
          })),
        },
      ],
    });
    const ends = new Map(
      (offsets?.partitions ?? []).map((p) => [`${topic}/${p.partitionIndex}`, Number(p.offset)]),
    );
    const store = await FeatureStore.open(dir);
    try {
      const deadline = Date.now() + 120_000;
      for (;;) {
        const checkpoints = await store.online.readCheckpoints('clicks.clicks');
        if ([...ends].every(([p, end]) => (checkpoints.get(p)?.next ?? 0) === end)) break;
        if (Date.now() > deadline)
          throw new Error(`worker did not catch up: ${JSON.stringify([...checkpoints])}\n${stderr}`);
        await sleep(300);
      }
      worker.kill('SIGTERM');
      await new Promise((r) => worker.once('exit', r));
      expect(kills).toBeGreaterThanOrEqual(10);

      // Dead letters: each malformed record once.
      const deadDir = join(dir, 'dead-letters', 'clicks');
      const dead = existsSync(deadDir)
        ? readdirSync(deadDir).flatMap((f) =>
            readFileSync(join(deadDir, f), 'utf8')
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as { partition: string; offset: number }),
          )
        : [];
      expect(new Set(dead.map((d) => `${d.partition}@${d.offset}`)).size).toBe(dead.length);
      expect(dead.length).toBe(malformed);

      // The lake: every accepted event exactly once (nothing was late: lateness 1h > the 50 min spread).
      const lake = await store.getHistoricalFeatures({
        spine: {
          kind: 'sql',
          query: `SELECT user_id, ts AS event_timestamp FROM read_parquet('${dir}/lake/clicks/**/*.parquet', hive_partitioning = true)`,
        },
        features: ['user_clicks:clicks_10m'],
      });
      expect(lake.rowCount).toBe(produced - malformed);
      await lake.close();

      // Online values = the offline recomputation over the same events, for every entity.
      const now = new Date();
      const users = Array.from({ length: USERS }, (_, i) => ({ user_id: i + 1 }));
      const online = await store.getOnlineFeatures({ features: ['user_clicks:*'], entities: users, now });
      const training = await store.getHistoricalFeatures({
        spine: { kind: 'rows', rows: users.map((u) => ({ ...u, event_timestamp: now })) },
        features: ['user_clicks:*'],
      });
      const offline = await training.rows();
      await training.close();
      let mismatches = 0;
      const names = online.featureNames.filter((n) => n !== 'user_id');
      users.forEach((_, i) => {
        for (const n of names) {
          const want = offline[i]?.[n];
          if (!sameAggregate(typeof want === 'bigint' ? Number(want) : want, online.rows[i]?.[n]))
            mismatches++;
        }
      });
      expect(mismatches).toBe(0);

      // The same check as users run it: `tessera verify-consistency` requires 100%.
      const verify = spawnSync(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), '--repo', dir, 'verify-consistency', '--json'],
        { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
      );
      expect(verify.status, verify.stderr).toBe(0);
      const report = JSON.parse(verify.stdout) as {
        score: number;
        compared: number;
        views: { entities: number }[];
      };
      expect(report.score).toBe(1);
      expect(report.views[0]?.entities).toBe(USERS);
      expect(report.compared).toBe(USERS * 8); // 8 features: clicks × 3 windows, spend × 2, top, recent, items
      expect(online.rows.reduce((t, r) => t + (r['clicks_1d'] as number), 0)).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  }, 300_000);
});
