/**
 * Data-quality validation benchmark: 10 expectations over a 10M-row Parquet source by SQL push-down (one
 * aggregate scan, plus a sample query per failed row-level check), and the per-event cost of the stream engine's
 * compiled predicates.
 *
 *   node --import tsx bench/validation.ts [--rows 10000000] [--runs 3] [--threads 2]
 *
 * The data has 0.1 % null amounts, so `not_null(amount)` fails and its sample query is part of the timing.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parquetSource } from '../src/definitions/source.js';
import { checks } from '../src/quality/expectations.js';
import { Validator } from '../src/quality/run-validation.js';
import { compileEventChecks } from '../src/quality/stream-checks.js';
import { sourceSubject } from '../src/quality/subjects.js';
import { decodeEvent, type EventSchema } from '../src/stream/event-decoder.js';
import { generateOnce } from './bench-data.js';
import { median } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string' },
    events: { type: 'string', default: '2000000' },
    json: { type: 'boolean', default: false },
  },
});
const rows = Number(args.rows);
const dataDir = resolve('.bench-data', `validation-v1-${rows}`);
const T0_US = 1_714_521_600_000_000; // 2024-05-01

await generateOnce(dataDir, async (c, file) => {
  await c.run(`COPY (
    SELECT i AS order_id,
           (hash(i) % 1000000)::BIGINT AS user_id,
           CASE WHEN i % 1000 = 7 THEN NULL ELSE round((hash(i * 3) % 100000) / 100.0, 2) END AS amount,
           (['new', 'paid', 'shipped', 'refunded'])[(1 + hash(i * 5) % 4)::BIGINT] AS status,
           'user' || (i % 50000) || '@example.com' AS email,
           make_timestamptz(${T0_US} + (i * 259200000000 // ${rows})) AS ts
    FROM range(${rows}) t(i)) TO ${file('orders.parquet')} (FORMAT parquet, ROW_GROUP_SIZE 1000000)`);
});

const expectations = [
  checks.notNull('user_id'),
  checks.notNull('amount'),
  checks.unique('order_id'),
  checks.between('amount', { min: 0, max: 1000 }),
  checks.inSet('status', ['new', 'paid', 'shipped', 'refunded']),
  checks.matches('email', '^[a-z0-9]+@[a-z.]+$'),
  checks.rowCount({ min: 1 }),
  checks.mean('amount', { min: 400, max: 600 }),
  checks.quantile('amount', 0.99, { max: 1000 }),
  checks.maxStaleness('7d'),
];
const source = parquetSource({ name: 'orders', path: 'orders.parquet', timestampField: 'ts', expectations });

const seconds: number[] = [];
let last: Awaited<ReturnType<Validator['run']>> | undefined;
for (let r = 0; r < Number(args.runs); r++) {
  // A fresh DuckDB each run: nothing cached between runs but the OS page cache.
  const validator = new Validator({
    project: 'bench',
    repoPath: dataDir,
    connections: {},
    ...(args.threads !== undefined ? { threads: Number(args.threads) } : {}),
  });
  const t0 = performance.now();
  last = await validator.run(sourceSubject(source), { now: new Date(T0_US / 1000 + 3 * 86_400_000) });
  seconds.push((performance.now() - t0) / 1000);
  await validator.close();
}

// Stream side: the same row-level checks compiled to predicates, per event, beside what the worker already does
// per event (decoding the JSON record against the schema), measured in the same run.
const checker = compileEventChecks(expectations);
const schema: EventSchema = {
  joinKeys: [{ name: 'user_id', type: 'int64' }],
  timestampField: 'ts',
  columns: [
    { name: 'amount', type: 'float64' },
    { name: 'status', type: 'any' },
    { name: 'email', type: 'any' },
  ],
};
const records = Array.from({ length: 1000 }, (_, i) =>
  JSON.stringify({
    user_id: i,
    ts: new Date(1_714_521_600_000 + i * 1000).toISOString(),
    amount: i % 100 === 0 ? -1 : (i % 997) / 10,
    status: i % 50 === 0 ? 'lost' : 'paid',
    email: `user${i}@example.com`,
  }),
);
const n = Number(args.events);
const decodeOnly = () => {
  const t = performance.now();
  for (let i = 0; i < n; i++) decodeEvent(records[i % 1000] as string, schema);
  return ((performance.now() - t) * 1e6) / n;
};
let failed = 0;
const decodeAndCheck = () => {
  failed = 0;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    const d = decodeEvent(records[i % 1000] as string, schema);
    if (d.ok && checker?.check(d.event.row) !== undefined) failed++;
  }
  return ((performance.now() - t) * 1e6) / n;
};
// Alternated, three times each, so both see the same machine load.
const decodeNs: number[] = [];
const checkedNs: number[] = [];
for (let r = 0; r < 3; r++) {
  decodeNs.push(decodeOnly());
  checkedNs.push(decodeAndCheck());
}

const result = {
  rows: last?.rows,
  expectations: expectations.length,
  failed: last?.results.filter((x) => !x.passed).map((x) => x.name),
  seconds: seconds.map((s) => Number(s.toFixed(2))),
  medianSeconds: Number(median(seconds).toFixed(2)),
  rowsPerSecond: Math.round((last?.rows ?? 0) / median(seconds)),
  stream: {
    events: n,
    failed,
    decodeNsPerEvent: Number(median(decodeNs).toFixed(1)),
    decodeAndCheckNsPerEvent: Number(median(checkedNs).toFixed(1)),
    checksNsPerEvent: Number((median(checkedNs) - median(decodeNs)).toFixed(1)),
  },
};
if (args.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(
    `validated ${result.rows?.toLocaleString()} rows × ${result.expectations} expectations: median ${result.medianSeconds} s (runs ${result.seconds.join(', ')} s), ${result.rowsPerSecond.toLocaleString()} rows/s; failed: ${result.failed?.join(', ') || 'none'}`,
  );
  console.log(
    `stream: decode ${result.stream.decodeNsPerEvent} ns/event, decode + 5 row-level checks ${result.stream.decodeAndCheckNsPerEvent} ns/event (checks ≈ ${result.stream.checksNsPerEvent} ns; ${failed} of ${n.toLocaleString()} refused)`,
  );
}
