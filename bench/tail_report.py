#!/usr/bin/env python3
"""Turns bench/run.sh's repeated runs into the "Tail latency" section of BENCHMARKS.md.

usage: tail_report.py RESULTS_DIR BENCHMARKS.md "SCENARIOS"

Each system ran every scenario several times, interleaved with the others. For every
scenario and system this reports the median of the runs' p99 and its range, and copies the
median run to SCENARIO.json for report.py. Only the text between `<!-- tail:begin -->` and
`<!-- tail:end -->` is replaced (inserted before the Load section when missing).
"""
import json
import os
import re
import shutil
import statistics
import sys

from results import fmt, versions

SYSTEMS = [
    ("tandem-sqlite", "Tandem (SQLite)", "process"),
    ("tandem-sqlite-disk", "Tandem (SQLite)", "disk"),
    ("tandem-postgres", "Tandem (PostgreSQL)", "process"),
    ("tandem-postgres-disk", "Tandem (PostgreSQL)", "disk"),
    ("y-websocket-server", "@y/websocket-server", "memory only"),
    ("hocuspocus", "@hocuspocus/server", "memory only"),
]
PEERS = ["y-websocket-server", "hocuspocus"]
TITLES = {
    "f2": "1 document × 2 clients, 2 updates/s each",
    "f100r5": "1 document × 100 clients, 5 updates/s each",
    "d100x5": "100 documents × 5 clients, 2 updates/s each",
    "d200x5": "200 documents × 5 clients, 2 updates/s each",
}
BEGIN, END = "<!-- tail:begin -->", "<!-- tail:end -->"


def runs(out, system, sc):
    d = os.path.join(out, system)
    found = []
    if not os.path.isdir(d):
        return found
    for f in sorted(os.listdir(d)):
        m = re.fullmatch(re.escape(sc) + r"\.(\d+)\.json", f)
        if not m:
            continue
        path = os.path.join(d, f)
        try:
            with open(path) as fh:
                lines = [l for l in fh.read().splitlines() if l.strip()]
            r = json.loads(lines[-1]) if lines else {"error": "no output"}
        except (OSError, ValueError) as e:
            r = {"error": str(e)}
        found.append((path, r))
    return found


def summarise(out, system, sc):
    rs = runs(out, system, sc)
    ok = [(p, r) for p, r in rs if "error" not in r and r.get("latency_p99_ms") is not None]
    if not ok:
        return None if not rs else {"failed": len(rs)}
    ok.sort(key=lambda pr: pr[1]["latency_p99_ms"])
    median_path = ok[(len(ok) - 1) // 2][0]
    shutil.copyfile(median_path, os.path.join(out, system, sc + ".json"))
    med = lambda k: statistics.median(r[k] for _, r in ok if r.get(k) is not None) if any(
        r.get(k) is not None for _, r in ok) else None
    p99s = [r["latency_p99_ms"] for _, r in ok]
    return {
        "runs": len(rs),
        "failed": len(rs) - len(ok),
        "p50": med("latency_p50_ms"),
        "p99": statistics.median(p99s),
        "p99_min": min(p99s),
        "p99_max": max(p99s),
        "p99_all": [r["latency_p99_ms"] for _, r in sorted(ok, key=lambda pr: pr[0])],
        "cpu": med("server_cpu_us_per_delivery"),
        # PostgreSQL runs: its backends' CPU, and Tandem's plus the database's (backends and
        # the cluster's WAL writer, checkpointer and background writer).
        "db_cpu": med("db_cpu_us_per_delivery"),
        "all_cpu": med("server_and_db_cpu_us_per_delivery"),
        "errors": sum(r.get("errors") or 0 for _, r in ok),
        "delivered": all(r.get("all_delivered", True) for _, r in ok),
    }


def failed_note(s):
    return "" if s["failed"] == 0 else f" ({s['failed']} runs failed)"


def section(out, scenarios):
    v = versions(out)
    m = [BEGIN, "## Tail latency: Tandem against the in-memory servers", ""]
    m.append(
        f"Produced by `bench/run.sh` ({v.get('runs', '?')} runs of every system, interleaved; a "
        "fresh server and database per run). The table shows the median of the runs' p99 with "
        "the range over the runs, the median p50 and the median server CPU per delivery; on "
        "PostgreSQL also the database's (its backends for the run's database) and both together "
        "(plus the cluster's WAL writer, checkpointer and background writer). "
        f"Load generator pinned: {v.get('pinned', '?')} (servers on the other core). "
        f"Run {v.get('date', '?')}, Tandem git {v.get('git', '?')}; load average before "
        f"{v.get('uptime_before', '?')}, after {v.get('uptime_after', '?')}."
    )
    m.append("")
    m.append(
        "Durability: `process` = the default (`--durability process`: SQLite "
        "`synchronous=NORMAL`, PostgreSQL `synchronous_commit=off` per append; survives `kill "
        "-9` of Tandem), `disk` = `--durability disk` (every commit flushed; also survives an "
        "OS crash). The Node servers keep documents in memory only."
    )
    m.append("")
    for sc in scenarios:
        if sc not in TITLES:
            continue
        rows = []
        sums = {}
        for key, name, dur in SYSTEMS:
            s = summarise(out, key, sc)
            if s is None:
                continue
            sums[key] = s
            if "p99" not in s:
                rows.append(f"| {name} | {dur} | failed ({s['failed']} runs) | | | | | | | |")
                continue
            rows.append(
                f"| {name} | {dur} | {fmt(s['p50'])} | **{fmt(s['p99'])}** "
                f"| {fmt(s['p99_min'])}–{fmt(s['p99_max'])} "
                f"| {', '.join(fmt(x) for x in s['p99_all'])} | {fmt(s['cpu'])} "
                f"| {fmt(s['db_cpu'])} | {fmt(s['all_cpu'])} | {s['errors']}{failed_note(s)} |"
            )
        if not rows:
            continue
        m.append(f"### {TITLES[sc]}")
        m.append("")
        m.append(
            "| system | durability | p50 ms | p99 ms (median) | p99 range | p99 per run "
            "| server CPU µs / delivery | database CPU µs / delivery | server + database µs / delivery | errors |"
        )
        m.append("|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
        m.extend(rows)
        best = [sums[p]["p99"] for p in PEERS if p in sums and "p99" in sums[p]]
        if best:
            b = min(best)
            verdicts = []
            for key, name, dur in SYSTEMS[:4]:
                s = sums.get(key)
                if s and "p99" in s:
                    verdicts.append(
                        f"{name} {dur}: {fmt(s['p99'])} ms vs {fmt(b)} ms, "
                        f"{'met' if s['p99'] <= b else 'missed'}"
                    )
            m.append("")
            m.append("Goal (median p99 ≤ the best Node server's): " + "; ".join(verdicts) + ".")
        m.append("")
    m.append(END)
    return "\n".join(m)


def main():
    out, md, scenarios = sys.argv[1], sys.argv[2], sys.argv[3].split()
    text = section(out, scenarios)
    old = open(md).read() if os.path.exists(md) else "# Benchmarks\n"
    if BEGIN in old and END in old:
        pre, rest = old.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        new = pre + text + post
    elif "<!-- load:begin -->" in old:
        pre, post = old.split("<!-- load:begin -->", 1)
        new = pre + text + "\n\n<!-- load:begin -->" + post
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    with open(md, "w") as fh:
        fh.write(new)


if __name__ == "__main__":
    main()
