import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './fast-metrics.js';

/**
 * Latency buckets (seconds) from 50 µs to 10 s: a served request from the SQLite store takes tens of
 * microseconds, one from Redis a few hundred, a slow one or a stream batch seconds.
 */
export const LATENCY_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Why a stream record became a dead letter (the `reason` label of `tessera_stream_dead_letters_total`). */
export type DeadLetterReason = 'malformed' | 'late' | 'too_far_ahead' | (string & {});

/**
 * Every Prometheus metric Tessera exports, in one registry (docs/monitoring.md lists them with their labels).
 * Names and labels are stable: dashboards and alerts depend on them. A process normally uses the one
 * {@link processMetrics} instance; tests create their own to count exactly.
 *
 * Hot-path metrics are {@link FastCounter}/{@link FastHistogram} (children resolved once, updated in place;
 * see fast-metrics.ts for why), the rest plain prom-client metrics; all are in one prom-client Registry. Hot
 * paths increment them once per request or per batch with counts, never once per feature value or per event.
 *
 * @example
 * const metrics = new TesseraMetrics();
 * metrics.fallbacks.inc({ view: 'user_stats', feature: 'clicks' }, 3);
 * const text = await metrics.scrape(); // Prometheus text exposition format
 */
export class TesseraMetrics {
  readonly registry: Registry;

  // HTTP server
  readonly httpRequestDuration: FastHistogram<'route' | 'method' | 'status'>;
  readonly httpRequests: FastCounter<'route' | 'method' | 'status'>;
  // Online serving
  readonly onlineStoreReadDuration: FastHistogram<'store'>;
  readonly onlineStoreReadErrors: FastCounter<'store'>;
  readonly featureValuesServed: FastCounter<'view' | 'status'>;
  readonly fallbacks: FastCounter<'view' | 'feature'>;
  readonly deadlinesExceeded: FastCounter;
  // Stream engine
  readonly streamEvents: FastCounter<'source'>;
  readonly streamBatches: FastCounter<'source'>;
  readonly streamDeadLetters: FastCounter<'source' | 'reason'>;
  readonly streamLateEvents: FastCounter<'source'>;
  readonly streamConflicts: FastCounter<'source'>;
  readonly streamRebalances: FastCounter<'source' | 'change'>;
  readonly streamBatchDuration: FastHistogram<'source'>;
  readonly streamConsumerLag: Gauge<'source' | 'partition'>;
  readonly streamEventLag: Gauge<'source' | 'partition'>;
  // Freshness (refreshed at each scrape by the hooks of whoever serves or streams)
  readonly viewFreshness: Gauge<'view'>;
  readonly viewMaxAge: Gauge<'view'>;
  readonly viewStreamLag: Gauge<'view'>;
  readonly viewMaxLag: Gauge<'view'>;
  readonly viewFreshnessBreached: Gauge<'view' | 'check'>;
  // Data quality, fed by other parts (see recordValidationFailures, recordFeatureLogDropped)
  readonly validationFailures: Counter<'subject' | 'expectation' | 'severity'>;
  readonly featureLogDropped: Counter<'reason'>;

  readonly #hooks = new Set<() => Promise<void>>();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

