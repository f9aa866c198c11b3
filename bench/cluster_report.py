#!/usr/bin/env python3
"""Turns bench/cluster.sh's runs into a table: per instance count, the median over the runs
(and the range) of p50 and p99 delivery latency, of the same for deliveries that crossed
from one instance to another, and of server CPU per delivery (summed over the instances).

usage: cluster_report.py RESULTS_DIR "INSTANCE COUNTS" [BENCHMARKS.md]

Prints the section; with BENCHMARKS.md, also replaces the text between
`<!-- cluster:begin -->` and `<!-- cluster:end -->` there (appended when missing).
"""
import json
import os
import re
import sys

from results import cell, fmt, versions

BEGIN, END = "<!-- cluster:begin -->", "<!-- cluster:end -->"


def runs(out, n):
    found = []
    for f in sorted(os.listdir(out)):
        if not re.fullmatch(rf"n{n}\.\d+\.json", f):
            continue
        try:
            with open(os.path.join(out, f)) as fh:
                lines = [l for l in fh.read().splitlines() if l.strip()]
            found.append(json.loads(lines[-1]) if lines else {"error": "no output"})
        except (OSError, ValueError) as e:
            found.append({"error": str(e)})
    return found


def section(out, counts):
    v = versions(out)
    lines = [BEGIN, "## Several instances", ""]
    lines.append(
        f"Produced by `bench/cluster.sh`: `{v.get('scenario', '?')}` against 1, 2 and 3 "
        "Tandem instances on one PostgreSQL server, with a private `nats-server` between them "
        "(1 = a plain single instance, no NATS). Each document's clients sit on the instances "
        "in turn, so with 3 clients per document most deliveries cross from one instance to "
        f"another (\"cross\"). {v.get('runs', '?')} runs per configuration, interleaved, each on "
        "a fresh database; the table shows the median of the runs with their range. CPU is "
        "the instances' summed CPU time per delivery (PostgreSQL and NATS not included). "
        f"Build {v.get('build', '?')}; load generator pinned: {v.get('pinned', '?')}. Run "
        f"{v.get('date', '?')}, Tandem git {v.get('git', '?')}, NATS {v.get('nats', '?')}, "
        f"PostgreSQL {v.get('postgres', '?')}; load average before {v.get('load_before', '?')}, "
        f"after {v.get('load_after', '?')}."
    )
    lines.append("")
    lines.append(
        "| instances | p50 ms | p99 ms | cross p50 ms | cross p99 ms | server CPU µs / delivery "
        "| deliveries / s | errors |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in counts:
        rs = runs(out, n)
        ok = [r for r in rs if "error" not in r]
        failed = len(rs) - len(ok)
        note = f" ({failed} of {len(rs)} runs failed)" if failed else ""
        if not ok:
            lines.append(f"| {n}{note} | – | – | – | – | – | – | – |")
            continue
        col = lambda k: cell([r.get(k) for r in ok])
        errors = sum(r.get("errors") or 0 for r in ok)
        lines.append(
            f"| {n}{note} | {col('latency_p50_ms')} | {col('latency_p99_ms')} "
            f"| {col('cross_latency_p50_ms')} | {col('cross_latency_p99_ms')} "
            f"| {col('server_cpu_us_per_delivery')} | {col('deliveries_per_sec')} | {errors} |"
        )
    lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main():
    out, counts = sys.argv[1], sys.argv[2].split()
    target = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    text = section(out, counts)
    print(text)
    if not target:
        return
    with open(target) as fh:
        doc = fh.read()
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + text + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    with open(target, "w") as fh:
        fh.write(doc)


if __name__ == "__main__":
    main()
