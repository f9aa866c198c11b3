#!/usr/bin/env bash
# Fan-out over Tandem's three transports: 1 document x 50 clients x 2 updates/s for 15 s,
# over WebSocket, Server-Sent Events and long polling, each against a fresh release server
# (SQLite in a fresh temp dir) on 127.0.0.1. Prints one JSON line per transport (also kept
# in $OUT/<transport>.json) and a Markdown table for the "Transports" section of
# BENCHMARKS.md.
#
#   ./bench/transports.sh
#   TRANSPORTS="sse poll" CLIENTS=20 DURATION=5 ./bench/transports.sh   (quick look)
set -euo pipefail
# The load clients all come from this host: lift Tandem's limits per client address.
# shellcheck source=bench/lift-limits.sh
. "$(dirname "$0")/lift-limits.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${BENCH_OUT:-$ROOT/target/bench-transports}
TRANSPORTS=${TRANSPORTS:-"websocket sse poll"}
CLIENTS=${CLIENTS:-50}
RATE=${RATE:-2}
DURATION=${DURATION:-15}
PORT=${PORT:-18480}

log() { echo "[transports] $*" >&2; }

log "building (release)"
cargo build --release -p tandem -p tandem-loadgen >&2
TANDEM=$ROOT/target/release/tandem
LG=$ROOT/target/release/tandem-loadgen

mkdir -p "$OUT"
SERVER_PID=""
DATA=""

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  if [ -n "$DATA" ]; then rm -rf "$DATA"; DATA=""; fi
}
trap stop_server EXIT

for transport in $TRANSPORTS; do
  DATA=$(mktemp -d)
  "$TANDEM" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$OUT/$transport.server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    grep -q "listening on http://" "$OUT/$transport.server.log" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/$transport.server.log" >&2; exit 1; }
    sleep 0.05
  done
  log "$transport: load $(cut -d' ' -f1-3 /proc/loadavg) before the run"
  "$LG" --url "ws://127.0.0.1:$PORT/ws/{doc}" --server-pid "$SERVER_PID" --json \
    --label "tandem-sqlite/$transport" \
    fanout --transport "$transport" --docs 1 --clients "$CLIENTS" --rate "$RATE" \
    --duration "$DURATION" >"$OUT/$transport.json" 2>"$OUT/$transport.log" \
    || { log "$transport: loadgen failed"; cat "$OUT/$transport.log" >&2; }
  log "$transport: load $(cut -d' ' -f1-3 /proc/loadavg) after the run"
  cat "$OUT/$transport.json"
  stop_server
done

python3 - "$OUT" $TRANSPORTS <<'EOF'
import json, sys
out, transports = sys.argv[1], sys.argv[2:]
def f(v, nd=3):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{nd}g}"
print()
print("| transport | p50 ms | p95 ms | p99 ms | max ms | deliveries/s | errors | server CPU µs / delivery | server CPU µs / update | HTTP requests / s | bytes down / delivery |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for t in transports:
    try:
        r = json.loads(open(f"{out}/{t}.json").read().strip().splitlines()[-1])
    except Exception as e:
        print(f"| {t} | failed: {e} |")
        continue
    reqs = r.get("http_requests_per_sec")
    print(f"| {t} | {f(r['latency_p50_ms'])} | {f(r['latency_p95_ms'])} | {f(r['latency_p99_ms'])} | "
          f"{f(r['latency_max_ms'])} | {f(r['deliveries_per_sec'])} | {r['errors']} | "
          f"{f(r['server_cpu_us_per_delivery'])} | {f(r['server_cpu_us_per_update'])} | "
          f"{f(reqs)} | {f(r.get('http_down_bytes_per_delivery'))} |")
EOF
