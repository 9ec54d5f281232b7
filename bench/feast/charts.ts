/**
 * The Feast comparison charts, from the benchmarks' JSON results: the benchmarks call these with `--svg`, and
 * this script re-renders them from saved `--json` output without re-running anything:
 *
 *   node --import tsx bench/feast/charts.ts --serving serving.json --historical historical.json \
 *     --materialize materialize.json [--out docs/feast]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { barChart } from './bar-chart.js';

/** What bench/feast/serving.ts reports (the part the charts use). */
export interface ServingResult {
  readonly serving: readonly { system: string; batch: number; features: number; p99: number; rps: number }[];
}

/** What bench/feast/historical-speed.ts reports (the part the chart uses). */
export interface HistoricalResult {
  readonly setup: { readonly sourceRowsPerView: number; readonly feast: string };
  readonly spines: readonly {
    spineRows: number;
    feastFileMedian: number | null;
    feastMedian: number;
    tesseraMedian: number;
  }[];
}

/** What bench/feast/materialize.ts reports (the part the chart uses). */
export interface MaterializeResult {
  readonly entities: number;
  readonly views: readonly { features: number; feastRowsPerSecond: number; tesseraRowsPerSecond: number }[];
}

/** Rows per second per view width, both systems. */
export function writeMaterializeChart(result: MaterializeResult, path: string): void {
  writeFileSync(
    path,
    barChart({
      title: `Materialization into Redis, ${result.entities.toLocaleString()} rows per view: rows/s (log scale, higher is better)`,
      series: ['Feast', 'Tessera'],
      groups: result.views.map((v) => ({
        label: `${v.features} features`,
        values: [v.feastRowsPerSecond, v.tesseraRowsPerSecond],
      })),
    }),
  );
}

/** `<prefix>-p99.svg` and `<prefix>-throughput.svg`: one group per (features, entities per request). */
export function writeServingCharts(result: ServingResult, prefix: string): void {
  const keys = [...new Set(result.serving.map((r) => `${r.features}:${r.batch}`))];
  const chart = (title: string, pick: (r: { p99: number; rps: number }) => number) =>
    barChart({
      title,
      series: ['Feast (feast serve)', 'Tessera (tessera serve)'],
      groups: keys.map((key) => {
        const of = (system: string) =>
          result.serving.find((r) => r.system === system && `${r.features}:${r.batch}` === key);
        const [features, batch] = key.split(':');
        const f = of('feast');
        const t = of('tessera');
        return { label: `${features} f × ${batch}`, values: [f ? pick(f) : 0, t ? pick(t) : 0] };
      }),
    });
  writeFileSync(
    `${prefix}-p99.svg`,
    chart('HTTP p99 latency, ms (log scale, lower is better); features × entities per request', (r) => r.p99),
  );
  writeFileSync(
    `${prefix}-throughput.svg`,
    chart('HTTP throughput, requests/s (log scale, higher is better)', (r) => r.rps),
  );
}

/** One group per spine size: Feast's file store (where run), Feast's DuckDB store, Tessera. */
export function writeHistoricalChart(result: HistoricalResult, path: string): void {
  writeFileSync(
    path,
    barChart({
      title: `Historical retrieval, 3 views × ${result.setup.sourceRowsPerView.toLocaleString()} rows: seconds (log scale, lower is better)`,
      series: [`Feast ${result.setup.feast} file/dask`, `Feast ${result.setup.feast} DuckDB`, 'Tessera'],
      groups: result.spines.map((r) => ({
        label: `${r.spineRows.toLocaleString()} spine rows`,
        values: [r.feastFileMedian ?? 0, r.feastMedian, r.tesseraMedian],
      })),
    }),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: {
      serving: { type: 'string' },
      historical: { type: 'string' },
      materialize: { type: 'string' },
      out: { type: 'string', default: 'docs/feast' },
    },
  });
  if (values.serving)
    writeServingCharts(
      JSON.parse(readFileSync(values.serving, 'utf8')) as ServingResult,
      `${values.out}-serving`,
    );
  if (values.historical) {
    writeHistoricalChart(
      JSON.parse(readFileSync(values.historical, 'utf8')) as HistoricalResult,
      `${values.out}-historical.svg`,
    );
  }
  if (values.materialize) {
    writeMaterializeChart(
      JSON.parse(readFileSync(values.materialize, 'utf8')) as MaterializeResult,
      `${values.out}-materialize.svg`,
    );
  }
}
