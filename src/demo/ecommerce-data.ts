/**
 * Synthetic e-commerce data for the recommendation example: interaction events and everything derived from
 * them (per-user and per-item daily feature snapshots, user profiles, a labelled training spine).
 *
 * All of it is computed by DuckDB from `range()` with `hash(seed, …)`-based pseudo-randomness, so a million
 * events take seconds and the same options always give byte-identical files. Money is summed in integer
 * cents and every ordering has a unique tie-breaker, so parallel execution cannot change a single bit.
 *
 * Run it directly to fill this example repo:
 *
 *     npx tsx examples/ecommerce/generate.ts --events 1000000 [--out examples/ecommerce] [--seed 42]
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { TesseraError } from '../core/errors.js';

/** Options of {@link generateEcommerceData}. */
export interface GenerateOptions {
  /** Folder that receives `data/…` (the example repo root, usually). */
  outDir: string;
  /** Number of interaction events; default 1,000,000. */
  events?: number;
  /** Number of users; default `max(50, events / 50)`. */
  users?: number;
  /** Number of catalogue items (at least 12, one per category); default `max(60, events / 200)`. */
  items?: number;
  /** Seed of every pseudo-random choice; default 42. */
  seed?: number;
  /** First day of the event window, truncated to UTC midnight; default 2024-06-01. */
  start?: Date;
  /** Length of the event window in days; default 30. */
  days?: number;
  /** Rows of the training spine; default `min(events / 10, 100_000)`. */
  spineSize?: number;
  /** Called after each generation step with (steps done, total steps). */
  onProgress?: (done: number, total: number) => void;
}

/** One written dataset. */
export interface DatasetSummary {
  /** Absolute path of the file or partitioned folder. */
  readonly path: string;
  readonly rows: number;
  /** Number of `date=YYYY-MM-DD` partitions, for partitioned datasets. */
  readonly partitions?: number;
}

/** What {@link generateEcommerceData} wrote. */
export interface GenerateSummary {
  readonly outDir: string;
  readonly seed: number;
  readonly users: number;
  readonly items: number;
  readonly days: number;
  /** Event window: `start` inclusive, `end` exclusive (UTC midnights). */
  readonly timeRange: { readonly start: Date; readonly end: Date };
  /** Events per type (`view`, `click`, `add_to_cart`, `purchase`). */
  readonly eventTypes: Readonly<Record<string, number>>;
  readonly datasets: {
    /** `data/events/date=…/` — event_id, user_id, item_id, event_type, price, event_ts. */
    readonly events: DatasetSummary;
    /** `data/user_stats/date=…/` — daily per-user aggregates with event_ts and created_ts. */
    readonly userStats: DatasetSummary & { readonly createdTsTies: number };
    /** `data/item_stats/date=…/` — daily per-item snapshots. */
    readonly itemStats: DatasetSummary;
    /** `data/users.csv` — user profiles, one row per profile version. */
    readonly users: DatasetSummary;
    /** `data/training_spine.parquet` — user_id, item_id, event_timestamp, candidate_price, label. */
    readonly trainingSpine: DatasetSummary & { readonly positives: number };
  };
  readonly elapsedMs: number;
}

const DAY_US = 86_400_000_000;
const CATEGORIES = [
  'electronics',
  'books',
  'fashion',
  'home',
  'beauty',
  'sports',
  'toys',
  'grocery',
  'garden',
  'automotive',
  'music',
  'pets',
] as const;
/** Median price per category, in cents (same order as CATEGORIES). */
const MEDIAN_CENTS = [12_000, 1_500, 4_000, 3_500, 2_000, 4_500, 2_500, 800, 3_000, 5_000, 1_800, 2_200];
const COUNTRIES: readonly [string, number][] = [
  ['US', 0.3],
  ['GB', 0.1],
  ['DE', 0.1],
  ['IN', 0.1],
  ['FR', 0.07],
  ['BR', 0.07],
  ['CA', 0.05],
  ['JP', 0.05],
  ['MX', 0.05],
  ['ES', 0.04],
  ['AU', 0.04],
  ['NL', 0.03],
];
const AGE_BUCKETS: readonly [string, number][] = [
  ['18-24', 0.22],
  ['25-34', 0.34],
  ['35-44', 0.22],
  ['45-54', 0.13],
  ['55+', 0.09],
];
/**
 * A journey is a view, optionally followed by a click, an add-to-cart and a purchase (cumulative
 * probabilities of stopping after 1, 2, 3 events). Gives ≈77% views, 15% clicks, 5% carts, 2.3% purchases.
 */
