#!/usr/bin/env bash
# kafka.sh runs a real single-node Apache Kafka broker (KRaft, broker and
# controller in one JVM) on loopback for tests. The jars come from Maven Central
# through scripts/kafka/pom.xml and are cached; nothing else is downloaded.
#
#   kafka.sh setup          fetch the jars into the cache (instant once done)
#   kafka.sh start [DIR]    start the broker (idempotent); prints host:port
#   kafka.sh stop [DIR]     SIGTERM, then SIGKILL after a grace period (idempotent)
#   kafka.sh kill [DIR]     SIGKILL at once; the data stays, `start` resumes on it
#   kafka.sh status [DIR]   prints host:port and exits 0 if running, else exits 1
#   kafka.sh classpath      prints the Java classpath of the Kafka jars
#   kafka.sh perf ARGS...   runs org.apache.kafka.tools.ProducerPerformance ARGS
#
# Environment:
#   APRON_CACHE             cache root (default <repo>/.cache)
#   KAFKA_VERSION           org.apache.kafka version (default 4.4.0)
#   KAFKA_PORT              client port (default 19092; 0 picks a free one)
#   KAFKA_CONTROLLER_PORT   KRaft controller port (default 19093; 0 picks a free one)
#   KAFKA_HEAP_OPTS         broker heap (default -Xms128m -Xmx512m)
#   KAFKA_LOG_LEVEL         broker log level in DIR/logs/server.log (default WARN)
#   KAFKA_START_TIMEOUT     seconds to wait for the broker (default 90)
#   KAFKA_STOP_TIMEOUT      seconds to wait after SIGTERM (default 30)
#
# DIR defaults to $APRON_CACHE/kafka-run and holds server.properties, the data
# (DIR/data), the logs (DIR/logs/server.log, DIR/kafka.out), the pid file
# (DIR/kafka.pid) and the address (DIR/address). Progress goes to stderr;
# stdout carries only the values printed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${APRON_CACHE:-$ROOT/.cache}"
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
POM="$ROOT/scripts/kafka/pom.xml"
CONF_DIR="$ROOT/scripts/kafka"
LIBS="$CACHE/kafka/$KAFKA_VERSION/libs"
MARKER="$LIBS/.complete"
HOST=127.0.0.1

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { # EXIT_CODE: help text on stdout for `help`, on stderr otherwise
  if [[ "$1" == 0 ]]; then help_text; else help_text >&2; fi
  exit "$1"
}
help_text() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

# ---------------------------------------------------------------- setup

pom_sum() { sha256sum <"$POM" | cut -d' ' -f1; }

setup_done() { [[ -f "$MARKER" && "$(cat "$MARKER")" == "$(pom_sum)" ]]; }

cmd_setup() {
  setup_done && return 0
  command -v mvn >/dev/null 2>&1 || die "mvn not found on PATH"
  mkdir -p "$CACHE/kafka"
  exec 8>"$CACHE/kafka/.setup.lock"
  flock 8
  if setup_done; then exec 8>&-; return 0; fi
  log "fetching Kafka $KAFKA_VERSION jars with Maven into $LIBS (first time only)"
  local tmp="$LIBS.tmp.$$"
  rm -rf "$tmp"
  # Maven 3.8 prints colour resets even in batch mode; strip them.
  if ! mvn -B -q -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DoutputDirectory="$tmp" 2>&1 \
      | sed -u 's/\x1b\[[0-9;]*m//g' >&2; then
    rm -rf "$tmp"
    die "mvn could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
  fi
  ls "$tmp"/kafka_2.13-*.jar "$tmp"/kafka-tools-*.jar >/dev/null 2>&1 \
    || { rm -rf "$tmp"; die "the Kafka jars are missing from $tmp"; }
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  pom_sum >"$MARKER"
  exec 8>&-
  local jars=("$LIBS"/*.jar)
  log "Kafka $KAFKA_VERSION jars ready (${#jars[@]} jars)"
}

classpath() { echo "$LIBS/*"; }

# ---------------------------------------------------------------- helpers

# java_run MAIN ARGS...: a short-lived Kafka tool with tools logging.
java_run() {
  local main="$1"; shift
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$CONF_DIR/log4j2-tools.properties" \
    -cp "$(classpath)" "$main" "$@"
}

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_port_free() { # PORT: give a process that is just exiting 5 s to let go
  local i
  for ((i = 0; i < 50; i++)); do
    port_busy "$1" || return 0
    sleep 0.1
  done
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null && return 0
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 30000))
    port_busy "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

# pid_of DIR: the pid of the broker running on DIR, if any.
pid_of() {
  local dir="$1" pid="" props="$1/server.properties"
  if [[ -f "$dir/kafka.pid" ]]; then
    pid="$(cat "$dir/kafka.pid" 2>/dev/null || true)"
    if [[ "$pid" =~ ^[0-9]+$ ]] && is_broker "$pid" "$props"; then echo "$pid"; return 0; fi
  fi
  # The pid file is gone or stale: look for a broker started on this DIR.
  local f
  while IFS= read -r f; do
    pid="${f#/proc/}"; pid="${pid%/cmdline}"
    is_broker "$pid" "$props" && { echo "$pid"; return 0; }
  done < <(grep -lzxF -- "$props" /proc/[0-9]*/cmdline 2>/dev/null || true)
  return 1
}

