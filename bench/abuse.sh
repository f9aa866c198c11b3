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
# Pattern `bus` (forged cluster bus frames) runs the server in cluster mode instead: on a
# fresh PostgreSQL database (ABUSE_PG, default postgres://postgres@127.0.0.1:5432) with a
# private nats-server that demands a password; the attacker has that password but not the
# cluster key, and floods forged frames on the subjects of the probe's documents.
#
#   ./bench/abuse.sh                       # every pattern, 3 runs
#   ABUSE_PATTERNS="amplify flood" ABUSE_SECONDS=10 ABUSE_RUNS=1 ./bench/abuse.sh
#   ABUSE_PATTERNS=bus ABUSE_RUNS=1 ./bench/abuse.sh
#   ABUSE_PROFILE=debug ...                # a quick check with the debug build
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PATTERNS=${ABUSE_PATTERNS:-"amplify malformed flood presence sessions slowloris dense documents versions cost-heavy hocuspocus-preauth bus api-memory preauth-bodies spread-flood"}
SECONDS_EACH=${ABUSE_SECONDS:-15}
RUNS=${ABUSE_RUNS:-3}
PORT=${ABUSE_PORT:-18480}
OUT=${ABUSE_OUT:-$ROOT/target/bench/abuse}
rm -rf "$OUT" && mkdir -p "$OUT"

log() { echo "[abuse] $*" >&2; }

PROFILE=${ABUSE_PROFILE:-release}
if [ "${ABUSE_BUILD:-1}" = 1 ]; then
  if [ "$PROFILE" = release ]; then cargo build --release -p tandem -p tandem-loadgen >&2
  else cargo build -p tandem -p tandem-loadgen >&2; fi
fi
TANDEM=${ABUSE_TANDEM:-$ROOT/target/$PROFILE/tandem}
LG=${ABUSE_LOADGEN:-$ROOT/target/$PROFILE/tandem-loadgen}
WORK=$(mktemp -d)
SERVER_PID=""
NATS_PID=""
PG_URL_BASE=${ABUSE_PG:-postgres://postgres@127.0.0.1:5432}
PG_DB=""
NATS_PASSWORD="abuse-bus-$$"
CLUSTER_KEY="abuse-cluster-key-$$-0123456789abcdef0123456789"
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  if [ -n "$PG_DB" ]; then
    psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    PG_DB=""
  fi
}
stop_nats() {
  if [ -n "$NATS_PID" ]; then kill "$NATS_PID" 2>/dev/null || true; wait "$NATS_PID" 2>/dev/null || true; fi
}
trap 'stop_server; stop_nats; rm -rf "$WORK"' EXIT

# A private nats-server on a port it picks, demanding a password (pattern `bus` only).
start_nats() {
  local bin
  bin=$(command -v nats-server || true)
  [ -n "$bin" ] || [ ! -x /usr/sbin/nats-server ] || bin=/usr/sbin/nats-server
  [ -n "$bin" ] || { log "nats-server not found (Debian: apt-get install nats-server)"; return 1; }
  "$bin" -a 127.0.0.1 -p -1 --user tandem --pass "$NATS_PASSWORD" >"$WORK/nats.log" 2>&1 &
  NATS_PID=$!
  NATS_PORT=""
  for _ in $(seq 1 200); do
    NATS_PORT=$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/nats.log" | head -1)
    [ -n "$NATS_PORT" ] && grep -q "Server is ready" "$WORK/nats.log" && return 0
    sleep 0.05
  done
  log "nats-server did not start"; cat "$WORK/nats.log" >&2; return 1
}

# The server gets the usual 1,024 descriptors so that connection floods meet its own limits.
# start_server PATTERN RUN: SQLite, or for `bus` cluster mode on a fresh PostgreSQL database.
start_server() {
  rm -rf "$WORK/data" && mkdir -p "$WORK/data"
  local db=(--database-url "sqlite://$WORK/data/tandem.db")
  if [ "$1" = bus ]; then
    PG_DB="tandem_abuse_$$_$2"
    psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    db=(--database-url "$PG_URL_BASE/$PG_DB" --nats-url "nats://127.0.0.1:$NATS_PORT"
      --nats-user tandem --nats-password "$NATS_PASSWORD" --cluster-key "$CLUSTER_KEY"
      --nats-subject-prefix abuse --instance-id abuse-1)
  fi
  (ulimit -n 1024; exec "$TANDEM" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
    "${db[@]}" >"$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.05
  done
  log "server did not start"; cat "$WORK/server.log" >&2; return 1
}

case " $PATTERNS " in *" bus "*) start_nats ;; esac

for run in $(seq 1 "$RUNS"); do
  for p in $PATTERNS; do
    start_server "$p" "$run"
    log "run $run: $p"
    extra=()
    if [ "$p" = bus ]; then
      extra=(--bus-url "nats://127.0.0.1:$NATS_PORT" --bus-user tandem --bus-password "$NATS_PASSWORD"
        --bus-prefix abuse)
    fi
    "$LG" --url "ws://127.0.0.1:$PORT/ws/{doc}" --server-pid "$SERVER_PID" --json \
      abuse --pattern "$p" --duration "$SECONDS_EACH" "${extra[@]}" >"$OUT/$p-$run.json" 2>"$OUT/$p-$run.log" || {
      log "$p: loadgen failed"; tail -5 "$OUT/$p-$run.log" >&2; }
    if [ "$p" = bus ]; then
      # What the server dropped, for the report: tandem_bus_frames_rejected_total by reason.
      curl -s "http://127.0.0.1:$PORT/metrics" | grep '^tandem_bus_frames_rejected_total' >"$OUT/$p-$run.rejected" || true
      grep -c 'cluster bus frame rejected' "$WORK/server.log" >"$OUT/$p-$run.loglines" || true
    fi
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
