import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GenerateSummary, generateEcommerceData } from '../../examples/ecommerce/generate.js';
import { priceAffinity } from '../../examples/ecommerce/transforms.js';

const EVENTS = 20_000;
const DAY_MS = 86_400_000;

let dirA: string;
let dirB: string;
let summary: GenerateSummary;
let progress: [number, number][];
let instance: DuckDBInstance;
let db: DuckDBConnection;

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await db.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}
async function one(sql: string): Promise<Record<string, unknown>> {
  const r = await rows(sql);
  expect(r).toHaveLength(1);
  return r[0] as Record<string, unknown>;
}
async function num(sql: string): Promise<number> {
  return Number(Object.values(await one(sql))[0]);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}
async function digest(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await listFiles(dir)) {
    out.set(
      f,
      createHash('sha256')
        .update(await readFile(join(dir, f)))
        .digest('hex'),
    );
  }
  return out;
}

beforeAll(async () => {
  dirA = await mkdtemp(join(tmpdir(), 'tessera-ecommerce-a-'));
  dirB = await mkdtemp(join(tmpdir(), 'tessera-ecommerce-b-'));
  progress = [];
  summary = await generateEcommerceData({
    outDir: dirA,
    events: EVENTS,
    seed: 7,
    onProgress: (done, total) => progress.push([done, total]),
  });
  await generateEcommerceData({ outDir: dirB, events: EVENTS, seed: 7 });
  instance = await DuckDBInstance.create(':memory:');
  db = await instance.connect();
  const d = join(dirA, 'data');
  await db.run(`
    CREATE VIEW events AS SELECT * FROM read_parquet('${d}/events/*/*.parquet', hive_partitioning = true);
    CREATE VIEW user_stats AS SELECT * FROM read_parquet('${d}/user_stats/*/*.parquet', hive_partitioning = true);
    CREATE VIEW item_stats AS SELECT * FROM read_parquet('${d}/item_stats/*/*.parquet', hive_partitioning = true);
    CREATE VIEW users AS SELECT * FROM read_csv('${d}/users.csv');
    CREATE VIEW spine AS SELECT * FROM read_parquet('${d}/training_spine.parquet');
    CREATE VIEW item_category AS SELECT DISTINCT item_id, category FROM item_stats;
  `);
});

afterAll(async () => {
  db?.closeSync();
  instance?.closeSync();
  await Promise.all([dirA, dirB].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })));
});

