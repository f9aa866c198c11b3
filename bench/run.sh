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
# The load clients all come from this host: lift Tandem's limits per client address.
# shellcheck source=bench/lift-limits.sh
. bench/lift-limits.sh

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
# shellcheck source=bench/servers.sh
. bench/servers.sh

cleanup() {
  stop_server
  pg_drop
  rm -rf "$WORK"
}
trap cleanup EXIT

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

write_versions "$OUT/versions.txt"
echo "runs=$RUNS" >>"$OUT/versions.txt"
echo "pinned=${LG_PIN[*]:-no}" >>"$OUT/versions.txt"

port=$PORT_BASE
for sc in $SCENARIOS; do
  args=$(scenario_args "$sc") || { log "unknown scenario $sc"; continue; }
  for run in $(seq 1 "$RUNS"); do
    for system in $SYSTEMS; do
      port=$((port + 1))
      mkdir -p "$OUT/$system"
      res="$OUT/$system/$sc.$run"
      DB_ARGS=()
      if [[ "$system" == tandem-postgres* ]]; then
        if ! pg_create "$port"; then log "PostgreSQL unreachable: skipping $system"; continue; fi
        DB_ARGS=(--db-name "$PG_DB")
      fi
      log "== $sc run $run/$RUNS: $system (port $port); load $(cut -d' ' -f1-3 /proc/loadavg)"
      if ! start_server "$system" "$port"; then
        echo "{\"error\": \"server did not start\"}" >"$res.json"; continue
      fi
      # shellcheck disable=SC2086
      if ! timeout 300 "${LG_PIN[@]}" "$LG" --json --label "$system" --url "$URL" $HP \
          --server-pid "$SERVER_PID" "${DB_ARGS[@]}" $args >"$res.json" 2>"$res.log"; then
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
      pg_drop
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
