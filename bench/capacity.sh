#!/usr/bin/env bash
# Capacity on one core: each system runs pinned to CPU 0 (taskset -c 0), the load generator
# to CPU 1. 100 documents x 5 clients stay connected while `tandem-loadgen capacity` raises
# the update rate step by step (x1.25 per step from 4 updates/s per client, then closing in
# on the first failing rate to within 5 %) until a step's p99 delivery latency passes 50 ms
# or a delivery is missing. The result is the highest sustained deliveries/s, with the CPU
# per delivery there: the server's, and on PostgreSQL its database's (the backends of the
# run's database and the cluster's WAL writer, checkpointer and background writer; PostgreSQL
# itself is not pinned). Every system runs CAP_RUNS times (default 3), interleaved and in a
# rotating order, each run a fresh server (and database). Writes the "Capacity on one core"
# part of BENCHMARKS.md (between <!-- capacity:begin --> and <!-- capacity:end -->) unless
# CAP_REPORT=0. Everything stays on 127.0.0.1.
#
#   ./bench/capacity.sh                      # 5 systems x 3 runs: about 12 minutes
#   CAP_SMOKE=1 ./bench/capacity.sh          # about a minute: does it work at all (no report)
#   CAP_SMOKE=1 CAP_BUILD=debug ./bench/capacity.sh   # the same with debug builds
#   CAP_SYSTEMS="tandem-sqlite hocuspocus" CAP_RUNS=1 ./bench/capacity.sh
#   CAP_RAMP="--start-rate 8 --factor 1.2 --step-secs 5" ./bench/capacity.sh
#
# Systems (bench/servers.sh): tandem-sqlite, tandem-sqlite-disk, tandem-postgres,
# tandem-postgres-disk, y-websocket-server, hocuspocus. Needs what bench/run.sh needs.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${CAP_OUT:-$ROOT/target/bench-capacity}
SYSTEMS=${CAP_SYSTEMS:-"tandem-sqlite tandem-sqlite-disk tandem-postgres y-websocket-server hocuspocus"}
RUNS=${CAP_RUNS:-3}
DOCS=${CAP_DOCS:-100}
CLIENTS=${CAP_CLIENTS:-5}
P99_MS=${CAP_P99_MS:-50}
RAMP=${CAP_RAMP:-"--start-rate 4 --factor 1.25 --resolution 0.05 --step-secs 3 --drain 2 --max-steps 16"}
REPORT=${CAP_REPORT:-1}
if [ "${CAP_SMOKE:-0}" = 1 ]; then
  RUNS=${CAP_RUNS:-1} DOCS=${CAP_DOCS:-10} REPORT=${CAP_REPORT:-0}
  RAMP=${CAP_RAMP:-"--start-rate 2 --factor 2 --resolution 0.5 --step-secs 1 --drain 1 --max-steps 3"}
fi
PG_URL_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PORT_BASE=${CAP_PORT_BASE:-18600}

log() { echo "[capacity] $*" >&2; }

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
# The load clients all come from this host: lift Tandem's limits per client address.
# shellcheck source=bench/lift-limits.sh
. bench/lift-limits.sh

SERVER_PIN=() LG_PIN=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  SERVER_PIN=(taskset -c 0)
  LG_PIN=(taskset -c 1)
  log "pinning: servers on CPU 0, load generator on CPU 1"
else
  log "fewer than 2 CPUs or no taskset: nothing pinned (the figures are not capacity on one core)"
fi

BUILD=${CAP_BUILD:-release}
log "building ($BUILD)"
if [ "$BUILD" = release ]; then
  cargo build --release -p tandem -p tandem-loadgen >&2
else
  cargo build -p tandem -p tandem-loadgen >&2
fi
LG=$ROOT/target/$BUILD/tandem-loadgen
TANDEM=$ROOT/target/$BUILD/tandem
if [[ " $SYSTEMS " == *" y-websocket-server "* || " $SYSTEMS " == *" hocuspocus "* ]]; then
  log "installing the Node servers (npm ci)"
  (cd bench && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER_PID=""
# shellcheck source=bench/servers.sh
. bench/servers.sh

cleanup() {
  stop_server
  pg_drop
  rm -rf "$WORK"
}
trap cleanup EXIT

write_versions "$OUT/versions.txt"
{
  echo "runs=$RUNS"
  echo "pinned=${SERVER_PIN[*]:-no} (server), ${LG_PIN[*]:-no} (load generator)"
  echo "shape=$DOCS x $CLIENTS"
  echo "p99_limit_ms=$P99_MS"
  echo "ramp=$RAMP"
} >>"$OUT/versions.txt"

read -r -a systems <<<"$SYSTEMS"
began=$(date +%s)
port=$PORT_BASE
for run in $(seq 1 "$RUNS"); do
  # A rotating order: no system always runs first (after a build) or last.
  n=${#systems[@]}
  for i in $(seq 0 $((n - 1))); do
    system=${systems[$(((i + run - 1) % n))]}
    port=$((port + 1))
    mkdir -p "$OUT/$system"
    res="$OUT/$system/cap.$run"
    DB_ARGS=()
    if [[ "$system" == tandem-postgres* ]]; then
      if ! pg_create "$port"; then log "PostgreSQL unreachable: skipping $system"; continue; fi
      DB_ARGS=(--db-name "$PG_DB")
    fi
    log "== run $run/$RUNS: $system (port $port); load $(cut -d' ' -f1-3 /proc/loadavg)"
    if ! start_server "$system" "$port"; then
      echo "{\"error\": \"server did not start\"}" >"$res.json"; pg_drop; continue
    fi
    # shellcheck disable=SC2086
    if ! timeout 600 "${LG_PIN[@]}" "$LG" --json --label "$system" --url "$URL" $HP \
        --server-pid "$SERVER_PID" "${DB_ARGS[@]}" capacity --docs "$DOCS" --clients "$CLIENTS" \
        --p99-limit-ms "$P99_MS" $RAMP >"$res.json" 2>"$res.log"; then
      tail -5 "$res.log" >&2
      echo "{\"error\": \"loadgen failed: $(tail -1 "$res.log" | tr -d '\"\\')\"}" >"$res.json"
    fi
    grep '\[loadgen\] step' "$res.log" | tail -3 >&2 || true
    python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print("capacity:", r.get("capacity_deliveries_per_sec"), "deliveries/s; lowest failing step:", (r.get("lowest_failure") or {}).get("why"))' "$res.json" >&2 || true
    cp "$WORK/server.log" "$res.server.log" 2>/dev/null || true
    stop_server
    pg_drop
  done
done
echo "uptime_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/versions.txt"
echo "wall_secs=$(($(date +%s) - began))" >>"$OUT/versions.txt"
log "all runs took $(($(date +%s) - began)) s"

if [ "$REPORT" != 1 ]; then
  python3 bench/capacity_report.py "$OUT" -
  log "done; raw results in $OUT (BENCHMARKS.md left as it is)"
  exit 0
fi
python3 bench/capacity_report.py "$OUT" "$ROOT/BENCHMARKS.md"
log "wrote the capacity section of BENCHMARKS.md; raw results in $OUT"
