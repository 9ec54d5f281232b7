import type { StreamHandler, StreamRecord, StreamSource } from '../stream-source.js';

/**
 * An in-process partitioned log: the embedded stand-in for a Kafka topic (single process, not durable). Records
 * with the same key go to the same partition. Consumers read it through {@link MemoryLogSource}.
 *
 * @example const log = new MemoryLog('clicks', 4); log.append('42', JSON.stringify(event));
 */
export class MemoryLog {
  readonly partitions: StreamRecord[][];
  #waiters: (() => void)[] = [];

  constructor(
    readonly topic: string,
    partitionCount: number,
  ) {
    this.partitions = Array.from({ length: partitionCount }, () => []);
  }

  append(key: string | null, value: string): StreamRecord {
    const index = key === null ? this.#roundRobin() : hashKey(key) % this.partitions.length;
    const partition = this.partitions[index] as StreamRecord[];
    const record = {
      partition: `${this.topic}/${index}`,
      offset: partition.length,
      key,
      value,
      timestamp: Date.now(),
    };
    partition.push(record);
    for (const w of this.#waiters.splice(0)) w();
    return record;
  }

  /** Resolves at the next append (or after `ms`). */
  waitForAppend(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #next = 0;
  #roundRobin(): number {
    this.#next = (this.#next + 1) % this.partitions.length;
    return this.#next;
  }
}

/** FNV-1a over UTF-16 code units: a stable key → partition mapping. */
function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Consumes every partition of a {@link MemoryLog} (one consumer; no group). */
export class MemoryLogSource implements StreamSource {
  readonly kind = 'memory';

  constructor(
    private readonly log: MemoryLog,
    private readonly batchSize = 500,
  ) {}

  async consume(handler: StreamHandler, signal: AbortSignal): Promise<void> {
    const ids = this.log.partitions.map((_, i) => `${this.log.topic}/${i}`);
    const start = await handler.assigned(ids);
    const positions = ids.map((id) => start.get(id) ?? 0);
    while (!signal.aborted) {
      const batch: StreamRecord[] = [];
      this.log.partitions.forEach((records, i) => {
        const from = positions[i] as number;
        const take = records.slice(from, from + Math.ceil(this.batchSize / ids.length));
        batch.push(...take);
        positions[i] = from + take.length;
      });
      if (batch.length === 0) {
        await this.log.waitForAppend(20);
        continue;
      }
      await handler.batch(batch);
    }
  }

  async endOffsets(): Promise<ReadonlyMap<string, number>> {
    return new Map(this.log.partitions.map((records, i) => [`${this.log.topic}/${i}`, records.length]));
  }

  async close(): Promise<void> {}
}