const JOURNEY_STOPS = [0.8, 0.93, 0.97] as const;
const MEAN_JOURNEY_LENGTH = 1 + (1 - 0.8) + (1 - 0.93) + (1 - 0.97);
/** User activity ~ U^2.2 over the user rank: the top 1% of users make ≈12% of the journeys. */
const USER_SKEW = 2.2;
const STEPS = 7;

/**
 * Generates the example's datasets under `<outDir>/data/`, replacing earlier output of this generator.
 *
 * - `events/date=YYYY-MM-DD/part_0.parquet`: event_id, user_id, item_id, event_type, price, event_ts.
 *   Item popularity is Zipf-like, a few users are very heavy, users favour one or two categories, and
 *   traffic peaks in the (UTC) evening.
 * - `user_stats/date=…/`: one snapshot per user per midnight while the user had activity in the last
 *   30 days: views_7d, clicks_7d, purchases_30d, spend_30d, avg_order_value, last_category,
 *   favorite_categories, event_ts (the midnight), created_ts (written 10–90 min later, 3% a day or two
 *   late). ≈1.5% of snapshots also have an earlier, preliminary row with the same event_ts, an earlier
 *   created_ts and over-counted views_7d: the later row is the correct one.
 * - `item_stats/date=…/`: one snapshot per item per midnight (day 0 to `days`): ctr_7d, price (the price
 *   of the day starting at event_ts), category, stock, popularity_rank (1 = most interactions in 7 days).
 * - `users.csv`: user_id, signup_ts, country, age_bucket, is_premium, updated_at (UTC,
 *   `YYYY-MM-DD HH:MM:SS`); users upgrading to premium during the window have a second row.
 * - `training_spine.parquet`: sampled views at least a day before the end: user_id, item_id,
 *   event_timestamp, candidate_price (the price shown), label (1 when the user bought that item within
 *   the following 24 hours, else 0).
 *
 * @example
 * const summary = await generateEcommerceData({ outDir: 'examples/ecommerce', events: 100_000 });
 * console.log(summary.datasets.events.rows); // 100000
 */
