/**
 * Online store benchmark: write throughput and read latency of the SQLite and Redis stores.
 *
 *   node --import tsx bench/online-store.ts [--rows 100000] [--runs 5] [--iterations 2000] [--only sqlite|redis]
 *                                           [--sweep]   (Redis: also try write batch sizes × calls in flight)
 *
 * Redis comes from TESSERA_BENCH_REDIS_URL or TESSERA_TEST_REDIS_URL (`source $(bash scripts/services.sh start)`);
 * without one only SQLite runs. Rows have 50 features (30 float64, 10 int64, 5 strings, 5 bools), built key by
 * key like rows decoded from a query result. Writes go in batches of 10k rows: "insert" into an empty view,
 * "update" over existing rows with newer timestamps. Reads are sequential awaits of one caller: 1 entity × 1
 * view, and 100 entities × 1 view. Stores with `writeColumns` also get the inserts as column batches (numbers in
 * Float64Arrays), the path materialization takes. Every figure is the median over `runs` runs.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { OnlineColumns, OnlineRow, OnlineStore, OnlineViewRef } from '../src/online/online-store.js';
import { RedisOnlineStore, type RedisOnlineStoreOptions } from '../src/online/redis/redis-online-store.js';
import { SqliteOnlineStore } from '../src/online/sqlite/sqlite-online-store.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '5' },
    iterations: { type: 'string', default: '2000' },
    only: { type: 'string' },
    sweep: { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const RUNS = Number(args.runs);
const ITERATIONS = Number(args.iterations);
const BATCH = 10_000;
const FEATURES = 50;

interface Result {
  store: string;
  writeInsertRowsPerSec: number;
  writeUpdateRowsPerSec: number;
  /** The same inserts through `writeColumns` (what materialization uses), when the store has it. */
  writeColumnsInsertRowsPerSec?: number;
  read1: Latency;
  read100: Latency;
}
interface Latency {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const featureNames = Array.from({ length: FEATURES }, (_, f) => `feature_${String(f).padStart(2, '0')}`);

function makeValues(entity: number): Record<string, unknown> {
  const v: Record<string, unknown> = {};
  for (let f = 0; f < FEATURES; f++) {
    const name = featureNames[f] as string;
    if (f < 30) v[name] = Math.random() * 1000;
    else if (f < 40) v[name] = Math.floor(Math.random() * 1_000_000);
    else if (f < 45) v[name] = `category_${(entity * 31 + f) % 977}`;
    else v[name] = (entity + f) % 3 === 0;
  }
  return v;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function writeAll(store: OnlineStore, view: OnlineViewRef, rows: OnlineRow[]): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < rows.length; i += BATCH) await store.write(view, rows.slice(i, i + BATCH));
  return (rows.length / (performance.now() - start)) * 1000;
}

/** The rows as column batches of BATCH rows: numbers in Float64Arrays, strings and booleans as arrays. */
function toColumns(rows: OnlineRow[]): OnlineColumns[] {
  const out: OnlineColumns[] = [];
  for (let i = 0; i < rows.length; i += BATCH) {
    const part = rows.slice(i, i + BATCH);
    out.push({
      length: part.length,
      entityKeys: part.map((r) => r.entityKey),
      eventTs: Float64Array.from(part, (r) => r.eventTs),
      createdTs: Float64Array.from(part, (r) => r.createdTs),
      features: featureNames.map((name) => {
        const values = part.map((r) => r.values[name]);
        return typeof values[0] === 'number'
          ? { name, values: Float64Array.from(values as number[]) }
          : { name, values };
      }),
      distinctKeys: true,
    });
  }
  return out;
}

async function writeAllColumns(
  store: OnlineStore,
  view: OnlineViewRef,
  batches: OnlineColumns[],
): Promise<number> {
  const write = store.writeColumns?.bind(store);
  if (write === undefined) return Number.NaN;
  const start = performance.now();
  let n = 0;
  for (const batch of batches) {
    await write(view, batch);
    n += batch.length;
  }
  return (n / (performance.now() - start)) * 1000;
}

async function readLatency(store: OnlineStore, view: OnlineViewRef, keysPerRead: number): Promise<Latency> {
  const times: number[] = new Array(ITERATIONS);
  for (let i = 0; i < ITERATIONS; i++) {
    const entityKeys = Array.from({ length: keysPerRead }, () => String(Math.floor(Math.random() * ROWS)));
    const start = performance.now();
    const [rows] = await store.read([{ view, entityKeys }]);
    times[i] = performance.now() - start;
    if (rows?.[0] === null) throw new Error('benchmark read a missing row');
  }
  times.sort((a, b) => a - b);
  return {
    p50Ms: times[Math.floor(ITERATIONS * 0.5)] as number,
    p99Ms: times[Math.floor(ITERATIONS * 0.99)] as number,
    maxMs: times[ITERATIONS - 1] as number,
  };
}

