import type { Metric, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';

/*
 * Counters and histograms for hot paths, exported through a prom-client Registry (which formats them, next to
 * prom-client's own metrics). Why not prom-client's: its `labels(...)` children validate and hash the label set
 * on every `inc`/`observe`; measured here (CPU time) 0.45 µs per counter increment and 0.75 µs per histogram
 * observation, against 8 ns and 20 ns for these. A child here is a plain object updated in place: a number add,
 * or a bucket search and two adds. Labels are resolved once, when the child is made.
 */

interface Config<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
  readonly registers: readonly Registry[];
}

/** One labelled series of a {@link FastCounter}. */
export class FastCounterChild {
  value = 0;
  constructor(readonly labels: Readonly<Record<string, string>>) {}
  /** Adds `n` (default 1; must be ≥ 0). */
  inc(n = 1): void {
    this.value += n;
  }
}

/**
 * What both kinds share: identity, registration in prom-client registries, and children by label values
 * (resolved once: a child is then updated without any lookup).
 */
abstract class FastMetric<L extends string, C extends { readonly labels: Readonly<Record<string, string>> }> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly L[];
  protected readonly children = new Map<string, C>();

  constructor(cfg: Config<L>) {
    this.name = cfg.name;
    this.help = cfg.help;
    this.labelNames = cfg.labelNames ?? [];
  }

  /** Registers in prom-client registries (once the subclass is fully built). */
  protected register(registers: readonly Registry[]): void {
    for (const r of registers) r.registerMetric(this as unknown as Metric);
  }

  protected abstract make(labels: Readonly<Record<string, string>>): C;

  /** The child of these label values (in `labelNames` order), made on first use. */
  labels(...values: string[]): C {
    const key = values.join('\u0000');
    let child = this.children.get(key);
    if (child === undefined) {
      if (values.length !== this.labelNames.length) {
        throw new Error(
          `${this.name} takes labels ${this.labelNames.join(', ')}; got ${values.length} value(s)`,
        );
      }
      child = this.make(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i] as string])));
      this.children.set(key, child);
    }
    return child;
  }

  reset(): void {
    this.children.clear();
  }
}

/**
 * A Prometheus counter whose children are cheap to increment.
 *
 * @example
 * const c = new FastCounter({ name: 'x_total', help: '…', labelNames: ['view'], registers: [registry] });
 * const child = c.labels('user_stats'); // once
 * child.inc(3); // per request
 */
export class FastCounter<L extends string = never> extends FastMetric<L, FastCounterChild> {
  readonly type = 'counter' as const;

  constructor(cfg: Config<L>) {
    super(cfg);
    // A counter without labels reads 0 before its first increment, as prom-client's does.
    if (this.labelNames.length === 0) this.labels();
    this.register(cfg.registers);
  }

  protected make(labels: Readonly<Record<string, string>>): FastCounterChild {
    return new FastCounterChild(labels);
  }

  /** Adds `n` to the series of `labels` (a lookup per call: for code off the hot path). */
  inc(labels: Readonly<Record<L, string>> | undefined = undefined, n = 1): void {
    const l = (labels ?? {}) as Readonly<Record<string, string>>;
    this.labels(...this.labelNames.map((name) => l[name] ?? '')).inc(n);
  }

  async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    return {
      collect: () => undefined,
      name: this.name,
      help: this.help,
      type: 'counter' as unknown as MetricObjectWithValues<MetricValue<string>>['type'],
      aggregator: this.aggregator,
      values: [...this.children.values()].map((c) => ({ labels: { ...c.labels }, value: c.value })),
    };
  }

  override reset(): void {
    super.reset();
    if (this.labelNames.length === 0) this.labels();
  }
}

/** One labelled series of a {@link FastHistogram}. */
export class FastHistogramChild {
  /** Observations per bucket (not cumulative): counts[i] holds values in (bounds[i-1], bounds[i]]. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > (b[i] as number)) i++;
    if (i < b.length) this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }
}

/**
 * A Prometheus histogram whose children are cheap to observe; exported with cumulative `_bucket` series (and
 * `le="+Inf"`), `_sum` and `_count`, like prom-client's.
 *
 * @example
 * const h = new FastHistogram({ name: 'x_seconds', help: '…', labelNames: ['store'], buckets: [0.001, 0.01], registers: [registry] });
 * h.labels('redis').observe(0.0004);
 */
export class FastHistogram<L extends string = never> extends FastMetric<L, FastHistogramChild> {
  readonly type = 'histogram' as const;
  readonly buckets: readonly number[];

  constructor(cfg: Config<L> & { readonly buckets: readonly number[] }) {
    super(cfg);
    this.buckets = [...cfg.buckets].sort((a, b) => a - b);
    this.register(cfg.registers);
  }

  protected make(labels: Readonly<Record<string, string>>): FastHistogramChild {
    return new FastHistogramChild(labels, this.buckets);
  }

  async get(): Promise<MetricObjectWithValues<MetricValue<string>>> {
    const values: MetricValue<string>[] = [];
    for (const c of this.children.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += c.counts[i] as number;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le, ...c.labels },
          value: acc,
        } as MetricValue<string>);
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { le: '+Inf', ...c.labels },
        value: c.count,
      } as MetricValue<string>);
      values.push({
        metricName: `${this.name}_sum`,
        labels: { ...c.labels },
        value: c.sum,
      } as MetricValue<string>);
      values.push({
        metricName: `${this.name}_count`,
        labels: { ...c.labels },
        value: c.count,
      } as MetricValue<string>);
    }
    return {
      collect: () => undefined,
      name: this.name,
      help: this.help,
      type: 'histogram' as unknown as MetricObjectWithValues<MetricValue<string>>['type'],
      aggregator: this.aggregator,
      values,
    };
  }
}
