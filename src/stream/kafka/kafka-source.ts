import {
  Consumer,
  type Message,
  type MessagesStream,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  stringDeserializers,
} from '@platformatic/kafka';
import { TesseraError } from '../../core/errors.js';
import type { StreamHandler, StreamRecord, StreamSource } from '../stream-source.js';

export interface KafkaSourceOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  /** Consumer group: workers of one group share the topic's partitions. */
  readonly groupId: string;
  readonly clientId?: string;
  /** Records handed to the worker per batch, at most (default 2000). */
  readonly batchSize?: number;
  /** How long a partial batch may wait for more records (default 50 ms). */
  readonly lingerMs?: number;
  /**
   * How long the broker may hold a fetch that has no records yet (Kafka's fetch.max.wait.ms; default 100 ms).
   * It does not delay records: a fetch is answered as soon as one record is there (minimum 1 byte).
   */
  readonly maxWaitMs?: number;
  /** Group session timeout: how soon a dead worker's partitions move to another (default 10 s). */
  readonly sessionTimeoutMs?: number;
  /**
   * Static group membership (Kafka's group.instance.id): a worker restarted with the same id within the session
   * timeout takes its partitions back at once, without a rebalance of the group.
   */
  readonly instanceId?: string;
}

type StringMessage = Message<string, string, string, string>;
type StringStream = MessagesStream<string, string, string, string>;

/**
 * A Kafka topic consumed in a consumer group (@platformatic/kafka, pure JS). Offsets come from the worker (its
 * checkpoints in the online store), never from Kafka's committed offsets: at every group (re)join, the new
 * assignment goes to `handler.assigned`, and a new stream starts each assigned partition at the offset it
 * returns (the partition's beginning when none). Records of the previous assignment still in flight are
 * dropped; the worker also ignores records of partitions it does not own.
 *
 * @example await new KafkaSource({ brokers: ['127.0.0.1:9092'], topic: 'clicks', groupId: 'shop/clicks' }).consume(worker, signal)
 */
export class KafkaSource implements StreamSource {
  readonly kind = 'kafka';
  readonly #opts: KafkaSourceOptions;
  readonly #consumer: Consumer<string, string, string, string>;

  constructor(opts: KafkaSourceOptions) {
    this.#opts = opts;
    this.#consumer = new Consumer({
      clientId: opts.clientId ?? `tessera-${opts.groupId}`,
      groupId: opts.groupId,
      bootstrapBrokers: [...opts.brokers],
      deserializers: stringDeserializers,
      autocommit: false,
      maxWaitTime: opts.maxWaitMs ?? 100,
      sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: opts.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 500,
      ...(opts.instanceId !== undefined ? { groupInstanceId: opts.instanceId } : {}),
    });
  }

  async consume(handler: StreamHandler, signal: AbortSignal): Promise<void> {
    const { topic } = this.#opts;
    const batchSize = this.#opts.batchSize ?? 2000;
    const lingerMs = this.#opts.lingerMs ?? 50;
    let buffer: StreamRecord[] = [];
    let stream: StringStream | undefined;
    let owned: string[] = [];
    let pending: number[][] | undefined; // a new assignment to switch to
    let failure: unknown;
    let wake: (() => void) | undefined;
    const poke = () => {
      wake?.();
      wake = undefined;
    };
    this.#consumer.on('consumer:group:join', ({ assignments }) => {
      pending = [(assignments ?? []).filter((a) => a.topic === topic).flatMap((a) => a.partitions)];
      poke();
    });
    signal.addEventListener('abort', poke, { once: true });

    // Records of a replaced stream may still arrive while it closes: they would interleave with the new stream's
    // records of the same partition and skip offsets, so only the current stream's records are kept.
    let generation = 0;
    const open = async (offsets: ReadonlyMap<string, number | null>): Promise<StringStream> => {
      const mine = ++generation;
      const s = (await this.#consumer.consume({
        topics: [topic],
        mode: MessagesStreamModes.MANUAL,
        fallbackMode: MessagesStreamFallbackModes.EARLIEST,
        offsets: [...offsets]
          .filter(([, o]) => o !== null)
          .map(([id, o]) => ({
            topic,
            partition: Number(id.slice(id.lastIndexOf('/') + 1)),
            offset: BigInt(o as number),
          })),
      })) as StringStream;
      s.on('data', (m: StringMessage) => {
        if (mine !== generation) return;
        buffer.push({
          partition: `${topic}/${m.partition}`,
          offset: Number(m.offset),
          key: m.key ?? null,
          value: m.value ?? '',
          timestamp: Number(m.timestamp),
        });
        if (buffer.length >= batchSize * 4) s.pause();
        poke();
      });
      s.on('error', (e: unknown) => {
        failure = e;
        poke();
      });
      return s;
    };

    try {
      // The first consume() joins the group; its stream only lasts until the assignment is known.
      stream = await open(new Map());
      while (!signal.aborted) {
        if (failure !== undefined) throw failure;
        if (pending !== undefined) {
          const partitions = pending[0] ?? [];
          pending = undefined;
          if (owned.length > 0) await handler.revoked(owned);
          owned = partitions.map((p) => `${topic}/${p}`);
          const offsets = await handler.assigned(owned);
          // Open the new stream before closing the old one: closing a consumer's last stream leaves the group.
          const old = stream;
          buffer = [];
          stream = await open(new Map([...offsets].map(([id, o]) => [id, o ?? null])));
          await old?.close();
          continue;
        }
        if (buffer.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 200);
          });
          continue;
        }
        // A partial batch waits a little for more records, unless a rebalance or a stop is due.
        if (buffer.length < batchSize) {
          await linger(lingerMs, () => buffer.length >= batchSize || pending !== undefined || signal.aborted);
        }
        if (pending !== undefined || signal.aborted) continue;
        const batch = buffer.splice(0, batchSize);
        if (stream?.isPaused()) stream.resume();
        if (owned.length === 0) continue;
        try {
          await handler.batch(batch);
        } catch (e) {
          // Another worker committed one of our partitions (a rebalance in progress): resume every owned
          // partition from its stored checkpoint; the group will tell us if it is no longer ours.
          if (!(e instanceof TesseraError && e.code === 'CONFLICT')) throw e;
          pending = [owned.map((id) => Number(id.slice(id.lastIndexOf('/') + 1)))];
        }
      }
    } catch (e) {
      throw e instanceof TesseraError
        ? e
        : new TesseraError(
            `Kafka source '${topic}' failed: ${(e as Error).message}`,
            { field: 'topic' },
            'BACKEND',
            e,
          );
    } finally {
      signal.removeEventListener('abort', poke);
      await stream?.close().catch(() => undefined);
    }
  }

  /** The topic's end offsets (ListOffsets, latest), per partition id `topic/<n>`. */
  async endOffsets(): Promise<ReadonlyMap<string, number>> {
    const { topic } = this.#opts;
    const offsets = await this.#consumer.listOffsets({ topics: [topic] });
    return new Map((offsets.get(topic) ?? []).map((o, i) => [`${topic}/${i}`, Number(o)]));
  }

  async close(): Promise<void> {
    await this.#consumer.close(true);
  }
}

/** Waits up to `ms` for `ready()`; true when it became true. */
async function linger(ms: number, ready: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (ready()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return ready();
}
