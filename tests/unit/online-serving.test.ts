import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { encodeEntityKey } from '../../src/core/entity-key.js';
import { TesseraMetrics } from '../../src/metrics/metrics.js';
import { servingObserver } from '../../src/metrics/serving-metrics.js';
import type {
  OnlineReadRequest,
  OnlineRow,
  OnlineStore,
  OnlineViewRef,
  StoredRow,
} from '../../src/online/online-store.js';
import { BodyWriter, BufferPool } from '../../src/server/body-writer.js';
import { toFeastResponse, writeFeastResponse } from '../../src/server/feast-json.js';
import { OnlineServing, servedColumns } from '../../src/serving/online-serving.js';
import { ratio, sampleState } from '../helpers/sample-definitions.js';

/** A minimal in-memory store: serving logic is what is under test here, not storage. */
class MemoryStore implements OnlineStore {
  readonly kind = 'memory';
  readonly rows = new Map<string, OnlineRow>();
  reads = 0;
  delayMs = 0;
  async write(view: OnlineViewRef, rows: readonly OnlineRow[]) {
    for (const r of rows) this.rows.set(`${view.name}/${r.entityKey}`, r);
  }
  async read(requests: readonly OnlineReadRequest[]): Promise<(StoredRow | null)[][]> {
    this.reads++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    return requests.map((q) => q.entityKeys.map((k) => this.rows.get(`${q.view.name}/${k}`) ?? null));
  }
  async deleteView() {}
  async writeTiles() {}
  async readTiles(requests: readonly { entityKeys: readonly string[] }[]) {
    return requests.map((r) => r.entityKeys.map(() => []));
  }
  async readCheckpoints() {
    return new Map();
  }
  async freshness() {
    return new Map();
  }
  async close() {}
}

const NOW = Date.parse('2024-05-01T12:00:00Z');
const HOUR = 3_600_000;
const key = (id: number) => encodeEntityKey([{ name: 'user_id', type: 'int64' }], { user_id: id });

async function setup(fallbacks: Record<string, unknown> = {}, deadlineMs?: number) {
  const store = new MemoryStore();
  await store.write({ project: 'test', name: 'user_stats', ttlMs: HOUR }, [
    {
      entityKey: key(1),
      eventTs: NOW - 10 * 60_000,
      createdTs: 0,
      values: { clicks: 5, spend: 20, tags: ['a'] },
    },
    // Exactly at the TTL edge: still valid (event_ts >= now - ttl).
    { entityKey: key(2), eventTs: NOW - HOUR, createdTs: 0, values: { clicks: 7, spend: null, tags: [] } },
    // One millisecond past the TTL: too old.
    { entityKey: key(3), eventTs: NOW - HOUR - 1, createdTs: 0, values: { clicks: 9, spend: 1, tags: [] } },
  ]);
  await store.write({ project: 'test', name: 'item_stats', ttlMs: 0 }, [
    { entityKey: '100', eventTs: 0, createdTs: 0, values: { price: 9.5, clicks: 1 } },
  ]);
  const serving = new OnlineServing({
    store,
    state: () => sampleState,
    loadTransform: async () => ratio.transform!,
    fallbacks,
    ...(deadlineMs !== undefined ? { deadlineMs } : {}),
  });
  return { store, serving };
}