describe('generateEcommerceData', () => {
  it('is deterministic: the same seed gives byte-identical files', async () => {
    const [a, b] = await Promise.all([digest(dirA), digest(dirB)]);
    expect(a.size).toBeGreaterThan(60);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [file, hash] of a) expect(b.get(file), file).toBe(hash);
  });

  it('gives different data for a different seed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-ecommerce-c-'));
    try {
      const other = await generateEcommerceData({ outDir: dir, events: EVENTS, seed: 8 });
      expect(other.datasets.events.rows).toBe(EVENTS);
      const a = await digest(join(dirA, 'data', 'events'));
      const c = await digest(join(dir, 'data', 'events'));
      expect([...c.values()]).not.toEqual([...a.values()]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes the expected files and hive date partitions', async () => {
    const files = await listFiles(join(dirA, 'data'));
    const dates = (dataset: string) =>
      [...new Set(files.filter((f) => f.startsWith(`${dataset}/`)).map((f) => f.split('/')[1]))].sort();
    const days = (from: number, n: number) =>
      Array.from(
        { length: n },
        (_, i) => `date=${new Date(Date.UTC(2024, 5, 1) + (from + i) * DAY_MS).toISOString().slice(0, 10)}`,
      );
    expect(dates('events')).toEqual(days(0, 30));
    // Snapshots are taken at each midnight after a day of data (user_stats) or from the first midnight (item_stats).
    expect(dates('user_stats')).toEqual(days(1, 30));
    expect(dates('item_stats')).toEqual(days(0, 31));
    expect(files.filter((f) => f.startsWith('events/'))).toEqual(
      days(0, 30).map((d) => `events/${d}/part_0.parquet`),
    );
    expect(files).toContain('users.csv');
    expect(files).toContain('training_spine.parquet');
    expect(summary.datasets.events.partitions).toBe(30);
    expect(summary.datasets.userStats.partitions).toBe(30);
    expect(summary.datasets.itemStats.partitions).toBe(31);
    expect(summary.timeRange.start.toISOString()).toBe('2024-06-01T00:00:00.000Z');
    expect(summary.timeRange.end.toISOString()).toBe('2024-07-01T00:00:00.000Z');
    expect(progress.at(-1)).toEqual([7, 7]);
    expect(progress.map(([d]) => d)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('reports the row counts of the files', async () => {
    expect(summary.datasets.events.rows).toBe(EVENTS);
    expect(await num('SELECT count(*) FROM events')).toBe(EVENTS);
    expect(await num('SELECT count(*) FROM user_stats')).toBe(summary.datasets.userStats.rows);
    expect(await num('SELECT count(*) FROM item_stats')).toBe(summary.datasets.itemStats.rows);
    expect(summary.datasets.itemStats.rows).toBe(summary.items * 31);
    expect(await num('SELECT count(*) FROM users')).toBe(summary.datasets.users.rows);
    expect(await num('SELECT count(*) FROM spine')).toBe(summary.datasets.trainingSpine.rows);
    expect(summary.datasets.trainingSpine.rows).toBe(EVENTS / 10);
    const types = Object.fromEntries(
      (await rows('SELECT event_type, count(*)::INTEGER AS n FROM events GROUP BY 1')).map((r) => [
        r['event_type'],
        r['n'],
      ]),
    );
    expect(types).toEqual(summary.eventTypes);
  });

  it('writes the documented column types', async () => {
    const types = async (view: string) =>
      Object.fromEntries((await rows(`DESCRIBE ${view}`)).map((r) => [r['column_name'], r['column_type']]));
    expect(await types('events')).toEqual({
      event_id: 'BIGINT',
      user_id: 'BIGINT',
      item_id: 'BIGINT',
      event_type: 'VARCHAR',
      price: 'DOUBLE',
      event_ts: 'TIMESTAMP',
      date: 'DATE',
    });
    expect(await types('user_stats')).toEqual({
      user_id: 'BIGINT',
      views_7d: 'BIGINT',
      clicks_7d: 'BIGINT',
      purchases_30d: 'BIGINT',
      spend_30d: 'DOUBLE',
      avg_order_value: 'DOUBLE',
      last_category: 'VARCHAR',
      favorite_categories: 'VARCHAR[]',
      event_ts: 'TIMESTAMP',
      created_ts: 'TIMESTAMP',
      date: 'DATE',
    });
    expect(await types('item_stats')).toEqual({
      item_id: 'BIGINT',
      ctr_7d: 'DOUBLE',
      price: 'DOUBLE',
      category: 'VARCHAR',
      stock: 'INTEGER',
      popularity_rank: 'BIGINT',
      event_ts: 'TIMESTAMP',
      date: 'DATE',
    });
    expect(await types('users')).toEqual({
      user_id: 'BIGINT',
      signup_ts: 'TIMESTAMP',
      country: 'VARCHAR',
      age_bucket: 'VARCHAR',
      is_premium: 'BOOLEAN',
      updated_at: 'TIMESTAMP',
    });
    expect(await types('spine')).toEqual({
      user_id: 'BIGINT',
      item_id: 'BIGINT',
      event_timestamp: 'TIMESTAMP',
      candidate_price: 'DOUBLE',
      label: 'INTEGER',
    });
  });

  it('has no null keys or timestamps, and partitions match the event time', async () => {
    expect(
      await num(
        'SELECT count(*) FROM events WHERE event_id IS NULL OR user_id IS NULL OR item_id IS NULL OR event_ts IS NULL',
      ),
    ).toBe(0);
    expect(
      await num(
        'SELECT count(*) FROM user_stats WHERE user_id IS NULL OR event_ts IS NULL OR created_ts IS NULL',
      ),
    ).toBe(0);
    expect(
      await num('SELECT count(*) FROM item_stats WHERE item_id IS NULL OR event_ts IS NULL OR price IS NULL'),
    ).toBe(0);
    expect(
      await num(
        'SELECT count(*) FROM users WHERE user_id IS NULL OR updated_at IS NULL OR signup_ts IS NULL',
      ),
    ).toBe(0);
    expect(
      await num(
        'SELECT count(*) FROM spine WHERE user_id IS NULL OR item_id IS NULL OR event_timestamp IS NULL OR label IS NULL',
      ),
    ).toBe(0);
    for (const view of ['events', 'user_stats', 'item_stats']) {
      expect(await num(`SELECT count(*) FROM ${view} WHERE CAST(event_ts AS DATE) <> date`), view).toBe(0);
    }
    const range = await one('SELECT min(event_ts) AS lo, max(event_ts) AS hi FROM events');
    expect((range['lo'] as Date).getTime()).toBeGreaterThanOrEqual(summary.timeRange.start.getTime());
    expect((range['hi'] as Date).getTime()).toBeLessThan(summary.timeRange.end.getTime());
  });

  it('numbers events 1..N in time order', async () => {
    const r = await one(
      'SELECT min(event_id) AS lo, max(event_id) AS hi, count(DISTINCT event_id) AS n FROM events',
    );
    expect([Number(r['lo']), Number(r['hi']), Number(r['n'])]).toEqual([1, EVENTS, EVENTS]);
    expect(
      await num(`SELECT count(*) FROM (SELECT event_ts, lag(event_ts) OVER (ORDER BY event_id) AS prev FROM events)
                 WHERE event_ts < prev`),
    ).toBe(0);
  });

  it('looks like e-commerce traffic: a funnel, Zipf-like items, heavy users', async () => {
    const t = summary.eventTypes;
    const [view, click, cart, purchase] = [t['view'], t['click'], t['add_to_cart'], t['purchase']].map(
      Number,
    ) as [number, number, number, number];
    expect(view / EVENTS).toBeGreaterThan(0.7);
    expect(view).toBeGreaterThan(click);
    expect(click).toBeGreaterThan(cart);
    expect(cart).toBeGreaterThan(purchase);
    expect(purchase / EVENTS).toBeGreaterThan(0.01);
    // every click, cart and purchase follows a view of the same item by the same user
    expect(
      await num(`SELECT count(*) FROM events e WHERE event_type <> 'view' AND NOT EXISTS (
        SELECT 1 FROM events v WHERE v.event_type = 'view' AND v.user_id = e.user_id AND v.item_id = e.item_id
          AND v.event_ts <= e.event_ts)`),
    ).toBe(0);
    const share = async (key: string, fraction: number) =>
      num(`WITH c AS (SELECT ${key}, count(*) AS n FROM events GROUP BY 1),
             r AS (SELECT n, row_number() OVER (ORDER BY n DESC) AS rk, count(*) OVER () AS total FROM c)
           SELECT sum(n) FILTER (WHERE rk <= greatest(1, total * ${fraction})) / sum(n) FROM r`);
    expect(await share('item_id', 0.1)).toBeGreaterThan(0.3);
    expect(await share('user_id', 0.01)).toBeGreaterThan(0.05);
    expect(await share('user_id', 0.5)).toBeGreaterThan(0.65);
    expect(await num('SELECT count(*) FROM events WHERE price <= 0')).toBe(0);
  });

  it('labels the spine with purchases of the same item within a day', async () => {
    const r = await one('SELECT min(label) AS lo, max(label) AS hi, avg(label) AS rate FROM spine');
    expect([r['lo'], r['hi']]).toEqual([0, 1]);
    expect(Number(r['rate'])).toBeGreaterThan(0.005);
    expect(Number(r['rate'])).toBeLessThan(0.2);
    expect(summary.datasets.trainingSpine.positives).toBe(await num('SELECT sum(label) FROM spine'));
    // brute force, independently of the generator's SQL
    expect(
      await num(`SELECT count(*) FROM spine s WHERE s.label <> (EXISTS (
        SELECT 1 FROM events e WHERE e.event_type = 'purchase' AND e.user_id = s.user_id AND e.item_id = s.item_id
          AND e.event_ts > s.event_timestamp AND e.event_ts <= s.event_timestamp + INTERVAL 1 DAY))::INTEGER`),
    ).toBe(0);
    // spine rows are views, at least a day before the end so the label window is complete
    expect(
      await num(`SELECT count(*) FROM spine s WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_type = 'view'
        AND e.user_id = s.user_id AND e.item_id = s.item_id AND e.event_ts = s.event_timestamp AND e.price = s.candidate_price)`),
    ).toBe(0);
    expect(
      await num(`SELECT count(*) FROM spine WHERE event_timestamp > TIMESTAMP '2024-06-30 00:00:00'`),
    ).toBe(0);
  });

  it('writes user_stats with late and tied created_ts', async () => {
    expect(await num('SELECT count(*) FROM user_stats WHERE created_ts <= event_ts')).toBe(0);
    expect(
      await num(`SELECT count(*) FROM user_stats WHERE created_ts > event_ts + INTERVAL 1 DAY`),
    ).toBeGreaterThan(0);
    const ties = await rows(`SELECT user_id, event_ts, count(*) AS n, count(DISTINCT created_ts) AS created
                             FROM user_stats GROUP BY ALL HAVING count(*) > 1`);
    expect(ties.length).toBeGreaterThan(0);
    expect(ties.length).toBe(summary.datasets.userStats.createdTsTies);
    for (const t of ties) expect([Number(t['n']), Number(t['created'])]).toEqual([2, 2]);
    // the earlier-created row of a tie is a superseded preliminary one, with different values
    expect(
      await num(`WITH r AS (SELECT *, row_number() OVER (PARTITION BY user_id, event_ts ORDER BY created_ts) AS v,
                               count(*) OVER (PARTITION BY user_id, event_ts) AS n FROM user_stats)
                 SELECT count(*) FROM r a JOIN r b USING (user_id, event_ts)
                 WHERE a.n = 2 AND a.v = 1 AND b.v = 2 AND a.views_7d = b.views_7d`),
    ).toBe(0);
  });

  it('computes user_stats from the events (latest created row per snapshot)', async () => {
    const mismatches = await rows(`
      WITH latest AS (
        SELECT * FROM user_stats QUALIFY row_number() OVER (PARTITION BY user_id, event_ts ORDER BY created_ts DESC) = 1
      ), expected AS (
        SELECT s.user_id, s.event_ts,
          count(*) FILTER (WHERE e.event_type = 'view' AND e.event_ts >= s.event_ts - INTERVAL 7 DAY) AS views_7d,
          count(*) FILTER (WHERE e.event_type = 'click' AND e.event_ts >= s.event_ts - INTERVAL 7 DAY) AS clicks_7d,
          count(*) FILTER (WHERE e.event_type = 'purchase') AS purchases_30d,
          coalesce(sum(e.price) FILTER (WHERE e.event_type = 'purchase'), 0) AS spend_30d,
          arg_max(c.category, e.event_id) AS last_category
        FROM latest s JOIN events e ON e.user_id = s.user_id
          AND e.event_ts < s.event_ts AND e.event_ts >= s.event_ts - INTERVAL 30 DAY
        JOIN item_category c ON c.item_id = e.item_id
        GROUP BY s.user_id, s.event_ts
      )
      SELECT l.user_id, l.event_ts FROM latest l FULL JOIN expected x USING (user_id, event_ts)
      WHERE l.views_7d IS DISTINCT FROM x.views_7d OR l.clicks_7d IS DISTINCT FROM x.clicks_7d
        OR l.purchases_30d IS DISTINCT FROM x.purchases_30d OR abs(l.spend_30d - x.spend_30d) > 0.001
        OR l.last_category IS DISTINCT FROM x.last_category
        OR (x.purchases_30d > 0) <> (l.avg_order_value IS NOT NULL)
        OR abs(l.avg_order_value - x.spend_30d / x.purchases_30d) > 0.0051 -- rounded to cents
      LIMIT 5`);
    expect(mismatches).toEqual([]);
  });

  it('picks favorite_categories by 30-day engagement', async () => {
    // engagement: view 1, click 2, add_to_cart 3, purchase 5
    const bad = await rows(`
      WITH latest AS (
        SELECT * FROM user_stats QUALIFY row_number() OVER (PARTITION BY user_id, event_ts ORDER BY created_ts DESC) = 1
      ), scores AS (
        SELECT s.user_id, s.event_ts, c.category,
          sum(CASE e.event_type WHEN 'view' THEN 1 WHEN 'click' THEN 2 WHEN 'add_to_cart' THEN 3 ELSE 5 END) AS score
        FROM latest s JOIN events e ON e.user_id = s.user_id
          AND e.event_ts < s.event_ts AND e.event_ts >= s.event_ts - INTERVAL 30 DAY
        JOIN item_category c ON c.item_id = e.item_id
        GROUP BY ALL
      ), fav AS (
        SELECT l.user_id, l.event_ts, f.category, f.pos FROM latest l,
          unnest(l.favorite_categories) WITH ORDINALITY AS f(category, pos)
      ), checks AS (
        SELECT l.user_id, l.event_ts,
          len(l.favorite_categories) = least(3, (SELECT count(*) FROM scores s WHERE s.user_id = l.user_id AND s.event_ts = l.event_ts)) AS size_ok,
          coalesce((SELECT min(s.score) FROM scores s JOIN fav f USING (user_id, event_ts, category)
                    WHERE s.user_id = l.user_id AND s.event_ts = l.event_ts), 0)
            >= coalesce((SELECT max(s.score) FROM scores s WHERE s.user_id = l.user_id AND s.event_ts = l.event_ts
                         AND NOT list_contains(l.favorite_categories, s.category)), 0) AS top_ok
        FROM latest l
      )
      SELECT * FROM checks WHERE NOT size_ok OR NOT top_ok LIMIT 5`);
    expect(bad).toEqual([]);
    // listed in decreasing engagement
    const unordered = await num(`
      WITH latest AS (
        SELECT * FROM user_stats QUALIFY row_number() OVER (PARTITION BY user_id, event_ts ORDER BY created_ts DESC) = 1
      ), fav AS (
        SELECT l.user_id, l.event_ts, f.category, f.pos FROM latest l,
          unnest(l.favorite_categories) WITH ORDINALITY AS f(category, pos)
      ), scored AS (
        SELECT f.*, (SELECT sum(CASE e.event_type WHEN 'view' THEN 1 WHEN 'click' THEN 2 WHEN 'add_to_cart' THEN 3 ELSE 5 END)
                     FROM events e JOIN item_category c USING (item_id)
                     WHERE e.user_id = f.user_id AND c.category = f.category
                       AND e.event_ts < f.event_ts AND e.event_ts >= f.event_ts - INTERVAL 30 DAY) AS score
        FROM fav f
      )
      SELECT count(*) FROM scored a JOIN scored b USING (user_id, event_ts) WHERE a.pos < b.pos AND a.score < b.score`);
    expect(unordered).toBe(0);
  });

  it('keeps item_stats consistent with the events', async () => {
    // an item's price in the snapshot at a midnight is the price of the events of that day
    expect(
      await num(`SELECT count(*) FROM events e JOIN item_stats s
                 ON s.item_id = e.item_id AND s.event_ts = date_trunc('day', e.event_ts) WHERE s.price <> e.price`),
    ).toBe(0);
    expect(await num('SELECT count(DISTINCT category) FROM item_stats')).toBe(12);
    expect(
      await num(
        'SELECT count(*) FROM (SELECT item_id FROM item_stats GROUP BY 1 HAVING count(DISTINCT category) > 1)',
      ),
    ).toBe(0);
    expect(await num('SELECT count(*) FROM item_stats WHERE ctr_7d < 0 OR ctr_7d > 1 OR stock < 0')).toBe(0);
    expect(
      await num(`SELECT count(*) FROM (SELECT event_ts, min(popularity_rank) AS lo, max(popularity_rank) AS hi,
                   count(DISTINCT popularity_rank) AS n, count(*) AS c FROM item_stats GROUP BY 1)
                 WHERE lo <> 1 OR hi <> c OR n <> c`),
    ).toBe(0);
    const ctr = await rows(`
      WITH x AS (
        SELECT s.item_id, s.event_ts, s.ctr_7d,
          count(*) FILTER (WHERE e.event_type = 'view') AS views, count(*) FILTER (WHERE e.event_type = 'click') AS clicks
        FROM item_stats s LEFT JOIN events e ON e.item_id = s.item_id
          AND e.event_ts < s.event_ts AND e.event_ts >= s.event_ts - INTERVAL 7 DAY
        GROUP BY ALL
      )
      SELECT * FROM x WHERE (views = 0) <> (ctr_7d IS NULL) OR abs(ctr_7d - least(1, clicks / views)) > 0.0001 LIMIT 5`);
    expect(ctr).toEqual([]);
  });

  it('writes a profile for every user, signed up before their first event', async () => {
    expect(await num('SELECT count(DISTINCT user_id) FROM users')).toBe(summary.users);
    expect(
      await num(`SELECT count(*) FROM (SELECT user_id, min(event_ts) AS first FROM events GROUP BY 1) e
                 JOIN users u USING (user_id) WHERE u.signup_ts > e.first`),
    ).toBe(0);
    expect(await num('SELECT count(*) FROM users WHERE updated_at < signup_ts')).toBe(0);
    // some users upgrade to premium during the window: a second, later profile row
    const upgrades = await rows(`SELECT user_id, list(is_premium ORDER BY updated_at) AS premium FROM users
                                 GROUP BY 1 HAVING count(*) > 1`);
    expect(upgrades.length).toBeGreaterThan(0);
    for (const u of upgrades) expect(u['premium']).toEqual([false, true]);
  });

  it('rejects invalid options', async () => {
    await expect(generateEcommerceData({ outDir: dirA, events: 0 })).rejects.toThrow(/events/);
    await expect(generateEcommerceData({ outDir: dirA, items: 5 })).rejects.toThrow(/items/);
    await expect(generateEcommerceData({ outDir: dirA, days: 1.5 })).rejects.toThrow(/days/);
  });
});

describe('ecommerce example definitions', () => {
  it('computes price affinity from the request price and the average order value', () => {
    expect(priceAffinity({ candidate_price: 90, avg_order_value: 45 })).toEqual({
      price_ratio: 2,
      is_premium_price: true,
    });
    expect(priceAffinity({ candidate_price: 30, avg_order_value: 60 })).toEqual({
      price_ratio: 0.5,
      is_premium_price: false,
    });
    expect(priceAffinity({ candidate_price: 30, avg_order_value: null })).toEqual({
      price_ratio: null,
      is_premium_price: null,
    });
    expect(priceAffinity({ avg_order_value: 10 })).toEqual({ price_ratio: null, is_premium_price: null });
  });

  it('loads the repo, and the YAML form defines exactly the same', async () => {
    const { loadRepo } = await import('../../src/repo/load-repo.js');
    const { loadYamlDefinitions } = await import('../../src/repo/yaml-definitions.js');
    const { allDefinitions, serializeDefinition } = await import('../../src/definitions/definition.js');
    const { validateState } = await import('../../src/definitions/validate.js');
    const repo = await loadRepo(join(import.meta.dirname, '../../examples/ecommerce'));
    expect(repo.config.project).toBe('ecommerce');
    expect(validateState(repo.state)).toEqual([]);
    const key = (d: { kind: string; name: string }) => `${d.kind}/${d.name}`;
    const fromTs = allDefinitions(repo.state)
      .map((d) => [key(d), serializeDefinition(d)] as const)
      .sort(([a], [b]) => a.localeCompare(b));
    const yamlText = await readFile(
      join(import.meta.dirname, '../../examples/ecommerce/yaml/features.yaml'),
      'utf8',
    );
    const fromYaml = loadYamlDefinitions(yamlText, 'yaml/features.yaml')
      .map((d) => [key(d), serializeDefinition(d)] as const)
      .sort(([a], [b]) => a.localeCompare(b));
    expect(fromTs.map(([k]) => k)).toEqual([
      'AggregationView/user_engagement',
      'Entity/item',
      'Entity/user',
      'FeatureService/ranker_v1',
      'FeatureView/item_stats',
      'FeatureView/user_profile',
      'FeatureView/user_stats',
      'OnDemandFeatureView/price_affinity',
      'Source/events_source',
      'Source/item_stats_source',
      'Source/user_stats_source',
      'Source/users_source',
    ]);
    expect(fromYaml).toEqual(fromTs);
  });

  it('matches the columns of the generated data', async () => {
    const { loadRepo } = await import('../../src/repo/load-repo.js');
    const { validateViewAgainstSource } = await import('../../src/definitions/validate.js');
    const repo = await loadRepo(join(import.meta.dirname, '../../examples/ecommerce'));
    const views: Record<string, string> = {
      user_stats_source: 'user_stats',
      item_stats_source: 'item_stats',
      users_source: 'users',
    };
    for (const view of repo.state.featureViews) {
      const source = repo.state.sources.find((s) => s.name === view.source);
      expect(source, view.name).toBeDefined();
      if (!source) continue;
      const columns = (await rows(`DESCRIBE ${views[source.name]}`)).map((r) => ({
        name: String(r['column_name']),
        type: String(r['column_type']),
      }));
      expect(validateViewAgainstSource(repo.state, view, source, columns), view.name).toEqual([]);
    }
  });
});
