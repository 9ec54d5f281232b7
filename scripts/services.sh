#!/usr/bin/env bash
# Starts and stops throwaway Redis, PostgreSQL and Kafka servers on free loopback ports, for tests and benchmarks.
#   scripts/services.sh start [redis] [postgres] [kafka]   → writes $TESSERA_SERVICES_DIR/env (source it)
#   scripts/services.sh stop
# Installs the Debian packages when missing. Kafka has no Debian package: its broker runs from Maven Central's jars
# (fetched once with scripts/kafka/pom.xml into $TESSERA_KAFKA_CACHE, by default ~/.cache/tessera/kafka-<version>),
# in KRaft mode as one combined broker+controller. State lives in a temp dir; nothing touches system services.
set -euo pipefail

DIR="${TESSERA_SERVICES_DIR:-/tmp/tessera-services}"
ENV_FILE="$DIR/env"
SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="${TESSERA_KAFKA_VERSION:-3.9.1}"
KAFKA_CACHE="${TESSERA_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/kafka-$KAFKA_VERSION}"
KAFKA_JVM_OPTS="${TESSERA_KAFKA_JVM_OPTS:--Xms128m -Xmx512m}"
KAFKA_START_TIMEOUT="${TESSERA_KAFKA_START_TIMEOUT:-60}"

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

