/**
 * The stream engine against a real Kafka broker (started by scripts/services.sh), as separate OS processes
 * (`tessera stream`), while a producer keeps sending: (1) one worker killed with SIGKILL at random moments at
 * least 10 times; (2) two workers in one consumer group, with rebalances as the second joins and the first
 * leaves mid-stream. Each time, once the topic is consumed, every entity's online values must equal the offline
 * recomputation over the lake the engine wrote (and `tessera verify-consistency` must report 100%); the lake must
 * hold each accepted event exactly once, the dead letters each malformed one exactly once.
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
import { afterAll, describe, expect, it } from 'vitest';
import { FeatureStore } from '../../src/feature-store.js';
import { buildServer } from '../../src/server/http-server.js';
import { sameAggregate } from '../helpers/aggregation-reference.js';
import { prng } from '../helpers/prng.js';
import { kafkaBrokers, redisUrl } from '../helpers/services.js';

const ROOT = resolve(import.meta.dirname, '../..');
const brokers = kafkaBrokers();
const run = randomUUID().slice(0, 8);
const keyPrefix = `tsr_kafka_${run}`;
const PARTITIONS = 4;
const USERS = 60;
const GROUP = 'clicks.clicks'; // <project>.<source>, the default consumer group
const admin = new Admin({ clientId: `tessera-test-${run}`, bootstrapBrokers: brokers });
const producer = new Producer({
  clientId: `tessera-test-${run}`,
  bootstrapBrokers: brokers,
  serializers: stringSerializers,
  partitioner: compatibilityPartitioner,
  idempotent: true,
});
const dirs: string[] = [];
const topics: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  await producer.close();
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.close();
  const redis = new Redis(redisUrl());
  const keys = await redis.keys(`${keyPrefix}*`);
  if (keys.length > 0) await redis.unlink(...keys);
  await redis.quit();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A feature repo whose `clicks` source streams from its own topic, and the events sent to it. */
class Scenario {
  readonly dir = mkdtempSync(join(tmpdir(), 'tessera-kafka-'));
  readonly topic: string;
  readonly rnd: () => number;
  produced = 0;
  malformed = 0;
  #producing = false;
  #background: Promise<void> | undefined;

  constructor(
    readonly name: string,
    seed: number,
  ) {
    this.topic = `tessera-${name}-${run}`;
    this.rnd = prng(seed);
    dirs.push(this.dir);
    topics.push(this.topic);
  }

