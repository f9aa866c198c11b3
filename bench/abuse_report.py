#!/usr/bin/env python3
"""Turns bench/abuse.sh results into the Markdown table of BENCHMARKS.md: per pattern, the
median over the runs and, in brackets, the range (lowest-highest).

usage: abuse_report.py RESULTS_DIR RUNS PATTERN...
"""
import json
import os
import statistics as st
import sys

out, runs, patterns = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
SYNC_P99_MS, HEALTH_P99_MS = 100.0, 50.0
# The names of patterns whose loadgen name says less.
NAMES = {"api-memory": "HTTP-API memory (api-memory)", "preauth-bodies": "pre-auth bodies (preauth-bodies)",
         "spread-flood": "multi-connection flood (spread-flood)"}


def result(p, run):
    try:
        with open(os.path.join(out, f"{p}-{run}.json")) as f:
            r = json.loads(f.read().strip().splitlines()[-1])
        with open(os.path.join(out, f"{p}-{run}.load")) as f:
            r["load1"] = float(f.read().strip())
        return r
    except (OSError, ValueError, IndexError):
        return None


def spread(values, digits=1):
    vs = [v for v in values if v is not None]
    if not vs:
        return "-"
    med = f"{st.median(vs):,.{digits}f}"
    return med if len(vs) == 1 else f"{med} ({min(vs):,.{digits}f}-{max(vs):,.{digits}f})"


died = open(os.path.join(out, "died.txt")).read().split() if os.path.exists(os.path.join(out, "died.txt")) else []
print("| pattern | runs | attack msgs | refused | closed | probe syncs (failed) | probe sync p99 ms | "
      "/healthz p99 ms | /healthz failed | /healthz recovery ms | peak RSS MiB | RSS after MiB | load avg | within 100 / 50 ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
peaks, loads, all_ok = [], [], True
for p in patterns:
    rs = [r for r in (result(p, i) for i in range(1, runs + 1)) if r]
    if not rs:
        print(f"| {p} | 0 | | | | | | | | | | | | no result |")
        all_ok = False
        continue
    col = lambda k: [r.get(k) for r in rs]
    ok = all(
        (r.get("probe_sync_p99_ms") or 1e9) < SYNC_P99_MS and (r.get("healthz_p99_ms") or 1e9) < HEALTH_P99_MS
        and r.get("probe_sync_failures", 1) == 0 and r.get("healthz_failures", 1) == 0
        for r in rs)
    all_ok &= ok
    worst_sync = max((r.get("probe_sync_p99_ms") or 0) for r in rs)
    worst_health = max((r.get("healthz_p99_ms") or 0) for r in rs)
    verdict = "yes" if ok else f"**no** (worst {worst_sync:,.0f} / {worst_health:,.0f} ms)"
    if p in died:
        verdict += ", **server died**"
    peaks += [v for v in col("server_peak_rss_mib") if v is not None]
    loads += col("load1")
    print(f"| {NAMES.get(p, p)} | {len(rs)} | {spread(col('attack_messages'), 0)} | {spread(col('attack_refusals'), 0)} | "
          f"{spread(col('attack_closes'), 0)} | "
          f"{spread(col('probe_syncs'), 0)} ({sum(col('probe_sync_failures'))}) | "
          f"{spread(col('probe_sync_p99_ms'))} | {spread(col('healthz_p99_ms'))} | "
          f"{sum(col('healthz_failures'))} | {spread(col('healthz_recovery_ms'), 0)} | "
          f"{spread(col('server_peak_rss_mib'), 0)} | "
          f"{spread(col('server_rss_after_mib'), 0)} | {spread(col('load1'))} | {verdict} |")
nproc = open(os.path.join(out, "nproc")).read().strip() if os.path.exists(os.path.join(out, "nproc")) else "?"
print(f"\nHighest peak RSS of any run: {max(peaks):.0f} MiB. 1-minute load average after the runs "
      f"({nproc} cores): median {st.median(loads):.1f}, {min(loads):.1f}-{max(loads):.1f}. "
      f"Every pattern within both bounds in every run: {'yes' if all_ok else 'no'}.")


def bus_counts(run):
    """Frames the server rejected in one `bus` run, and the warning lines it wrote for them."""
    try:
        with open(os.path.join(out, f"bus-{run}.rejected")) as f:
            rejected = sum(float(line.split()[-1]) for line in f if line.strip())
        with open(os.path.join(out, f"bus-{run}.loglines")) as f:
            lines = int(f.read().strip() or 0)
        return rejected, lines
    except (OSError, ValueError):
        return None


if "bus" in patterns:
    counts = [c for c in (bus_counts(i) for i in range(1, runs + 1)) if c]
    if counts:
        print(f"\nPattern bus: forged frames the server dropped "
              f"(tandem_bus_frames_rejected_total) {spread([c[0] for c in counts], 0)}, "
              f"warning lines it wrote about them {spread([c[1] for c in counts], 0)}.")

