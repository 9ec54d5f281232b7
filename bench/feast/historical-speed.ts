/**
 * Historical retrieval, Feast against Tessera on the same files: spines of 10k, 100k and 1M rows × 3 feature views
 * (1M source rows each: one with a created timestamp, ttl on two), Feast 0.67's DuckDB offline store
 * (`get_historical_features(...).to_arrow()` written to Parquet, bench/feast/historical.py) against Tessera's
 * `getHistoricalFeatures` written to Parquet, alternated run by run. The results are compared value for value on
 * the smallest spine first (the oracle test does this thoroughly), so the race is between equal answers.
 *
 *   node --import tsx bench/feast/historical-speed.ts [--spines 10000,100000,1000000] [--runs 3] [--rows 1000000]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { FeatureStore } from '../../src/feature-store.js';
import { type FeastHistoricalSpec, runFeastHistorical } from '../../tests/helpers/feast.js';
import { generateOnce } from '../bench-data.js';
import { median } from '../bench-repo.js';
import { writeHistoricalChart } from './charts.js';

const { values: args } = parseArgs({
  options: {
    spines: { type: 'string', default: '10000,100000,1000000' },
    runs: { type: 'string', default: '3' },
    rows: { type: 'string', default: '1000000' },
    /** Spines also run on Feast's file (pandas/dask) offline store: it is much slower, so the smaller ones. */
    'file-spines': { type: 'string', default: '10000,100000' },
    json: { type: 'boolean', default: false },
    /**
     * Also say where the time went, from the last run: Feast's seconds in DuckDB's native calls, Arrow's and the
     * rest (cProfile, which slows Feast's Python a little), and Tessera's seconds per phase of its retrieval.
     */
    profile: { type: 'boolean', default: false },
    /** Write the chart (seconds per spine size) to this SVG file. */
    svg: { type: 'string' },
  },
});
const SPINES = args.spines.split(',').map(Number);
const RUNS = Number(args.runs);
const ROWS = Number(args.rows);
const FILE_SPINES = args['file-spines']
  .split(',')
  .filter(Boolean)
  .map(Number)
  .filter((n) => SPINES.includes(n));
const ENTITIES = Math.max(1, Math.floor(ROWS / 10));
const ROOT = resolve(import.meta.dirname, '../..');
process.env['TESSERA_FEAST_PYTHON'] ||= execFileSync('bash', [join(ROOT, 'bench/feast/setup.sh')], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
}).trim();

const DAY_US = 86_400_000_000;
const T0_US = 1_714_521_600_000_000; // 2024-05-01
const VIEWS = [
  { name: 'user_a', ttlSeconds: 7 * 86_400, created: true },
  { name: 'user_b', ttlSeconds: 0, created: false },
  { name: 'user_c', ttlSeconds: 2 * 86_400, created: false },
] as const;
const FEATURES = ['x0', 'x1', 'x2', 'x3', 'x4'];

const dataDir = resolve(ROOT, '.bench-data', `feast-historical-v1-${ROWS}-${SPINES.join('_')}`);
await generateOnce(dataDir, async (c, file) => {
  for (const [v, view] of VIEWS.entries()) {
    // Event times over 30 days; created = event + a few seconds, so created-time ties are rare but real.
    await c.run(`COPY (
        SELECT (hash(i * 7 + ${v}) % ${ENTITIES})::BIGINT AS user_id,
               make_timestamp(${T0_US} + (hash(i * 13 + ${v}) % ${30 * DAY_US})::BIGINT) AS event_ts,
               ${view.created ? `make_timestamp(${T0_US} + (hash(i * 13 + ${v}) % ${30 * DAY_US})::BIGINT + (i % 5) * 1000000) AS created_ts,` : ''}
               ${FEATURES.map((f, j) => `(hash(i * 31 + ${j * 3 + v}) % 100000) / 100.0 AS ${f}`).join(', ')}
        FROM range(${ROWS}) t(i)) TO ${file(`${view.name}.parquet`)} (FORMAT parquet)`);
  }
  for (const n of SPINES) {
    await c.run(`COPY (
        SELECT i AS row_no, (hash(i * 17 + 1) % ${ENTITIES})::BIGINT AS user_id,
               make_timestamptz(${T0_US + 5 * DAY_US} + (hash(i * 19 + 2) % ${26 * DAY_US})::BIGINT) AS event_timestamp
        FROM range(${n}) t(i)) TO ${file(`spine_${n}.parquet`)} (FORMAT parquet)`);
  }
});

