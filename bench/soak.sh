#!/usr/bin/env bash
# Soak benchmark: SOAK_SECONDS (default 600) of mixed load against one release
# `tandem serve` (SQLite; SOAK_DATABASE_URL=postgres://... for PostgreSQL) with its
# default limits, the server's memory sampled every SOAK_SAMPLE_SECS (5) from
# /proc/PID/status, then SOAK_SETTLE_SECS (60) without load to see what is given back, and
# (with gdb) the RSS left once `malloc_trim(0)` has handed glibc's free memory back.
# Prints the BENCHMARKS.md section (bench/soak_report.py) and writes bench/soak.svg
# (SOAK_CHART); the raw results stay in target/bench/soak/. Everything stays on 127.0.0.1.
#
# The load, all tandem-loadgen modes running at once, each in a loop until the end:
#   typing      fanout: 16 documents x 5 clients typing 2 updates/s each, for the whole run
#   reconnects  fanout rounds of 15 s on the same 8 documents x 3 clients (rejoining a
#               document that already has content: a full resync), the transport taking
#               turns: WebSocket, SSE, long polling
#   joins       idle rounds: 80 connections over 40 documents join, hold 5 s and leave;
#               the documents come from 4 sets in turn (loaded fresh, unloaded, reloaded)
#   abuse       abuse rounds of SOAK_ABUSE_SECONDS (30) per pattern, every pattern in turn,
#               from 127.0.0.2, with its probe (a fresh sync and /healthz every 200 ms)
# The legitimate clients connect from 127.0.0.1 and stay under the limits per address
# (256 connections, 256 documents; SECURITY.md), which the attacker on 127.0.0.2 meets.
#
#   ./bench/soak.sh
#   SOAK_SECONDS=60 SOAK_SETTLE_SECS=20 ./bench/soak.sh     # a quick look
#   SOAK_PATTERNS="amplify flood" SOAK_CHART=/tmp/soak.svg ./bench/soak.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${SOAK_SECONDS:-600}
SAMPLE=${SOAK_SAMPLE_SECS:-5}
SETTLE=${SOAK_SETTLE_SECS:-60}
ABUSE_SECONDS=${SOAK_ABUSE_SECONDS:-30}
PATTERNS=${SOAK_PATTERNS:-"amplify malformed flood presence sessions slowloris dense documents versions"}
PORT=${SOAK_PORT:-18490}
OUT=${SOAK_OUT:-$ROOT/target/bench/soak}
rm -rf "$OUT" && mkdir -p "$OUT"

log() { echo "[soak $(date +%T)] $*" >&2; }

if [ "${SOAK_BUILD:-1}" = 1 ]; then
  cargo build --release -p tandem -p tandem-loadgen >&2