    this.httpRequestDuration = new FastHistogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP request latency, from request received to response sent, by route pattern and status',
      labelNames: ['route', 'method', 'status'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.httpRequests = new FastCounter({
      name: 'tessera_http_requests_total',
      help: 'HTTP requests answered, by route pattern and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.onlineStoreReadDuration = new FastHistogram({
      name: 'tessera_online_store_read_duration_seconds',
      help: 'Online-store read of one online-features request (one round trip for all views and entities)',
      labelNames: ['store'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.onlineStoreReadErrors = new FastCounter({
      name: 'tessera_online_store_read_errors_total',
      help: 'Online-store reads of online-features requests that failed',
      labelNames: ['store'],
      registers,
    });
    this.featureValuesServed = new FastCounter({
      name: 'tessera_feature_values_served_total',
      help: 'Feature values served online, by view and status (PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE, DEFAULTED)',
      labelNames: ['view', 'status'],
      registers,
    });
    this.fallbacks = new FastCounter({
      name: 'tessera_fallbacks_total',
      help: 'Feature values served from their configured fallback (missing, null, too old, or past the deadline)',
      labelNames: ['view', 'feature'],
      registers,
    });
    this.deadlinesExceeded = new FastCounter({
      name: 'tessera_serving_deadline_exceeded_total',
      help: 'Online-features requests whose online-store read missed the deadline (fallbacks served)',
      registers,
    });

    this.streamEvents = new FastCounter({
      name: 'tessera_stream_events_total',
      help: 'Stream events accepted and committed (folded into tiles, appended to the lake)',
      labelNames: ['source'],
      registers,
    });
    this.streamBatches = new FastCounter({
      name: 'tessera_stream_batches_total',
      help: 'Stream batches committed',
      labelNames: ['source'],
      registers,
    });
    this.streamDeadLetters = new FastCounter({
      name: 'tessera_stream_dead_letters_total',
      help: 'Stream records written to the dead-letter folder, by reason (malformed, late, too_far_ahead)',
      labelNames: ['source', 'reason'],
      registers,
    });
    this.streamLateEvents = new FastCounter({
      name: 'tessera_stream_late_events_total',
      help: 'Stream events later than allowed lateness behind the watermark (also counted as dead letters)',
      labelNames: ['source'],
      registers,
    });
    this.streamConflicts = new FastCounter({
      name: 'tessera_stream_conflicts_total',
      help: "Stream batch commits refused because another worker had moved a partition's checkpoint",
      labelNames: ['source'],
      registers,
    });
    this.streamRebalances = new FastCounter({
      name: 'tessera_stream_rebalances_total',
      help: 'Partition assignment changes of the stream worker (change: assigned, revoked)',
      labelNames: ['source', 'change'],
      registers,
    });
    this.streamBatchDuration = new FastHistogram({
      name: 'tessera_stream_batch_duration_seconds',
      help: 'Time to process and commit one stream batch',
      labelNames: ['source'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.streamConsumerLag = new Gauge({
      name: 'tessera_stream_consumer_lag_records',
      help: "Records not yet committed per partition: the log's end offset minus the committed next offset",
      labelNames: ['source', 'partition'],
      registers,
    });
    this.streamEventLag = new Gauge({
      name: 'tessera_stream_event_lag_seconds',
      help: "Event-time lag per partition: now minus the partition's watermark (newest committed event time)",
      labelNames: ['source', 'partition'],
      registers,
    });

    this.viewFreshness = new Gauge({
      name: 'tessera_feature_view_freshness_seconds',
      help: 'Age of the newest online value of a view: now minus the newest event time written online',
      labelNames: ['view'],
      registers,
    });
    this.viewMaxAge = new Gauge({
      name: 'tessera_feature_view_freshness_max_age_seconds',
      help: "A view's freshness.max_age threshold",
      labelNames: ['view'],
      registers,
    });
    this.viewStreamLag = new Gauge({
      name: 'tessera_feature_view_stream_lag_seconds',
      help: "Largest event-time lag of the stream feeding a view (over its source's partitions)",
      labelNames: ['view'],
      registers,
    });
    this.viewMaxLag = new Gauge({
      name: 'tessera_feature_view_freshness_max_lag_seconds',
      help: "A view's freshness.max_lag threshold",
      labelNames: ['view'],
      registers,
    });
    this.viewFreshnessBreached = new Gauge({
      name: 'tessera_feature_view_freshness_breached',
      help: 'Whether a view breaches a freshness threshold (1) or not (0), per check (age, lag)',
      labelNames: ['view', 'check'],
      registers,
    });

    this.validationFailures = new Counter({
      name: 'tessera_validation_failures_total',
      help: 'Expectation failures, by subject (source, view or training set), expectation and severity',
      labelNames: ['subject', 'expectation', 'severity'],
      registers,
    });
    this.featureLogDropped = new Counter({
      name: 'tessera_feature_log_dropped_total',
      help: 'Feature-log records dropped instead of written (queue full, write failure)',
      labelNames: ['reason'],
      registers,
    });
  }

  /**
   * Registers work to run before each scrape (refreshing gauges read from a store, for instance); returns the
   * function that removes it. A hook that fails leaves its gauges as they were: a scrape never fails for it.
   */
  onScrape(hook: () => Promise<void>): () => void {
    this.#hooks.add(hook);
    return () => {
      this.#hooks.delete(hook);
    };
  }

  /** The Prometheus text exposition of every metric, after the scrape hooks ran. */
  async scrape(): Promise<string> {
    // Gauges of views and partitions are rebuilt at each scrape, so a removed view or revoked partition
    // disappears instead of reporting its last value forever.
    for (const g of [
      this.viewFreshness,
      this.viewMaxAge,
      this.viewStreamLag,
      this.viewMaxLag,
      this.viewFreshnessBreached,
      this.streamConsumerLag,
      this.streamEventLag,
    ]) {
      g.reset();
    }
    await Promise.all([...this.#hooks].map((h) => h().catch(() => undefined)));
    return this.registry.metrics();
  }

  /** Content type of {@link scrape}'s text, for the HTTP answer. */
  get contentType(): string {
    return this.registry.contentType;
  }
}

let processWide: TesseraMetrics | undefined;

/**
 * The process's metrics: what `tessera serve` and `tessera stream` expose at `/metrics`, created on first use
 * (with Node's default process metrics).
 *
 * @example processMetrics().deadlinesExceeded.inc();
 */
export function processMetrics(): TesseraMetrics {
  processWide ??= new TesseraMetrics();
  return processWide;
}

/**
 * Counts expectation failures (`tessera_validation_failures_total`), for validation to call once per
 * expectation run that failed, with the number of failures to add (default 1).
 *
 * @example recordValidationFailures({ subject: 'orders', expectation: 'not_null(amount)', severity: 'error' });
 */
export function recordValidationFailures(
  labels: { subject: string; expectation: string; severity: 'error' | 'warn' },
  count = 1,
  metrics: TesseraMetrics = processMetrics(),
): void {
  if (count > 0) metrics.validationFailures.inc(labels, count);
}

/**
 * Counts feature-log records dropped (`tessera_feature_log_dropped_total`), for the feature logger to call
 * with how many records it dropped and why (`queue_full`, `write_failed`, …).
 *
 * @example recordFeatureLogDropped(12, 'queue_full');
 */
export function recordFeatureLogDropped(
  count: number,
  reason = 'queue_full',
  metrics: TesseraMetrics = processMetrics(),
): void {
  if (count > 0) metrics.featureLogDropped.inc({ reason }, count);
}