const work = mkdtempSync(join(tmpdir(), 'tessera-feast-historical-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const spec = (run: number, store: 'duckdb' | 'file' = 'duckdb', spines = SPINES): FeastHistoricalSpec => ({
  repo_dir: join(work, `feast-${store}-${run}`),
  project: 'feast_hist',
  offline_store: store,
  profile: args.profile && store === 'duckdb' && run === RUNS - 1,
  entities: [{ name: 'user', join_key: 'user_id', type: 'int64' }],
  views: VIEWS.map((v) => ({
    name: v.name,
    entities: ['user'],
    source_path: join(dataDir, `${v.name}.parquet`),
    timestamp_field: 'event_ts',
    created_timestamp_field: v.created ? 'created_ts' : null,
    ttl_seconds: v.ttlSeconds,
    features: FEATURES.map((name) => ({ name, type: 'float64' as const })),
  })),
  cases: spines.map((n) => ({
    name: `spine_${n}`,
    views: VIEWS.map((v) => v.name),
    spine_path: join(dataDir, `spine_${n}.parquet`),
    output_path: join(work, `feast-${store}-${run}-${n}.parquet`),
  })),
});

const tesseraDir = join(work, 'tessera');
writeTesseraRepo(tesseraDir);
const store = await FeatureStore.open(tesseraDir);
await store.apply();
const features = VIEWS.flatMap((v) => FEATURES.map((f) => `${v.name}:${f}`));

const seconds: Record<string, { feast: number[]; feastFile: number[]; tessera: number[] }> = {};
for (const n of SPINES) seconds[n] = { feast: [], feastFile: [], tessera: [] };
let feastVersion = '';
/** From the last run with --profile: seconds per part, per spine size. */
const profile: { feast: Record<string, unknown>; tessera: Record<string, Record<string, number>> } = {
  feast: {},
  tessera: {},
};
for (let run = 0; run < RUNS; run++) {
  log(`run ${run + 1}/${RUNS}: Feast (${SPINES.join(', ')} spine rows)`);
  const feast = await runFeastHistorical(spec(run), join(work, `spec-${run}.json`));
  feastVersion = feast.feast;
  for (const n of SPINES) seconds[n]?.feast.push(feast.seconds[`spine_${n}`] ?? Number.NaN);
  if (feast.profile) profile.feast = feast.profile;
  if (FILE_SPINES.length > 0) {
    log(`run ${run + 1}/${RUNS}: Feast file store (${FILE_SPINES.join(', ')} spine rows)`);
    const file = await runFeastHistorical(
      spec(run, 'file', FILE_SPINES),
      join(work, `spec-file-${run}.json`),
    );
    for (const n of FILE_SPINES) seconds[n]?.feastFile.push(file.seconds[`spine_${n}`] ?? Number.NaN);
  }
  for (const n of SPINES) {
    log(`run ${run + 1}/${RUNS}: Tessera, ${n} spine rows`);
    const t0 = performance.now();
    // Each phase starts with a progress call: a phase lasts until the next one starts.
    const marks: { phase: string; at: number }[] = [];
    const set = await store.getHistoricalFeatures({
      spine: { kind: 'file', path: join(dataDir, `spine_${n}.parquet`) },
      features,
      fullFeatureNames: true,
      onProgress: (p) => marks.push({ phase: p.phase, at: performance.now() }),
    });
    marks.push({ phase: 'write parquet', at: performance.now() });
    await set.writeParquet(join(work, `tessera-${run}-${n}.parquet`));
    await set.close();
    const end = performance.now();
    seconds[n]?.tessera.push((end - t0) / 1000);
    profile.tessera[`spine_${n}`] = Object.fromEntries(
      marks
        .filter((m) => m.phase !== 'done')
        .map((m, i, all) => [m.phase, Number((((all[i + 1]?.at ?? end) - m.at) / 1000).toFixed(3))]),
    );
  }
  if (run === 0)
    await compareSmallest(
      join(work, `feast-duckdb-0-${SPINES[0]}.parquet`),
      join(work, `tessera-0-${SPINES[0]}.parquet`),
    );
}
await store.close();

