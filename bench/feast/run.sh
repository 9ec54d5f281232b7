#!/usr/bin/env bash
# Feast against Tessera on one machine: installs the pinned Feast when missing (setup.sh), starts a throwaway Redis
# (stopped after) and runs the side-by-side benchmarks, writing their charts to docs/. Usage: npm run bench:feast
# [-- --runs 5] (it builds first: CLI runs are timed; options all three benchmarks take: --runs, --json)
set -euo pipefail
cd "$(dirname "$0")/../.."
export TESSERA_FEAST_PYTHON="${TESSERA_FEAST_PYTHON:-$(bash bench/feast/setup.sh)}"
export TESSERA_SERVICES_DIR="${TESSERA_SERVICES_DIR:-$(mktemp -d /tmp/tessera-bench-feast-XXXXXX)}"
trap 'bash scripts/services.sh stop' EXIT
source "$(bash scripts/services.sh start redis)"
export TESSERA_BENCH_REDIS_URL="$TESSERA_TEST_REDIS_URL"
echo "== machine"; nproc; node --version; "$TESSERA_FEAST_PYTHON" -c 'import feast; print("feast", feast.__version__)'; uptime
echo "== Feast vs Tessera: historical retrieval (10k, 100k, 1M spine rows x 3 views)"
node --import tsx bench/feast/historical-speed.ts --svg docs/feast-historical.svg "$@"
echo "== Feast vs Tessera: materialization into Redis (100k rows per view)"
node --import tsx bench/feast/materialize.ts --svg docs/feast-materialize.svg "$@"
echo "== Feast vs Tessera: online serving over HTTP (and materialization of its 10k entities)"
node --import tsx bench/feast/serving.ts --svg docs/feast-serving "$@"
