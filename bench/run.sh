#!/usr/bin/env bash
# Load benchmark: Tandem (SQLite, PostgreSQL; each at the default durability level and at
# `--durability disk`), @y/websocket-server and @hocuspocus/server, each on its own
# 127.0.0.1 port, driven by the same tandem-loadgen scenarios. Every scenario runs
# BENCH_RUNS times (default 3), interleaved (A B C D A B C D ...), each run a fresh server.
# The load generator is pinned to one core and the server to the other (taskset) when the
# machine has two or more. Writes the "Tail latency" section of BENCHMARKS.md (median p99
# and its range); a run with every scenario (BENCH_SCENARIOS unset) also rewrites the
# "Load" sections and bench/latency.svg from each scenario's median run. Everything stays
# on 127.0.0.1.
#
#   ./bench/run.sh                 # everything (about an hour)
#   BENCH_SCENARIOS="f2 f100r5 d100x5 d200x5" ./bench/run.sh   # the tail-latency table
#   BENCH_SYSTEMS="tandem-sqlite hocuspocus" BENCH_RUNS=1 ./bench/run.sh
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
SYSTEMS=${BENCH_SYSTEMS:-"tandem-sqlite tandem-postgres tandem-sqlite-disk tandem-postgres-disk y-websocket-server hocuspocus"}
ALL_SCENARIOS="f2 f100r5 d100x5 d200x5 f50 f200 f500 idle10k trace edit100k edit1m"
SCENARIOS=${BENCH_SCENARIOS:-$ALL_SCENARIOS}
RUNS=${BENCH_RUNS:-3}
PG_URL_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
TRACE=${BENCH_TRACE:-/work/shared/traces/sequential_traces/ascii_only/automerge-paper.json.gz}
PORT_BASE=${BENCH_PORT_BASE:-18400}

log() { echo "[bench] $*" >&2; }

# The servers inherit this: 10,000 sockets need more than the usual 1,024 descriptors.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
log "open-file limit: $(ulimit -n)"
# Every load client runs on this host, from one or a few loopback addresses: lift the
# limits per client address and on open connections (SECURITY.md), which would otherwise
# refuse the benchmark's own clients.
export TANDEM_MAX_CONNECTIONS=50000 TANDEM_MAX_CONNECTIONS_PER_IP=1000000 \
  TANDEM_MAX_DOCUMENTS_PER_IP=1000000 TANDEM_MAX_SESSIONS_PER_IP=1000000
# The trace scenario replays a whole editing session from one writer as fast as the server
# acknowledges it: far past the per-connection message rate a person can type (which would
# close the writer with 1008 after its 10-second burst allowance).
export TANDEM_MAX_UPDATES_PER_SEC=1000000

# The load generator on core 0, the server under test on the others, so the generator's
# decoding does not inflate the server's tails (PostgreSQL itself is not pinned).
LG_PIN=() SERVER_PIN=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  LG_PIN=(taskset -c 0)
  SERVER_PIN=(taskset -c "1-$(($(nproc) - 1))")
  log "pinning: load generator on CPU 0, servers on CPU 1-$(($(nproc) - 1))"
