/**
 * Feast against Tessera, side by side in one run on the same data, the same Redis and the same load generator
 * (autocannon): materialization into Redis, then online serving over HTTP — Feast's Python feature server
 * (`feast serve`) and Tessera's (`tessera serve`) answering the SAME Feast JSON request bodies, batches of 1, 10
 * and 100 entities × 50 and 250 features, each configuration alternated between the servers run by run.
 *
 *   node --import tsx bench/feast/serving.ts [--entities 10000] [--runs 3] [--seconds 10] [--connections 8]
 *
 * Feast comes from TESSERA_FEAST_PYTHON, else bench/feast/setup.sh installs the pinned release (once).
 *
 * Redis: TESSERA_BENCH_REDIS_URL or TESSERA_TEST_REDIS_URL (start one with `scripts/services.sh start redis`).
 * Both servers run one process (Feast: one gunicorn worker, worker restarts disabled so they do not count
 * against it). Results: a table on stdout, JSON with --json.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { median } from '../bench-repo.js';
import { writeServingCharts } from './charts.js';
import { END, ROOT, START, timed, viewName, wideScenario } from './scenario.js';

const { values: args } = parseArgs({
  options: {
    entities: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '8' },
    batches: { type: 'string', default: '1,10,100' },
    features: { type: 'string', default: '50,250' },
    json: { type: 'boolean', default: false },
    /** Write the p99 and throughput charts here: `<prefix>-p99.svg`, `<prefix>-throughput.svg`. */
    svg: { type: 'string' },
  },
});
const ENTITIES = Number(args.entities);
const RUNS = Number(args.runs);
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const BATCHES = args.batches.split(',').map(Number);
const WIDTHS = args.features.split(',').map(Number);

const scenario = await wideScenario({ entities: ENTITIES, widths: WIDTHS });
const { feastBin, feastDir, tesseraDir, redis, feastCli, tesseraCli } = scenario;

// Materialization into the same Redis, alternated; each run rewrites every key (both stores write whole rows).
log('applying definitions');
feastCli('apply');
tesseraCli('apply');
const materialize: { feast: number[]; tessera: number[] } = { feast: [], tessera: [] };
for (let r = 0; r < RUNS; r++) {
  log(`materialize run ${r + 1}/${RUNS}`);
  materialize.feast.push(timed(() => feastCli('materialize', START, END)));
  materialize.tessera.push(
    timed(() => tesseraCli('materialize', '--start', `${START}Z`, '--end', `${END}Z`)),
  );
}
const rowsWritten = ENTITIES * WIDTHS.length;

