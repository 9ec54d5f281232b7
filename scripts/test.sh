#!/usr/bin/env bash
# The one command that runs every test: type-check, lint, then the whole Vitest suite against real
# Redis, PostgreSQL and Kafka started here on loopback (installed with apt-get, Kafka's jars fetched with Maven,
# when missing) and stopped after.
set -euo pipefail
cd "$(dirname "$0")/.."

export TESSERA_SERVICES_DIR="${TESSERA_SERVICES_DIR:-$(mktemp -d /tmp/tessera-test-XXXXXX)}"
trap 'bash scripts/services.sh stop' EXIT
env_file=$(bash scripts/services.sh start redis postgres kafka)
# shellcheck disable=SC1090
source "$env_file"
# Integration suites fail (never skip) when a service is missing: see tests/helpers/services.ts.
export TESSERA_REQUIRE_SERVICES=1
# The Feast oracle test (tests/integration/feast-oracle.test.ts) runs the pinned Feast release from its own venv,
# installed with pip on the first run (about a minute, then cached): see bench/feast/setup.sh.
echo "== feast"
TESSERA_FEAST_PYTHON="${TESSERA_FEAST_PYTHON:-$(bash bench/feast/setup.sh)}"
export TESSERA_FEAST_PYTHON

echo "== typecheck"; npx tsc -p tsconfig.json --noEmit
echo "== lint"; npx biome check .
echo "== build"; npx tsc -p tsconfig.build.json
echo "== tests"; npx vitest run "$@"
