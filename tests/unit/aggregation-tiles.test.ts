import { describe, expect, it } from 'vitest';
import {
  addToTile,
  emptyTile,
  type StartedTile,
  tileFromPlain,
  tilePlan,
  tileStartOf,
  tileToPlain,
  valuesAt,
} from '../../src/aggregation/tiles.js';
import { windowStart } from '../../src/aggregation/window.js';
import { aggregationView, defaultHop } from '../../src/definitions/aggregation-view.js';
import { float64 } from '../../src/definitions/value-types.js';
import { randomEvents, randomView, T0, user } from '../helpers/aggregation-data.js';
import { referenceValues, sameAggregate } from '../helpers/aggregation-reference.js';
import { prng } from '../helpers/prng.js';

describe('window arithmetic', () => {
  it('aligns the tail down to the hop and keeps the head exact', () => {
    // 5-minute window, 1-minute hop, read at 10:05:30 → events from 10:00:00 (aligned) to 10:05:30.
    const t = Date.UTC(2024, 0, 1, 10, 5, 30);
    expect(new Date(windowStart(t, 300_000, 60_000)).toISOString()).toBe('2024-01-01T10:00:00.000Z');
    // Before 1970 the floor still goes down.
    expect(windowStart(-1, 1, 1000)).toBe(-1000);
  });

  it('picks documented default hops', () => {
    expect(defaultHop(300_000)).toBe(10_000); // 5m → 10s
    expect(defaultHop(3_600_000)).toBe(300_000); // 1h → 5m
    expect(defaultHop(86_400_000)).toBe(3_600_000); // 1d → 1h
    expect(defaultHop(7 * 86_400_000)).toBe(6 * 3_600_000); // 7d → 6h
    expect(defaultHop(30 * 86_400_000)).toBe(86_400_000); // 30d → 1d
    expect(defaultHop(5_000)).toBe(1_000); // under 12s → 1s
  });
});

describe('tiles against the brute-force reference', () => {
  for (let seed = 1; seed <= 40; seed++) {
    it(`seed ${seed}: any arrival order and any tile split give the defined window values`, () => {
      const rnd = prng(seed * 7919);
      const view = randomView(seed);
      const plan = tilePlan(view);
      const events = randomEvents(seed, 150 + Math.floor(rnd() * 250));
      const maxTs = Math.max(...events.map((e) => e.ts));
      const queries = [
        ...Array.from({ length: 8 }, () => T0 + Math.floor(rnd() * (maxTs - T0 + 3_600_000))),
        ...events.slice(0, 4).map((e) => e.ts), // exactly on an event
      ];
      for (const t of queries) {
        // The online state as of t: every event at or before t, applied in a random order.
        const upTo = events.filter((e) => e.ts <= t).sort(() => rnd() - 0.5);
        for (const userId of [1, 2, 3, 4, 99]) {
          const mine = upTo.filter((e) => e.keys['user_id'] === userId && plan.accepts(e.values));
          const tilesByHop = plan.hops.map((layout) => {
            // Two partial tiles per interval, merged through their stored form: split and round-trip.
            const parts = new Map<number, ReturnType<typeof emptyTile>[]>();
            for (const e of mine) {
              const start = tileStartOf(e.ts, layout.hopMs);
              const both = parts.get(start) ?? [emptyTile(layout), emptyTile(layout)];
              parts.set(start, both);
              addToTile(layout, both[rnd() < 0.5 ? 0 : 1] as ReturnType<typeof emptyTile>, e.values, e.ts);
            }
            const tiles: StartedTile[] = [];
            for (const [start, [a, b]] of parts) {
              const restoredA = tileFromPlain(
                layout,
                JSON.parse(JSON.stringify(tileToPlain(layout, a ?? []))),
              );
              const restoredB = tileFromPlain(
                layout,
                JSON.parse(JSON.stringify(tileToPlain(layout, b ?? []))),
              );
              tiles.push({ start, states: restoredA }, { start, states: restoredB });
            }
            return tiles;
          });
          const actual = valuesAt(plan, tilesByHop, t);
          const expected = referenceValues(view, events, { user_id: userId }, t);
          for (const [name, want] of Object.entries(expected)) {
            if (!sameAggregate(want, actual[name])) {
              expect.fail(
                `seed ${seed}, user ${userId}, t=${new Date(t).toISOString()}, ${name}: expected ${JSON.stringify(want)}, got ${JSON.stringify(actual[name])}`,
              );
            }
          }
        }
      }
    });
  }

  it('empty windows give count 0 and null for everything else', () => {
    const view = aggregationView({
      name: 'v',
      entities: [user],
      source: 'events',
      aggregations: {
        n: { fn: 'count', windows: ['1h'] },
        s: { fn: 'sum', column: 'amount', type: float64(), windows: ['1h'] },
        k: { fn: 'last_k', column: 'amount', type: float64(), k: 2, windows: ['1h'] },
      },
    });
    expect(valuesAt(tilePlan(view), [[]], T0)).toEqual({ n_1h: 0, s_1h: null, k_1h: null });
  });
});