describe('online serving', () => {
  it('returns values, statuses and event times per entity, join keys first, TTL enforced like training', async () => {
    const { serving, store } = await setup();
    const r = await serving.get({
      features: ['user_stats:clicks', 'user_stats:spend'],
      entities: [{ user_id: 1 }, { user_id: 2 }, { user_id: 3 }, { user_id: 4 }],
      now: new Date(NOW),
    });
    expect(r.featureNames).toEqual(['user_id', 'clicks', 'spend']);
    expect(r.rows).toEqual([
      { user_id: 1, clicks: 5, spend: 20 },
      { user_id: 2, clicks: 7, spend: null },
      { user_id: 3, clicks: null, spend: null },
      { user_id: 4, clicks: null, spend: null },
    ]);
    expect(r.statuses).toEqual([
      ['PRESENT', 'PRESENT', 'PRESENT'],
      ['PRESENT', 'PRESENT', 'NULL_VALUE'],
      ['PRESENT', 'OUTSIDE_MAX_AGE', 'OUTSIDE_MAX_AGE'],
      ['PRESENT', 'NOT_FOUND', 'NOT_FOUND'],
    ]);
    expect(r.eventTimestamps[0]?.[1]?.getTime()).toBe(NOW - 10 * 60_000);
    expect(r.eventTimestamps[3]?.[1]).toBeNull();
    expect(store.reads).toBe(1);
  });

  it('reads many views in one store call and keeps request order across views', async () => {
    const { serving, store } = await setup();
    const r = await serving.get({
      features: ['item_stats:price', 'user_stats:clicks'],
      entities: [{ user_id: 1, item_id: 100 }],
      now: new Date(NOW),
    });
    expect(r.featureNames).toEqual(['item_id', 'user_id', 'price', 'clicks']);
    expect(r.rows[0]).toEqual({ item_id: 100, user_id: 1, price: 9.5, clicks: 5 });
    expect(store.reads).toBe(1);
  });

  it('applies on-demand transforms with request fields, and serves feature services', async () => {
    const { serving } = await setup();
    const r = await serving.get({
      featureService: 'ranker',
      entities: [
        { user_id: 1, item_id: 100, amount: 10 },
        { user_id: 3, item_id: 100, amount: 10 },
      ],
      now: new Date(NOW),
    });
    expect(r.featureNames).toEqual(['user_id', 'item_id', 'clicks', 'amount_over_spend', 'price']);
    expect(r.rows[0]).toMatchObject({ clicks: 5, amount_over_spend: 0.5, price: 9.5 });
    // The input feature is too old for user 3, so the transform sees null.
    expect(r.rows[1]).toMatchObject({ clicks: null, amount_over_spend: null });
  });

  it('names full feature names and rejects colliding outputs', async () => {
    const { serving } = await setup();
    await expect(
      serving.get({
        features: ['user_stats:clicks', 'item_stats:clicks'],
        entities: [{ user_id: 1, item_id: 100 }],
      }),
    ).rejects.toThrow(/both be output as 'clicks'.*fullFeatureNames/);
    const r = await serving.get({
      features: ['user_stats:clicks', 'item_stats:clicks'],
      entities: [{ user_id: 1, item_id: 100 }],
      fullFeatureNames: true,
      now: new Date(NOW),
    });
    expect(r.rows[0]).toMatchObject({ user_stats__clicks: 5, item_stats__clicks: 1 });
  });

  it('serves configured fallbacks with status DEFAULTED for missing and too-old values', async () => {
    const { serving } = await setup({ 'user_stats:clicks': 0 });
    const r = await serving.get({
      features: ['user_stats:clicks', 'user_stats:spend'],
      entities: [{ user_id: 3 }, { user_id: 4 }],
      now: new Date(NOW),
    });
    expect(r.rows.map((x) => x['clicks'])).toEqual([0, 0]);
    expect(r.statuses.map((s) => s[1])).toEqual(['DEFAULTED', 'DEFAULTED']);
    expect(r.statuses.map((s) => s[2])).toEqual(['OUTSIDE_MAX_AGE', 'NOT_FOUND']);
  });

  it('answers within the deadline with fallbacks when the store is slow, and says so', async () => {
    const { serving, store } = await setup({ 'user_stats:clicks': -1 });
    store.delayMs = 200;
    const t0 = performance.now();
    const r = await serving.get({
      features: ['user_stats:clicks', 'user_stats:spend'],
      entities: [{ user_id: 1 }],
      deadlineMs: 20,
    });
    expect(performance.now() - t0).toBeLessThan(150);
    expect(r.rows[0]).toEqual({ user_id: 1, clicks: -1, spend: null });
    expect(r.statuses[0]).toEqual(['PRESENT', 'DEFAULTED', 'DEFAULTED']);
    expect(r.warnings[0]).toMatch(/deadline of 20 ms exceeded/);
  });

  it('compiles a plan once per feature selection and registry state', async () => {
    const { store } = await setup();
    let state = sampleState;
    const serving = new OnlineServing({
      store,
      state: () => state,
      loadTransform: async () => ratio.transform!,
    });
    const get = (features: string[], fullFeatureNames = false) =>
      serving.get({ features, entities: [{ user_id: 1 }], fullFeatureNames, now: new Date(NOW) });
    const a = await get(['user_stats:clicks', 'user_stats:spend']);
    // The plan's featureNames array is the same object when the plan is reused.
    expect((await get(['user_stats:clicks', 'user_stats:spend'])).featureNames).toBe(a.featureNames);
    expect((await get(['user_stats:spend', 'user_stats:clicks'])).featureNames).toEqual([
      'user_id',
      'spend',
      'clicks',
    ]);
    expect((await get(['user_stats:clicks', 'user_stats:spend'], true)).featureNames).toEqual([
      'user_id',
      'user_stats__clicks',
      'user_stats__spend',
    ]);
    expect((await get(['user_stats:clicks'])).featureNames).toEqual(['user_id', 'clicks']);
    state = { ...sampleState };
    const b = await get(['user_stats:clicks', 'user_stats:spend']);
    expect(b.featureNames).not.toBe(a.featureNames);
    expect(b.featureNames).toEqual(a.featureNames);
  });

  it('gives clear errors for bad requests', async () => {
    const { serving } = await setup();
    await expect(serving.get({ features: ['user_stats:nope'], entities: [{ user_id: 1 }] })).rejects.toThrow(
      /unknown feature 'nope' in view 'user_stats'/,
    );
    await expect(serving.get({ features: ['nope:x'], entities: [{ user_id: 1 }] })).rejects.toThrow(
      /unknown feature view 'nope'/,
    );
    await expect(serving.get({ features: ['user_stats:clicks'], entities: [{ user: 1 }] })).rejects.toThrow(
      /row 0.*field 'user_id'.*missing join key/,
    );
    await expect(
      serving.get({ features: ['ratio:amount_over_spend'], entities: [{ user_id: 1 }] }),
    ).rejects.toThrow(/request field 'amount' needed by on-demand view 'ratio' is missing/);
  });
});

