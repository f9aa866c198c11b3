#!/usr/bin/env bash
# Tandem over the Hocuspocus provider's protocol (/hocuspocus) next to @hocuspocus/server and
# Tandem over y-websocket, measured in the same run: BENCH_REPEAT rounds of bench/run.sh over
# the three systems (the rounds interleave them), then medians and ranges into the
# "Load: Tandem over the Hocuspocus protocol" section of BENCHMARKS.md.
#
#   ./bench/hocuspocus.sh
#   BENCH_REPEAT=5 BENCH_SCENARIOS="f50 f200 d200x5" ./bench/hocuspocus.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
REPEAT=${BENCH_REPEAT:-3}
SCENARIOS=${BENCH_SCENARIOS:-"f50 f200 d200x5"}
OUT=${BENCH_HP_OUT:-$ROOT/target/bench-hocuspocus}

rm -rf "$OUT"
mkdir -p "$OUT"
for round in $(seq 1 "$REPEAT"); do
  echo "[bench] round $round of $REPEAT" >&2
  BENCH_OUT="$OUT/round$round" BENCH_REPORT=0 BENCH_RUNS=1 BENCH_PORT_BASE=$((18400 + 100 * round)) \
    BENCH_SYSTEMS="tandem-sqlite tandem-hocuspocus hocuspocus" BENCH_SCENARIOS="$SCENARIOS" \
    ./bench/run.sh
done
python3 bench/hocuspocus_report.py "$OUT" "$ROOT/BENCHMARKS.md"
