#!/usr/bin/env bash
# Installs the pinned Feast release (requirements.txt, every dependency pinned by constraints.txt) into a Python
# virtual environment and prints that environment's python on stdout; progress goes to stderr.
#   bash bench/feast/setup.sh            → /root/.cache/tessera/feast-venv/bin/python
# The venv lives at $TESSERA_FEAST_VENV (default ~/.cache/tessera/feast-venv). A marker holding a hash of the two
# pin files makes a second run a no-op (well under a second); changing a pin reinstalls into a fresh venv.
# Needs python3 (3.10+, with venv and pip) and a reachable package index (PyPI or PIP_INDEX_URL).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${TESSERA_FEAST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/feast-venv}"
PYTHON_BIN="${TESSERA_FEAST_BASE_PYTHON:-python3}"
MARKER="$VENV/.tessera-feast-pins"

log() { echo "[feast] $*" >&2; }

want=$(cat "$HERE/requirements.txt" "$HERE/constraints.txt" | sha256sum | cut -d' ' -f1)
installed() { [ -x "$VENV/bin/python" ] && [ "$(cat "$MARKER" 2>/dev/null || true)" = "$want" ]; }
if installed; then
  echo "$VENV/bin/python"
  exit 0
fi

# Concurrent runs (parallel test suites, helpers) wait for one installer instead of deleting each other's venv.
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if installed; then
  echo "$VENV/bin/python"
  exit 0
fi

command -v "$PYTHON_BIN" >/dev/null || { log "$PYTHON_BIN not found: install Python 3.10+ with venv and pip"; exit 1; }
# A venv from an older pin set (or a broken install) is replaced, not patched: pins must hold exactly.
rm -rf "$VENV"
log "creating $VENV ($("$PYTHON_BIN" --version 2>&1))"
"$PYTHON_BIN" -m venv "$VENV"
log "installing $(grep -v '^#' "$HERE/requirements.txt" | tr '\n' ' ')(about a minute)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" >&2
"$VENV/bin/python" -c 'import feast, duckdb, ibis; print("[feast] feast", feast.__version__, "duckdb", duckdb.__version__, "ibis", ibis.__version__)' >&2
echo "$want" >"$MARKER"
echo "$VENV/bin/python"