  async setup(): Promise<void> {
    writeFileSync(
      join(this.dir, 'tessera.yaml'),
      [
        'project: clicks',
        'definitions: [features.yaml]',
        `online_store: { type: redis, url: "${redisUrl()}", key_prefix: ${keyPrefix}_${this.name} }`,
        `connections: { events: { url: "kafka://${brokers.join(',')}" } }`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(this.dir, 'features.yaml'),
      `entities:
  - name: user
    join_keys: { user_id: int64 }
sources:
  - name: clicks
    type: parquet
    path: lake/clicks
    timestamp_field: ts
    stream: { type: kafka, topic: ${this.topic}, connection: events }
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
    await admin.createTopics({ topics: [this.topic], partitions: PARTITIONS, replicas: 1 });
    for (let i = 0; i < 50; i++) {
      const md = await admin.metadata({ topics: [this.topic], forceUpdate: true });
      if (md.topics.get(this.topic)?.partitionsCount === PARTITIONS) break;
      await sleep(100);
    }
    const store = await FeatureStore.open(this.dir);
    await store.apply();
    await store.close();
  }

  /** A click event of the last 50 minutes. */
  event(): { user_id: number; ts: string; amount: number; item: string; kind: string } {
    return {
      user_id: 1 + Math.floor(this.rnd() * USERS),
      ts: new Date(Date.now() - Math.floor(this.rnd() * 50 * 60_000)).toISOString(),
      amount: Math.round(this.rnd() * 10_000) / 100,
      item: `i${Math.floor(this.rnd() * 40)}`,
      kind: this.rnd() < 0.1 ? 'bot' : 'human',
    };
  }

  /** Sends `n` click events straight to Kafka, keyed by user, plus a malformed record now and then. */
  async produce(n: number): Promise<void> {
    const messages = [];
    for (let i = 0; i < n; i++) {
      const e = this.event();
      const bad = this.produced % 211 === 7;
      if (bad) this.malformed++;
      const value = bad ? '{"user_id": 1, "ts": "yesterday-ish"}' : JSON.stringify(e);
      this.produced++;
      messages.push({ topic: this.topic, key: String(e.user_id), value });
    }
    for (let i = 0; i < messages.length; i += 500) {
      await producer.send({ messages: messages.slice(i, i + 500), acks: ProduceAcks.ALL });
    }
  }

  /** Keeps producing 100 events every 100 ms until `stopProducing`. */
  startProducing(): void {
    this.#producing = true;
    this.#background = (async () => {
      while (this.#producing) {
        await this.produce(100);
        await sleep(100);
      }
    })();
  }

  async stopProducing(): Promise<void> {
    this.#producing = false;
    await this.#background;
  }

  startWorker(instance: string): ChildProcess {
    const args = [
      '--repo',
      this.dir,
      'stream',
      '--source',
      'clicks',
      '--instance',
      instance,
      '--batch-size',
      '300',
    ];
    return spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), ...args, '--json'], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  /** Sum of committed offsets over the partitions. */
  async progress(store: FeatureStore): Promise<number> {
    return [...(await store.online.readCheckpoints(GROUP)).values()].reduce((t, c) => t + c.next, 0);
  }

  /** Waits until every partition's checkpoint has reached the end of the topic. */
  async waitCaughtUp(store: FeatureStore): Promise<void> {
    const [offsets] = await admin.listOffsets({
      topics: [
        {
          name: this.topic,
          partitions: Array.from({ length: PARTITIONS }, (_, partitionIndex) => ({
            partitionIndex,
            timestamp: ListOffsetTimestamps.LATEST,
          })),
        },
      ],
    });
    const ends = new Map(
      (offsets?.partitions ?? []).map((p) => [`${this.topic}/${p.partitionIndex}`, Number(p.offset)]),
    );
    const deadline = Date.now() + 120_000;
    for (;;) {
      const checkpoints = await store.online.readCheckpoints(GROUP);
      if ([...ends].every(([p, end]) => (checkpoints.get(p)?.next ?? 0) === end)) return;
      if (Date.now() > deadline)
        throw new Error(`workers did not catch up: ${JSON.stringify([...checkpoints])}`);
      await sleep(300);
    }
  }

  /** The end state the stream must reach, whatever happened on the way. */
  async verify(store: FeatureStore): Promise<void> {
    // Dead letters: each malformed record once.
    const deadDir = join(this.dir, 'dead-letters', 'clicks');
    const dead = existsSync(deadDir)
      ? readdirSync(deadDir).flatMap((f) =>
          readFileSync(join(deadDir, f), 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { partition: string; offset: number }),
        )
      : [];
    expect(new Set(dead.map((d) => `${d.partition}@${d.offset}`)).size).toBe(dead.length);
    expect(dead.length).toBe(this.malformed);

    // The lake: every accepted event exactly once (nothing was late: lateness 1h > the 50 min spread).
    const lake = await store.getHistoricalFeatures({
      spine: {
        kind: 'sql',
        query: `SELECT user_id, ts AS event_timestamp FROM read_parquet('${this.dir}/lake/clicks/**/*.parquet', hive_partitioning = true)`,
      },
      features: ['user_clicks:clicks_10m'],
    });
    expect(lake.rowCount).toBe(this.produced - this.malformed);
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
        if (!sameAggregate(typeof want === 'bigint' ? Number(want) : want, online.rows[i]?.[n])) mismatches++;
      }
    });
    expect(mismatches).toBe(0);
    expect(online.rows.reduce((t, r) => t + (r['clicks_1d'] as number), 0)).toBeGreaterThan(0);

    // The same check as users run it: `tessera verify-consistency` requires 100%.
    const verify = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/cli/run.ts'), '--repo', this.dir, 'verify-consistency', '--json'],
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
  }
}

const exited = (p: ChildProcess) =>
  new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', r)));

describe('tessera stream on Kafka', () => {
  it('survives 10+ kill -9 at random moments: online = offline recomputation, lake and dead letters exact', async () => {
    const s = new Scenario('kill', 4242);
    await s.setup();
    await s.produce(3000);
    const store = await FeatureStore.open(s.dir);
    try {
      let kills = 0;
      let killedMidStream = 0;
      s.startProducing();
      try {
        while (kills < 12) {
          const before = await s.progress(store);
          const worker = s.startWorker('w1');
          // Kill once the worker is consuming (its checkpoint moved), at a random moment after that.
          const until = Date.now() + 30_000;
          while ((await s.progress(store)) === before && Date.now() < until) await sleep(50);
          await sleep(Math.floor(s.rnd() * 700));
          worker.kill('SIGKILL');
          await exited(worker);
          kills++;
          if ((await s.progress(store)) > before) killedMidStream++;
        }
      } finally {
        await s.stopProducing();
      }
      // The kills landed while workers were consuming, not before they started.
      expect(killedMidStream).toBeGreaterThanOrEqual(10);
      const worker = s.startWorker('w1');
      await s.waitCaughtUp(store);
      worker.kill('SIGTERM');
      await exited(worker);
      await s.verify(store);
    } finally {
      await store.close();
    }
  }, 300_000);

  it('scales out over a consumer group: two workers, rebalances mid-stream, same exact result', async () => {
    const s = new Scenario('rebalance', 777);
    await s.setup();
    await s.produce(2000);
    const store = await FeatureStore.open(s.dir);
    try {
      s.startProducing();
      const a = s.startWorker('a');
      let b: ChildProcess | undefined;
      try {
        // a alone, then b joins (rebalance: partitions split), then a leaves (rebalance: b takes all).
        const until = Date.now() + 30_000;
        while ((await s.progress(store)) === 0 && Date.now() < until) await sleep(50);
        await sleep(1500);
        b = s.startWorker('b');
        await sleep(8000);
        const before = await s.progress(store);
        a.kill('SIGTERM');
        await exited(a);
        await sleep(6000);
        expect(await s.progress(store)).toBeGreaterThan(before); // b carried on
      } finally {
        await s.stopProducing();
      }
      // The push API (SDK and HTTP) feeds the same stream; a bad event is refused with the reason.
      const pushed = Array.from({ length: 300 }, () => s.event());
      expect(await store.pushEvents({ source: 'clicks', events: pushed })).toEqual({ sent: 300 });
      const app = await buildServer(store, {});
      try {
        const url = await app.listen({ host: '127.0.0.1', port: 0 });
        const post = (body: unknown) =>
          fetch(`${url}/push`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
        const ok = await post({ source: 'clicks', events: Array.from({ length: 100 }, () => s.event()) });
        expect(ok.status).toBe(200);
        expect(await ok.json()).toMatchObject({ sent: 100 });
        const bad = await post({ source: 'clicks', events: [s.event(), { ...s.event(), amount: 'lots' }] });
        expect(bad.status).toBe(400);
        expect(JSON.stringify(await bad.json())).toMatch(/event 1 .*amount/);
      } finally {
        await app.close();
      }
      s.produced += 400;
      await s.waitCaughtUp(store);
      b?.kill('SIGTERM');
      if (b) await exited(b);
      await s.verify(store);
    } finally {
      await store.close();
    }
  }, 300_000);
});
