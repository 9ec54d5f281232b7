/**
 * Materialization into Redis, Feast against Tessera on the same data and the same Redis: each view of the wide
 * scenario (bench/feast/scenario.ts: one row per entity, `--features` widths of double features) loaded by
 * `feast materialize --views <view>` and by `tessera materialize --views <view>`, each timed as its CLI runs it
 * (process start included, which is what a user waits for), the two systems alternated run by run. Every run
 * rewrites every key. After each view's runs, both stores are read back for a sample of entities and must agree.
 *
 *   npm run build && node --import tsx bench/feast/materialize.ts [--entities 100000] [--features 10,50,250]
 *     [--runs 3] [--json] [--svg docs/feast-materialize.svg]
 *
 * Feast comes from TESSERA_FEAST_PYTHON, else bench/feast/setup.sh installs the pinned release (once).
 * Redis: TESSERA_BENCH_REDIS_URL or TESSERA_TEST_REDIS_URL (start one with `scripts/services.sh start redis`).
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { FeatureStore } from '../../src/feature-store.js';
import { median } from '../bench-repo.js';
import { writeMaterializeChart } from './charts.js';
import { END, feastPython, START, timed, viewName, wideScenario } from './scenario.js';

const { values: args } = parseArgs({
  options: {
    entities: { type: 'string', default: '100000' },
    features: { type: 'string', default: '10,50,250' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    /** Write the chart (rows/s per view width) to this SVG file. */
    svg: { type: 'string' },
  },
});
const ENTITIES = Number(args.entities);
const WIDTHS = args.features.split(',').map(Number);
const RUNS = Number(args.runs);
const log = (s: string) => process.stderr.write(`${s}\n`);

const scenario = await wideScenario({ entities: ENTITIES, widths: WIDTHS });
process.on('exit', () => scenario.remove());
log('applying definitions');
scenario.feastCli('apply');
scenario.tesseraCli('apply');

interface ViewResult {
  features: number;
  rows: number;
  feastSeconds: number[];
  tesseraSeconds: number[];
}
const results: ViewResult[] = [];
for (const width of WIDTHS) {
  const view = viewName(width);
  const r: ViewResult = { features: width, rows: ENTITIES, feastSeconds: [], tesseraSeconds: [] };
  for (let k = 0; k < RUNS; k++) {
    log(`${view}: run ${k + 1}/${RUNS}`);
    r.feastSeconds.push(timed(() => scenario.feastCli('materialize', START, END, '--views', view)));
    r.tesseraSeconds.push(
      timed(() =>
        scenario.tesseraCli('materialize', '--start', `${START}Z`, '--end', `${END}Z`, '--views', view),
      ),
    );
  }
  results.push(r);
  await sameValues(width);
}

const table = results.map((r) => {
  const feast = median(r.feastSeconds);
  const tessera = median(r.tesseraSeconds);
  return {
    features: r.features,
    rows: r.rows,
    feastSeconds: r.feastSeconds,
    tesseraSeconds: r.tesseraSeconds,
    feastRowsPerSecond: Math.round(r.rows / feast),
    tesseraRowsPerSecond: Math.round(r.rows / tessera),
    speedup: Number((feast / tessera).toFixed(1)),
  };
});
const result = { entities: ENTITIES, runs: RUNS, views: table };
if (args.svg !== undefined) writeMaterializeChart(result, args.svg);
if (args.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(
    `materialization into Redis, ${ENTITIES.toLocaleString()} rows per view, medians of ${RUNS} (CLI wall time)`,
  );
  console.log('features   Feast s  Feast rows/s   Tessera s  Tessera rows/s   speedup');
  for (const t of table) {
    console.log(
      `${String(t.features).padStart(8)}  ${median(t.feastSeconds).toFixed(2).padStart(8)}  ${String(t.feastRowsPerSecond).padStart(12)}  ${median(t.tesseraSeconds).toFixed(2).padStart(10)}  ${String(t.tesseraRowsPerSecond).padStart(14)}  ${t.speedup.toFixed(1).padStart(7)}×`,
    );
  }
}

/** Both online stores hold the same values for a sample of entities (Feast's SDK in its Python, Tessera's here). */
async function sameValues(width: number): Promise<void> {
  const ids = [1, 2, Math.floor(ENTITIES / 2), ENTITIES];
  const features = [`${viewName(width)}:f0`, `${viewName(width)}:f${width - 1}`];
  const script = `
import json, sys
from feast import FeatureStore
store = FeatureStore(repo_path=sys.argv[1])
out = store.get_online_features(features=json.loads(sys.argv[2]), entity_rows=[{"driver_id": i} for i in json.loads(sys.argv[3])]).to_dict()
print(json.dumps(out))
`;
  const feast = JSON.parse(
    execFileSync(
      feastPython(),
      ['-c', script, scenario.feastDir, JSON.stringify(features), JSON.stringify(ids)],
      { encoding: 'utf8' },
    ),
  ) as Record<string, unknown[]>;
  const store = await FeatureStore.open(scenario.tesseraDir);
  try {
    const tessera = await store.getOnlineFeatures({
      features,
      entities: ids.map((driver_id) => ({ driver_id })),
    });
    for (const f of features) {
      const name = f.split(':')[1] as string;
      const want = JSON.stringify(feast[name]);
      const got = JSON.stringify(tessera.rows.map((row) => row[name]));
      if (want !== got) throw new Error(`${viewName(width)}.${name}: Feast ${want}, Tessera ${got}`);
    }
  } finally {
    await store.close();
  }
}
