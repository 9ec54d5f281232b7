/**
 * Materialization benchmark: latest value per entity from a Parquet source into the online store (Redis and/or
 * SQLite), end to end (DuckDB scan + dedupe, encoding, store writes).
 *
 *   source $(bash scripts/services.sh start redis) && node --import tsx bench/materialize.ts [--rows 1000000]
 *
 * Reports rows/s per run and the median of --runs runs, for 10 and 50 features per row.
 */
import { parseArgs } from 'node:util';
import { FeatureStore } from '../src/feature-store.js';
import { makeBenchRepo, median } from './bench-repo.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    rows: { type: 'string', default: '1000000' },
    features: { type: 'string', default: '10,50' },
    stores: { type: 'string', default: 'redis,sqlite' },
    json: { type: 'boolean', default: false },
  },
});

const results: { store: string; features: number; rows: number; rowsPerSecond: number[]; median: number }[] =
  [];
for (const storeKind of args.stores.split(',')) {
  for (const nFeatures of args.features.split(',').map(Number)) {
    const rates: number[] = [];
    let rows = 0;
    for (let r = 0; r < Number(args.runs); r++) {
      const online =
        storeKind === 'redis'
          ? {
              redisUrl: process.env['TESSERA_TEST_REDIS_URL'] ?? fail(),
              keyPrefix: `mat${process.pid}r${r}f${nFeatures}`,
            }
          : ('sqlite' as const);
      const repo = await makeBenchRepo({ online, features: nFeatures, entities: Number(args.rows) });
      const store = await FeatureStore.open(repo.dir);
      await store.apply({});
      const t0 = performance.now();
      const [report] = await store.materialize({ start: new Date(0), end: new Date(Date.now() + 60_000) });
      const seconds = (performance.now() - t0) / 1000;
      rows = report?.rows ?? 0;
      rates.push(rows / seconds);
      if (storeKind === 'redis') await store.online.deleteView({ project: 'bench', name: 'v0', ttlMs: 0 });
      await store.close();
    }
    results.push({
      store: storeKind,
      features: nFeatures,
      rows,
      rowsPerSecond: rates.map(Math.round),
      median: Math.round(median(rates)),
    });
  }
}
if (args.json) console.log(JSON.stringify(results, null, 2));
else {
  console.log('store   features      rows   median rows/s   runs');
  for (const r of results) {
    console.log(
      `${r.store.padEnd(8)}${String(r.features).padStart(8)}${String(r.rows).padStart(10)}${String(r.median).padStart(16)}   ${r.rowsPerSecond.join(', ')}`,
    );
  }
}

function fail(): never {
  throw new Error('TESSERA_TEST_REDIS_URL is not set: source $(bash scripts/services.sh start redis) first');
}
