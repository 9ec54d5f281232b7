import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastCounter, FastHistogram } from '../../src/metrics/fast-metrics.js';
import { LATENCY_BUCKETS } from '../../src/metrics/metrics.js';
import { prng } from '../helpers/prng.js';

describe('FastCounter and FastHistogram', () => {
  it("expose exactly what prom-client's own Counter and Histogram expose for the same updates", async () => {
    const mine = new Registry();
    const theirs = new Registry();
    const config = { help: 'h', labelNames: ['route', 'status'] as const };
    const fastH = new FastHistogram({
      ...config,
      name: 'lat_seconds',
      buckets: LATENCY_BUCKETS,
      registers: [mine],
    });
    const fastC = new FastCounter({ ...config, name: 'req_total', registers: [mine] });
    const plain = new FastCounter({ name: 'plain_total', help: 'h', registers: [mine] });
    const promH = new Histogram({
      ...config,
      name: 'lat_seconds',
      buckets: LATENCY_BUCKETS,
      registers: [theirs],
    });
    const promC = new Counter({ ...config, name: 'req_total', registers: [theirs] });
    new Counter({ name: 'plain_total', help: 'h', registers: [theirs] });
    const random = prng(3);
    for (let i = 0; i < 5000; i++) {
      const route = random() < 0.5 ? '/a' : '/b';
      const status = random() < 0.9 ? '200' : '500';
      // Values spread over every bucket, bounds themselves included.
      const v =
        random() < 0.1 ? (LATENCY_BUCKETS[i % LATENCY_BUCKETS.length] as number) : 10 ** (random() * 6 - 5);
      fastH.labels(route, status).observe(v);
      promH.observe({ route, status }, v);
      fastC.labels(route, status).inc(i % 3);
      promC.inc({ route, status }, i % 3);
    }
    // Same series in possibly another order; sums may differ in the last bits (different addition order).
    const lines = async (r: Registry) =>
      (await r.metrics())
        .split('\n')
        .filter((l) => l !== '')
        .map((l) =>
          l.replace(/(_sum\{[^}]*\}) (\S+)/, (_m, k: string, v: string) => `${k} ${Number(v).toFixed(9)}`),
        )
        .sort();
    expect(await lines(mine)).toEqual(await lines(theirs));
    expect(plain.labels().value).toBe(0);
    expect(() => fastC.labels('/a')).toThrow(/takes labels route, status; got 1 value/);
    fastC.reset();
    expect((await fastC.get()).values).toEqual([]);
  });
});