export async function generateEcommerceData(opts: GenerateOptions): Promise<GenerateSummary> {
  const began = performance.now();
  const p = resolveOptions(opts);
  const outDir = resolve(opts.outDir);
  const dataDir = join(outDir, 'data');
  const paths = {
    events: join(dataDir, 'events'),
    userStats: join(dataDir, 'user_stats'),
    itemStats: join(dataDir, 'item_stats'),
    users: join(dataDir, 'users.csv'),
    trainingSpine: join(dataDir, 'training_spine.parquet'),
  };
  await mkdir(dataDir, { recursive: true });
  await Promise.all(Object.values(paths).map((path) => rm(path, { recursive: true, force: true })));

  let done = 0;
  const progress = () => opts.onProgress?.(++done, STEPS);
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    await createHelpers(db, p);
    progress();
    await createEvents(db, p);
    progress();
    // No ORDER BY: ev is stored in event_id order, and a single-threaded scan keeps it (sorting 1M rows
    // again on one thread would cost more than the write).
    await copyPartitioned(
      db,
      `SELECT event_id, user_id, item_id, event_type, price_cents::DOUBLE / 100 AS price, event_ts,
         CAST(event_ts AS DATE) AS date
       FROM ev`,
      paths.events,
    );
    // Everything written from here on has an ORDER BY over a unique key, so tables need not keep insertion
    // order, which makes the aggregations and windows below cheaper.
    await db.run('SET preserve_insertion_order = false');
    progress();
    await createUserStats(db, p);
    await copyPartitioned(
      db,
      `SELECT user_id, views_7d, clicks_7d, purchases_30d, spend_30d, avg_order_value, last_category,
         favorite_categories, event_ts, created_ts, CAST(event_ts AS DATE) AS date
       FROM user_stats ORDER BY event_ts, user_id, created_ts`,
      paths.userStats,
    );
    progress();
    await createItemStats(db, p);
    await copyPartitioned(
      db,
      `SELECT item_id, ctr_7d, price, category, stock, popularity_rank, event_ts, CAST(event_ts AS DATE) AS date
       FROM item_stats ORDER BY event_ts, item_id`,
      paths.itemStats,
    );
    progress();
    await createProfiles(db, p);
    await copy(
      db,
      `COPY (SELECT user_id, signup_ts, country, age_bucket, is_premium, updated_at
             FROM profiles ORDER BY user_id, updated_at, is_premium)
       TO ${lit(paths.users)} (FORMAT csv, HEADER true, TIMESTAMPFORMAT '%Y-%m-%d %H:%M:%S')`,
    );
    progress();
    await createSpine(db, p);
    await copy(
      db,
      `COPY (SELECT user_id, item_id, event_timestamp, candidate_price, label FROM spine
             ORDER BY event_timestamp, user_id, item_id, candidate_price, label)
       TO ${lit(paths.trainingSpine)} (FORMAT parquet)`,
    );
    progress();

    const one = async (sql: string) => {
      const rows = (await db.runAndReadAll(sql)).getRowObjectsJson();
      return rows[0] as Record<string, number>;
    };
    const ev = await one(`SELECT count(*)::INTEGER AS n, count(DISTINCT day_idx)::INTEGER AS parts FROM ev`);
    const types = (
      await db.runAndReadAll(`SELECT event_type, count(*)::INTEGER AS n FROM ev GROUP BY 1`)
    ).getRowObjectsJson();
    const us = await one(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT CAST(event_ts AS DATE))::INTEGER AS parts,
         (count(*) - count(DISTINCT (user_id, event_ts)))::INTEGER AS ties FROM user_stats`,
    );
    const is = await one(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT CAST(event_ts AS DATE))::INTEGER AS parts FROM item_stats`,
    );
    const pr = await one(`SELECT count(*)::INTEGER AS n FROM profiles`);
    const sp = await one(`SELECT count(*)::INTEGER AS n, coalesce(sum(label), 0)::INTEGER AS pos FROM spine`);
    return {
      outDir,
      seed: p.seed,
      users: p.users,
      items: p.items,
      days: p.days,
      timeRange: { start: new Date(p.startUs / 1000), end: new Date(p.endUs / 1000) },
      eventTypes: Object.fromEntries(types.map((r) => [String(r['event_type']), Number(r['n'])])),
      datasets: {
        events: { path: paths.events, rows: ev['n'] ?? 0, partitions: ev['parts'] ?? 0 },
        userStats: {
          path: paths.userStats,
          rows: us['n'] ?? 0,
          partitions: us['parts'] ?? 0,
          createdTsTies: us['ties'] ?? 0,
        },
        itemStats: { path: paths.itemStats, rows: is['n'] ?? 0, partitions: is['parts'] ?? 0 },
        users: { path: paths.users, rows: pr['n'] ?? 0 },
        trainingSpine: { path: paths.trainingSpine, rows: sp['n'] ?? 0, positives: sp['pos'] ?? 0 },
      },
      elapsedMs: Math.round(performance.now() - began),
    };
  } finally {
    db.closeSync();
    instance.closeSync();
  }
}

interface Params {
  events: number;
  users: number;
  items: number;
  seed: number;
  days: number;
  spineSize: number;
  startUs: number;
  endUs: number;
  /** Multipliers of the id permutations (coprime with users / items), so popularity is not id order. */
  userMul: number;
  itemMul: number;
}

function resolveOptions(opts: GenerateOptions): Params {
  const events = opts.events ?? 1_000_000;
  const check = (value: number, field: string, min: number, max: number) => {
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new TesseraError(`invalid ${field} ${value}`, {
        field,
        expected: `an integer from ${min} to ${max}`,
      });
    }
    return value;
  };
  check(events, 'events', 1, 1_000_000_000);
  const users = check(opts.users ?? Math.max(50, Math.round(events / 50)), 'users', 1, 100_000_000);
  const items = check(
    opts.items ?? Math.max(60, Math.round(events / 200)),
    'items',
    CATEGORIES.length,
    10_000_000,
  );
  const seed = check(opts.seed ?? 42, 'seed', 0, 2 ** 31 - 1);
  const days = check(opts.days ?? 30, 'days', 1, 3_650);
  const spineSize = check(
    opts.spineSize ?? Math.min(Math.floor(events / 10), 100_000),
    'spineSize',
    0,
    100_000_000,
  );
  const start = opts.start ?? new Date(Date.UTC(2024, 5, 1));
  if (Number.isNaN(start.getTime()))
    throw new TesseraError('invalid start date', { field: 'start', expected: 'a valid Date' });
  const startMs = Math.floor(start.getTime() / 86_400_000) * 86_400_000;
  return {
    events,
    users,
    items,
    seed,
    days,
    spineSize,
    startUs: startMs * 1000,
    endUs: (startMs + days * 86_400_000) * 1000,
    userMul: coprimeNear(users, 0.618),
    itemMul: coprimeNear(items, 0.382),
  };
}