// Servers: one process each, on free ports.
const feastPort = await freePort();
const tesseraPort = await freePort();
const servers: ChildProcess[] = [
  spawn(
    feastBin,
    [
      '-c',
      feastDir,
      'serve',
      '-h',
      '127.0.0.1',
      '-p',
      String(feastPort),
      '--no-access-log',
      '--workers',
      '1',
      '--max-requests',
      '0',
    ],
    // Its own process group: gunicorn's workers are children, stopped with it (see stopServers).
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  ),
  spawn(
    process.execPath,
    [join(ROOT, 'bin/tessera.js'), '--repo', tesseraDir, 'serve', '--port', String(tesseraPort)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  ),
];
/** Stops both servers and their children (the Feast server runs in its own process group). */
const stopServers = (signal: NodeJS.Signals) => {
  for (const s of servers) {
    try {
      if (s.pid !== undefined) process.kill(-s.pid, signal);
    } catch {
      s.kill(signal); // not a group leader (the Tessera server)
    }
  }
};
process.on('exit', () => {
  stopServers('SIGKILL');
  scenario.remove();
});

interface Row {
  system: 'feast' | 'tessera';
  batch: number;
  features: number;
  p50: number[];
  p99: number[];
  rps: number[];
  errors: number;
}
const rows: Row[] = [];
try {
  await waitUntilServing(feastPort);
  await waitUntilServing(tesseraPort);
  for (const width of WIDTHS) {
    for (const batch of BATCHES) {
      const bodies = requestBodies(width, batch);
      // Both answer the same request: check once that they agree on the values before timing them.
      await sameAnswers(bodies[0] as string, feastPort, tesseraPort);
      const byServer = {
        feast: row('feast', batch, width),
        tessera: row('tessera', batch, width),
      };
      for (let r = 0; r < RUNS; r++) {
        for (const [system, port] of [
          ['feast', feastPort],
          ['tessera', tesseraPort],
        ] as const) {
          log(`${system} ${width} features × ${batch} entities, run ${r + 1}/${RUNS}`);
          const res = await load(port, bodies);
          const target = byServer[system];
          target.p50.push(res.latency.p50);
          target.p99.push(res.latency.p99);
          target.rps.push(res.requests.average);
          target.errors += res.errors + res.non2xx;
        }
      }
      rows.push(byServer.feast, byServer.tessera);
    }
  }
} finally {
  stopServers('SIGTERM');
}

const result = {
  setup: {
    entities: ENTITIES,
    runs: RUNS,
    seconds: SECONDS,
    connections: CONNECTIONS,
    redis: `${redis.hostname}:${redis.port}`,
  },
  materialize: {
    rows: rowsWritten,
    feastSeconds: materialize.feast,
    tesseraSeconds: materialize.tessera,
    feastRowsPerSecond: Math.round(rowsWritten / median(materialize.feast)),
    tesseraRowsPerSecond: Math.round(rowsWritten / median(materialize.tessera)),
    speedup: Number((median(materialize.feast) / median(materialize.tessera)).toFixed(1)),
  },
  serving: rows.map((r) => ({
    system: r.system,
    batch: r.batch,
    features: r.features,
    p50: median(r.p50),
    p99: median(r.p99),
    rps: Math.round(median(r.rps)),
    errors: r.errors,
  })),
};
if (args.svg !== undefined) writeServingCharts(result, args.svg);
if (args.json) console.log(JSON.stringify(result, null, 2));
else {
  const m = result.materialize;
  console.log(
    `materialize ${m.rows.toLocaleString()} rows (${ENTITIES.toLocaleString()} entities × ${WIDTHS.length} views) into Redis, medians of ${RUNS}: Feast ${median(materialize.feast).toFixed(2)} s (${m.feastRowsPerSecond.toLocaleString()} rows/s), Tessera ${median(materialize.tessera).toFixed(2)} s (${m.tesseraRowsPerSecond.toLocaleString()} rows/s): ${m.speedup}×`,
  );
  console.log('features  batch  system    p50 ms   p99 ms     req/s  errors   p99 ratio  req/s ratio');
  for (let i = 0; i < result.serving.length; i += 2) {
    const f = result.serving[i];
    const t = result.serving[i + 1];
    if (!f || !t) continue;
    for (const x of [f, t]) {
      console.log(
        `${String(x.features).padStart(8)}  ${String(x.batch).padStart(5)}  ${x.system.padEnd(8)} ${x.p50.toFixed(1).padStart(7)}  ${x.p99.toFixed(1).padStart(7)}  ${String(x.rps).padStart(8)}  ${String(x.errors).padStart(6)}${x === t ? `   ${(f.p99 / t.p99).toFixed(1).padStart(8)}×  ${(t.rps / f.rps).toFixed(1).padStart(10)}×` : ''}`,
      );
    }
  }
}
process.exit(0);

function row(system: Row['system'], batch: number, features: number): Row {
  return { system, batch, features, p50: [], p99: [], rps: [], errors: 0 };
}

/** 64 Feast JSON bodies of `batch` distinct random entities each, for `width` features (rotated by the load). */
function requestBodies(width: number, batch: number): string[] {
  let seed = width * 1000 + batch;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return 1 + (seed % ENTITIES);
  };
  const features = Array.from({ length: width }, (_, j) => `${viewName(width)}:f${j}`);
  return Array.from({ length: 64 }, () =>
    JSON.stringify({ features, entities: { driver_id: Array.from({ length: batch }, next) } }),
  );
}

async function load(port: number, bodies: readonly string[]): Promise<autocannon.Result> {
  let i = 0;
  return autocannon({
    url: `http://127.0.0.1:${port}/get-online-features`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        setupRequest: (req) => ({ ...req, body: bodies[i++ % bodies.length] as string }),
      },
    ],
  });
}

async function sameAnswers(body: string, a: number, b: number): Promise<void> {
  const ask = async (port: number) => {
    const res = await fetch(`http://127.0.0.1:${port}/get-online-features`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    if (!res.ok) throw new Error(`server on ${port}: HTTP ${res.status} ${await res.text()}`);
    const json = (await res.json()) as {
      metadata: { feature_names: string[] };
      results: { values: unknown[] }[];
    };
    // By name: the two servers may order the output columns differently.
    const byName = json.metadata.feature_names.map((n, j) => [n, json.results[j]?.values] as const);
    return byName.sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0));
  };
  const [x, y] = [await ask(a), await ask(b)];
  if (JSON.stringify(x) !== JSON.stringify(y)) {
    throw new Error(
      `Feast and Tessera answer differently: ${JSON.stringify(x).slice(0, 300)} vs ${JSON.stringify(y).slice(0, 300)}`,
    );
  }
}

async function waitUntilServing(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no server on port ${port} after 120 s`);
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (typeof address === 'object' && address ? ok(address.port) : fail(new Error('no port'))));
    });
  });
}

function log(s: string): void {
  if (!args.json) process.stderr.write(`${s}\n`);
}
