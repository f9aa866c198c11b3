#!/usr/bin/env python3
"""Medians and ranges of bench/hocuspocus.sh rounds, written to BENCHMARKS.md.

usage: hocuspocus_report.py RESULTS_DIR BENCHMARKS.md

RESULTS_DIR holds round1/, round2/, ... as written by bench/run.sh. Only the text between
the `<!-- hocuspocus:begin -->` and `<!-- hocuspocus:end -->` markers is replaced (appended
at the end when they are missing).
"""
import json
import os
import sys

from results import NAMES, cell, fmt, versions

SYSTEMS = ["tandem-sqlite", "tandem-hocuspocus", "hocuspocus"]
TITLES = {"f2": "1 document × 2 clients", "f50": "1 document × 50 clients",
          "f200": "1 document × 200 clients", "f500": "1 document × 500 clients",
          "d200x5": "200 documents × 5 clients"}
BEGIN, END = "<!-- hocuspocus:begin -->", "<!-- hocuspocus:end -->"


def rounds(out):
    return sorted(d for d in os.listdir(out) if d.startswith("round"))


def result(out, rnd, system, sc):
    try:
        with open(os.path.join(out, rnd, system, sc + ".json")) as fh:
            lines = [l for l in fh.read().splitlines() if l.strip()]
        r = json.loads(lines[-1])
        return None if "error" in r else r
    except (OSError, ValueError, IndexError):
        return None


def main(out, bench_md):
    rs = rounds(out)
    scenarios = []
    for sc in TITLES:
        if any(result(out, r, s, sc) for r in rs for s in SYSTEMS):
            scenarios.append(sc)
    v = versions(os.path.join(out, rs[0])) if rs else {}
    m = [BEGIN, "### Load: Tandem over the Hocuspocus protocol", ""]
    m.append(
        f"Produced by `./bench/hocuspocus.sh`: {len(rs)} rounds of `bench/run.sh` over three systems, "
        "each round starting a fresh server per scenario; every cell is the median of the rounds "
        "with the range (min–max) in brackets. *Tandem (SQLite) over /hocuspocus* is the same server "
        "and database as *Tandem (SQLite)*, with `tandem-loadgen --hocuspocus` speaking the provider's "
        "framing (auth first, document name in every frame) to `/hocuspocus`; @hocuspocus/server "
        "keeps documents in memory only, while Tandem commits every update before relaying it and "
        "sends the sync status only after the commit."
    )
    m.append("")
    m.append(
        f"- Machine: {v.get('nproc', '?')} cores, {v.get('cpu', '?')}; run {v.get('date', '?')}; "
        f"Tandem git {v.get('git', '?')}, @hocuspocus/server {v.get('hocuspocus', '?')}, Node {v.get('node', '?')}. "
        "The machine was shared with other builds during the run, so the ranges are wide; compare "
        "systems within a round, not with the tables above. *errors* counts updates a client "
        "did not receive before the run ended, failed connects and unexpected closes (and rounds "
        "that failed), summed over the rounds."
    )
    m.append("")
    for sc in scenarios:
        m.append(f"#### {TITLES[sc]} (2 updates/s per client)")
        m.append("")
        m.append("| system | p50 ms | p99 ms | server CPU µs / delivery | peak RSS MiB | errors (all rounds) |")
        m.append("|---|---:|---:|---:|---:|---:|")
        for s in SYSTEMS:
            rows = [result(out, r, s, sc) for r in rs]
            ok = [r for r in rows if r]
            if not ok:
                m.append(f"| {NAMES[s]} | not run | | | | |")
                continue
            g = lambda k: [r.get(k) for r in ok]
            rss = [x / 1024 if x else None for x in g("server_peak_rss_kib")]
            errors = sum(r.get("errors") or 0 for r in ok) + (len(rows) - len(ok))
            m.append(
                f"| {NAMES[s]} | {cell(g('latency_p50_ms'))} | {cell(g('latency_p99_ms'))} "
                f"| {cell(g('server_cpu_us_per_delivery'))} | {cell(rss)} | {fmt(errors)} |"
            )
        m.append("")
    m.append(END)
    text = "\n".join(m)

    with open(bench_md) as fh:
        doc = fh.read()
    if BEGIN in doc and END in doc:
        a, b = doc.index(BEGIN), doc.index(END) + len(END)
        doc = doc[:a] + text + doc[b:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    with open(bench_md, "w") as fh:
        fh.write(doc)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