async function benchStore(
  name: string,
  open: () => OnlineStore,
  values: Record<string, unknown>[],
): Promise<Result> {
  const inserts: number[] = [];
  const updates: number[] = [];
  const columnInserts: number[] = [];
  const r1: Latency[] = [];
  const r100: Latency[] = [];
  const store = open();
  try {
    for (let run = 0; run < RUNS; run++) {
      const view = { project: 'bench', name: `v_${run}_${randomUUID().slice(0, 6)}`, ttlMs: 7 * 86_400_000 };
      const now = Date.now();
      const rows = (ts: number) =>
        values.map((v, i): OnlineRow => ({ entityKey: String(i), eventTs: ts, createdTs: ts, values: v }));
      inserts.push(await writeAll(store, view, rows(now)));
      updates.push(await writeAll(store, view, rows(now + 1)));
      if (store.writeColumns !== undefined) {
        const columnsView = { ...view, name: `${view.name}_columns` };
        columnInserts.push(await writeAllColumns(store, columnsView, toColumns(rows(now))));
        await store.deleteView(columnsView);
      }
      // Warm up statement caches, JIT and connections before timing reads.
      await readLatency(store, view, 1);
      r1.push(await readLatency(store, view, 1));
      r100.push(await readLatency(store, view, 100));
      await store.deleteView(view);
      process.stderr.write(`  ${name} run ${run + 1}/${RUNS} done\n`);
    }
  } finally {
    await store.close();
  }
  const med = (ls: Latency[]): Latency => ({
    p50Ms: median(ls.map((l) => l.p50Ms)),
    p99Ms: median(ls.map((l) => l.p99Ms)),
    maxMs: median(ls.map((l) => l.maxMs)),
  });
  return {
    store: name,
    writeInsertRowsPerSec: Math.round(median(inserts)),
    writeUpdateRowsPerSec: Math.round(median(updates)),
    ...(columnInserts.length > 0 ? { writeColumnsInsertRowsPerSec: Math.round(median(columnInserts)) } : {}),
    read1: med(r1),
    read100: med(r100),
  };
}

async function sweepRedis(
  url: string,
  keyPrefix: string,
  values: Record<string, unknown>[],
): Promise<unknown[]> {
  const out: { batchSize: number; inFlight: number; insertRowsPerSec: number; updateRowsPerSec: number }[] =
    [];
  for (const batchSize of [200, 500, 1000, 2000]) {
    for (const inFlight of [1, 2, 4, 8]) {
      const options: RedisOnlineStoreOptions = {
        url,
        keyPrefix,
        writeBatchSize: batchSize,
        maxWritesInFlight: inFlight,
      };
      const store = new RedisOnlineStore(options);
      const ins: number[] = [];
      const upd: number[] = [];
      for (let run = 0; run < 3; run++) {
        const view = { project: 'sweep', name: `v_${randomUUID().slice(0, 8)}`, ttlMs: 7 * 86_400_000 };
        const now = Date.now();
        const rows = (ts: number) =>
          values.map((v, i): OnlineRow => ({ entityKey: String(i), eventTs: ts, createdTs: ts, values: v }));
        ins.push(await writeAll(store, view, rows(now)));
        upd.push(await writeAll(store, view, rows(now + 1)));
        await store.deleteView(view);
      }
      await store.close();
      const row = {
        batchSize,
        inFlight,
        insertRowsPerSec: Math.round(median(ins)),
        updateRowsPerSec: Math.round(median(upd)),
      };
      process.stderr.write(`  sweep ${JSON.stringify(row)}\n`);
      out.push(row);
    }
  }
  return out;
}

function table(results: Result[]): string {
  const f = (n: number) => n.toFixed(3);
  const lines = [
    '| store  | write insert rows/s | write update rows/s | writeColumns insert rows/s | read 1×1 p50 / p99 / max ms | read 100×1 p50 / p99 / max ms |',
    '|--------|--------------------:|--------------------:|---------------------------:|-----------------------------|-------------------------------|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.store.padEnd(6)} | ${String(r.writeInsertRowsPerSec).padStart(19)} | ${String(r.writeUpdateRowsPerSec).padStart(19)} | ` +
        `${String(r.writeColumnsInsertRowsPerSec ?? '–').padStart(26)} | ` +
        `${f(r.read1.p50Ms)} / ${f(r.read1.p99Ms)} / ${f(r.read1.maxMs)}`.padEnd(27) +
        ' | ' +
        `${f(r.read100.p50Ms)} / ${f(r.read100.p99Ms)} / ${f(r.read100.maxMs)}`.padEnd(29) +
        ' |',
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const values = Array.from({ length: ROWS }, (_, i) => makeValues(i));
  const results: Result[] = [];
  let sweep: unknown[] | undefined;

  if (args.only === undefined || args.only === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-online-'));
    try {
      results.push(
        await benchStore('sqlite', () => new SqliteOnlineStore({ path: join(dir, 'online.db') }), values),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const url = process.env['TESSERA_BENCH_REDIS_URL'] ?? process.env['TESSERA_TEST_REDIS_URL'];
  if (args.only === undefined || args.only === 'redis') {
    if (url === undefined) {
      process.stderr.write('no Redis: set TESSERA_BENCH_REDIS_URL or TESSERA_TEST_REDIS_URL to include it\n');
    } else {
      const keyPrefix = `tsr_bench_${randomUUID().slice(0, 8)}`;
      try {
        results.push(await benchStore('redis', () => new RedisOnlineStore({ url, keyPrefix }), values));
        if (args.sweep) sweep = await sweepRedis(url, keyPrefix, values);
      } finally {
        await cleanRedis(url, keyPrefix);
      }
    }
  }

  const setup = {
    rows: ROWS,
    features: FEATURES,
    writeBatch: BATCH,
    runs: RUNS,
    readIterations: ITERATIONS,
    node: process.version,
  };
  console.log(table(results));
  console.log(JSON.stringify({ setup, results, ...(sweep === undefined ? {} : { sweep }) }, null, 2));
}

async function cleanRedis(url: string, keyPrefix: string): Promise<void> {
  const client = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await client.scanBuffer(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next.toString();
  } while (cursor !== '0');
  await client.quit();
}

await main();
