import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priceAffinity } from '../../examples/ecommerce/transforms.js';
import { FeatureStore } from '../../src/feature-store.js';
import { initRepo } from '../../src/repo/init-repo.js';
import { buildServer } from '../../src/server/http-server.js';
import { sameAggregate } from '../helpers/aggregation-reference.js';
import { postgresUrl, redisUrl } from '../helpers/services.js';

/** The latest user_stats row per user in [start, end), straight from the Parquet files: an independent oracle. */
async function latestUserStats(
  dir: string,
  endMs: number,
): Promise<Map<number, { views_7d: number; event_ts: number }>> {
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  await con.run("SET TimeZone='UTC'");
  const r = await con.runAndReadAll(`
    SELECT user_id, views_7d, epoch_ms(event_ts) AS ts FROM read_parquet('${dir}/data/user_stats/**/*.parquet', hive_partitioning=true)
    WHERE event_ts < make_timestamptz(${endMs}::BIGINT * 1000)
    QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY event_ts DESC, created_ts DESC) = 1`);
  const out = new Map<number, { views_7d: number; event_ts: number }>();
  for (const row of r.getRowObjectsJS())
    out.set(Number(row['user_id']), { views_7d: Number(row['views_7d']), event_ts: Number(row['ts']) });
  con.closeSync();
  db.closeSync();
  return out;
}

const backends = [
  { name: 'embedded (DuckDB, SQLite registry and online store)', config: () => '' },
  {
    name: 'production (PostgreSQL registry, Redis online store)',
    config: () =>
      `registry: { type: postgres, url: "${postgresUrl()}", schema: e2e_${process.pid} }\n` +
      `online_store: { type: redis, url: "${redisUrl()}", key_prefix: e2e${process.pid} }\n`,
  },
];

