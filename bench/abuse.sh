#!/usr/bin/env bash
# Abuse benchmark: for each attack pattern, a fresh release `tandem serve` (SQLite, default
# limits), one hostile client (`tandem-loadgen abuse`, 4 tasks from 127.0.0.2) at full
# speed, and a probe from 127.0.0.1 measuring what a legitimate user on another document
# sees (a fresh WebSocket sync every 50 ms, /healthz) plus the server's peak RSS. Every
# pattern runs ABUSE_RUNS times (default 3), interleaved (all patterns, then again), and
# the 1-minute load average is read after each run (the machine may be shared). Prints the
# Markdown table for BENCHMARKS.md (bench/abuse_report.py: medians and ranges over the
# runs) and keeps the JSON in target/bench/abuse/. Everything stays on 127.0.0.1; about
# 20 s per pattern and run.
#
#   ./bench/abuse.sh                       # every pattern, 3 runs
#   ABUSE_PATTERNS="amplify flood" ABUSE_SECONDS=10 ABUSE_RUNS=1 ./bench/abuse.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PATTERNS=${ABUSE_PATTERNS:-"amplify malformed flood presence sessions slowloris dense documents versions cost-heavy"}
SECONDS_EACH=${ABUSE_SECONDS:-15}
RUNS=${ABUSE_RUNS:-3}
PORT=${ABUSE_PORT:-18480}
OUT=${ABUSE_OUT:-$ROOT/target/bench/abuse}
rm -rf "$OUT" && mkdir -p "$OUT"

log() { echo "[abuse] $*" >&2; }

if [ "${ABUSE_BUILD:-1}" = 1 ]; then
  cargo build --release -p tandem -p tandem-loadgen >&2
fi
TANDEM=$ROOT/target/release/tandem
LG=$ROOT/target/release/tandem-loadgen
WORK=$(mktemp -d)
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# The server gets the usual 1,024 descriptors so that connection floods meet its own limits.
start_server() {
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  (ulimit -n 1024; exec "$TANDEM" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
    --database-url "sqlite://$WORK/data/tandem.db" >"$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.05
  done
  log "server did not start"; cat "$WORK/server.log" >&2; return 1
}

for run in $(seq 1 "$RUNS"); do
  for p in $PATTERNS; do
    start_server
    log "run $run: $p"
    "$LG" --url "ws://127.0.0.1:$PORT/ws/{doc}" --server-pid "$SERVER_PID" --json \
      abuse --pattern "$p" --duration "$SECONDS_EACH" >"$OUT/$p-$run.json" 2>"$OUT/$p-$run.log" || {
      log "$p: loadgen failed"; tail -5 "$OUT/$p-$run.log" >&2; }
    cut -d' ' -f1 /proc/loadavg >"$OUT/$p-$run.load"
    # the server must still be up after the attack
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "$p: SERVER DIED"; echo "$p run $run" >>"$OUT/died.txt"
    fi
    stop_server
  done
done
nproc >"$OUT/nproc"
python3 bench/abuse_report.py "$OUT" "$RUNS" $PATTERNS
