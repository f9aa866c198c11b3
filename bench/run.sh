#!/usr/bin/env bash
# Load benchmark: Tandem (SQLite), Tandem (PostgreSQL), @y/websocket-server and
# @hocuspocus/server, each on its own 127.0.0.1 port, driven by the same
# tandem-loadgen scenarios. Writes the "Load" sections of BENCHMARKS.md and
# bench/latency.svg. Everything stays on 127.0.0.1; a full run takes ~15 minutes.
#
#   ./bench/run.sh                 # everything
#   BENCH_SYSTEMS="tandem-sqlite hocuspocus" ./bench/run.sh
#   BENCH_SCENARIOS="f2 f50" ./bench/run.sh     (quick look; still rewrites the report)
#   BENCH_REPORT=0 ...             # results in $BENCH_OUT only (bench/hocuspocus.sh uses it)
#
# Systems also available: tandem-hocuspocus (Tandem on SQLite over /hocuspocus).
#
# Needs: cargo, node >= 20 + npm, PostgreSQL on 127.0.0.1:5432 (user postgres, trust)
# for the tandem-postgres system (skipped when unreachable), python3 for the report.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-$ROOT/target/bench}
SYSTEMS=${BENCH_SYSTEMS:-"tandem-sqlite tandem-postgres y-websocket-server hocuspocus"}
SCENARIOS=${BENCH_SCENARIOS:-"f2 f50 f200 f500 d200x5 idle10k trace edit100k edit1m"}
PG_URL_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
TRACE=${BENCH_TRACE:-/work/shared/traces/sequential_traces/ascii_only/automerge-paper.json.gz}
PORT_BASE=${BENCH_PORT_BASE:-18400}

log() { echo "[bench] $*" >&2; }

# The servers inherit this: 10,000 sockets need more than the usual 1,024 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
log "open-file limit: $(ulimit -n)"

log "building (release)"
cargo build --release -p tandem -p tandem-loadgen >&2
LG=$ROOT/target/release/tandem-loadgen
TANDEM=$ROOT/target/release/tandem

log "installing the Node servers (npm ci)"
(cd bench && npm ci --no-audit --no-fund --loglevel=error >&2)

rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER_PID=""
PG_DB=""

cleanup() {
  stop_server
  if [ -n "$PG_DB" ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
  local port=$1
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# start_server SYSTEM PORT: sets SERVER_PID, URL, HP
start_server() {
  local system=$1 port=$2
  HP=""
  case "$system" in
    tandem-sqlite)
      rm -rf "$WORK/data"; mkdir -p "$WORK/data"
      "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --database-url "sqlite://$WORK/data/tandem.db" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/ws/{doc}" ;;
    tandem-hocuspocus)
      rm -rf "$WORK/data"; mkdir -p "$WORK/data"
      "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --database-url "sqlite://$WORK/data/tandem.db" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/hocuspocus"
      HP="--hocuspocus" ;;
    tandem-postgres)
      "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --database-url "$PG_URL_BASE/$PG_DB" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/ws/{doc}" ;;
    y-websocket-server)
      HOST=127.0.0.1 PORT=$port node bench/node_modules/@y/websocket-server/src/server.js \
        >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/{doc}" ;;
    hocuspocus)
      PORT=$port node bench/hocuspocus-server.mjs >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/"
      HP="--hocuspocus" ;;
    *) log "unknown system $system"; return 1 ;;
  esac
  SERVER_PID=$!
  if ! wait_port "$port"; then
    log "$system did not start:"; cat "$WORK/server.log" >&2; return 1
  fi
}

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

scenario_args() {
  case "$1" in
    f2)       echo "fanout --docs 1 --clients 2 --rate 2 --duration 10" ;;
    f50)      echo "fanout --docs 1 --clients 50 --rate 2 --duration 10" ;;
    f200)     echo "fanout --docs 1 --clients 200 --rate 2 --duration 12" ;;
    f500)     echo "fanout --docs 1 --clients 500 --rate 2 --duration 15" ;;
    d200x5)   echo "fanout --docs 200 --clients 5 --rate 2 --duration 15" ;;
    idle10k)  echo "idle --connections 10000 --docs 1000 --hold 10 --source-addrs 4 --connect-concurrency 128" ;;
    trace)    echo "trace --file $TRACE --readers 10 --window 64 --timeout 90" ;;
    edit100k) echo "fanout --docs 1 --clients 2 --rate 100 --duration 10 --preload-bytes 100000" ;;
    edit1m)   echo "fanout --docs 1 --clients 2 --rate 100 --duration 10 --preload-bytes 1000000" ;;
    *) return 1 ;;
  esac
}

versions() {
  {
    echo "tandem=$("$TANDEM" --version 2>/dev/null | awk '{print $2}')"
    echo "git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
    echo "rustc=$(rustc --version | awk '{print $2}')"
    echo "node=$(node --version)"
    echo "y-websocket-server=$(node -p "require('./bench/node_modules/@y/websocket-server/package.json').version")"
    echo "hocuspocus=$(node -p "require('./bench/node_modules/@hocuspocus/server/package.json').version")"
    echo "yjs=$(node -p "require('./bench/node_modules/yjs/package.json').version")"
    echo "postgres=$(psql "$PG_URL_BASE/postgres" -Atc 'show server_version' 2>/dev/null || echo n/a)"
    echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "nproc=$(nproc)"
    echo "mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
    echo "kernel=$(uname -r)"
    echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  } >"$OUT/versions.txt"
}
versions

port=$PORT_BASE
for system in $SYSTEMS; do
  if [ "$system" = tandem-postgres ]; then
    PG_DB="tandem_bench_$$"
    if ! psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null 2>&1; then
      log "PostgreSQL unreachable: skipping tandem-postgres"; PG_DB=""; continue
    fi
  fi
  mkdir -p "$OUT/$system"
  for sc in $SCENARIOS; do
    port=$((port + 1))
    args=$(scenario_args "$sc") || { log "unknown scenario $sc"; continue; }
    log "== $system / $sc (port $port)"
    if ! start_server "$system" "$port"; then
      echo "{\"error\": \"server did not start\"}" >"$OUT/$system/$sc.json"; continue
    fi
    # shellcheck disable=SC2086
    if ! timeout 300 "$LG" --json --label "$system" --url "$URL" $HP \
        --server-pid "$SERVER_PID" $args >"$OUT/$system/$sc.json" 2>"$OUT/$system/$sc.log"; then
      tail -5 "$OUT/$system/$sc.log" >&2
      echo "{\"error\": \"loadgen failed: $(tail -1 "$OUT/$system/$sc.log" | tr -d '\"\\')\"}" >"$OUT/$system/$sc.json"
    fi
    tail -1 "$OUT/$system/$sc.json" | cut -c1-300 >&2
    cp "$WORK/server.log" "$OUT/$system/$sc.server.log" 2>/dev/null || true
    stop_server
  done
  if [ -n "$PG_DB" ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    PG_DB=""
  fi
done

if [ "${BENCH_REPORT:-1}" = 1 ]; then
  log "writing BENCHMARKS.md (load sections) and bench/latency.svg"
  python3 bench/report.py "$OUT" "$ROOT/BENCHMARKS.md" "$ROOT/bench/latency.svg"
fi
log "done; raw results in $OUT"
