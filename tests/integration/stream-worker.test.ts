import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAggregates } from '../../src/aggregation/read-aggregates.js';
import { tilePlan } from '../../src/aggregation/tiles.js';
import { encodeEntityKey } from '../../src/core/entity-key.js';
import { aggregationView } from '../../src/definitions/aggregation-view.js';
import { stateFromDefinitions } from '../../src/definitions/definition.js';
import { type AggregationSelection, resolveFeatures } from '../../src/definitions/resolve.js';
import { DuckDbOfflineStore } from '../../src/offline/duckdb/duckdb-offline-store.js';
import type { OnlineStore } from '../../src/online/online-store.js';
import { RedisOnlineStore } from '../../src/online/redis/redis-online-store.js';
import { SqliteOnlineStore } from '../../src/online/sqlite/sqlite-online-store.js';
import { MemoryLog, MemoryLogSource } from '../../src/stream/memory/memory-log.js';
import type { StreamRecord } from '../../src/stream/stream-source.js';
import { type DeadLetter, StreamWorker } from '../../src/stream/stream-worker.js';
import {
  EVENT_COLUMNS,
  eventsSource,
  randomEvents,
  randomView,
  T0,
  user,
} from '../helpers/aggregation-data.js';
import { type RefEvent, referenceValues, sameAggregate } from '../helpers/aggregation-reference.js';
import { prng } from '../helpers/prng.js';
import { redisUrl } from '../helpers/services.js';

/**
 * The stream engine's exactly-once effect, in-process: a worker that crashes at random points of its batches
 * (after staging files, after committing, after promoting) and is restarted many times must end with exactly
 * the state of one clean pass: every accepted event counted once online and written once to the lake, every
 * malformed or late event once in the dead letters, and online values equal to the offline recomputation.
 */
let dir: string;
let offline: DuckDbOfflineStore;
const keyPrefix = `tsr_stream_${randomUUID().slice(0, 8)}`;
const stores: [string, () => OnlineStore][] = [
  ['sqlite', () => new SqliteOnlineStore({ path: ':memory:' })],
  ['redis', () => new RedisOnlineStore({ url: redisUrl(), keyPrefix })],
];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-stream-'));
  offline = new DuckDbOfflineStore({ repoPath: dir, connections: {} }, { threads: 2 });
});
afterAll(async () => {
  await offline.close();
  rmSync(dir, { recursive: true, force: true });
  const admin = new Redis(redisUrl());
  const keys = await admin.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await admin.unlink(...keys);
  await admin.quit();
});

const LATENESS_MS = 5 * 60_000;

