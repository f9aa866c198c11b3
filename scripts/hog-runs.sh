#!/usr/bin/env bash
# The suite under load, as issue 25 asks: N clean clones of COMMIT in a row, each run with
# `CI=true bash .ci/run` while two CPU hogs (`yes >/dev/null`) run, stopping at the first
# failure. Logs and a one-line summary per run go to OUT (default /tmp/tandem-hog-runs).
#   scripts/hog-runs.sh [COMMIT] [N]      # defaults: HEAD, 5
# A run takes about 12 minutes on the 2-core machine with nothing else running; run nothing
# else beside it, or the load is not the one the figures in docs/testing.md describe.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMMIT=$(git -C "$ROOT" rev-parse --short "${1:-HEAD}")
N=${2:-5}
OUT=${OUT:-/tmp/tandem-hog-runs}
mkdir -p "$OUT"
for i in $(seq 1 "$N"); do
  dir=$(mktemp -d /tmp/tandem-hog-clone.XXXXXX)
  git clone -q "$ROOT" "$dir" && git -C "$dir" checkout -q "$COMMIT"
  yes >/dev/null & h1=$!
  yes >/dev/null & h2=$!
  start=$SECONDS
  (cd "$dir" && CI=true bash .ci/run) >"$OUT/run-$i.log" 2>&1
  rc=$?
  kill "$h1" "$h2"
  echo "run $i commit $COMMIT rc=$rc secs=$((SECONDS - start)) load=$(cut -d' ' -f1-3 /proc/loadavg) $(tail -1 "$OUT/run-$i.log")" | tee -a "$OUT/summary.txt"
  rm -rf "$dir"
  [[ $rc -eq 0 ]] || exit "$rc"
done