function coprimeNear(n: number, fraction: number): number {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let m = Math.max(1, Math.floor(n * fraction));
  while (gcd(m, n) !== 1) m++;
  return m;
}

const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
/** `CASE` picking one of `choices` with the given probabilities from a uniform `u` in [0, 1). */
function pick(u: string, choices: readonly [string, number][]): string {
  let acc = 0;
  const arms = choices.slice(0, -1).map(([value, weight]) => {
    acc += weight;
    return `WHEN ${u} < ${acc} THEN ${lit(value)}`;
  });
  return `CASE ${arms.join(' ')} ELSE ${lit(choices[choices.length - 1]?.[0] ?? '')} END`;
}

/**
 * Runs a COPY on one thread: parallel writers split row groups (and, partitioned, order rows) differently
 * from run to run, which would break byte-identical output.
 */
async function copy(db: DuckDBConnection, sql: string): Promise<void> {
  const threads = (await db.runAndReadAll(`SELECT current_setting('threads') AS t`)).getRowObjectsJson()[0]?.[
    't'
  ];
  await db.run('SET threads = 1');
  try {
    await db.run(sql);
  } finally {
    await db.run(`SET threads = ${Number(threads)}`);
  }
}

/** Writes a query with a `date` column as hive partitions `date=YYYY-MM-DD/part_0.parquet`. */
async function copyPartitioned(db: DuckDBConnection, query: string, dir: string): Promise<void> {
  await copy(
    db,
    `COPY (${query}) TO ${lit(dir)} (FORMAT parquet, PARTITION_BY (date), FILENAME_PATTERN 'part_{i}', OVERWRITE_OR_IGNORE true)`,
  );
}

async function createHelpers(db: DuckDBConnection, p: Params): Promise<void> {
  const { users: U, items: I, seed } = p;
  const C = CATEGORIES.length;
  await db.run(`
    -- 64 pseudo-random bits per (seed, stream, key). hash(a, b, c) only XORs the hashes of its arguments, so
    -- streams of it are correlated; re-hashing the key XOR a per-stream salt is not.
    CREATE MACRO h64(stream, a) AS hash(xor(a::UBIGINT, hash(${seed}, stream)));
    -- Uniform in [0, 1) from 53 of those bits.
    CREATE MACRO rnd(stream, a) AS (h64(stream, a) >> 11)::DOUBLE / 9007199254740992.0;
    CREATE MACRO rnd2(stream, a, b) AS (hash(xor(h64(stream, a), b::UBIGINT)) >> 11)::DOUBLE / 9007199254740992.0;
    -- Zipf(1)-like rank in [0, n): P(rank = k) ~ 1 / (k + 1).
    CREATE MACRO zipf(u, n) AS least(n - 1, floor(exp(u * ln(n + 1))) - 1)::BIGINT;
    -- Price of an item on a day: list price, or 10-30% off during a promo week (8% of item-weeks).
    CREATE MACRO price_cents(base, item, day) AS CASE
      WHEN rnd2('promo', item, (day + item % 7) // 7) < 0.08
        THEN round(base * (0.9 - 0.2 * rnd2('discount', item, (day + item % 7) // 7)))::BIGINT
      ELSE base END;

    CREATE TEMP TABLE items AS
    SELECT rank AS pop_rank, 1 + (rank * ${p.itemMul} + 17) % ${I} AS item_id, rank % ${C} AS cat_idx,
      (${sqlList(CATEGORIES)})[rank % ${C} + 1] AS category,
      -- log-normal around the category median, ending in .99
      greatest(199, floor((${sqlList(MEDIAN_CENTS)})[rank % ${C} + 1]
        * exp(0.6 * sqrt(-2 * ln(1 - rnd('pz1', rank))) * cos(2 * pi() * rnd('pz2', rank))) / 100) * 100 + 99
      )::BIGINT AS base_cents
    FROM range(${I}) t(rank);

    CREATE TEMP TABLE users AS
    SELECT rank, 1 + (rank * ${p.userMul} + 7) % ${U} AS user_id,
      floor(rnd('pref1', rank) * ${C})::BIGINT AS pref1,
      ((floor(rnd('pref1', rank) * ${C}) + 1 + floor(rnd('pref2', rank) * ${C - 1})) % ${C})::BIGINT AS pref2
    FROM range(${U}) t(rank);
  `);
}