describe.each(backends)('end to end on $name', ({ config }) => {
  let dir: string;
  let store: FeatureStore;
  let dataEnd: Date;
  let app: FastifyInstance;
  let url: string;

  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'tessera-e2e-')), 'repo');
    // Data ends at tomorrow's UTC midnight, so the 1-day windows read at the wall clock hold a full day of
    // events whatever the hour (ending at today's midnight, a run at 23:00 UTC saw one hour and no engagement).
    const DAY = 86_400_000;
    const start = new Date(Math.floor(Date.now() / DAY) * DAY - 29 * DAY);
    const init = await initRepo(dir, { events: 20_000, seed: 7, start });
    dataEnd = init.data!.timeRange.end;
    const yaml = readFileSync(join(dir, 'tessera.yaml'), 'utf8').replace(
      /^(registry|online_store):.*$/gm,
      '',
    );
    writeFileSync(
      join(dir, 'tessera.yaml'),
      `${yaml}\n${config()}serving:\n  api_keys: [s3cret]\n  max_entities_per_request: 500\n`,
    );
    store = await FeatureStore.open(dir);
    app = await buildServer(store, {
      apiKeys: ['s3cret'],
      maxEntitiesPerRequest: 500,
      bodyLimitBytes: 200_000,
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app?.close();
    if (store?.config.registry.type === 'postgres') {
      const client = new pg.Client(postgresUrl());
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS e2e_${process.pid} CASCADE`);
      await client.end();
    }
    await store?.online.deleteView({ project: 'ecommerce', name: 'user_stats', ttlMs: 0 });
    await store?.online.deleteView({ project: 'ecommerce', name: 'user_engagement', ttlMs: 0 });
    await store?.close();
  });

  it('applies the repo, records a version, and a second apply is a no-op', async () => {
    const plan = await store.plan();
    expect(plan.changes.filter((c) => c.change === 'added')).toHaveLength(12);
    const { result } = await store.apply({ message: 'first' });
    expect(result.version).toBe(1);
    const again = await store.apply({});
    expect(again.result.created).toBe(false);
    expect((await store.registry.history()).map((h) => h.version)).toEqual([1]);
  });

  it('builds a training set with every spine row in order and on-demand features from the same function', async () => {
    const set = await store.getHistoricalFeatures({
      spine: { kind: 'file', path: join(dir, 'data/training_spine.parquet') },
      featureService: 'ranker_v1',
    });
    const rows = await set.rows();
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const spine = (
      await con.runAndReadAll(`SELECT user_id, item_id FROM '${dir}/data/training_spine.parquet'`)
    ).getRowObjectsJS();
    con.closeSync();
    db.closeSync();
    expect(rows.length).toBe(spine.length);
    expect(rows.map((r) => [Number(r['user_id']), Number(r['item_id'])])).toEqual(
      spine.map((r) => [Number(r['user_id']), Number(r['item_id'])]),
    );
    expect(set.featureColumnNames).toContain('price_ratio');
    for (const r of rows.slice(0, 500)) {
      expect({ price_ratio: r['price_ratio'], is_premium_price: r['is_premium_price'] }).toEqual(
        priceAffinity({ candidate_price: r['candidate_price'], avg_order_value: r['avg_order_value'] }),
      );
    }
    const out = join(dir, 'train.parquet');
    await set.writeParquet(out);
    await set.close();
    const db2 = await DuckDBInstance.create(':memory:');
    const con2 = await db2.connect();
    const n = (
      await con2.runAndReadAll(`SELECT count(*)::INT n, count(price_ratio)::INT r FROM '${out}'`)
    ).getRowObjectsJS()[0]!;
    con2.closeSync();
    db2.closeSync();
    expect(n['n']).toBe(rows.length);
    expect(n['r']).toBe(rows.filter((r) => r['price_ratio'] !== null).length);
  });

  it('materializes incrementally the latest value per entity, idempotently, and serves it', async () => {
    const mid = new Date(dataEnd.getTime() - 5 * 86_400_000);
    const first = await store.materializeIncremental({ end: mid, views: ['user_stats'] });
    expect(first[0]?.rows).toBeGreaterThan(0);
    expect(await store.registry.getBookmark('user_stats')).toBe(mid.getTime());
    const end = new Date(dataEnd.getTime() + 1);
    await store.materializeIncremental({ end, views: ['user_stats'] });
    // Running the whole range again changes nothing (newest wins).
    await store.materialize({ start: new Date(0), end, views: ['user_stats'] });

    const oracle = await latestUserStats(dir, end.getTime());
    const users = [...oracle.keys()].slice(0, 200);
    const r = await store.getOnlineFeatures({
      features: ['user_stats:views_7d'],
      entities: users.map((user_id) => ({ user_id })),
      now: new Date(end.getTime()),
    });
    users.forEach((u, i) => {
      const expected = oracle.get(u)!;
      const fresh = expected.event_ts >= end.getTime() - 2 * 86_400_000;
      expect(r.statuses[i]?.[1]).toBe(fresh ? 'PRESENT' : 'OUTSIDE_MAX_AGE');
      expect(r.rows[i]?.['views_7d']).toBe(fresh ? expected.views_7d : null);
      expect(r.eventTimestamps[i]?.[1]?.getTime()).toBe(expected.event_ts);
    });
  });

  it('serves windowed aggregations exactly as the training set computes them at the same instant', async () => {
    const report = await store.materialize({
      start: new Date(0),
      end: new Date(Date.now() + 1),
      views: ['user_engagement'],
    });
    expect(report[0]?.rows).toBeGreaterThan(0);
    const now = new Date();
    const users = Array.from({ length: 150 }, (_, i) => i + 1);
    const online = await store.getOnlineFeatures({
      features: ['user_engagement:*'],
      entities: users.map((user_id) => ({ user_id })),
      now,
    });
    const training = await store.getHistoricalFeatures({
      spine: { kind: 'rows', rows: users.map((user_id) => ({ user_id, event_timestamp: now })) },
      features: ['user_engagement:*'],
    });
    const offline = await training.rows();
    await training.close();
    const names = online.featureNames.filter((n) => n !== 'user_id');
    expect(names).toHaveLength(7);
    let nonEmpty = 0;
    users.forEach((_, i) => {
      for (const n of names) {
        const want = offline[i]?.[n];
        const got = online.rows[i]?.[n];
        expect(
          sameAggregate(typeof want === 'bigint' ? Number(want) : want, got),
          `user ${users[i]} ${n}`,
        ).toBe(true);
      }
      if ((online.rows[i]?.['engagements_1d'] as number) > 0) nonEmpty++;
    });
    expect(nonEmpty).toBeGreaterThan(0);
  });

  it('answers Feast clients over HTTP with the feature server shape', async () => {
    await store.materializeIncremental({ end: new Date(dataEnd.getTime() + 1) });
    const res = await fetch(`${url}/get-online-features`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer s3cret' },
      body: JSON.stringify({
        features: ['user_profile:country', 'price_affinity:price_ratio'],
        entities: { user_id: [1, 2, 123456789] },
        request_context: { candidate_price: [10, 20, 30] },
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      metadata: { feature_names: string[] };
      results: { values: unknown[]; statuses: string[]; event_timestamps: string[] }[];
    };
    expect(body.metadata.feature_names).toEqual(['user_id', 'country', 'price_ratio']);
    expect(body.results[0]?.values).toEqual([1, 2, 123456789]);
    expect(body.results[1]?.statuses).toEqual(['PRESENT', 'PRESENT', 'NOT_FOUND']);
    expect(body.results[1]?.event_timestamps[2]).toBe('1970-01-01T00:00:00Z');
    expect(typeof body.results[1]?.values[0]).toBe('string');
  });

  it('rejects bad requests with clear 4xx answers', async () => {
    const post = (body: unknown, headers: Record<string, string> = { authorization: 'Bearer s3cret' }) =>
      fetch(`${url}/get-online-features`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    expect((await post({ features: ['user_stats:views_7d'], entities: { user_id: [1] } }, {})).status).toBe(
      401,
    );
    expect(
      (await post({ features: ['user_stats:views_7d'], entities: { user_id: [1] } }, { 'x-api-key': 'nope' }))
        .status,
    ).toBe(401);
    const unknown = await post({ features: ['user_stats:nope'], entities: { user_id: [1] } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toMatch(
      /unknown feature 'nope' in view 'user_stats'/,
    );
    const noEntities = await post({ features: ['user_stats:views_7d'] });
    expect(noEntities.status).toBe(400);
    expect(((await noEntities.json()) as { error: string }).error).toMatch(/entities/);
    expect((await post({ features: ['user_stats:views_7d'], entities: { user_id: ['x'] } })).status).toBe(
      400,
    );
    expect((await post('{not json')).status).toBe(400);
    const many = await post({
      features: ['user_stats:views_7d'],
      entities: { user_id: Array.from({ length: 501 }, (_, i) => i) },
    });
    expect(many.status).toBe(400);
    expect(((await many.json()) as { error: string }).error).toMatch(/at most 500/);
    const huge = await post({
      features: ['user_stats:views_7d'],
      entities: { user_id: [1] },
      pad: 'x'.repeat(300_000),
    });
    expect(huge.status).toBe(413);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    const ready = await fetch(`${url}/ready`, { headers: { authorization: 'Bearer s3cret' } });
    expect(ready.status).toBe(200);
  });

  it('pushes rows online (newer wins) and offline (visible to training)', async () => {
    const now = new Date(dataEnd.getTime() + 3_600_000);
    const push = (rows: unknown[], to: string) =>
      fetch(`${url}/push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer s3cret' },
        body: JSON.stringify({ view: 'user_stats', rows, to }),
      });
    const row = (views: number, ts: Date) => ({
      user_id: 424242,
      event_ts: ts.toISOString(),
      created_ts: ts.toISOString(),
      views_7d: views,
      clicks_7d: 1,
      purchases_30d: 0,
      spend_30d: 0,
      avg_order_value: null,
      last_category: 'toys',
      favorite_categories: ['toys'],
    });
    expect((await push([row(10, now)], 'online_and_offline')).status).toBe(200);
    // An older row pushed later does not replace the newer one.
    expect((await push([row(1, new Date(now.getTime() - 60_000))], 'online')).status).toBe(200);
    const online = await store.getOnlineFeatures({
      features: ['user_stats:views_7d'],
      entities: [{ user_id: 424242 }],
      now,
    });
    expect(online.rows[0]?.['views_7d']).toBe(10);

    const set = await store.getHistoricalFeatures({
      spine: { kind: 'rows', rows: [{ user_id: 424242, event_timestamp: new Date(now.getTime() + 1000) }] },
      features: ['user_stats:views_7d', 'user_stats:favorite_categories'],
    });
    expect(await set.rows()).toMatchObject([
      { user_id: 424242, views_7d: 10, favorite_categories: ['toys'] },
    ]);
    await set.close();

    const bad = await push([{ ...row(1, now), views_7d: 'many' }], 'online');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(
      /row 0, field 'views_7d': value does not match the feature type; expected int64/,
    );
  });
});