fi

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
  local durability=process
  case "$system" in *-disk) durability=disk ;; esac
  case "$system" in
    tandem-sqlite|tandem-sqlite-disk)
      rm -rf "$WORK/data"; mkdir -p "$WORK/data"
      "${SERVER_PIN[@]}" "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --durability "$durability" \
        --database-url "sqlite://$WORK/data/tandem.db" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/ws/{doc}" ;;
    tandem-postgres|tandem-postgres-disk)
      "${SERVER_PIN[@]}" "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --durability "$durability" \
        --database-url "$PG_URL_BASE/$PG_DB" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/ws/{doc}" ;;
    tandem-hocuspocus)
      rm -rf "$WORK/data"; mkdir -p "$WORK/data"
      "${SERVER_PIN[@]}" "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data" \
        --database-url "sqlite://$WORK/data/tandem.db" >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/hocuspocus"
      HP="--hocuspocus" ;;
    y-websocket-server)
      HOST=127.0.0.1 PORT=$port "${SERVER_PIN[@]}" node bench/node_modules/@y/websocket-server/src/server.js \
        >"$WORK/server.log" 2>&1 &
      URL="ws://127.0.0.1:$port/{doc}" ;;
    hocuspocus)
      PORT=$port "${SERVER_PIN[@]}" node bench/hocuspocus-server.mjs >"$WORK/server.log" 2>&1 &
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
    f100r5)   echo "fanout --docs 1 --clients 100 --rate 5 --duration 12" ;;
    d100x5)   echo "fanout --docs 100 --clients 5 --rate 2 --duration 12" ;;
    f50)      echo "fanout --docs 1 --clients 50 --rate 2 --duration 10" ;;
    f200)     echo "fanout --docs 1 --clients 200 --rate 2 --duration 12" ;;
    f500)     echo "fanout --docs 1 --clients 500 --rate 2 --duration 15" ;;
    d200x5)   echo "fanout --docs 200 --clients 5 --rate 2 --duration 12" ;;
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
    echo "uptime_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "runs=$RUNS"
    echo "pinned=${LG_PIN[*]:-no}"
  } >"$OUT/versions.txt"
}
versions

port=$PORT_BASE
for sc in $SCENARIOS; do
  args=$(scenario_args "$sc") || { log "unknown scenario $sc"; continue; }
  for run in $(seq 1 "$RUNS"); do
    for system in $SYSTEMS; do
      port=$((port + 1))
      mkdir -p "$OUT/$system"
      res="$OUT/$system/$sc.$run"
      if [[ "$system" == tandem-postgres* ]]; then
        PG_DB="tandem_bench_$$_$port"
        if ! psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null 2>&1; then
          log "PostgreSQL unreachable: skipping $system"; PG_DB=""; continue
        fi
      fi
      log "== $sc run $run/$RUNS: $system (port $port); load $(cut -d' ' -f1-3 /proc/loadavg)"
      if ! start_server "$system" "$port"; then
        echo "{\"error\": \"server did not start\"}" >"$res.json"; continue
      fi
      # shellcheck disable=SC2086
      if ! timeout 300 "${LG_PIN[@]}" "$LG" --json --label "$system" --url "$URL" $HP \
          --server-pid "$SERVER_PID" $args >"$res.json" 2>"$res.log"; then
        tail -5 "$res.log" >&2
        echo "{\"error\": \"loadgen failed: $(tail -1 "$res.log" | tr -d '\"\\')\"}" >"$res.json"
      fi
      tail -1 "$res.json" | cut -c1-300 >&2
      # report.py and bench/hocuspocus.sh read SCENARIO.json: the first run until
      # tail_report.py replaces it with the median one.
      if [ "$run" = 1 ]; then cp "$res.json" "$OUT/$system/$sc.json"; fi
      curl -s "http://127.0.0.1:$port/metrics" >"$res.metrics" 2>/dev/null || true
      cp "$WORK/server.log" "$res.server.log" 2>/dev/null || true
      stop_server
      if [ -n "$PG_DB" ]; then
        psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
        PG_DB=""
      fi
    done
  done
done

echo "uptime_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/versions.txt"
if [ "${BENCH_REPORT:-1}" != 1 ]; then
  log "done; raw results in $OUT"
  exit 0
fi
log "writing BENCHMARKS.md (tail latency section)"
python3 bench/tail_report.py "$OUT" "$ROOT/BENCHMARKS.md" "$SCENARIOS"
if [ "$SCENARIOS" != "$ALL_SCENARIOS" ]; then
  log "done (partial scenario list: the Load sections were left as they are); raw results in $OUT"
  exit 0
fi
log "writing BENCHMARKS.md (load sections) and bench/latency.svg"
python3 bench/report.py "$OUT" "$ROOT/BENCHMARKS.md" "$ROOT/bench/latency.svg"
log "done; raw results in $OUT"