const result = {
  setup: {
    sourceRowsPerView: ROWS,
    entities: ENTITIES,
    views: VIEWS.length,
    featuresPerView: FEATURES.length,
    runs: RUNS,
    feast: feastVersion,
  },
  spines: SPINES.map((n) => {
    const s = seconds[n] ?? { feast: [], feastFile: [], tessera: [] };
    return {
      spineRows: n,
      feastFileSeconds: s.feastFile.map((x) => Number(x.toFixed(2))),
      feastFileMedian: s.feastFile.length > 0 ? Number(median(s.feastFile).toFixed(2)) : null,
      feastSeconds: s.feast.map((x) => Number(x.toFixed(2))),
      tesseraSeconds: s.tessera.map((x) => Number(x.toFixed(2))),
      feastMedian: Number(median(s.feast).toFixed(2)),
      tesseraMedian: Number(median(s.tessera).toFixed(2)),
      speedup: Number((median(s.feast) / median(s.tessera)).toFixed(1)),
      speedupVsFile:
        s.feastFile.length > 0 ? Number((median(s.feastFile) / median(s.tessera)).toFixed(1)) : null,
    };
  }),
  ...(args.profile ? { profile } : {}),
};
if (args.svg !== undefined) writeHistoricalChart(result, args.svg);
if (args.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(
    `historical retrieval, 3 views × ${ROWS.toLocaleString()} source rows, medians of ${RUNS} (Feast ${feastVersion}, DuckDB offline store)`,
  );
  console.log('spine rows   Feast file s   Feast duckdb s   Tessera s   vs file   vs duckdb');
  for (const r of result.spines) {
    console.log(
      `${String(r.spineRows).padStart(10)}  ${(r.feastFileMedian?.toFixed(2) ?? '–').padStart(12)}  ${r.feastMedian.toFixed(2).padStart(14)}  ${r.tesseraMedian.toFixed(2).padStart(10)}  ${r.speedupVsFile === null ? '      –' : `${r.speedupVsFile.toFixed(1).padStart(6)}×`}  ${r.speedup.toFixed(1).padStart(8)}×`,
    );
  }
  if (args.profile)
    console.log(`where the time went (last run, seconds): ${JSON.stringify(profile, null, 2)}`);
}

function writeTesseraRepo(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tessera.yaml'), 'project: hist_bench\ndefinitions: [features.yaml]\n');
  writeFileSync(
    join(dir, 'features.yaml'),
    `entities:
  - name: user
    join_keys: { user_id: int64 }
sources:
${VIEWS.map(
  (v) => `  - name: ${v.name}_src
    type: parquet
    path: ${JSON.stringify(join(dataDir, `${v.name}.parquet`))}
    timestamp_field: event_ts${v.created ? '\n    created_timestamp_field: created_ts' : ''}`,
).join('\n')}
feature_views:
${VIEWS.map(
  (v) => `  - name: ${v.name}
    entities: [user]
    source: ${v.name}_src
    ttl: ${v.ttlSeconds === 0 ? '0' : `${v.ttlSeconds}s`}
    online: false
    schema: { ${FEATURES.map((f) => `${f}: float64`).join(', ')} }`,
).join('\n')}
`,
  );
}

/** Both answers on the smallest spine, joined on row_no: every feature equal (floats within 1e-9 relative). */
async function compareSmallest(feastPath: string, tesseraPath: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    const diffs = FEATURES.flatMap((f) =>
      VIEWS.map(
        (v) => `count(*) FILTER (WHERE NOT (f."${v.name}__${f}" IS NULL AND t."${v.name}__${f}" IS NULL)
          AND (f."${v.name}__${f}" IS NULL OR t."${v.name}__${f}" IS NULL
               OR abs(f."${v.name}__${f}" - t."${v.name}__${f}") > 1e-9 * greatest(abs(f."${v.name}__${f}"), 1)))`,
      ),
    );
    const sql = `SELECT count(*) AS n, ${diffs.join(' + ')} AS differing FROM read_parquet('${feastPath}') f JOIN read_parquet('${tesseraPath}') t USING (row_no)`;
    const [row] = (await c.runAndReadAll(sql)).getRowObjectsJson();
    if (Number(row?.['differing']) !== 0 || Number(row?.['n']) !== SPINES[0]) {
      throw new Error(`Feast and Tessera disagree on the smallest spine: ${JSON.stringify(row)}`);
    }
    log(`answers agree: ${row?.['n']} rows × ${FEATURES.length * VIEWS.length} features`);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

function log(s: string): void {
  if (!args.json && s !== '') process.stderr.write(`${s}\n`);
}