# is_broker PID PROPS: PID is a live kafka.Kafka JVM started with PROPS.
is_broker() {
  local cmd
  cmd="$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null)" || return 1
  grep -qx 'kafka.Kafka' <<<"$cmd" && grep -qxF "$2" <<<"$cmd"
}

wait_gone() { # PID SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    # A zombie not yet reaped counts as gone, but only once its last thread
    # has exited: a JVM's main thread turns Z while the others still hold
    # its sockets and files.
    awk '/^State:/ {z = ($2 == "Z")} /^Threads:/ {t = $2} END {exit !(z && t == 1)}' \
      "/proc/$1/status" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

lock_dir() { # DIR: serialise start/stop/kill on one DIR
  mkdir -p "$1"
  exec 9>"$1/.kafka.sh.lock"
  flock 9
}

run_dir() {
  local d="${1:-$CACHE/kafka-run}"
  mkdir -p "$d"
  (cd "$d" && pwd)
}

metadata_ok() { timeout 10 kcat -b "$1" -L -m 3 >/dev/null 2>&1; }

# ---------------------------------------------------------------- start

write_props() { # DIR PORT CPORT
  cat >"$1/server.properties" <<EOF
# Written by scripts/kafka.sh start; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$3
listeners=PLAINTEXT://$HOST:$2,CONTROLLER://$HOST:$3
advertised.listeners=PLAINTEXT://$HOST:$2
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$1/data

num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4

auto.create.topics.enable=true
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=5
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=5
group.initial.rebalance.delay.ms=0

# After a SIGKILL the restarted broker cannot register until the controller
# has expired the old incarnation's session (default 9 s): keep it short.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500

log.segment.bytes=16777216
log.retention.hours=24
log.retention.check.interval.ms=60000
log.cleaner.dedupe.buffer.size=16777216
EOF
}

cmd_start() {
  local dir; dir="$(run_dir "${1:-}")"
  cmd_setup
  command -v java >/dev/null 2>&1 || die "java not found on PATH"
  command -v kcat >/dev/null 2>&1 || die "kcat not found on PATH"
  lock_dir "$dir"

  local pid addr
  if pid="$(pid_of "$dir")"; then
    addr="$(cat "$dir/address" 2>/dev/null || true)"
    if [[ -n "$addr" ]] && metadata_ok "$addr"; then
      echo "$pid" >"$dir/kafka.pid"
      log "already running (pid $pid) on $addr"
      echo "$addr"
      return 0
    fi
    log "broker pid $pid on $dir does not answer; killing it and starting anew"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "pid $pid did not exit"
  fi

  local port="${KAFKA_PORT:-19092}" cport="${KAFKA_CONTROLLER_PORT:-19093}"
  [[ "$port" == 0 ]] && port="$(free_port)"
  [[ "$cport" == 0 ]] && { cport="$(free_port)"; [[ "$cport" == "$port" ]] && cport="$(free_port)"; }
  [[ "$port" != "$cport" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT are both $port"
  wait_port_free "$port" || die "port $HOST:$port is already in use (set KAFKA_PORT)"
  wait_port_free "$cport" || die "port $HOST:$cport is already in use (set KAFKA_CONTROLLER_PORT)"

  mkdir -p "$dir/data" "$dir/logs"
  write_props "$dir" "$port" "$cport"

  # Format once; a formatted DIR (say after `kill`) is started on as it is.
  if [[ ! -f "$dir/data/meta.properties" ]]; then
    local id
    id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    while [[ "$id" == -* ]]; do id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"; done
    log "formatting $dir/data (cluster id $id)"
    java_run kafka.tools.StorageTool format --config "$dir/server.properties" \
      --cluster-id "$id" --ignore-formatted >"$dir/format.out" 2>&1 \
      || { cat "$dir/format.out" >&2; die "formatting $dir/data failed"; }
  fi

  addr="$HOST:$port"
  echo "$addr" >"$dir/address"
  log "starting Kafka $KAFKA_VERSION on $addr (controller $HOST:$cport, dir $dir)"
  # shellcheck disable=SC2086
  setsid java ${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m} \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dkafka.logs.dir="$dir/logs" -Dkafka.log.level="${KAFKA_LOG_LEVEL:-WARN}" \
    -Dlog4j2.configurationFile="$CONF_DIR/log4j2.properties" \
    -cp "$(classpath)" kafka.Kafka "$dir/server.properties" \
    </dev/null >"$dir/kafka.out" 2>&1 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$dir/kafka.pid"

  local timeout="${KAFKA_START_TIMEOUT:-90}" start=$SECONDS
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "the broker exited during start-up; last lines of its logs:"
      tail -n 30 "$dir/kafka.out" "$dir/logs/server.log" >&2 2>/dev/null || true
      rm -f "$dir/kafka.pid"
      exit 1
    fi
    if port_busy "$port" && metadata_ok "$addr"; then break; fi
    if ((SECONDS - start >= timeout)); then
      log "the broker did not answer on $addr within ${timeout}s; last lines of its logs:"
      tail -n 30 "$dir/kafka.out" "$dir/logs/server.log" >&2 2>/dev/null || true
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$dir/kafka.pid"
      exit 1
    fi
    sleep 0.5
  done
  log "ready on $addr (pid $pid, $((SECONDS - start))s)"
  echo "$addr"
}

# ---------------------------------------------------------------- stop / kill

cmd_stop() {
  local dir; dir="$(run_dir "${1:-}")"
  lock_dir "$dir"
  local pid
  if ! pid="$(pid_of "$dir")"; then
    rm -f "$dir/kafka.pid"
    log "not running ($dir)"
    return 0
  fi
  local grace="${KAFKA_STOP_TIMEOUT:-30}"
  log "stopping broker pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$grace"; then
    log "pid $pid still running after ${grace}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 10 || die "pid $pid did not exit"
  fi
  rm -f "$dir/kafka.pid"
  log "stopped"
}

cmd_kill() {
  local dir; dir="$(run_dir "${1:-}")"
  lock_dir "$dir"
  local pid
  if ! pid="$(pid_of "$dir")"; then
    rm -f "$dir/kafka.pid"
    log "not running ($dir)"
    return 0
  fi
  log "killing broker pid $pid (SIGKILL)"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || die "pid $pid did not exit"
  rm -f "$dir/kafka.pid"
}

cmd_status() {
  local dir; dir="$(run_dir "${1:-}")"
  local pid addr
  pid="$(pid_of "$dir")" || { log "not running ($dir)"; return 1; }
  addr="$(cat "$dir/address" 2>/dev/null || true)"
  if [[ -z "$addr" ]] || ! metadata_ok "$addr"; then log "pid $pid does not answer"; return 1; fi
  echo "$addr"
}

# ---------------------------------------------------------------- main

[[ $# -ge 1 ]] || usage 2
sub="$1"; shift
case "$sub" in
  setup) cmd_setup ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  kill) cmd_kill "$@" ;;
  status) cmd_status "$@" ;;
  classpath) cmd_setup; classpath ;;
  perf)
    cmd_setup
    exec java -Xmx512m -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$CONF_DIR/log4j2-tools.properties" \
      -cp "$(classpath)" org.apache.kafka.tools.ProducerPerformance "$@"
    ;;
  -h | --help | help) usage 0 ;;
  *) log "unknown subcommand: $sub"; usage 2 ;;
esac
