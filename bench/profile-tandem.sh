#!/usr/bin/env bash
# Profiles the Tandem server (SQLite) with perf while tandem-loadgen drives one scenario.
#   ./bench/profile-tandem.sh edits    # 2 clients x 100 edits/s: per-update persistence cost
#   ./bench/profile-tandem.sh trace    # pipelined trace replay (50,000 keystrokes)
#   ./bench/profile-tandem.sh fanout   # 1 doc x 200 clients: relay cost
#   ./bench/profile-tandem.sh docs     # 100 docs x 5 clients x 2/s: CPU per delivered update
#   ./bench/profile-tandem.sh capacity # 100 docs x 5 clients x 20/s, the server pinned to core 0
#                                      # and the load generator to core 1: what limits capacity
#                                      # (PROFILE_RATE sets the rate; just under the capacity step)
# Writes target/bench/perf-<scenario>.txt (perf report, callers folded).
set -euo pipefail
# The load clients all come from this host: lift Tandem's limits per client address.
# shellcheck source=bench/lift-limits.sh
. "$(dirname "$0")/lift-limits.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SC=${1:-edits}
PORT=${BENCH_PROFILE_PORT:-18390}
OUT=$ROOT/target/bench
mkdir -p "$OUT"
cargo build --release -p tandem -p tandem-loadgen >&2
DATA=$(mktemp -d)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
# The capacity scenario pins as bench/capacity.sh does: the server alone on core 0.
SERVER_PIN=() LG_PIN=()
if [ "$SC" = capacity ]; then SERVER_PIN=(taskset -c 0) LG_PIN=(taskset -c 1); fi
"${SERVER_PIN[@]}" target/release/tandem serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$DATA/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
case "$SC" in
  edits)  ARGS="fanout --docs 1 --clients 2 --rate 100 --duration 8" ;;
  trace)  ARGS="trace --readers 2 --limit 50000" ;;
  fanout) ARGS="fanout --docs 1 --clients 200 --rate 2 --duration 8" ;;
  docs)   ARGS="fanout --docs 100 --clients 5 --rate 2 --duration 10" ;;
  capacity) ARGS="fanout --docs 100 --clients 5 --rate ${PROFILE_RATE:-20} --duration 10" ;;
  *) echo "unknown scenario $SC" >&2; exit 2 ;;
esac
perf record -F 999 -g -o "$OUT/perf-$SC.data" -p "$PID" >/dev/null 2>&1 &
PERF=$!
# shellcheck disable=SC2086
"${LG_PIN[@]}" target/release/tandem-loadgen --url "ws://127.0.0.1:$PORT/ws/{doc}" --server-pid "$PID" $ARGS
kill -INT $PERF; wait $PERF 2>/dev/null || true
perf report -i "$OUT/perf-$SC.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
  | grep -v '^$' | head -200 >"$OUT/perf-$SC.txt"
perf report -i "$OUT/perf-$SC.data" --children --sort symbol --stdio -g none 2>/dev/null \
  | grep -v '^$' | head -120 >"$OUT/perf-$SC-children.txt"
echo "wrote $OUT/perf-$SC.txt and $OUT/perf-$SC-children.txt" >&2
