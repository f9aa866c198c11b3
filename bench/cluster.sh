#!/usr/bin/env bash
# Several instances: the same fan-out load against 1, 2 and 3 Tandem instances on one
# PostgreSQL server, with a private nats-server between them. The load generator spreads each
# document's clients over the instances in turn, so with 3 clients per document on 3
# instances every delivery crosses from one instance to another (reported separately as
# "cross"). "1" is a plain single instance (no NATS): the figure to compare with. Every
# configuration runs BENCH_RUNS times (default 3), interleaved (1 2 3 1 2 3 ...), each run on
# a fresh database and fresh instances. Reports p50/p99 delivery latency and server CPU per
# delivery (summed over the instances), the median of the runs and their range; writes the
# "Several instances" section of BENCHMARKS.md (between <!-- cluster:begin --> and
# <!-- cluster:end -->) unless BENCH_REPORT=0. Everything stays on 127.0.0.1.
#
#   ./bench/cluster.sh                                   # 100 documents x 3 clients, 12 s, 3 runs
#   BENCH_SMOKE=1 ./bench/cluster.sh                     # seconds: does it work at all (debug build, no report)
#   BENCH_INSTANCES="1 3" DOCS=20 ./bench/cluster.sh
#
# Needs: cargo, nats-server (Debian: nats-server), PostgreSQL on 127.0.0.1:5432 (user
# postgres, trust; or BENCH_PG), psql, python3.
set -euo pipefail
# The load clients all come from this host: lift Tandem's limits per client address.
# shellcheck source=bench/lift-limits.sh
. "$(dirname "$0")/lift-limits.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  : "${BENCH_RUNS:=1}" "${DOCS:=2}" "${CLIENTS:=3}" "${DURATION:=2}" "${BENCH_REPORT:=0}" "${BENCH_BUILD:=debug}"
fi
OUT=${BENCH_OUT:-$ROOT/target/bench-cluster}
INSTANCES=${BENCH_INSTANCES:-"1 2 3"}
RUNS=${BENCH_RUNS:-3}
DOCS=${DOCS:-100}
CLIENTS=${CLIENTS:-3}
RATE=${RATE:-2}
DURATION=${DURATION:-12}
BUILD=${BENCH_BUILD:-release}
PG_URL_BASE=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PORT_BASE=${BENCH_PORT_BASE:-18600}

log() { echo "[cluster] $*" >&2; }

# The load generator on core 0, the instances on the others (PostgreSQL and NATS unpinned).
LG_PIN=() SERVER_PIN=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  LG_PIN=(taskset -c 0)
  SERVER_PIN=(taskset -c "1-$(($(nproc) - 1))")
fi

NATS_BIN=$(command -v nats-server || true)
[ -n "$NATS_BIN" ] || [ ! -x /usr/sbin/nats-server ] || NATS_BIN=/usr/sbin/nats-server
[ -n "$NATS_BIN" ] || { log "nats-server not found (Debian: apt-get install nats-server)"; exit 1; }
psql "$PG_URL_BASE/postgres" -qAtc 'select 1' >/dev/null || { log "PostgreSQL at $PG_URL_BASE unreachable"; exit 1; }

if [ "$BUILD" = release ]; then
  log "building (release)"
  cargo build --release -p tandem -p tandem-loadgen >&2
else
  log "building (debug: figures are not comparable with a release build)"
  cargo build -p tandem -p tandem-loadgen >&2
fi
TANDEM=$ROOT/target/$BUILD/tandem
LG=$ROOT/target/$BUILD/tandem-loadgen

rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d)
NATS_PID=""
PIDS=()
PG_DB=""

stop_instances() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

