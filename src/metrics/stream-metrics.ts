import type { RegistryState } from '../definitions/definition.js';
import type { OnlineStore } from '../online/online-store.js';
import type { StreamSource } from '../stream/stream-source.js';
import type { StreamObserver, StreamWorker } from '../stream/stream-worker.js';
import { evaluateFreshness, setFreshnessGauges } from './freshness-report.js';
import { recordValidationFailures, type TesseraMetrics } from './metrics.js';

/** What {@link instrumentStream} watches. */
export interface StreamInstrumentation {
  /** The source's name (the `source` label). */
  readonly source: string;
  /** The consumer the worker commits under (reported with its partitions). */
  readonly consumer: string;
  readonly worker: StreamWorker;
  /** The log the worker consumes; its `endOffsets` (when it has one) give the consumer lag. */
  readonly records: StreamSource;
  readonly online: OnlineStore;
  /** The registry state now (for the views over the source and their thresholds). */
  readonly state: () => RegistryState;
}

/**
 * Feeds the stream metrics from a worker: counters once per committed batch (events, batches, dead letters by
 * reason, late events, batch duration), conflicts and rebalances as they happen, and at each scrape the
 * consumer lag per partition (end offset − committed next offset), the event-time lag per partition
 * (now − watermark) and the freshness gauges of the source's aggregation views. Returns the function that
 * stops it.
 *
 * @example
 * const stop = instrumentStream(processMetrics(), { source: 'clicks', consumer, worker, records, online, state });
 */
export function instrumentStream(metrics: TesseraMetrics, s: StreamInstrumentation): () => void {
  const source = s.source;
  const events = metrics.streamEvents.labels(source);
  const batches = metrics.streamBatches.labels(source);
  const lateEvents = metrics.streamLateEvents.labels(source);
  const dead = {
    malformed: metrics.streamDeadLetters.labels(source, 'malformed'),
    late: metrics.streamDeadLetters.labels(source, 'late'),
    tooFarAhead: metrics.streamDeadLetters.labels(source, 'too_far_ahead'),
    invalid: metrics.streamDeadLetters.labels(source, 'invalid'),
  };
  const conflicts = metrics.streamConflicts.labels(source);
  const duration = metrics.streamBatchDuration.labels(source);
  const observer: StreamObserver = {
    batch(b) {
      events.inc(b.events);
      batches.inc();
      if (b.malformed > 0) dead.malformed.inc(b.malformed);
      if (b.late > 0) {
        dead.late.inc(b.late);
        lateEvents.inc(b.late);
      }
      if (b.tooFarAhead > 0) dead.tooFarAhead.inc(b.tooFarAhead);
      if (b.invalid > 0) dead.invalid.inc(b.invalid);
      for (const [expectation, { severity, count }] of b.checkFailures) {
        recordValidationFailures({ subject: source, expectation, severity }, count, metrics);
      }
      duration.observe(b.seconds);
    },
    conflict() {
      conflicts.inc();
    },
    rebalanced(change, partitions) {
      if (partitions > 0) metrics.streamRebalances.inc({ source, change });
    },
  };
  s.worker.observe(observer);

  const removeHook = metrics.onScrape(async () => {
    const positions = s.worker.positions();
    const ends = s.records.endOffsets ? await s.records.endOffsets().catch(() => undefined) : undefined;
    if (ends !== undefined) {
      for (const [partition, p] of positions) {
        const end = ends.get(partition);
        if (end !== undefined)
          metrics.streamConsumerLag.set({ source, partition }, Math.max(0, end - (p.next ?? 0)));
      }
    }
    const state = s.state();
    const views = state.aggregationViews.filter((v) => v.source === source && v.online);
    const fresh = await s.online.freshness(
      views.map((v) => ({ project: state.project, name: v.name, ttlMs: 0 })),
    );
    const report = evaluateFreshness(
      { ...state, featureViews: [], aggregationViews: views },
      fresh,
      [{ source, consumer: s.consumer, partitions: positions }],
      Date.now(),
    );
    setFreshnessGauges(metrics, report);
  });
  return () => {
    removeHook();
    s.worker.observe(undefined);
  };
}