# Fetches the broker's jars once into $KAFKA_CACHE/libs; the stamp holds the pom's hash, so editing the pom refetches.
# A lock keeps two concurrent first runs (two services dirs) from replacing the jars under each other.
kafka_libs() {
  local pom="$SCRIPTS/kafka/pom.xml" stamp="$KAFKA_CACHE/libs.ok" want
  want=$(sha256sum "$pom" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  mkdir -p "$KAFKA_CACHE"
  exec 9>"$KAFKA_CACHE/.lock"
  flock 9
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exec 9>&-; return 0; fi
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_CACHE (once)"
  local tmp; tmp=$(mktemp -d "$KAFKA_CACHE/libs.tmp.XXXXXX")
  if ! mvn -B -q --no-transfer-progress -Dstyle.color=never -f "$pom" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >"$tmp/mvn.log" 2>&1; then
    log "ERROR: could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven (scripts/kafka/pom.xml):"
    sed 's/\x1b\[[0-9;]*m//g' "$tmp/mvn.log" | grep -v '^\s*$' | tail -n 40 >&2
    rm -rf "$tmp"
    exit 1
  fi
  rm -rf "$KAFKA_CACHE/libs" "$KAFKA_CACHE"/*.jsa
  mv "$tmp/libs" "$KAFKA_CACHE/libs"
  rm -rf "$tmp"
  echo "$want" >"$stamp"
  exec 9>&-  # the broker JVM must not inherit the lock
}

# A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what `kafka-storage random-uuid` prints).
kafka_cluster_id() {
  python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
'
}

# Ready when the broker answers a Metadata request listing at least one broker and an active controller.
kafka_ready() { # kafka_ready <port>
  python3 - "$1" <<'PY'
import socket, struct, sys

port = int(sys.argv[1])
client = b"tessera-services"
# Metadata v1 (not flexible): api_key=3, api_version=1, correlation_id, client_id; topics=null (all).
req = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", -1)
with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
    s.settimeout(2)
    s.sendall(struct.pack(">i", len(req)) + req)
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                sys.exit(1)
            buf += chunk
        return buf
    (size,) = struct.unpack(">i", read(4))
    data = read(size)
pos = 4  # past the correlation id
def take(fmt):
    global pos
    (v,) = struct.unpack_from(fmt, data, pos)
    pos += struct.calcsize(fmt)
    return v
def skip_string():
    global pos
    n = take(">h")
    pos += max(n, 0)
brokers = take(">i")
for _ in range(brokers):
    take(">i"); skip_string(); take(">i"); skip_string()  # node_id, host, port, rack
controller = take(">i")
sys.exit(0 if brokers >= 1 and controller >= 0 else 1)
PY
}

start_kafka() {
  kafka_libs
  local port cport
  port=$(free_port); cport=$(free_port)
  while [ "$cport" = "$port" ]; do cport=$(free_port); done
  local home="$DIR/kafka"
  mkdir -p "$home/data"
  cat >"$home/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$home/data
num.partitions=4
auto.create.topics.enable=true
delete.topic.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  # Quiet: warnings only, into the broker's own log file, plus the few lines that mark startup and shutdown.
  cat >"$home/log4j.properties" <<EOF
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$home/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.kafka.server.ControllerServer=INFO
EOF
  local java_opts=(-cp "$KAFKA_CACHE/libs/*" -Dlog4j.configuration="file:$home/log4j.properties"
    -Djava.awt.headless=true -Dkafka.logs.dir="$home")
  # Class-data sharing halves the JVMs' startup: the first broker run dumps the classes it loaded when it stops
  # (stop_kafka moves the archive into the cache); later runs map that archive. One archive per JDK build.
  local jsa cds=() dump=()
  jsa="$KAFKA_CACHE/broker-$(java -version 2>&1 | sha256sum | cut -c1-12).jsa"
  if [ -f "$jsa" ]; then cds=(-XX:SharedArchiveFile="$jsa"); else dump=(-XX:ArchiveClassesAtExit="$home/broker.jsa"); fi
  echo "$jsa" >"$home/jsa.path"
  if ! java "${cds[@]}" "${java_opts[@]}" kafka.tools.StorageTool format -t "$(kafka_cluster_id)" \
    -c "$home/server.properties" >"$home/format.log" 2>&1; then
    log "ERROR: kafka-storage format failed:"; cat "$home/format.log" >&2; exit 1
  fi
  # Detached, with stdin/stdout/stderr off the caller's: `$(services.sh start)` must not wait for the JVM.
  local jvm; read -r -a jvm <<<"$KAFKA_JVM_OPTS"
  setsid java "${jvm[@]}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    "${cds[@]}" "${dump[@]}" "${java_opts[@]}" kafka.Kafka "$home/server.properties" \
    </dev/null >"$home/stdout.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$home/kafka.pid"
  local deadline=$(( SECONDS + KAFKA_START_TIMEOUT ))
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$pid" 2>/dev/null || break
    if kafka_ready "$port" >/dev/null 2>&1; then
      echo "export TESSERA_TEST_KAFKA_BROKERS=127.0.0.1:$port" >>"$ENV_FILE"
      log "kafka $KAFKA_VERSION on 127.0.0.1:$port (controller :$cport, pid $pid)"
      return 0
    fi
    sleep 0.2
  done
  log "ERROR: kafka did not become ready on 127.0.0.1:$port within ${KAFKA_START_TIMEOUT}s; log tail:"
  tail -n 40 "$home/server.log" "$home/stdout.log" >&2 2>/dev/null || true
  stop_kafka
  exit 1
}

stop_kafka() {
  local home="$DIR/kafka"
  [ -f "$home/kafka.pid" ] || return 0
  local pid clean=1; pid=$(cat "$home/kafka.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    # A clean shutdown takes about a second (a few more when it dumps the class archive); the data is thrown
    # away, so do not wait long for it.
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      clean=0
      log "kafka (pid $pid) did not stop in 15s: killing it"
      kill -9 "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -f "$home/kafka.pid"
  local jsa; jsa=$(cat "$home/jsa.path" 2>/dev/null || true)
  if [ "$clean" = 1 ] && [ -n "$jsa" ] && [ -s "$home/broker.jsa" ] && [ ! -f "$jsa" ]; then
    if ! { cp "$home/broker.jsa" "$jsa.tmp.$$" && mv "$jsa.tmp.$$" "$jsa"; }; then rm -f "$jsa.tmp.$$"; fi
  fi
}

stop_all() {
  stop_kafka
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
    wanted=("$@"); [ ${#wanted[@]} -eq 0 ] && wanted=(redis postgres kafka)
    for s in "${wanted[@]}"; do "start_$s"; done
    echo "$ENV_FILE"
    ;;
  stop) stop_all ;;
  *) echo "usage: $0 start [redis] [postgres] [kafka] | stop" >&2; exit 2 ;;
esac
