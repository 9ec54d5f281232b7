/**
 * The contract every stream source implements (Kafka, the in-process log behind the push API, Parquet replay).
 *
 * In the contract: a partitioned, ordered log of records with offsets; consuming from offsets the caller
 * chooses (the worker keeps its offsets in the online store, atomically with the state they produced, which
 * is what makes its effect exactly-once); being told which partitions this consumer owns as the group
 * rebalances.
 *
 * Not in the contract: decoding records into events, state, commits. A source never commits offsets of its
 * own; a consumer that restarts always resumes from the offsets the worker stored.
 */
export interface StreamSource {
  readonly kind: string;

  /**
   * Consumes until `signal` aborts or the handler throws. For each set of partitions assigned to this consumer,
   * `handler.assigned` returns the offset to start each at (null: the beginning of the partition); batches
   * then arrive, each from one or more assigned partitions, in offset order per partition. When partitions
   * are taken away, `handler.revoked` is called before any batch of the new assignment.
   */
  consume(handler: StreamHandler, signal: AbortSignal): Promise<void>;

  /**
   * Optional, for lag metrics: per partition id, the offset the next record appended will get (the log's end),
   * for the partitions the source can tell. Absent when the source has no end (or cannot ask cheaply).
   */
  endOffsets?(): Promise<ReadonlyMap<string, number>>;

  close(): Promise<void>;
}

export interface StreamHandler {
  assigned(partitions: readonly string[]): Promise<ReadonlyMap<string, number | null>>;
  revoked(partitions: readonly string[]): Promise<void>;
  batch(records: readonly StreamRecord[]): Promise<void>;
}

/** One record of a partitioned log. */
export interface StreamRecord {
  /** Partition id, unique across the source's topics: `topic/3`. */
  readonly partition: string;
  readonly offset: number;
  readonly key: string | null;
  /** The payload: JSON text of one event. */
  readonly value: string;
  /** When the log accepted the record (epoch ms), for lag metrics. */
  readonly timestamp: number;
}
