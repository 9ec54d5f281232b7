import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RegistryState } from '../../src/definitions/definition.js';
import { FeatureLogger } from '../../src/logging/feature-logger.js';
import { type BlockColumn, DuckDbLogWriter, type LogBlock } from '../../src/logging/log-writer.js';
import { buildServer } from '../../src/server/http-server.js';
import type { ServedResult } from '../../src/serving/online-serving.js';
import type { OnlineFeaturesRequest } from '../../src/serving/types.js';
import {
  demoRepoFixture,
  onlineBackends,
  openWithLogging,
  plain,
  readFeatureLog,
} from '../helpers/feature-log.js';
import { prng } from '../helpers/prng.js';

const backends = onlineBackends('flog');

/** Asserts that every served row of `served` (requests with full feature names) is in the log, value and status. */
function expectLogged(
  log: Record<string, unknown>[],
  served: { request: OnlineFeaturesRequest; result: ServedResult }[],
): void {
  const byKey = new Map<string, Record<string, unknown>>();
  for (const row of log) {
    const key = `${(row['served_at'] as Date).getTime()}|${plain(row['user_id'])}|${plain(row['item_id'])}`;
    expect(byKey.has(key), `one log row per served entity row (${key})`).toBe(false);
    byKey.set(key, row);
  }
  let checked = 0;
  for (const { request, result } of served) {
    result.rows.forEach((row, i) => {
      const key = `${request.now?.getTime()}|${plain(row['user_id'])}|${plain(row['item_id'])}`;
      const logged = byKey.get(key);
      expect(logged, `logged row ${key}`).toBeDefined();
      expect(logged?.['feature_service'] ?? null).toBe(request.featureService ?? null);
      result.featureNames.forEach((name, j) => {
        if (name === 'user_id' || name === 'item_id') return;
        expect(plain(logged?.[name]), `${key} ${name}`).toEqual(plain(row[name]));
        expect(logged?.[`${name}__status`], `${key} ${name} status`).toBe(result.statuses[i]?.[j]);
        checked++;
      });
    });
  }
  expect(checked).toBeGreaterThan(0);
}