for (const [name, create] of stores) {
  describe(`stream worker (${name}): crashes lose nothing and count nothing twice`, () => {
    for (const seed of [1, 2, 3]) {
      it(`seed ${seed}`, async () => {
        const rnd = prng(seed * 31337);
        const online = create();
        const base = randomView(seed);
        const view = aggregationView({
          name: base.name,
          entities: [user],
          source: 'events',
          aggregations: Object.fromEntries(
            base.aggregations.map((a) => [
              a.name,
              {
                fn: a.fn,
                windows: a.windows.map((w) => w.label),
                ...(a.column ? { column: a.column } : {}),
                ...(a.inputType ? { type: { kind: 'FieldType', type: a.inputType } } : {}),
                ...(a.k ? { k: a.k } : {}),
                ...(a.maxDistinct ? { maxDistinct: a.maxDistinct } : {}),
              },
            ]),
          ) as never,
          hops: Object.fromEntries(
            base.aggregations.flatMap((a) => a.windows.map((w) => [w.label, `${w.hopMs}ms`])),
          ),
          where: base.where,
          allowedLateness: '5m',
        });
        const repo = join(dir, `${name}-${seed}`);
        const source = { ...eventsSource, path: 'lake/events' };
        const state = stateFromDefinitions(`p${seed}_${randomUUID().slice(0, 6)}`, [user, source, view]);
        const selection = resolveFeatures(state, { features: [`${view.name}:*`] })
          .aggregations[0] as AggregationSelection;

        // Events over the last ~3 hours, in time order with some jitter (a few become late), and bad records.
        const shift = Date.now() - 3.5 * 3_600_000 - T0;
        const events = randomEvents(seed, 1200)
          .map((e) => ({ ...e, ts: e.ts + shift }))
          .filter((e) => e.ts <= Date.now() - 1000)
          .map((e) => ({ e, order: e.ts + (rnd() < 0.05 ? 20 * 60_000 : rnd() * 60_000) }))
          .sort((a, b) => a.order - b.order)
          .map((x) => x.e);
        const log = new MemoryLog('events', 3);
        const sent = new Map<string, RefEvent>(); // `${partition}@${offset}` → event
        const bad = new Set<string>();
        for (const [i, e] of events.entries()) {
          const json = JSON.stringify({
            ...e.keys,
            ts: new Date(e.ts).toISOString(),
            ...e.values,
            seen: e.values['seen'] instanceof Date ? e.values['seen'].toISOString() : null,
          });
          const r = log.append(String(e.keys['user_id']), json);
          sent.set(`${r.partition}@${r.offset}`, e);
          if (i % 97 === 5) {
            const b = log.append(
              String(e.keys['user_id']),
              i % 2 ? '{"user_id": "seven"}' : 'not json at all',
            );
            bad.add(`${b.partition}@${b.offset}`);
          }
        }
        // What one clean pass accepts: per partition, an event is late when it is more than the allowed
        // lateness behind the greatest event time accepted before it in that partition.
        const late = new Set<string>();
        for (const records of log.partitions) {
          let watermark = Number.NEGATIVE_INFINITY;
          for (const r of records) {
            const e = sent.get(`${r.partition}@${r.offset}`);
            if (e === undefined) continue;
            if (e.ts < watermark - LATENESS_MS) late.add(`${r.partition}@${r.offset}`);
            else watermark = Math.max(watermark, e.ts);
          }
        }
        expect(late.size).toBeGreaterThan(0);
        const accepted = [...sent].filter(([k]) => !late.has(k)).map(([, e]) => e);

        const consumer = `${state.project}/stream`;
        const crashRnd = prng(seed);
        let crashes = 0;
        const caughtUp = async () => {
          const checkpoints = await online.readCheckpoints(consumer);
          return log.partitions.every((p, i) => (checkpoints.get(`events/${i}`)?.next ?? 0) === p.length);
        };
        for (let attempt = 0; ; attempt++) {
          expect(attempt).toBeLessThan(100);
          const worker = new StreamWorker({
            project: state.project,
            consumer,
            source,
            views: [selection],
            online,
            lake: { writer: offline, repoPath: repo, columns: EVENT_COLUMNS },
            stagingDir: join(repo, '.tessera', 'staging'),
            deadLetterDir: join(repo, 'dead-letters'),
            instanceId: 'worker-1',
            faultPoint: (point) => {
              if (crashes < 15 && crashRnd() < 0.2) {
                crashes++;
                throw new Error(`crash at ${point}`);
              }
            },
          });
          const ac = new AbortController();
          const handler = {
            // A restart recovers the partitions' staged files; after a crash right after the last commit,
            // that is all there is left to do.
            assigned: async (p: readonly string[]) => {
              const offsets = await worker.assigned(p);
              if (await caughtUp()) ac.abort();
              return offsets;
            },
            revoked: (p: readonly string[]) => worker.revoked(p),
            batch: async (records: readonly StreamRecord[]) => {
              await worker.batch(records);
              const checkpoints = await online.readCheckpoints(consumer);
              const done = log.partitions.every(
                (p, i) => (checkpoints.get(`events/${i}`)?.next ?? 0) === p.length,
              );
              if (done) ac.abort();
            },
          };
          try {
            await new MemoryLogSource(log, 40 + Math.floor(crashRnd() * 200)).consume(handler, ac.signal);
            break;
          } catch (e) {
            if (!/^crash at/.test((e as Error).message)) throw e;
          }
        }
        expect(crashes).toBeGreaterThanOrEqual(10);

        // Dead letters: each bad or late record exactly once, with a reason.
        const deadDir = join(repo, 'dead-letters');
        const dead: DeadLetter[] = existsSync(deadDir)
          ? readdirSync(deadDir).flatMap((f) =>
              readFileSync(join(deadDir, f), 'utf8')
                .trim()
                .split('\n')
                .map((l) => JSON.parse(l) as DeadLetter),
            )
          : [];
        const deadKeys = dead.map((d) => `${d.partition}@${d.offset}`).sort();
        const expectedDead = [...bad, ...late].sort();
        expect(
          expectedDead
            .filter((k) => !deadKeys.includes(k))
            .map((k) => [k, bad.has(k), JSON.stringify(sent.get(k))]),
        ).toEqual([]);
        expect(deadKeys).toEqual(expectedDead);
        expect(dead.every((d) => d.reason.length > 0)).toBe(true);
        expect(dead.filter((d) => d.reason.startsWith('late')).length).toBe(late.size);
        expect(
          existsSync(join(repo, '.tessera', 'staging'))
            ? readdirSync(join(repo, '.tessera', 'staging')).flatMap((p) =>
                readdirSync(join(repo, '.tessera', 'staging', p)),
              )
            : [],
        ).toEqual([]);

        // The lake holds exactly the accepted events.
        const lake = await offline.getHistoricalFeatures({
          spine: {
            kind: 'sql',
            query: `SELECT user_id, ts AS event_timestamp FROM read_parquet('${repo}/lake/events/**/*.parquet', hive_partitioning = true)`,
          },
          views: [],
        });
        expect(lake.rowCount).toBe(accepted.length);
        await lake.close();

        // Online = offline recomputation over the lake = definition over the accepted events.
        const now = Date.now();
        const users = [1, 2, 3, 4];
        const [served] = await readAggregates(
          online,
          [
            {
              ref: { project: state.project, name: view.name, ttlMs: 0 },
              plan: tilePlan(view),
              features: new Set(view.features.map((f) => f.name)),
            },
          ],
          [users.map((u) => encodeEntityKey(user.joinKeys, { user_id: u }))],
          now,
        );
        const lakeOffline = new DuckDbOfflineStore({ repoPath: repo, connections: {} }, { threads: 2 });
        const training = await lakeOffline.getHistoricalFeatures({
          spine: { kind: 'rows', rows: users.map((u) => ({ user_id: u, event_timestamp: new Date(now) })) },
          views: [],
          aggregations: [selection],
        });
        const rows = await training.rows();
        await training.close();
        await lakeOffline.close();
        users.forEach((u, i) => {
          const expected = referenceValues(view, accepted, { user_id: u }, now);
          for (const f of view.features) {
            const got = served?.[i]?.values[f.name];
            const off = rows[i]?.[f.name];
            const offN = typeof off === 'bigint' ? Number(off) : off;
            if (!sameAggregate(expected[f.name], got) || !sameAggregate(offN, got)) {
              expect.fail(
                `user ${u} ${f.name}: definition ${JSON.stringify(expected[f.name])}, online ${JSON.stringify(got)}, offline ${JSON.stringify(offN)}`,
              );
            }
          }
        });
        await online.close();
      });
    }
  });
}
