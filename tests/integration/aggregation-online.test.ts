import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAggregates } from '../../src/aggregation/read-aggregates.js';
import { tilePlan } from '../../src/aggregation/tiles.js';
import { encodeEntityKey } from '../../src/core/entity-key.js';
import { stateFromDefinitions } from '../../src/definitions/definition.js';
import { type AggregationSelection, resolveFeatures } from '../../src/definitions/resolve.js';
import { materializeAggregationView } from '../../src/materialize/materialize-aggregates.js';
import { DuckDbOfflineStore } from '../../src/offline/duckdb/duckdb-offline-store.js';
import type { OnlineStore } from '../../src/online/online-store.js';
import { RedisOnlineStore } from '../../src/online/redis/redis-online-store.js';
import { SqliteOnlineStore } from '../../src/online/sqlite/sqlite-online-store.js';
import {
  eventsSource,
  randomEvents,
  randomView,
  T0,
  user,
  writeEvents,
} from '../helpers/aggregation-data.js';
import { type RefEvent, referenceValues, sameAggregate } from '../helpers/aggregation-reference.js';
import { redisUrl } from '../helpers/services.js';

/**
 * Batch tiles (materialized from the offline events with the stream engine's tile code) read online must give
 * exactly what the offline SQL backfill gives at the same instant, and what the definition says (reference).
 */
let dir: string;
let offline: DuckDbOfflineStore;
const keyPrefix = `tsr_agg_${randomUUID().slice(0, 8)}`;
const stores: [string, () => OnlineStore][] = [
  ['sqlite', () => new SqliteOnlineStore({ path: ':memory:' })],
  ['redis', () => new RedisOnlineStore({ url: redisUrl(), keyPrefix })],
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tessera-agg-online-'));
  offline = new DuckDbOfflineStore({ repoPath: dir, connections: {} }, { threads: 2 });
});
afterAll(async () => {
  await offline.close();
  await rm(dir, { recursive: true, force: true });
  const admin = new Redis(redisUrl());
  const keys = await admin.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await admin.unlink(...keys);
  await admin.quit();
});

for (const [name, create] of stores) {
  describe(`aggregation tiles online (${name}) = offline backfill = definition`, () => {
    for (let seed = 1; seed <= 6; seed++) {
      it(`seed ${seed}`, async () => {
        const store = create();
        try {
          const view = randomView(seed);
          // Events over the last 3 hours, so that tiles are live now.
          const shift = Date.now() - 3 * 3_600_000 - T0;
          const events: RefEvent[] = randomEvents(seed, 500).map((e) => ({ ...e, ts: e.ts + shift }));
          const path = `events-${name}-${seed}`;
          await writeEvents(offline, join(dir, path, 'part-0.parquet'), events);
          const source = { ...eventsSource, path };
          const state = stateFromDefinitions(`p_${seed}_${randomUUID().slice(0, 6)}`, [user, source, view]);
          const selection = resolveFeatures(state, { features: [`${view.name}:*`] })
            .aggregations[0] as AggregationSelection;
          const ref = { project: state.project, name: view.name, ttlMs: 0 };
          // Twice: a re-run changes nothing (tiles are replaced, not added to).
          for (let run = 0; run < 2; run++) {
            await materializeAggregationView(
              { project: state.project, offline, online: store, chunkRows: 97 },
              selection,
              0,
              Date.now() + 1,
            );
          }
          const now = Date.now();
          const users = [1, 2, 3, 4, 77];
          const keys = users.map((u) => encodeEntityKey(user.joinKeys, { user_id: u }));
          const [online] = await readAggregates(
            store,
            [{ ref, plan: tilePlan(view), features: new Set(view.features.map((f) => f.name)) }],
            [keys],
            now,
          );
          const result = await offline.getHistoricalFeatures({
            spine: { kind: 'rows', rows: users.map((u) => ({ user_id: u, event_timestamp: new Date(now) })) },
            views: [],
            aggregations: [selection],
          });
          const rows = await result.rows();
          await result.close();
          users.forEach((u, i) => {
            const expected = referenceValues(view, events, { user_id: u }, now);
            const got = online?.[i]?.values ?? {};
            for (const f of view.features) {
              const offlineValue = normalize(rows[i]?.[f.name]);
              if (
                !sameAggregate(expected[f.name], got[f.name]) ||
                !sameAggregate(offlineValue, got[f.name])
              ) {
                expect.fail(
                  `seed ${seed}, user ${u}, ${f.name}: reference ${JSON.stringify(expected[f.name])}, online ${JSON.stringify(got[f.name])}, offline ${JSON.stringify(offlineValue)}`,
                );
              }
            }
          });
          expect(events.length).toBeGreaterThan(0);
        } finally {
          await store.close();
        }
      });
    }
  });
}

const normalize = (v: unknown): unknown => {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(normalize);
  return v;
};