fi
TANDEM=$ROOT/target/release/tandem
LG=$ROOT/target/release/tandem-loadgen
WORK=$(mktemp -d)
PIDS=()
SERVER_PID=""
cleanup() {
  # the loops' running load generators first (children of the loops started here)
  for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

DB=${SOAK_DATABASE_URL:-sqlite://$WORK/tandem.db}
"$TANDEM" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK" --database-url "$DB" \
  >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.05
done
kill -0 "$SERVER_PID" || { log "server did not start"; cat "$OUT/server.log" >&2; exit 1; }
log "server pid $SERVER_PID on 127.0.0.1:$PORT ($DB), ${DURATION} s of load, ${SETTLE} s settle"
URL="ws://127.0.0.1:$PORT/ws/{doc}"
lg() { "$LG" --url "$URL" --server-pid "$SERVER_PID" --json "$@"; }

# The load starts one sample after the sampler, so the first sample (t < 0) is a baseline.
START=$(($(date +%s) + SAMPLE))
END=$((START + DURATION))
echo "$START" >"$OUT/start"
left() { echo $((END - $(date +%s))); }

# The sampler: one CSV line per sample, until it is stopped.
sampler() {
  echo "t,rss_kib,hwm_kib,threads,fds,tcp_connections,documents_loaded,load1,cpu_ticks"
  while kill -0 "$SERVER_PID" 2>/dev/null; do
    local now rss hwm thr fds metrics tcp docs load cpu
    now=$(($(date +%s) - START))
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status")
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status")
    thr=$(awk '/^Threads:/ {print $2}' "/proc/$SERVER_PID/status")
    fds=$(find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    metrics=$(curl -s --max-time 2 "http://127.0.0.1:$PORT/metrics" || true)
    tcp=$(awk '$1 == "tandem_tcp_connections" {print $2}' <<<"$metrics")
    docs=$(awk '$1 == "tandem_documents_loaded" {print $2}' <<<"$metrics")
    load=$(cut -d' ' -f1 /proc/loadavg)
    cpu=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    echo "$now,$rss,$hwm,$thr,$fds,${tcp:-},${docs:-},$load,$cpu"
    sleep "$SAMPLE"
  done
}
sampler >"$OUT/samples.csv" &
SAMPLER=$!
PIDS+=("$SAMPLER")
sleep $((START - $(date +%s)))

# typing: the whole run
lg --doc-prefix soak-typing fanout --docs 16 --clients 5 --rate 2 --duration "$DURATION" \
  >"$OUT/typing.json" 2>"$OUT/typing.log" &
PIDS+=("$!")

# reconnects: short rounds on the same documents, the transport taking turns
(
  i=0
  while [ "$(left)" -gt 20 ]; do
    t=(websocket sse poll); t=${t[$((i % 3))]}
    lg --doc-prefix soak-reconnect fanout --transport "$t" --docs 8 --clients 3 --rate 5 \
      --duration 15 --drain 2 >"$OUT/reconnect-$i-$t.json" 2>>"$OUT/reconnect.log" \
      || echo "round $i ($t) failed" >>"$OUT/failures.txt"
    i=$((i + 1))
  done
) &
PIDS+=("$!")

# joins and leaves: idle rounds over four sets of documents
(
  i=0
  while [ "$(left)" -gt 10 ]; do
    lg --doc-prefix "soak-join-$((i % 4))" idle --connections 80 --docs 40 --hold 5 \
      --settle 0.5 >"$OUT/join-$i.json" 2>>"$OUT/join.log" \
      || echo "join round $i failed" >>"$OUT/failures.txt"
    i=$((i + 1))
  done
) &
PIDS+=("$!")

# abuse: every pattern in turn, each round with its probe
(
  i=0
  while :; do
    for p in $PATTERNS; do
      l=$(left)
      [ "$l" -gt 5 ] || exit 0
      d=$((l < ABUSE_SECONDS ? l : ABUSE_SECONDS))
      lg abuse --pattern "$p" --duration "$d" --probe-interval-ms 200 \
        >"$OUT/abuse-$i-$p.json" 2>>"$OUT/abuse.log" \
        || echo "abuse round $i ($p) failed" >>"$OUT/failures.txt"
      i=$((i + 1))
    done
  done
) &
PIDS+=("$!")

# Wait for the load (every loop ends by itself), then let the server settle.
for p in "${PIDS[@]:1}"; do wait "$p" || true; done
LOAD_END=$(($(date +%s) - START))
log "load ended at ${LOAD_END} s; settling ${SETTLE} s"
kill -0 "$SERVER_PID" || log "SERVER DIED"
sleep "$SETTLE"
# What the process still uses, without what its allocator keeps for later: glibc keeps
# freed memory, so RSS alone does not tell a leak from a high-water mark. Needs gdb (and
# ptrace permission); skipped without.
if command -v gdb >/dev/null && gdb -p "$SERVER_PID" -batch -ex 'call (int)malloc_trim(0)' >/dev/null 2>&1; then
  awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" >"$OUT/rss_after_trim"
  log "after malloc_trim(0): $(cat "$OUT/rss_after_trim") KiB"
fi
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
PIDS=()
echo "$LOAD_END" >"$OUT/load_end"
nproc >"$OUT/nproc"
python3 bench/soak_report.py "$OUT" "$DURATION" "$SAMPLE" "${SOAK_CHART:-bench/soak.svg}"
