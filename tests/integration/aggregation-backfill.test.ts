import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateFromDefinitions } from '../../src/definitions/definition.js';
import { resolveFeatures } from '../../src/definitions/resolve.js';
import { DuckDbOfflineStore } from '../../src/offline/duckdb/duckdb-offline-store.js';
import {
  eventsSource,
  randomEvents,
  randomView,
  T0,
  user,
  writeEvents,
} from '../helpers/aggregation-data.js';
import { referenceValues, sameAggregate } from '../helpers/aggregation-reference.js';
import { prng } from '../helpers/prng.js';

let dir: string;
let store: DuckDbOfflineStore;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-agg-'));
  store = new DuckDbOfflineStore({ repoPath: dir, connections: {} }, { threads: 2 });
});
afterAll(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('aggregation backfill in DuckDB: randomized against the brute-force reference', () => {
  for (let seed = 1; seed <= 25; seed++) {
    it(`seed ${seed}`, async () => {
      const rnd = prng(seed * 104729);
      const view = randomView(seed);
      const events = randomEvents(seed, 200 + Math.floor(rnd() * 400));
      const path = `events-${seed}`;
      await writeEvents(store, join(dir, path, 'part-0.parquet'), events);
      const source = { ...eventsSource, path };
      const state = stateFromDefinitions('test', [user, source, view]);
      const spine = Array.from({ length: 60 }, (_, i) => {
        const t =
          i % 7 === 0
            ? (events[i % events.length]?.ts ?? T0) // exactly on an event
            : T0 - 3_600_000 + Math.floor(rnd() * 5 * 3_600_000);
        return {
          user_id: i % 11 === 0 ? null : 1 + Math.floor(rnd() * 5),
          event_timestamp: i % 13 === 5 ? null : new Date(t),
          label: i,
        };
      });
      spine.push({ ...(spine[3] as (typeof spine)[number]), label: 1000 }); // a duplicate spine row
      const resolved = resolveFeatures(state, { features: [`${view.name}:*`] });
      const result = await store.getHistoricalFeatures({
        spine: { kind: 'rows', rows: spine },
        views: resolved.views,
        aggregations: resolved.aggregations,
      });
      const rows = await result.rows();
      await result.close();
      expect(rows.map((r) => r['label'])).toEqual(spine.map((s) => s.label));
      for (const [i, row] of rows.entries()) {
        const s = spine[i] as (typeof spine)[number];
        const known = s.user_id !== null && s.event_timestamp !== null;
        const expected = known
          ? referenceValues(view, events, { user_id: s.user_id }, (s.event_timestamp as Date).getTime())
          : Object.fromEntries(view.features.map((f) => [f.name, null]));
        for (const [name, want] of Object.entries(expected)) {
          const got = normalize(row[name]);
          if (!sameAggregate(want, got)) {
            expect.fail(
              `seed ${seed}, spine row ${i} (${JSON.stringify(s)}), ${name}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`,
            );
          }
        }
      }
    });
  }
});

/** Results as rows give int64 as number (or bigint when large) and lists as arrays. */
const normalize = (v: unknown): unknown => {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(normalize);
  return v;
};
