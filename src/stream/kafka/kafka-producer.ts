import { compatibilityPartitioner, ProduceAcks, Producer, stringSerializers } from '@platformatic/kafka';
import { TesseraError } from '../../core/errors.js';

/**
 * Sends keyed JSON records to Kafka, durably (acks from all in-sync replicas) and without duplicates on retry
 * (idempotent producer). Keys are partitioned with the Java client's murmur2 rule, so a record lands where any
 * other Kafka producer would put the same key.
 */
export class KafkaEventProducer {
  readonly #producer: Producer<string, string, string, string>;

  constructor(brokers: readonly string[]) {
    this.#producer = new Producer({
      clientId: 'tessera-push',
      bootstrapBrokers: [...brokers],
      serializers: stringSerializers,
      partitioner: compatibilityPartitioner,
      idempotent: true,
    });
  }

  async send(topic: string, messages: readonly { key: string; value: string }[]): Promise<void> {
    try {
      for (let i = 0; i < messages.length; i += 1000) {
        await this.#producer.send({
          messages: messages.slice(i, i + 1000).map((m) => ({ topic, key: m.key, value: m.value })),
          acks: ProduceAcks.ALL,
        });
      }
    } catch (e) {
      throw new TesseraError(
        `sending to Kafka topic '${topic}' failed: ${(e as Error).message}`,
        { field: 'topic', hint: 'check that the brokers of the source’s connection are reachable' },
        'BACKEND',
        e,
      );
    }
  }

  async close(): Promise<void> {
    await this.#producer.close();
  }
}