async function createEvents(db: DuckDBConnection, p: Params): Promise<void> {
  const { events: N, users: U, items: I, days: D } = p;
  const C = CATEGORIES.length;
  const [s1, s2, s3] = JOURNEY_STOPS;
  await db.run(
    `CREATE MACRO journey_len(j) AS 1 + (rnd('len', j) >= ${s1})::INTEGER + (rnd('len', j) >= ${s2})::INTEGER
       + (rnd('len', j) >= ${s3})::INTEGER`,
  );
  // Journeys are generated until event N: find the last journey (and how many of its events fit) from
  // per-block sums, then a prefix sum over one block only, rather than a window over every journey.
  const BLOCK = 4096;
  const enough = Math.ceil((N / MEAN_JOURNEY_LENGTH) * 1.05) + 100;
  const blocks = await rowsOf(
    db,
    `SELECT j // ${BLOCK} AS b, sum(journey_len(j))::BIGINT AS n FROM range(${enough}) t(j) GROUP BY b ORDER BY b`,
  );
  let before = 0;
  let cutBlock = -1;
  for (const { b, n } of blocks) {
    if (before + Number(n) >= N) {
      cutBlock = Number(b);
      break;
    }
    before += Number(n);
  }
  if (cutBlock < 0) throw new Error('internal: not enough journeys generated');
  const lens = await rowsOf(
    db,
    `SELECT j, journey_len(j) AS len FROM range(${cutBlock * BLOCK}, ${(cutBlock + 1) * BLOCK}) t(j) ORDER BY j`,
  );
  let lastJourney = -1;
  let lastLen = 0;
  for (const { j, len } of lens) {
    if (before + Number(len) >= N) {
      lastJourney = Number(j);
      lastLen = N - before;
      break;
    }
    before += Number(len);
  }

  // One row per journey, then one per event of it. The delays of a journey's later steps come from 21-bit
  // slices of one hash: their resolution (≤ 7 ms) does not matter, and it saves hashing per step.
  await db.run(
    `CREATE TEMP TABLE ev0 AS
    WITH base AS (
      SELECT j,
        least(${U - 1}, floor(${U} * pow(rnd('user', j), ${USER_SKEW})))::BIGINT AS urank,
        rnd('item', j) AS ri,
        rnd('time', j) * ${D} AS rt,
        rnd('cat', j) AS rc,
        CASE WHEN j = ${lastJourney} THEN ${lastLen} ELSE journey_len(j) END AS len
      FROM range(${lastJourney + 1}) t(j)
    ), chosen AS (
      SELECT j, ri, len, u.user_id, least(${D - 1}, floor(rt))::BIGINT AS day, rt - floor(rt) AS rtod,
        -- half the journeys browse the user's favourite category, a fifth the second one, the rest anything
        CASE WHEN rc < 0.5 THEN u.pref1 WHEN rc < 0.7 THEN u.pref2 END AS cat
      FROM base b JOIN users u ON u.rank = b.urank
    ), journeys AS (
      SELECT c.j, c.len, c.user_id, i.item_id, i.cat_idx, i.base_cents,
        -- time of day: a monotone warp of a uniform, densest around 20:00 UTC
        ${p.startUs} + c.day * ${DAY_US}
          + floor(((rtod - 0.5 * sin(2 * pi() * rtod) / (2 * pi()) + 20.0 / 24) % 1) * ${DAY_US})::BIGINT AS t0
      FROM chosen c JOIN items i ON i.pop_rank = CASE WHEN c.cat IS NULL THEN zipf(c.ri, ${I})
        ELSE zipf(c.ri, (${I - 1} - c.cat) // ${C} + 1) * ${C} + c.cat END
    ), steps AS (
      SELECT j, user_id, item_id, cat_idx, base_cents, t0, unnest(range(len)) AS stage FROM journeys
    ), timed AS (
      -- click 3 s to 3 min after the view, add-to-cart 20 s to 30 min later, purchase 1 min to 4 h later
      SELECT j, stage, user_id, item_id, cat_idx, base_cents, least(${p.endUs - 1}, t0 + CASE WHEN stage = 0 THEN 0
        ELSE 3000000 + ((h64('delay', j) & 2097151) * (177e6 / 2097152))::BIGINT
          + CASE WHEN stage >= 2 THEN 20000000 + (pow(((h64('delay', j) >> 21) & 2097151) / 2097152, 1.5) * 1780e6)::BIGINT ELSE 0 END
          + CASE WHEN stage >= 3 THEN 60000000 + (pow((h64('delay', j) >> 42) / 4194304, 2) * 14400e6)::BIGINT ELSE 0 END
        END) AS ts_us
      FROM steps
    )
    SELECT user_id, item_id, cat_idx::UTINYINT AS cat_idx, stage::UTINYINT AS stage,
      price_cents(base_cents, item_id, (ts_us - ${p.startUs}) // ${DAY_US})::INTEGER AS price_cents, ts_us
    FROM timed
    ORDER BY ts_us, j, stage;

    -- The table was written in (ts_us, journey, stage) order, so rowid + 1 numbers events chronologically.
    CREATE TEMP VIEW ev AS
    SELECT rowid + 1 AS event_id, user_id, item_id, cat_idx, stage,
      (['view', 'click', 'add_to_cart', 'purchase'])[stage + 1] AS event_type,
      (ts_us - ${p.startUs}) // ${DAY_US} AS day_idx, price_cents, ts_us, make_timestamp(ts_us) AS event_ts
    FROM ev0;`,
  );
}

