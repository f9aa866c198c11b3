#!/usr/bin/env bash
# Following changes (issue 22): the change feed and webhooks against the typing side, on a
# release build, SQLite, one instance, every client on 127.0.0.1.
#   1. bench/feed_latency.mjs: FEED_READERS (1000) SSE readers on FEED_DOCS (100) documents
#      typed into (one commit per document every 100 ms); FEED_ROUNDS (3) rounds of "with
#      readers" then "without readers", FEED_SECONDS (20) of typing each, in one server.
#      Commit to event p50/p99, the typing POSTs' p50/p99 with and without the readers,
#      memory per reader (RSS difference / readers).
#   2. bench/webhook_throughput.mjs, once per WEBHOOK_DEBOUNCES ("2000 50", ms): one change
#      to each of WEBHOOK_DOCS (1000) documents, a local receiver verifying every signature;
#      deliveries per second, commit to delivery p50/p99, the POSTs with and without the
#      endpoint.
# About 3.5 minutes at the defaults (plus the release build when needed). Results (JSON) go to BENCH_OUT (target/bench-feed/<time>),
# then a Markdown table on stdout (bench/feed_report.py).
#
#   ./bench/feed.sh
#   FEED_SECONDS=5 FEED_ROUNDS=1 WEBHOOK_DOCS=200 ./bench/feed.sh    # a short check
#   BENCH_BUILD=0 TANDEM_BIN=/path/to/tandem ./bench/feed.sh          # a given binary
#
# Needs: cargo, node >= 20, python3; npm ci runs in tests/e2e (yjs) and tests/interop
# (standardwebhooks) when their node_modules are missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export TANDEM_BIN=${TANDEM_BIN:-$ROOT/target/release/tandem}
OUT=${BENCH_OUT:-$ROOT/target/bench-feed/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
if [ "${BENCH_BUILD:-1}" = 1 ]; then cargo build --release -p tandem; fi
for d in tests/e2e tests/interop; do
  [ -d "$d/node_modules" ] || (cd "$d" && npm ci --prefer-offline --no-audit --no-fund)
done

{
  echo "{\"started\": \"$(date -u +%FT%TZ)\", \"git\": \"$(git rev-parse --short HEAD)\","
  echo " \"cpus\": $(nproc), \"loadavg_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
} > "$OUT/meta.json"
echo "feed: ${FEED_READERS:-1000} readers, ${FEED_DOCS:-100} documents, ${FEED_ROUNDS:-3} x (with, without) x ${FEED_SECONDS:-20} s" >&2
timeout 600 node bench/feed_latency.mjs > "$OUT/feed.json"
for ms in ${WEBHOOK_DEBOUNCES:-2000 50}; do
  echo "webhooks: ${WEBHOOK_DOCS:-1000} documents, --webhook-debounce-ms $ms" >&2
  WEBHOOK_DEBOUNCE_MS=$ms timeout 300 node bench/webhook_throughput.mjs > "$OUT/webhook-$ms.json" ||
    echo "webhooks, debounce $ms ms: not every change was delivered (or the run failed): see $OUT/webhook-$ms.json" >&2
done
python3 - "$OUT/meta.json" <<PY
import json, sys
m = json.load(open(sys.argv[1]))
m["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
json.dump(m, open(sys.argv[1], "w"))
PY
echo "results: $OUT" >&2
python3 bench/feed_report.py "$OUT"
