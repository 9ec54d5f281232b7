import type { RegistryState } from '../definitions/definition.js';
import type { FreshnessPolicy } from '../definitions/freshness.js';
import type { Checkpoint, ViewFreshness } from '../online/online-store.js';
import type { TesseraMetrics } from './metrics.js';

/** One partition of a stream consumer: where it is, and how far its event time is behind now. */
export interface PartitionLag {
  readonly source: string;
  readonly consumer: string;
  readonly partition: string;
  /** Next offset to consume (committed). */
  readonly next: number | null;
  /** The partition's watermark (newest committed event time), ISO; null before any event. */
  readonly watermark: string | null;
  /** now − watermark in seconds; null before any event. */
  readonly lagSeconds: number | null;
}

/** Freshness of one online view against its thresholds. */
export interface ViewFreshnessReport {
  readonly view: string;
  readonly kind: 'FeatureView' | 'AggregationView';
  readonly source: string;
  /** Newest event time written online, ISO; null when nothing was ever written. */
  readonly newestEventAt: string | null;
  /** When the online store last received a write for the view, ISO. */
  readonly updatedAt: string | null;
  /** now − newest event time, seconds. */
  readonly ageSeconds: number | null;
  readonly maxAgeSeconds: number | null;
  /** For an aggregation view fed by a stream: the largest event-time lag over its source's partitions. */
  readonly streamLagSeconds: number | null;
  readonly maxLagSeconds: number | null;
  /** Each threshold breached, with what was seen; empty when fresh. */
  readonly breaches: readonly FreshnessBreach[];
}

/** One breached threshold: which check (`age`: max_age, `lag`: max_lag) and what was seen. */
export interface FreshnessBreach {
  readonly check: 'age' | 'lag';
  readonly message: string;
}

/** What `tessera freshness` reports. */
export interface FreshnessReport {
  readonly at: string;
  readonly breached: boolean;
  readonly views: readonly ViewFreshnessReport[];
  readonly streams: readonly PartitionLag[];
}

/** The stored positions of a streamed source's consumer (from `readCheckpoints`, or a worker's memory). */
export interface StreamPositions {
  readonly source: string;
  readonly consumer: string;
  readonly partitions: ReadonlyMap<string, { next: number | null; watermark: number | null }>;
}

/**
 * A partition's watermark from the meta data a stream worker commits with its checkpoint; null when none.
 *
 * @example watermarkOf({ next: 10, meta: '{"watermark":1700000000000,"files":[]}' }) // 1700000000000
 */
export function watermarkOf(checkpoint: Checkpoint): number | null {
  if (checkpoint.meta === null) return null;
  try {
    const m = JSON.parse(checkpoint.meta) as { watermark?: unknown };
    return typeof m.watermark === 'number' && Number.isFinite(m.watermark) ? m.watermark : null;
  } catch {
    return null;
  }
}

const seconds = (ms: number): number => Math.round(ms) / 1000;
const iso = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString();

/**
 * Evaluates every online view's freshness against its `freshness` thresholds (docs/monitoring.md): age =
 * now − newest event time written online (breached past `max_age`, and also when nothing was written at all);
 * stream lag, for aggregation views over a source whose positions are given = the largest now − watermark
 * over its partitions (breached past `max_lag`; unknown before the first commit, which is not a breach).
 *
 * @example
 * const report = evaluateFreshness(state, await online.freshness(refs), [], Date.now());
 * if (report.breached) process.exitCode = 5;
 */
export function evaluateFreshness(
  state: RegistryState,
  freshness: ReadonlyMap<string, ViewFreshness>,
  streams: readonly StreamPositions[],
  now: number,
): FreshnessReport {
  const partitions: PartitionLag[] = [];
  const lagBySource = new Map<string, number>();
  for (const s of streams) {
    for (const [partition, p] of s.partitions) {
      const lag = p.watermark === null ? null : Math.max(0, now - p.watermark);
      partitions.push({
        source: s.source,
        consumer: s.consumer,
        partition,
        next: p.next,
        watermark: iso(p.watermark),
        lagSeconds: lag === null ? null : seconds(lag),
      });
      if (lag !== null) lagBySource.set(s.source, Math.max(lagBySource.get(s.source) ?? 0, lag));
    }
  }
  const online = [
    ...state.featureViews.filter((v) => v.online),
    ...state.aggregationViews.filter((v) => v.online),
  ];
  const views = online.map((v): ViewFreshnessReport => {
    const policy: FreshnessPolicy = v.freshness ?? {};
    const f = freshness.get(v.name);
    const ageMs = f === undefined ? null : Math.max(0, now - f.newestEventTs);
    const lagMs = v.kind === 'AggregationView' ? (lagBySource.get(v.source) ?? null) : null;
    const breaches: FreshnessBreach[] = [];
    if (policy.maxAgeMs !== undefined) {
      if (ageMs === null) breaches.push({ check: 'age', message: 'no value online yet' });
      else if (ageMs > policy.maxAgeMs)
        breaches.push({
          check: 'age',
          message: `newest value ${seconds(ageMs)} s old, over max_age ${seconds(policy.maxAgeMs)} s`,
        });
    }
    if (policy.maxLagMs !== undefined && lagMs !== null && lagMs > policy.maxLagMs) {
      breaches.push({
        check: 'lag',
        message: `stream lags ${seconds(lagMs)} s, over max_lag ${seconds(policy.maxLagMs)} s`,
      });
    }
    return {
      view: v.name,
      kind: v.kind,
      source: v.source,
      newestEventAt: iso(f?.newestEventTs),
      updatedAt: iso(f?.updatedAt),
      ageSeconds: ageMs === null ? null : seconds(ageMs),
      maxAgeSeconds: policy.maxAgeMs === undefined ? null : seconds(policy.maxAgeMs),
      streamLagSeconds: lagMs === null ? null : seconds(lagMs),
      maxLagSeconds: policy.maxLagMs === undefined ? null : seconds(policy.maxLagMs),
      breaches,
    };
  });
  return {
    at: new Date(now).toISOString(),
    breached: views.some((v) => v.breaches.length > 0),
    views,
    streams: partitions,
  };
}

/**
 * Sets the freshness gauges from a report: per view its age, stream lag, thresholds and breaches; per
 * partition its event-time lag.
 *
 * @example metrics.onScrape(async () => setFreshnessGauges(metrics, await store.freshness()));
 */
export function setFreshnessGauges(metrics: TesseraMetrics, report: FreshnessReport): void {
  for (const v of report.views) {
    const view = { view: v.view };
    if (v.ageSeconds !== null) metrics.viewFreshness.set(view, v.ageSeconds);
    if (v.maxAgeSeconds !== null) metrics.viewMaxAge.set(view, v.maxAgeSeconds);
    if (v.streamLagSeconds !== null) metrics.viewStreamLag.set(view, v.streamLagSeconds);
    if (v.maxLagSeconds !== null) metrics.viewMaxLag.set(view, v.maxLagSeconds);
    const ageBreached = v.breaches.some((b) => b.check === 'age');
    const lagBreached = v.breaches.some((b) => b.check === 'lag');
    if (v.maxAgeSeconds !== null)
      metrics.viewFreshnessBreached.set({ ...view, check: 'age' }, ageBreached ? 1 : 0);
    if (v.maxLagSeconds !== null)
      metrics.viewFreshnessBreached.set({ ...view, check: 'lag' }, lagBreached ? 1 : 0);
  }
  for (const p of report.streams) {
    if (p.lagSeconds !== null)
      metrics.streamEventLag.set({ source: p.source, partition: p.partition }, p.lagSeconds);
  }
}
