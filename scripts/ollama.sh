#!/usr/bin/env bash
# ollama.sh runs a local `ollama serve` for apron, bound to loopback only.
#
#   scripts/ollama.sh start   start the server in the background (idempotent);
#                             prints the base URL on stdout once /api/version answers
#   scripts/ollama.sh stop    stop it gracefully (idempotent)
#   scripts/ollama.sh kill    SIGKILL the server and its runners (for fault tests)
#   scripts/ollama.sh url     print the base URL
#   scripts/ollama.sh status  exit 0 when the server answers
#
# Environment:
#   APRON_OLLAMA_PORT     port on 127.0.0.1 (default 11434)
#   APRON_CACHE           cache root (default <repo>/.cache); models live in
#                         $APRON_CACHE/ollama/models, log and pid file in
#                         $APRON_CACHE/ollama/run
#   APRON_OLLAMA_BIN      ollama binary to use (default: scripts/setup-ollama.sh)
#   APRON_OLLAMA_TIMEOUT  seconds to wait for the server to answer (default 60)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${APRON_CACHE:-$ROOT/.cache}"
PORT="${APRON_OLLAMA_PORT:-11434}"
HOSTPORT="127.0.0.1:$PORT"
URL="http://$HOSTPORT"
RUN_DIR="$CACHE/ollama/run"
PID_FILE="$RUN_DIR/ollama-$PORT.pid"
LOG_FILE="$RUN_DIR/ollama-$PORT.log"
MODELS_DIR="$CACHE/ollama/models"
TIMEOUT="${APRON_OLLAMA_TIMEOUT:-60}"

log() { echo "ollama.sh: $*" >&2; }

answering() {
  curl -fsS --max-time 2 "$URL/api/version" >/dev/null 2>&1
}

# Prints the pid from the pid file when that process is still an ollama server.
server_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # guard against a recycled pid
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "serve" || return 1
  echo "$pid"
}

resolve_bin() {
  if [[ -n "${APRON_OLLAMA_BIN:-}" && -x "${APRON_OLLAMA_BIN}" ]]; then
    echo "$APRON_OLLAMA_BIN"
  else
    "$ROOT/scripts/setup-ollama.sh"
  fi
}

cmd_start() {
  if answering; then
    echo "$URL"
    return 0
  fi
  local bin pid
  bin="$(resolve_bin)"
  mkdir -p "$RUN_DIR" "$MODELS_DIR"
  if pid="$(server_pid)"; then
    log "pid $pid is running but $URL does not answer yet; waiting for it"
  else
    rm -f "$PID_FILE"
    {
      echo "---- $(date -u +%Y-%m-%dT%H:%M:%SZ) starting $bin serve on $HOSTPORT"
    } >>"$LOG_FILE"
    # setsid puts the server and the runners it spawns in their own process
    # group, so `kill` can take them all down at once.
    OLLAMA_HOST="$HOSTPORT" OLLAMA_MODELS="$MODELS_DIR" \
      setsid "$bin" serve >>"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
  fi
  local deadline=$((SECONDS + TIMEOUT))
  while ((SECONDS < deadline)); do
    if answering; then
      echo "$URL"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "ollama serve exited early; last lines of $LOG_FILE:"
      tail -n 20 "$LOG_FILE" >&2 || true
      rm -f "$PID_FILE"
      return 1
    fi
    sleep 0.25
  done
  log "ollama serve (pid $pid) did not answer on $URL within ${TIMEOUT}s; see $LOG_FILE"
  return 1
}

cmd_stop() {
  local pid
  if ! pid="$(server_pid)"; then
    rm -f "$PID_FILE"
    if answering; then
      log "something else answers on $URL (not started by this script); leaving it alone"
    fi
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM for 20s; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  # runners left behind by the server, if any, share its process group
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
}

cmd_kill() {
  local pid
  if pid="$(server_pid)"; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.1
    done
  fi
  rm -f "$PID_FILE"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  kill) cmd_kill ;;
  url) echo "$URL" ;;
  status) answering || exit 1 ;;
  *)
    echo "usage: $0 start|stop|kill|url|status" >&2
    exit 2
    ;;
esac
