#!/usr/bin/env bash
# Abuse benchmark: for each attack pattern, a fresh release `tandem serve` (SQLite), one
# hostile client (`tandem-loadgen abuse`) at full speed, and a probe measuring what a
# legitimate user on another document sees (fresh sync time, /healthz time) plus the
# server's peak RSS. Prints a Markdown table (for BENCHMARKS.md) and keeps the JSON in
# target/bench/abuse/. Everything stays on 127.0.0.1; ~20 s per pattern.
#
#   ./bench/abuse.sh                       # every pattern
#   ABUSE_PATTERNS="amplify flood" ABUSE_SECONDS=10 ./bench/abuse.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PATTERNS=${ABUSE_PATTERNS:-"amplify malformed flood presence sessions slowloris dense documents versions"}
SECONDS_EACH=${ABUSE_SECONDS:-15}
PORT=${ABUSE_PORT:-18480}
OUT=$ROOT/target/bench/abuse
mkdir -p "$OUT"

log() { echo "[abuse] $*" >&2; }

cargo build --release -p tandem -p tandem-loadgen >&2
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

echo "| pattern | attack msgs | refused | closed | probe syncs (failed) | sync p50 / p99 / max ms | /healthz p50 / p99 / max ms | peak RSS MiB | RSS after MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for p in $PATTERNS; do
  start_server
  log "$p"
  "$LG" --url "ws://127.0.0.1:$PORT/ws/{doc}" --server-pid "$SERVER_PID" --json \
    abuse --pattern "$p" --duration "$SECONDS_EACH" >"$OUT/$p.json" 2>"$OUT/$p.log" || {
    log "$p: loadgen failed"; tail -5 "$OUT/$p.log" >&2; }
  # the server must still be up and healthy after the attack
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then log "$p: SERVER DIED"; fi
  python3 - "$OUT/$p.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
f = lambda k: "-" if r.get(k) is None else f"{r[k]:g}"
print(f"| {r['pattern']} | {r['attack_messages']:,} | {r['attack_refusals']:,} | {r['attack_closes']:,} | "
      f"{r['probe_syncs']} ({r['probe_sync_failures']}) | {f('probe_sync_p50_ms')} / {f('probe_sync_p99_ms')} / {f('probe_sync_max_ms')} | "
      f"{f('healthz_p50_ms')} / {f('healthz_p99_ms')} / {f('healthz_max_ms')} | {f('server_peak_rss_mib')} | {f('server_rss_after_mib')} |")
PY
  stop_server
done