describe('served columns', () => {
  it('give the same HTTP answer as the SDK shape, for every status and with fallbacks', async () => {
    const { serving, store } = await setup({ 'user_stats:clicks': -1 });
    const requests = [
      {
        features: ['user_stats:clicks', 'user_stats:spend', 'user_stats:tags'],
        entities: [
          { user_id: 1 },
          { user_id: 2 },
          { user_id: 3 },
          { user_id: 4 },
          { user_id: 1 },
          { user_id: 2 },
        ],
        now: new Date(NOW),
      },
      {
        featureService: 'ranker',
        entities: [
          { user_id: 1, item_id: 100, amount: 10 },
          { user_id: 3, item_id: 100, amount: 10 },
          { user_id: 4, item_id: 7, amount: 1 },
        ],
        now: new Date(NOW),
      },
      {
        features: ['item_stats:price', 'user_stats:clicks', 'item_stats:clicks'],
        entities: [{ user_id: 2, item_id: 100 }],
        fullFeatureNames: true,
        now: new Date(NOW),
      },
    ];
    for (const request of requests) {
      const r = await serving.get(request);
      expect(servedColumns(r)).toBeDefined();
      // A copy has no columns, so it is written from rows, statuses and eventTimestamps.
      expect(servedColumns({ ...r })).toBeUndefined();
      expect(toFeastResponse(r)).toBe(toFeastResponse({ ...r }));
    }
    // Past the deadline: every value defaulted, every event time the epoch.
    store.delayMs = 100;
    const late = await serving.get({ ...(requests[0] as (typeof requests)[0]), deadlineMs: 5 });
    expect(toFeastResponse(late)).toBe(toFeastResponse({ ...late }));
    const body = JSON.parse(toFeastResponse(late)) as { results: { statuses: string[] }[] };
    expect(body.results[1]?.statuses).toEqual(Array(6).fill('DEFAULTED'));
  });

  it('share statuses and event times per view, and mark the columns that differ from them', async () => {
    const { serving } = await setup({ 'user_stats:clicks': -1 });
    const r = await serving.get({
      features: ['user_stats:clicks', 'user_stats:spend', 'user_stats:tags'],
      entities: [{ user_id: 1 }, { user_id: 2 }, { user_id: 3 }],
      now: new Date(NOW),
    });
    const cols = servedColumns(r)!;
    expect(cols.columnViews).toEqual([-1, 0, 0, 0]);
    expect(cols.viewStatuses[0]).toEqual(['PRESENT', 'PRESENT', 'OUTSIDE_MAX_AGE']);
    expect(cols.viewTimes[0]).toEqual([NOW - 10 * 60_000, NOW - HOUR, NOW - HOUR - 1]);
    // clicks: fallback for the too-old row; spend: null for user 2; tags: as the view.
    expect(cols.adjusted).toEqual([false, true, true, false]);
    expect(cols.values[1]).toEqual([2, 7, null, []]);
  });

  it('write the same answer through a pooled buffer when it is large', async () => {
    const { serving } = await setup({ 'user_stats:clicks': -1 });
    const r = await serving.get({
      features: ['user_stats:clicks', 'user_stats:spend', 'user_stats:tags', 'ratio:amount_over_spend'],
      entities: Array.from({ length: 3000 }, (_, i) => ({ user_id: (i % 5) + 1, amount: i })),
      now: new Date(NOW),
    });
    const app = Fastify();
    const pool = new BufferPool();
    app.get('/answer', async (_req, reply) => {
      const body = new BodyWriter(pool);
      writeFeastResponse(r, body);
      return body.send(reply, 'application/json; charset=utf-8');
    });
    const res = await app.inject({ method: 'GET', url: '/answer' });
    expect(res.rawPayload.length).toBeGreaterThan(200_000);
    expect(res.payload).toBe(toFeastResponse({ ...r }));
    await app.close();
  });
});