drop_db() {
  if [ -n "$PG_DB" ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    PG_DB=""
  fi
}

cleanup() {
  stop_instances
  drop_db
  if [ -n "$NATS_PID" ]; then kill "$NATS_PID" 2>/dev/null || true; wait "$NATS_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# A private nats-server on a port it picks: never the machine's own (other users, tests).
"$NATS_BIN" -a 127.0.0.1 -p -1 >"$WORK/nats.log" 2>&1 &
NATS_PID=$!
NATS_PORT=""
for _ in $(seq 1 200); do
  NATS_PORT=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/nats.log" | head -1)
  [ -n "$NATS_PORT" ] && grep -q "Server is ready" "$WORK/nats.log" && break
  kill -0 "$NATS_PID" 2>/dev/null || { cat "$WORK/nats.log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$NATS_PORT" ] || { log "nats-server did not start"; cat "$WORK/nats.log" >&2; exit 1; }
log "nats-server on 127.0.0.1:$NATS_PORT"

# start_instances N RUN: N instances on a fresh database; sets PIDS and URL_ARGS.
start_instances() {
  local n=$1 run=$2 i port log_file
  PG_DB="tandem_bench_cluster_$$_${n}_$run"
  psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
  URL_ARGS=()
  for i in $(seq 1 "$n"); do
    port=$((PORT_BASE + i))
    log_file="$OUT/n$n.$run.instance$i.log"
    local cluster_args=()
    if [ "$n" -gt 1 ]; then
      cluster_args=(--nats-url "nats://127.0.0.1:$NATS_PORT" --instance-id "bench-$i"
        --nats-subject-prefix "bench$$x$n$run" --cluster-key "bench-cluster-key-0123456789abcdef0123")
    fi
    "${SERVER_PIN[@]}" "$TANDEM" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data$i" \
      --database-url "$PG_URL_BASE/$PG_DB" "${cluster_args[@]}" >"$log_file" 2>&1 &
    PIDS+=($!)
    URL_ARGS+=(--url "ws://127.0.0.1:$port/ws/{doc}" --server-pid "$!")
  done
  # Ready, and (in a cluster) on the bus, before the load starts.
  local want=ready
  [ "$n" -gt 1 ] && want="bus connected"
  for i in $(seq 1 "$n"); do
    port=$((PORT_BASE + i))
    local ok=""
    for _ in $(seq 1 400); do
      if curl -fs "http://127.0.0.1:$port/readyz" 2>/dev/null | grep -q "$want"; then ok=1; break; fi
      kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null || break
      sleep 0.05
    done
    [ -n "$ok" ] || { log "instance $i of $n not ready:"; tail -20 "$OUT/n$n.$run.instance$i.log" >&2; return 1; }
  done
}

{
  echo "tandem=$("$TANDEM" --version 2>/dev/null | awk '{print $2}')"
  echo "git=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
  echo "build=$BUILD"
  echo "nats=$("$NATS_BIN" --version 2>/dev/null | awk '{print $2}')"
  echo "postgres=$(psql "$PG_URL_BASE/postgres" -Atc 'show server_version' 2>/dev/null || echo n/a)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "nproc=$(nproc)"
  echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "runs=$RUNS"
  echo "scenario=fanout --docs $DOCS --clients $CLIENTS --rate $RATE --duration $DURATION"
  echo "pinned=${LG_PIN[*]:-no}"
} >"$OUT/versions.txt"

for run in $(seq 1 "$RUNS"); do
  for n in $INSTANCES; do
    res="$OUT/n$n.$run"
    log "== run $run/$RUNS: $n instance(s); load $(cut -d' ' -f1-3 /proc/loadavg)"
    if ! start_instances "$n" "$run"; then
      echo '{"error": "instances did not start"}' >"$res.json"
      stop_instances; drop_db; continue
    fi
    if ! timeout 300 "${LG_PIN[@]}" "$LG" --json --label "$n" "${URL_ARGS[@]}" \
        fanout --docs "$DOCS" --clients "$CLIENTS" --rate "$RATE" --duration "$DURATION" \
        >"$res.json" 2>"$res.log"; then
      tail -5 "$res.log" >&2
      echo "{\"error\": \"loadgen failed: $(tail -1 "$res.log" | tr -d '\"\\')\"}" >"$res.json"
    fi
    tail -1 "$res.json" | cut -c1-300 >&2
    for i in $(seq 1 "$n"); do
      curl -s "http://127.0.0.1:$((PORT_BASE + i))/metrics" >"$res.instance$i.metrics" 2>/dev/null || true
    done
    stop_instances
    drop_db
  done
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/versions.txt"

python3 bench/cluster_report.py "$OUT" "$INSTANCES" "$([ "${BENCH_REPORT:-1}" = 1 ] && echo "$ROOT/BENCHMARKS.md")"
log "done; raw results in $OUT"