async function rowsOf(db: DuckDBConnection, sql: string): Promise<Record<string, number>[]> {
  const rows = (await db.runAndReadAll(sql)).getRowObjectsJson();
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v)])));
}

async function createUserStats(db: DuckDBConnection, p: Params): Promise<void> {
  const D = p.days;
  const cats = CATEGORIES.map((_, i) => i);
  const packs = [0, 1, 2];
  // Window sums are the expensive part, so values are packed: engagement per category (view 1, click 2,
  // cart 3, purchase 5) four categories per BIGINT in 15-bit fields, and views with clicks in 31-bit halves.
  // A day adds at most 1,000 engagement per category (heavier, bot-like activity is capped), so 30 days stay
  // below 2^15 and fields never carry into each other; no user has 2^31 views in a week.
  const key = (i: number) => `((q${i >> 2} >> ${15 * (i % 4)}) & 32767) * 16 + ${15 - i}`;
  const top = (k: string) => `(${sqlList(CATEGORIES)})[(16 - ${k} % 16)::BIGINT]`;
  const below = (bound: string) =>
    `greatest(${cats.map((i) => `CASE WHEN key${i} < ${bound} THEN key${i} ELSE 0 END`).join(', ')})`;
  await db.run(
    `CREATE TEMP TABLE ud AS
    WITH daily_cat AS (
      SELECT user_id, day_idx AS d, cat_idx, count(*) AS n, count(*) FILTER (WHERE stage = 0) AS v,
        count(*) FILTER (WHERE stage = 1) AS c, count(*) FILTER (WHERE stage = 3) AS p,
        sum(price_cents) FILTER (WHERE stage = 3) AS spend, max(event_id) AS last_event
      FROM ev GROUP BY user_id, day_idx, cat_idx
    )
    SELECT user_id, d, sum(n)::BIGINT AS n, sum(v)::BIGINT AS v, sum(c)::BIGINT AS c, sum(p)::BIGINT AS p,
      coalesce(sum(spend), 0)::BIGINT AS spend,
      -- category of the day's last event (event ids are unique, so max picks one row)
      (max(last_event * 16 + cat_idx) % 16)::UTINYINT AS last_cat,
      -- one row per category here, so OR-ing the shifted scores packs them exactly
      ${packs.map((q) => `coalesce(bit_or(least(1000, v + 2 * c + 3 * (n - v - c - p) + 5 * p) << (15 * (cat_idx % 4))) FILTER (WHERE cat_idx // 4 = ${q}), 0) AS q${q}`).join(',\n      ')}
    FROM daily_cat GROUP BY user_id, d;

    -- Snapshot k (at the midnight starting day k) covers days [k-7, k) and [k-30, k).
    CREATE TEMP TABLE us_grid AS
    WITH span AS (SELECT user_id, min(d) AS f, max(d) AS l FROM ud GROUP BY user_id),
    grid AS (SELECT user_id, unnest(range(f + 1, least(l + 30, ${D}) + 1)) AS k FROM span)
    SELECT g.user_id, g.k,
      sum(coalesce(ud.v + (ud.c << 31), 0)) OVER w7::BIGINT AS vc_7d,
      sum(coalesce(ud.p, 0)) OVER w30 AS purchases_30d,
      sum(coalesce(ud.spend, 0)) OVER w30 AS spend_cents,
      last_value(ud.last_cat IGNORE NULLS) OVER (PARTITION BY g.user_id ORDER BY g.k
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS last_cat,
      ${packs.map((q) => `sum(coalesce(ud.q${q}, 0)) OVER w30::BIGINT AS q${q}`).join(', ')}
    FROM grid g LEFT JOIN ud ON ud.user_id = g.user_id AND ud.d = g.k - 1
    WINDOW w7 AS (PARTITION BY g.user_id ORDER BY g.k ROWS BETWEEN 6 PRECEDING AND CURRENT ROW),
      w30 AS (PARTITION BY g.user_id ORDER BY g.k ROWS BETWEEN 29 PRECEDING AND CURRENT ROW);

    CREATE TEMP TABLE user_stats AS
    WITH keys AS (
      -- top 3 categories by engagement: key = score * 16 + (15 - index) is unique, ties go to the lower index
      SELECT *, ${cats.map((i) => `${key(i)} AS key${i}`).join(', ')} FROM us_grid WHERE (q0 | q1 | q2) <> 0
    ), keyed AS (
      SELECT *, greatest(${cats.map((i) => `key${i}`).join(', ')}) AS k1 FROM keys
    ), keyed2 AS (
      SELECT *, ${below('k1')} AS k2 FROM keyed
    ), keyed3 AS (
      SELECT *, ${below('k2')} AS k3 FROM keyed2
    ), snap AS (
      SELECT user_id, k, vc_7d & 2147483647 AS views_7d, vc_7d >> 31 AS clicks_7d,
        purchases_30d::BIGINT AS purchases_30d, spend_cents::DOUBLE / 100 AS spend_30d,
        CASE WHEN purchases_30d > 0 THEN round(spend_cents::DOUBLE / purchases_30d / 100, 2) END AS avg_order_value,
        (${sqlList(CATEGORIES)})[last_cat + 1] AS last_category,
        CASE WHEN k3 >= 16 THEN [${top('k1')}, ${top('k2')}, ${top('k3')}]
             WHEN k2 >= 16 THEN [${top('k1')}, ${top('k2')}]
             WHEN k1 >= 16 THEN [${top('k1')}] ELSE [] END AS favorite_categories,
        ${p.startUs} + k * ${DAY_US} AS ts_us,
        CASE WHEN rnd2('late', user_id, k) < 0.03 THEN ${DAY_US} + floor(rnd2('late_by', user_id, k) * ${DAY_US})
             ELSE 600000000 + floor(rnd2('lag', user_id, k) * 4800e6) END::BIGINT AS lag_us,
        rnd2('dup', user_id, k) < 0.015 AS has_preliminary
      FROM keyed3
    )
    SELECT user_id, views_7d, clicks_7d, purchases_30d, spend_30d, avg_order_value, last_category,
      favorite_categories, make_timestamp(ts_us) AS event_ts,
      make_timestamp(ts_us + lag_us + CASE WHEN has_preliminary THEN 7200000000 ELSE 0 END) AS created_ts
    FROM snap
    UNION ALL
    -- The preliminary row, superseded by the row above (same event_ts, later created_ts).
    SELECT user_id, views_7d + 1 + floor(rnd2('overcount', user_id, k) * 3)::BIGINT, clicks_7d, purchases_30d,
      spend_30d, avg_order_value, last_category, favorite_categories, make_timestamp(ts_us),
      make_timestamp(ts_us + 300000000 + floor(rnd2('pre_lag', user_id, k) * 900e6)::BIGINT)
    FROM snap WHERE has_preliminary;`,
  );
}

async function createItemStats(db: DuckDBConnection, p: Params): Promise<void> {
  const D = p.days;
  await db.run(`
    CREATE TEMP TABLE idaily AS
    SELECT item_id, day_idx AS d, count(*) AS n, count(*) FILTER (WHERE stage = 0) AS v,
      count(*) FILTER (WHERE stage = 1) AS c, count(*) FILTER (WHERE stage = 3) AS p
    FROM ev GROUP BY item_id, day_idx;

    -- Weekly restocks (on an item-specific weekday) sized to the item's demand, so best sellers sometimes sell out.
    CREATE TEMP TABLE item_stats AS
    WITH demand AS (
      SELECT i.*, (i.item_id % 7)::BIGINT AS r7,
        (ceil(coalesce(t.p, 0) * 7.0 / ${D} * (0.6 + 0.9 * rnd('stock', i.item_id))) + 5
          + floor(rnd('stock_extra', i.item_id) * 20))::BIGINT AS initial_stock
      FROM items i LEFT JOIN (SELECT item_id, sum(p) AS p FROM idaily GROUP BY item_id) t USING (item_id)
    ), grid AS (
      SELECT d.item_id, d.category, d.base_cents, d.pop_rank, d.r7, d.initial_stock, k,
        coalesce(x.n, 0) AS n, coalesce(x.v, 0) AS v, coalesce(x.c, 0) AS c, coalesce(x.p, 0) AS p
      FROM demand d CROSS JOIN range(0, ${D + 1}) t(k)
      LEFT JOIN idaily x ON x.item_id = d.item_id AND x.d = k - 1
    ), w AS (
      SELECT *,
        sum(n) OVER w7 AS n_7d, sum(v) OVER w7 AS views_7d, sum(c) OVER w7 AS clicks_7d,
        sum(p) OVER (PARTITION BY item_id, (k - 1 + r7) // 7 ORDER BY k ROWS UNBOUNDED PRECEDING) AS sold_this_week
      FROM grid
      WINDOW w7 AS (PARTITION BY item_id ORDER BY k ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)
    )
    SELECT item_id,
      CASE WHEN views_7d > 0 THEN round(least(1.0, clicks_7d / views_7d), 4) END AS ctr_7d,
      price_cents(base_cents, item_id, k)::DOUBLE / 100 AS price,
      category,
      CASE WHEN k = 0 OR (k - 1 + r7) // 7 <> (k + r7) // 7 THEN initial_stock
           ELSE greatest(0, initial_stock - sold_this_week) END::INTEGER AS stock,
      row_number() OVER (PARTITION BY k ORDER BY n_7d DESC, pop_rank) AS popularity_rank,
      make_timestamp(${p.startUs} + k * ${DAY_US}) AS event_ts
    FROM w;
  `);
}

async function createProfiles(db: DuckDBConnection, p: Params): Promise<void> {
  await db.run(`
    CREATE TEMP TABLE profiles AS
    WITH u AS (
      SELECT u.user_id, u.rank, f.first_us,
        CASE WHEN f.first_us IS NOT NULL AND rnd('new_user', u.user_id) < 0.12
               THEN f.first_us - 60000000 - floor(rnd('signup_gap', u.user_id) * 1740e6)
             ELSE ${p.startUs} - floor((1 + rnd('signup_age', u.user_id) * 729) * ${DAY_US}) END::BIGINT AS signup_us,
        ${pick("rnd('country', u.user_id)", COUNTRIES)} AS country,
        ${pick("rnd('age', u.user_id)", AGE_BUCKETS)} AS age_bucket,
        rnd('premium', u.user_id) < CASE WHEN u.rank < ${Math.ceil(p.users * 0.05)} THEN 0.35 ELSE 0.1 END AS is_premium
      FROM users u LEFT JOIN (SELECT user_id, min(ts_us) AS first_us FROM ev GROUP BY user_id) f USING (user_id)
    )
    SELECT user_id, date_trunc('second', make_timestamp(signup_us)) AS signup_ts, country, age_bucket, is_premium,
      date_trunc('second', make_timestamp(signup_us)) AS updated_at
    FROM u
    UNION ALL
    -- Upgrades to premium during the window: a second, later version of the profile.
    SELECT user_id, date_trunc('second', make_timestamp(signup_us)), country, age_bucket, true,
      date_trunc('second', make_timestamp(greatest(signup_us, ${p.startUs})
        + floor(rnd('upgrade_at', user_id) * (${p.endUs} - greatest(signup_us, ${p.startUs})))::BIGINT))
    FROM u WHERE first_us IS NOT NULL AND NOT is_premium AND rnd('upgrade', user_id) < 0.06;
  `);
}

async function createSpine(db: DuckDBConnection, p: Params): Promise<void> {
  await db.run(`
    CREATE TEMP TABLE spine AS
    WITH s AS (
      SELECT event_id, user_id, item_id, ts_us, price_cents FROM ev
      WHERE stage = 0 AND ts_us <= ${p.endUs - DAY_US}
      ORDER BY h64('spine', event_id), event_id LIMIT ${p.spineSize}
    ), purchases AS (
      SELECT user_id, item_id, ts_us FROM ev WHERE stage = 3
    )
    SELECT s.user_id, s.item_id, make_timestamp(s.ts_us) AS event_timestamp,
      s.price_cents::DOUBLE / 100 AS candidate_price, (count(b.ts_us) > 0)::INTEGER AS label
    FROM s LEFT JOIN purchases b
      ON b.user_id = s.user_id AND b.item_id = s.item_id AND b.ts_us > s.ts_us AND b.ts_us <= s.ts_us + ${DAY_US}
    GROUP BY s.event_id, s.user_id, s.item_id, s.ts_us, s.price_cents;
  `);
}

function sqlList(values: readonly (string | number)[]): string {
  return `[${values.map((v) => (typeof v === 'number' ? String(v) : lit(v))).join(', ')}]`;
}