describe('serving metrics (servingObserver)', () => {
  const counts = async (metrics: TesseraMetrics) => {
    const json = await metrics.registry.getMetricsAsJSON();
    const values = (name: string) =>
      Object.fromEntries(
        (json.find((m) => m.name === name)?.values ?? []).map((v) => [
          Object.values(v.labels).join('/'),
          v.value,
        ]),
      );
    return {
      served: values('tessera_feature_values_served_total'),
      fallbacks: values('tessera_fallbacks_total'),
      deadlines: values('tessera_serving_deadline_exceeded_total'),
      reads: (json.find((m) => m.name === 'tessera_online_store_read_duration_seconds')?.values ?? []).find(
        (v) =>
          (v as { metricName?: string }).metricName === 'tessera_online_store_read_duration_seconds_count',
      )?.value,
    };
  };

  it('counts each value once by view and status, fallbacks by feature, on-demand outputs under their view', async () => {
    const { serving } = await setup({ 'user_stats:spend': 0 });
    const metrics = new TesseraMetrics({ defaultMetrics: false });
    serving.observe(servingObserver(metrics, 'memory'));
    const r = await serving.get({
      features: ['user_stats:clicks', 'user_stats:spend', 'ratio:amount_over_spend'],
      entities: [1, 2, 3, 4].map((user_id) => ({ user_id, amount: 10 })),
      now: new Date(NOW),
    });
    // clicks: PRESENT ×2, OUTSIDE_MAX_AGE, NOT_FOUND; spend (fallback 0): PRESENT, then DEFAULTED for the null,
    // the too-old and the missing value; ratio: a value for user 1 only (spend is null or missing elsewhere).
    expect(r.statuses.map((s) => s.slice(1))).toEqual([
      ['PRESENT', 'PRESENT', 'PRESENT'],
      ['PRESENT', 'DEFAULTED', 'NULL_VALUE'],
      ['OUTSIDE_MAX_AGE', 'DEFAULTED', 'NULL_VALUE'],
      ['NOT_FOUND', 'DEFAULTED', 'NULL_VALUE'],
    ]);
    const c = await counts(metrics);
    expect(c.served).toEqual({
      'user_stats/PRESENT': 3,
      'user_stats/DEFAULTED': 3,
      'user_stats/OUTSIDE_MAX_AGE': 1,
      'user_stats/NOT_FOUND': 1,
      'ratio/PRESENT': 1,
      'ratio/NULL_VALUE': 3,
    });
    expect(c.fallbacks).toEqual({ 'user_stats/spend': 3 });
    expect(c.reads).toBe(1);
    expect(c.deadlines).toEqual({ '': 0 });
  });

  it('counts a missed deadline, its defaulted values and fallbacks; observe(undefined) stops counting', async () => {
    const { serving, store } = await setup({ 'user_stats:clicks': -1 });
    const metrics = new TesseraMetrics({ defaultMetrics: false });
    serving.observe(servingObserver(metrics, 'memory'));
    store.delayMs = 50;
    await serving.get({
      features: ['user_stats:clicks', 'user_stats:spend'],
      entities: [{ user_id: 1 }, { user_id: 2 }],
      deadlineMs: 5,
      now: new Date(NOW),
    });
    let c = await counts(metrics);
    expect(c.deadlines).toEqual({ '': 1 });
    expect(c.served).toEqual({ 'user_stats/DEFAULTED': 4 });
    expect(c.fallbacks).toEqual({ 'user_stats/clicks': 2 });
    // The late read is still timed once it ends.
    await new Promise((r) => setTimeout(r, 80));
    expect((await counts(metrics)).reads).toBe(1);
    serving.observe(undefined);
    store.delayMs = 0;
    await serving.get({ features: ['user_stats:clicks'], entities: [{ user_id: 1 }], now: new Date(NOW) });
    c = await counts(metrics);
    expect(c.served).toEqual({ 'user_stats/DEFAULTED': 4 });
  });
});
