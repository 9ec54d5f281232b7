#!/usr/bin/env bash
# Starts and stops throwaway Redis and PostgreSQL servers on free loopback ports, for tests and benchmarks.
#   scripts/services.sh start [redis] [postgres]   → writes $TESSERA_SERVICES_DIR/env (source it)
#   scripts/services.sh stop
# Installs the Debian packages when missing. State lives in a temp dir; nothing touches system services.
set -euo pipefail

DIR="${TESSERA_SERVICES_DIR:-/tmp/tessera-services}"
ENV_FILE="$DIR/env"

log() { echo "[services] $*" >&2; }

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  echo "$d"
}

wait_for() { # wait_for <seconds> <command...>
  local n=$(( $1 * 10 )); shift
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  local port; port=$(free_port)
  mkdir -p "$DIR/redis"
  redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
    --dir "$DIR/redis" --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log"
  wait_for 10 redis-cli -p "$port" ping || { log "redis did not start"; cat "$DIR/redis/redis.log" >&2; exit 1; }
  echo "export TESSERA_TEST_REDIS_URL=redis://127.0.0.1:$port" >>"$ENV_FILE"
  log "redis on 127.0.0.1:$port"
}

start_postgres() {
  [ -n "$(pg_bin)" ] || apt_install postgresql
  local bin; bin=$(pg_bin)
  local port; port=$(free_port)
  local data="$DIR/pg/data"
  mkdir -p "$DIR/pg"
  # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
  local run=()
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$DIR/pg"; run=(runuser -u postgres --); fi
  "${run[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$DIR/pg/log" -w -o "-p $port -k $DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
  echo "export TESSERA_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres" >>"$ENV_FILE"
  log "postgres on 127.0.0.1:$port"
}

stop_all() {
  if [ -f "$DIR/redis/redis.pid" ]; then kill "$(cat "$DIR/redis/redis.pid")" 2>/dev/null || true; fi
  if [ -d "$DIR/pg/data" ]; then
    local run=(); [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
    "${run[@]}" "$(pg_bin)/pg_ctl" -D "$DIR/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start)
    shift
    stop_all
    mkdir -p "$DIR"; chmod 755 "$DIR"; : >"$ENV_FILE"
    wanted=("$@"); [ ${#wanted[@]} -eq 0 ] && wanted=(redis postgres)
    for s in "${wanted[@]}"; do "start_$s"; done
    echo "$ENV_FILE"
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start [redis] [postgres] | stop" >&2; exit 2 ;;
esac
