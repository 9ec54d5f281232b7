/**
 * Smoke test of the real Kafka broker that scripts/services.sh runs, through the pure-JS @platformatic/kafka client:
 * admin, keyed produce, consumer-group consumption with committed offsets, resume after a restart, and starting
 * from offsets that the application stored itself.
 */
import { randomUUID } from 'node:crypto';
import {
  Admin,
  Consumer,
  compatibilityPartitioner,
  ListOffsetTimestamps,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaSource } from '../../src/stream/kafka/kafka-source.js';
import { kafkaBrokers } from '../helpers/services.js';

type StringMessage = Message<string, string, string, string>;
type StringStream = MessagesStream<string, string, string, string>;

const brokers = kafkaBrokers();
const run = randomUUID().slice(0, 8);
const topic = `tessera-smoke-${run}`;
const PARTITIONS = 4;
const KEYS = 100;

const admin = new Admin({ clientId: `tessera-test-admin-${run}`, bootstrapBrokers: brokers });
// compatibilityPartitioner = the Java client's murmur2 partitioner; the library's default differs from it when the
// partition count is not a power of two. Idempotent: a retried Produce request re-sends every partition's batch,
// and without producer ids and sequence numbers the broker would store the batches that had already succeeded twice.
const producer = new Producer({
  clientId: `tessera-test-producer-${run}`,
  bootstrapBrokers: brokers,
  serializers: stringSerializers,
  partitioner: compatibilityPartitioner,
  idempotent: true,
});
const consumers: Consumer<string, string, string, string>[] = [];

function newConsumer(groupId: string): Consumer<string, string, string, string> {
  const consumer = new Consumer({
    clientId: `tessera-test-consumer-${run}`,
    groupId,
    bootstrapBrokers: brokers,
    deserializers: stringDeserializers,
    autocommit: false,
    maxWaitTime: 200,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 500,
  });
  consumers.push(consumer);
  return consumer;
}

/** Sends messages `from`..`to - 1`, keyed by entity, in batches of 250 (one Produce request per batch). */
async function produce(from: number, to: number): Promise<void> {
  for (let start = from; start < to; start += 250) {
    const messages = [];
    for (let i = start; i < Math.min(to, start + 250); i++)
      messages.push({ topic, key: `entity-${i % KEYS}`, value: String(i) });
    await producer.send({ messages, acks: ProduceAcks.ALL });
  }
}

/** Collects messages from the stream until `done` says so; fails with what it saw after `timeoutMs`. */
function collect(
  stream: StringStream,
  done: (seen: StringMessage[]) => boolean,
  timeoutMs = 20_000,
): Promise<StringMessage[]> {
  const seen: StringMessage[] = [];
  return new Promise((resolve, reject) => {
    const finish = (error?: Error) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('error', finish);
      if (error) reject(error);
      else resolve(seen);
    };
    const onData = (message: StringMessage) => {
      if (done(seen)) return;
      seen.push(message);
      if (done(seen)) finish();
    };
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms with ${seen.length} messages`)),
      timeoutMs,
    );
    stream.on('data', onData);
    stream.on('error', finish);
  });
}

/** Whatever the stream delivers within `ms`. */
async function drain(stream: StringStream, ms: number): Promise<StringMessage[]> {
  const seen: StringMessage[] = [];
  const onData = (message: StringMessage) => seen.push(message);
  stream.on('data', onData);
  await new Promise((resolve) => setTimeout(resolve, ms));
  stream.off('data', onData);
  return seen;
}

/** The last message of each partition in `messages` (each partition's messages arrive in order). */
function lastPerPartition(messages: StringMessage[]): StringMessage[] {
  const last = new Map<number, StringMessage>();
  for (const m of messages) last.set(m.partition, m);
  return [...last.values()];
}

async function latestOffsets(): Promise<bigint[]> {
  const [listed] = await admin.listOffsets({
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
  return [...listed!.partitions].sort((a, b) => a.partitionIndex - b.partitionIndex).map((p) => p.offset);
}

/** CreateTopics answers before the broker's metadata lists the topic with its leaders: wait for that. */
async function waitForTopic(deadlineMs = 10_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    try {
      const metadata = await admin.metadata({ topics: [topic], forceUpdate: true });
      const partitions = metadata.topics.get(topic)?.partitions ?? [];
      if (partitions.length === PARTITIONS && partitions.every((p) => p.leader >= 0)) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`topic ${topic} has no leaders after ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  const [created] = await admin.createTopics({ topics: [topic], partitions: PARTITIONS, replicas: 1 });
  expect(created?.partitions).toBe(PARTITIONS);
  await waitForTopic();
});

afterAll(async () => {
  for (const consumer of consumers) await consumer.close(true);
  await producer.close();
  await admin.deleteTopics({ topics: [topic] });
  await admin.close();
});

