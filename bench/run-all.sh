#!/usr/bin/env bash
# Runs every benchmark against a throwaway Redis and Kafka broker (started here, stopped after). Figures go to stdout;
# docs/benchmarks.md records them with their setup. Usage: npm run bench [-- --runs 5]
set -euo pipefail
cd "$(dirname "$0")/.."
export TESSERA_SERVICES_DIR="${TESSERA_SERVICES_DIR:-$(mktemp -d /tmp/tessera-bench-XXXXXX)}"
trap 'bash scripts/services.sh stop' EXIT
source "$(bash scripts/services.sh start redis kafka)"

echo "== machine"; nproc; node --version; uptime
# HTTP benchmarks run bin/tessera.js and SDK ones the built package (bench/shipped.ts): build what is measured.
npm run build
echo "== historical retrieval (1M spine x 3 views over 10M rows)"; node --import tsx bench/historical.ts "$@"
echo "== materialization"; node --import tsx bench/materialize.ts "$@"
echo "== materialization of a 10M-row source (time and peak memory)"; node --import tsx bench/materialize-large.ts "$@"
echo "== online store alone"; node --import tsx bench/online-store.ts "$@"
echo "== online serving (SDK and HTTP)"; node --import tsx bench/online-serving.ts "$@"
echo "== feature logging: CPU per logged row, serving thread and log thread, apart and as served (100-entity, then 1-entity requests)"
node --import tsx bench/feature-log.ts --batch 100 "$@"
node --import tsx bench/feature-log.ts --batch 1 "$@"
echo "== feature logging: cost on serving (off, off again as an A/A control, rate 0.1, rate 1)"
node --import tsx bench/online-serving.ts --logging off,off,0.1,1 --paths sdk,rate --rate 200 --runs 12 --seconds 3 \
  --max-steal 10 "$@"
echo "== windowed aggregations: core (tiles, one core)"; node --import tsx bench/aggregation-core.ts "$@"
echo "== windowed aggregations: online read (10 aggregations x 3 windows, 1 entity)"; node --import tsx bench/aggregation-online-read.ts "$@"
echo "== windowed aggregations: backfill (1M spine x 10M events, 4 x 3)"; node --import tsx bench/aggregation-backfill.ts "$@"
echo "== stream engine end to end (1M events, Kafka -> worker -> Redis tiles)"; node --import tsx bench/stream-e2e.ts "$@"
echo "== stream engine freshness (produce -> visible online, 20k events/s)"; node --import tsx bench/stream-freshness.ts "$@"
echo "== profiles and drift (profile 10M rows x 4 columns, compare a 1M-row window)"; node --import tsx bench/profile.ts "$@"