describe.each(backends)('feature logging on $name', ({ config }) => {
  const repo = demoRepoFixture(config);

  it('logs every served entity row, value and status, typed, under date partitions, and flushes on close', async () => {
    const store = await openWithLogging(repo.dir, { path: 'logs_all', max_file_rows: 40 });
    const served: { request: OnlineFeaturesRequest; result: ServedResult }[] = [];
    for (let k = 0; k < 40; k++) {
      // Unknown users (NOT_FOUND), fresh values, and (3 days later) values past user_stats' 2-day TTL.
      const now = new Date(repo.dataEnd.getTime() + 1 + k + (k % 4 === 1 ? 3 * 86_400_000 : 0));
      const users = [k + 1, k + 60, 900_000 + k];
      const request: OnlineFeaturesRequest =
        k % 2 === 0
          ? {
              featureService: 'ranker_v1',
              fullFeatureNames: true,
              now,
              entities: users.map((user_id, i) => ({
                user_id,
                item_id: (k * 3 + i) % 50,
                candidate_price: 9.5,
              })),
            }
          : {
              features: ['user_stats:views_7d', 'user_profile:signup_ts', 'user_engagement:engagements_1d'],
              fullFeatureNames: true,
              now,
              entities: users.map((user_id) => ({ user_id })),
            };
      served.push({ request, result: await store.getOnlineFeatures(request) });
    }
    const logger = store.featureLogger as FeatureLogger;
    await store.close();
    expect(logger.counters).toMatchObject({
      sampledRequests: 40,
      loggedRows: 120,
      writtenRows: 120,
      droppedRows: 0,
      failedRows: 0,
    });
    expect(logger.counters.files).toBeGreaterThanOrEqual(3); // at most 40 rows per file

    const logDir = join(repo.dir, 'logs_all');
    const days = new Set(served.map((s) => `date=${s.request.now?.toISOString().slice(0, 10)}`));
    expect(readdirSync(logDir).sort()).toEqual([...days].sort());
    for (const f of days)
      expect(readdirSync(join(logDir, f)).every((n) => n.endsWith('.parquet'))).toBe(true);

    const { rows, types } = await readFeatureLog(logDir);
    expect(rows).toHaveLength(120);
    expectLogged(rows, served);
    const statuses = new Set(rows.map((r) => r['user_stats__views_7d__status']));
    expect([...statuses].sort()).toEqual(['NOT_FOUND', 'OUTSIDE_MAX_AGE', 'PRESENT']);
    expect(Object.fromEntries(types)).toMatchObject({
      request_id: 'VARCHAR',
      served_at: 'TIMESTAMP WITH TIME ZONE',
      feature_service: 'VARCHAR',
      user_id: 'BIGINT',
      item_id: 'BIGINT',
      user_stats__views_7d: 'BIGINT',
      user_stats__avg_order_value: 'DOUBLE',
      user_stats__favorite_categories: 'VARCHAR[]',
      item_stats__stock: 'INTEGER',
      item_stats__category: 'VARCHAR',
      user_profile__is_premium: 'BOOLEAN',
      user_profile__signup_ts: 'TIMESTAMP WITH TIME ZONE',
      user_engagement__engagements_1d: 'BIGINT',
      price_affinity__price_ratio: 'DOUBLE',
      user_stats__views_7d__status: 'VARCHAR',
    });
    // One request id per request, shared by its entity rows.
    const ids = new Map<string, Set<number>>();
    for (const r of rows) {
      const set = ids.get(String(r['request_id'])) ?? new Set();
      set.add((r['served_at'] as Date).getTime());
      ids.set(String(r['request_id']), set);
    }
    expect(ids.size).toBe(40);
    expect([...ids.values()].every((s) => s.size === 1)).toBe(true);
  });

  it('samples requests at the configured rate, and per feature service', async () => {
    // A feature service logged at 1 next to a default rate of 0.1.
    const store = await openWithLogging(repo.dir, {
      path: 'logs_sampled',
      sample_rate: 0.1,
      services: { ranker_v1: { sample_rate: 1 } },
    });
    const n = 2000;
    for (let k = 0; k < n; k++)
      await store.getOnlineFeatures({
        features: ['user_stats:views_7d'],
        entities: [{ user_id: (k % 100) + 1 }],
      });
    for (let k = 0; k < 50; k++) {
      await store.getOnlineFeatures({
        featureService: 'ranker_v1',
        entities: [{ user_id: k + 1, item_id: k, candidate_price: 3 }],
      });
    }
    await store.close();
    const { rows } = await readFeatureLog(join(repo.dir, 'logs_sampled'));
    const bySelection = rows.filter((r) => r['feature_service'] === null).length;
    // Binomial(2000, 0.1): mean 200, sd 13.4; [140, 260] is ±4.5 sd (a false failure about once in 10^5 runs).
    expect(bySelection).toBeGreaterThanOrEqual(140);
    expect(bySelection).toBeLessThanOrEqual(260);
    expect(rows.filter((r) => r['feature_service'] === 'ranker_v1')).toHaveLength(50);
  });

  it('drops and counts what does not fit a full queue, without failing or holding a request', async () => {
    const store = await openWithLogging(repo.dir, { path: 'logs_full', queue_size: 5, flush_interval: '1h' });
    const results = [];
    for (let k = 0; k < 12; k++) {
      results.push(
        await store.getOnlineFeatures({ features: ['user_stats:views_7d'], entities: [{ user_id: k + 1 }] }),
      );
    }
    expect(results.every((r) => r.rows.length === 1)).toBe(true);
    const logger = store.featureLogger as FeatureLogger;
    expect(logger.counters).toMatchObject({ loggedRows: 5, droppedRows: 7, writtenRows: 0 });
    await store.close();
    expect(logger.counters).toMatchObject({ loggedRows: 5, droppedRows: 7, writtenRows: 5, failedRows: 0 });
    expect((await readFeatureLog(join(repo.dir, 'logs_full'))).rows).toHaveLength(5);
  });

  it('counts rows held by a slow flush against the queue, and writes them when it completes', async () => {
    const store = await openWithLogging(repo.dir, { enabled: false });
    const result = await store.getOnlineFeatures({
      features: ['user_stats:views_7d'],
      entities: [{ user_id: 1 }],
    });
    const state = store.currentState();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const real = new DuckDbLogWriter();
    const logger = new FeatureLogger({
      dir: join(repo.dir, 'logs_slow'),
      sampleRate: 1,
      queueSize: 10,
      flushIntervalMs: 3_600_000,
      maxFileRows: 1000,
      writer: {
        write: async (columns, rows, path) => {
          await gate; // a flusher slower than the requests
          await real.write(columns, rows, path);
        },
        close: () => real.close(),
      },
    });
    const log = (k: number) =>
      logger.log(
        state as RegistryState,
        { features: ['user_stats:views_7d'], entities: [{ user_id: 1 }] },
        result,
        k,
      );
    const t0 = performance.now();
    for (let k = 0; k < 15; k++) log(k);
    const flushing = logger.flush(); // takes the 10 queued rows, then waits at the gate
    for (let k = 0; k < 5; k++) log(100 + k); // still full: the 10 rows in flight count
    const elapsed = performance.now() - t0;
    expect(logger.counters).toMatchObject({ loggedRows: 10, droppedRows: 10, writtenRows: 0 });
    expect(elapsed).toBeLessThan(100); // 20 offers, none of them waited for the flusher
    release();
    await flushing;
    expect(logger.counters).toMatchObject({ writtenRows: 10, files: 1 });
    log(200); // room again
    await logger.close();
    expect(logger.counters).toMatchObject({ loggedRows: 11, droppedRows: 10, writtenRows: 11 });
    expect((await readFeatureLog(join(repo.dir, 'logs_slow'))).rows).toHaveLength(11);
    await store.close();
  });

  it('never fails a request when the log cannot be written, and reports it', async () => {
    writeFileSync(join(repo.dir, 'logs_blocked'), 'a file where the log folder should be');
    const store = await openWithLogging(repo.dir, { path: 'logs_blocked/sub', flush_interval: '20ms' });
    for (let k = 0; k < 10; k++) {
      const r = await store.getOnlineFeatures({
        features: ['user_stats:views_7d'],
        entities: [{ user_id: k + 1 }],
      });
      expect(r.rows).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const logger = store.featureLogger as FeatureLogger;
    await store.close();
    expect(logger.counters).toMatchObject({ loggedRows: 10, writtenRows: 0, failedRows: 10, files: 0 });
    expect(logger.counters.lastError).toMatch(/logs_blocked/);
  });

  it('loses only the request whose value cannot be copied to the log thread', async () => {
    const store = await openWithLogging(repo.dir, { path: 'logs_uncopyable', flush_interval: '1h' });
    const request = { features: ['user_stats:views_7d'], entities: [{ user_id: 1 }, { user_id: 2 }] };
    const good = await store.getOnlineFeatures(request);
    // What an on-demand transform returning a function would serve: a value structured clone refuses.
    const bad = { ...good, rows: good.rows.map((r) => ({ ...r, views_7d: () => 1 })) };
    const logger = store.featureLogger as FeatureLogger;
    const state = store.currentState();
    logger.log(state, request, good, 1);
    logger.log(state, request, bad, 2);
    logger.log(state, request, good, 3);
    await store.close();
    expect(logger.counters).toMatchObject({ loggedRows: 8, writtenRows: 6, failedRows: 2 });
    expect(logger.counters.lastError).toMatch(/could not be cloned/);
    expect((await readFeatureLog(join(repo.dir, 'logs_uncopyable'))).rows).toHaveLength(6);
  });

  it('logs what the HTTP server serves, and flushes when the server closes', async () => {
    const store = await openWithLogging(repo.dir, { path: 'logs_http', flush_interval: '1h' });
    const app = await buildServer(store);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${url}/get-online-features`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        features: ['user_stats:views_7d', 'item_stats:item_price'],
        entities: { user_id: [1, 2, 3], item_id: [4, 5, 6] },
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { results: { values: unknown[]; statuses: string[] }[] };
    await app.close();
    expect(existsSync(join(repo.dir, 'logs_http'))).toBe(true);
    const { rows } = await readFeatureLog(join(repo.dir, 'logs_http'));
    expect(rows.map((r) => [plain(r['user_id']), plain(r['item_id'])]).sort()).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    // Feast's answer: one result per output column (join keys first), values per entity row.
    const views = body.results[2] as { values: unknown[]; statuses: string[] };
    const byUser = new Map(rows.map((r) => [plain(r['user_id']), r]));
    [1, 2, 3].forEach((u, i) => {
      expect(plain(byUser.get(u)?.['user_stats__views_7d'])).toEqual(views.values[i] ?? null);
      expect(byUser.get(u)?.['user_stats__views_7d__status']).toBe(views.statuses[i]);
    });
    await store.close();
  });
});

/** This process's threads named `tessera-log`, with their nice value and scheduling policy (/proc/<pid>/stat). */
function logThreads(): Map<string, { nice: number; policy: number }> {
  const threads = new Map<string, { nice: number; policy: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() !== 'tessera-log') continue;
      // Fields after the parenthesized name, from field 3 on: nice is field 19, policy field 41.
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      threads.set(tid, { nice: Number(fields[19 - 3]), policy: Number(fields[41 - 3]) });
    } catch {
      // the thread ended while being read
    }
  }
  return threads;
}

describe.runIf(process.platform === 'linux')('the feature log thread', () => {
  const SCHED_OTHER = 0;
  const SCHED_IDLE = 5;

  it.each([
    { priority: 'idle', nice: 19, policy: SCHED_IDLE },
    { priority: 'low', nice: 19, policy: SCHED_OTHER },
    { priority: 'normal', nice: 0, policy: SCHED_OTHER },
  ] as const)('runs at thread_priority $priority', async ({ priority, nice, policy }) => {
    const before = new Set(logThreads().keys());
    const logger = new FeatureLogger({
      dir: mkdtempSync(join(tmpdir(), 'tessera-flog-')),
      sampleRate: 1,
      queueSize: 100,
      flushIntervalMs: 1000,
      maxFileRows: 100,
      threadPriority: priority,
    });
    try {
      let seen: { nice: number; policy: number } | undefined;
      for (let waited = 0; waited < 10_000; waited += 20) {
        seen = [...logThreads()].find(([tid]) => !before.has(tid))?.[1];
        if (seen !== undefined && seen.nice === nice && seen.policy === policy) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(seen, 'its thread, named tessera-log').toEqual({ nice, policy });
    } finally {
      await logger.close();
    }
  });
});

describe('feature log sampling with a seeded generator', () => {
  it('logs exactly the requests whose draw falls under the rate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-flog-seed-'));
    const draws = prng(42);
    const expected = prng(42);
    const logger = new FeatureLogger({
      dir,
      sampleRate: 0.3,
      queueSize: 100,
      flushIntervalMs: 3_600_000,
      maxFileRows: 100,
      random: draws,
    });
    const result = {
      featureNames: [],
      rows: [{}],
      statuses: [[]],
      eventTimestamps: [[]],
    };
    let want = 0;
    for (let k = 0; k < 200; k++) {
      if (expected() < 0.3) want++;
      logger.log({} as RegistryState, { entities: [{}] }, result, 0);
    }
    expect(logger.counters.sampledRequests).toBe(want);
    expect(logger.counters.loggedRows).toBe(Math.min(want, 100));
    // No registry state behind these results: the layout cannot be computed, which fails the file, not a caller.
    await logger.close();
    expect(logger.counters.failedRows).toBe(Math.min(want, 100));
  });
});

describe('the feature log writer', () => {
  it('keeps every declared type exactly: big int64, bytes, lists, timestamps, any text', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-flog-writer-'));
    const writer = new DuckDbLogWriter();
    const columns = [
      { name: 'big', type: 'BIGINT' },
      { name: 'small', type: 'INTEGER' },
      { name: 'x', type: 'DOUBLE' },
      { name: 'bytes', type: 'BLOB' },
      { name: 'byte_list', type: 'BLOB[]' },
      { name: 'times', type: 'TIMESTAMPTZ[]' },
      { name: 'text', type: 'VARCHAR' },
      { name: 'flag', type: 'BOOLEAN' },
    ];
    const when = new Date('2024-05-01T12:34:56.789Z');
    const rows = [
      [
        2n ** 62n + 1n,
        -7,
        0.1 + 0.2,
        new Uint8Array([0, 255, 7]),
        [new Uint8Array([1])],
        [when],
        'é "q"\n\\',
        true,
      ],
      [null, null, null, null, null, null, null, null],
      [1n, 1, Number.NaN, null, null, null, when, false],
    ];
    const block: LogBlock = {
      rows: rows.length,
      columns: columns.map((_, c) => ({ values: rows.map((r) => r[c]) })),
    };
    await writer.write(columns, [block], join(dir, 'date=2024-05-01', 'a.parquet'));
    await writer.close();
    expect(readdirSync(join(dir, 'date=2024-05-01'))).toEqual(['a.parquet']);
    const { rows: read, types } = await readFeatureLog(dir);
    expect(Object.fromEntries(types)).toMatchObject({
      big: 'BIGINT',
      small: 'INTEGER',
      bytes: 'BLOB',
      byte_list: 'BLOB[]',
      times: 'TIMESTAMP WITH TIME ZONE[]',
    });
    const first = read.find((r) => r['big'] !== null) as Record<string, unknown>;
    expect(first['big']).toBe(2n ** 62n + 1n);
    expect(first['small']).toBe(-7);
    expect(first['x']).toBe(0.1 + 0.2);
    expect([...(first['bytes'] as Uint8Array)]).toEqual([0, 255, 7]);
    expect([...((first['byte_list'] as Uint8Array[])[0] as Uint8Array)]).toEqual([1]);
    expect(((first['times'] as Date[])[0] as Date).getTime()).toBe(when.getTime());
    expect(first['text']).toBe('é "q"\n\\');
    expect(first['flag']).toBe(true);
    expect(read.find((r) => r['big'] === null)).toMatchObject({ small: null, bytes: null, text: null });
    // NaN is logged as null; a time in a text column as ISO text.
    expect(read.find((r) => r['big'] === 1n)).toMatchObject({
      x: null,
      flag: false,
      text: when.toISOString(),
    });
  });

  it('writes packed, coded, constant, plain and absent columns alike, across data chunks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-flog-forms-'));
    const writer = new DuckDbLogWriter();
    const columns = [
      { name: 'id', type: 'BIGINT' },
      { name: 'x', type: 'DOUBLE' },
      { name: 'n', type: 'BIGINT' },
      { name: 'flag', type: 'BOOLEAN' },
      { name: 'at', type: 'TIMESTAMPTZ' },
      { name: 'tag', type: 'VARCHAR' },
      { name: 's', type: 'VARCHAR', codes: ['PRESENT', 'NOT_FOUND'] },
    ];
    const random = prng(7);
    const expected: Record<string, unknown>[] = [];
    const blocks: LogBlock[] = [];
    let id = 0;
    // Block sizes that straddle DuckDB's 2048-row chunks; the forms vary per block and column.
    for (const [k, rows] of [1500, 1000, 700, 1, 2100].entries()) {
      const want = Array.from({ length: rows }, () => {
        const r = random();
        return {
          id: id++,
          x: r < 0.1 ? null : Math.round(r * 1e6) / 7,
          n: r < 0.05 ? null : k === 2 ? 2n ** 62n + BigInt(id) : Math.floor(r * 1e9),
          flag: r < 0.5,
          at: new Date(1_700_000_000_000 + Math.floor(r * 1e9)),
          tag: k === 1 ? null : `t${k}`,
          s: r < 0.3 ? 'NOT_FOUND' : 'PRESENT',
        };
      });
      expected.push(...want);
      const packed = (f: (w: (typeof want)[number]) => number | null): BlockColumn => ({
        numbers: Float64Array.from(want, (w) => f(w) ?? Number.NaN),
      });
      const plainValues = (name: keyof (typeof want)[number]): BlockColumn => ({
        values: want.map((w) => w[name]),
      });
      blocks.push({
        rows,
        columns: [
          packed((w) => w.id),
          // NaN and Infinity in a packed column are logged as null, like null itself.
          k === 0
            ? packed((w) => (w.x === null ? (w.id % 2 ? Number.POSITIVE_INFINITY : null) : w.x))
            : plainValues('x'),
          k === 2 ? plainValues('n') : packed((w) => w.n as number | null), // big int64s: the column goes as text
          k === 3 ? plainValues('flag') : packed((w) => (w.flag ? 1 : 0)),
          packed((w) => w.at.getTime()),
          k === 1 ? undefined : { constant: `t${k}` },
          { codes: Uint8Array.from(want, (w) => (w.s === 'NOT_FOUND' ? 1 : 0)) },
        ],
      });
    }
    await writer.write(columns, blocks, join(dir, 'date=2024-05-01', 'forms.parquet'));
    await expect(
      writer.write(
        [{ name: 'small', type: 'INTEGER' }],
        [{ rows: 1, columns: [{ numbers: Float64Array.of(1.5) }] }],
        join(dir, 'date=2024-05-02', 'bad.parquet'),
      ),
    ).rejects.toThrow('feature log: the number 1.5 in the INTEGER column small');
    await writer.close();
    expect(existsSync(join(dir, 'date=2024-05-02'))).toBe(true);
    expect(readdirSync(join(dir, 'date=2024-05-02'))).toEqual([]); // no partial file
    const { rows: read, types } = await readFeatureLog(dir);
    expect(Object.fromEntries(types)).toMatchObject({
      id: 'BIGINT',
      x: 'DOUBLE',
      n: 'BIGINT',
      flag: 'BOOLEAN',
      at: 'TIMESTAMP WITH TIME ZONE',
      tag: 'VARCHAR',
      s: 'VARCHAR',
    });
    read.sort((a, b) => Number(a['id']) - Number(b['id']));
    expect(read).toHaveLength(expected.length);
    read.forEach((row, i) => {
      const want = expected[i] as Record<string, unknown>;
      expect({ ...row, at: (row['at'] as Date).getTime() }).toEqual({
        ...want,
        id: BigInt(want['id'] as number),
        n: want['n'] === null ? null : BigInt(want['n'] as number | bigint),
        at: (want['at'] as Date).getTime(),
      });
    });
  });
});