describe('Kafka broker (scripts/services.sh) with @platformatic/kafka', () => {
  const groupId = `tessera-smoke-group-${run}`;

  it('keeps every key on one partition, the one the Java client would pick', async () => {
    await produce(0, 1000);
    const latest = await latestOffsets();
    expect(latest.reduce((a, b) => a + b, 0n)).toBe(1000n);
    expect(latest.every((o) => o > 0n)).toBe(true); // 100 keys spread over all 4 partitions

    const consumer = newConsumer(`tessera-keys-${run}`);
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST });
    const all = await collect(stream, (seen) => seen.length === 1000);
    await stream.close();

    const partitionsByKey = new Map<string, Set<number>>();
    for (const m of all)
      partitionsByKey.set(m.key, (partitionsByKey.get(m.key) ?? new Set()).add(m.partition));
    expect(partitionsByKey.size).toBe(KEYS);
    for (const [key, partitions] of partitionsByKey) {
      expect([...partitions]).toEqual([compatibilityPartitioner({ topic }, Buffer.from(key)) % PARTITIONS]);
    }
    expect(new Set(all.map((m) => m.value)).size).toBe(1000);
  });

  it('resumes a consumer group after its committed offsets: nothing redelivered, nothing lost', async () => {
    // First member: process 600 of the 1000 messages, commit exactly what it processed, then leave.
    const first = newConsumer(groupId);
    const joins: number[][] = [];
    first.on('consumer:group:join', ({ assignments }) => {
      joins.push((assignments ?? []).flatMap((a) => a.partitions));
    });
    const s1 = await first.consume({
      topics: [topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    });
    const processed = await collect(s1, (seen) => seen.length === 600);
    expect(joins).toEqual([[0, 1, 2, 3]]);
    // A message's commit() commits its offset + 1 for its partition.
    const lastProcessed = lastPerPartition(processed);
    for (const m of lastProcessed) await m.commit();
    const committed = await first.listCommittedOffsets({ topics: [{ topic, partitions: [0, 1, 2, 3] }] });
    for (const m of lastProcessed) expect(committed.get(topic)?.[m.partition]).toBe(m.offset + 1n);
    await s1.close();
    await first.close();

    // More messages arrive while the group has no member.
    await produce(1000, 1200);

    // Restarted member of the same group: gets exactly the 400 unprocessed + 200 new messages.
    const second = newConsumer(groupId);
    const s2 = await second.consume({
      topics: [topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
    });
    const rest = await collect(s2, (seen) => seen.length === 600);
    // Anything redelivered would arrive on top of the 600: give it a moment to show up.
    expect(await drain(s2, 1_000)).toEqual([]);

    const firstValues = new Set(processed.map((m) => m.value));
    expect(rest.filter((m) => firstValues.has(m.value))).toEqual([]);
    const all = [...processed, ...rest].map((m) => Number(m.value)).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 1200 }, (_, i) => i));
    for (const m of rest) expect(m.offset).toBeGreaterThanOrEqual(committed.get(topic)?.[m.partition] ?? 0n);

    // The same through the consumer's commit(): leaderEpoch -1 = unknown (messages do not carry it in 1.x).
    await second.commit({
      offsets: lastPerPartition(rest).map((m) => ({
        topic,
        partition: m.partition,
        offset: m.offset + 1n,
        leaderEpoch: -1,
      })),
    });
    const nowCommitted = await second.listCommittedOffsets({ topics: [{ topic, partitions: [0, 1, 2, 3] }] });
    expect(nowCommitted.get(topic)).toEqual(await latestOffsets());
    await s2.close();
    // Closing the stream does not leave the group: until the consumer closes, it keeps its partitions.
    await second.close();
  });

  it('starts partitions at offsets the application stored itself, ignoring the group’s commits', async () => {
    const latest = await latestOffsets();
    const stored = latest.map((end, partition) => end - BigInt(10 + partition)); // 10, 11, 12, 13 before the end
    const consumer = newConsumer(groupId); // this group has committed offsets at the end: MANUAL ignores them
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.MANUAL,
      offsets: stored.map((offset, partition) => ({ topic, partition, offset })),
    });
    const got = await collect(stream, (seen) => seen.length === 10 + 11 + 12 + 13);
    await stream.close();
    for (let p = 0; p < PARTITIONS; p++) {
      const offsets = got.filter((m) => m.partition === p).map((m) => m.offset);
      expect(offsets[0]).toBe(stored[p]);
      expect(offsets.at(-1)).toBe(latest[p]! - 1n);
    }
  });

  it("gives each partition's end offset through KafkaSource.endOffsets (for consumer-lag metrics)", async () => {
    const source = new KafkaSource({ brokers, topic, groupId: `tessera-ends-${run}` });
    try {
      const latest = await latestOffsets();
      expect(await source.endOffsets()).toEqual(new Map(latest.map((o, p) => [`${topic}/${p}`, Number(o)])));
    } finally {
      await source.close();
    }
  });
});
