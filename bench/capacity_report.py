#!/usr/bin/env python3
"""Turns bench/capacity.sh's runs into the "Capacity on one core" part of BENCHMARKS.md.

usage: capacity_report.py RESULTS_DIR BENCHMARKS.md   (or - : print the section instead)

Each system ran `tandem-loadgen capacity` several times, interleaved with the others. For
every system this reports the median of the runs' highest sustained deliveries/s with its
range, and from the median run: the rate and p99 at that step, what failed at the next
one, and the CPU per delivery there (the server's; on PostgreSQL also its database's, and
both together). Only the text between `<!-- capacity:begin -->` and `<!-- capacity:end -->`
is replaced (inserted before "### Latency" when the markers are missing).
"""
import json
import os
import re
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
BEGIN, END = "<!-- capacity:begin -->", "<!-- capacity:end -->"


def runs(out, system):
    d = os.path.join(out, system)
    found = []
    if not os.path.isdir(d):
        return found
    for f in sorted(os.listdir(d), key=lambda f: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", f)]):
        if not re.fullmatch(r"cap\.\d+\.json", f):
            continue
        try:
            with open(os.path.join(d, f)) as fh:
                lines = [l for l in fh.read().splitlines() if l.strip()]
            found.append(json.loads(lines[-1]) if lines else {"error": "no output"})
        except (OSError, ValueError) as e:
            found.append({"error": str(e)})
    return found


def summarise(out, system):
    rs = runs(out, system)
    if not rs:
        return None
    ok = [r for r in rs if "error" not in r and r.get("capacity_deliveries_per_sec") is not None]
    s = {"runs": len(rs), "failed": len(rs) - len(ok), "all": [r.get("capacity_deliveries_per_sec") for r in rs]}
    if not ok:
        first = next((r for r in rs if "error" in r), rs[0])
        s["error"] = first.get("error") or (first.get("lowest_failure") or {}).get("why") or "no step passed"
        return s
    ok.sort(key=lambda r: r["capacity_deliveries_per_sec"])
    med = ok[(len(ok) - 1) // 2]
    caps = [r["capacity_deliveries_per_sec"] for r in ok]
    s.update(
        {
            "median": statistics.median(caps),
            "min": min(caps),
            "max": max(caps),
            "run": med,
            "loadgen_max": max((r.get("capacity_loadgen_cpu_share") or 0) for r in ok),
        }
    )
    return s


def cap_cell(s):
    if s is None:
        return "not run"
    if "error" in s:
        return "FAILED: " + str(s["error"])[:60]
    cell = f"**{fmt(s['median'])}**"
    if s["runs"] > 1:
        cell += f" ({fmt(s['min'])}–{fmt(s['max'])})"
    if s["failed"]:
        cell += f", {s['failed']} of {s['runs']} runs failed"
    return cell


def bars(rows):
    best = max((s["median"] for _, s in rows), default=0)
    if not best:
        return []
    unit = best / 40
    width = max(len(name) for name, _ in rows)
    out = ["```", f"deliveries/s sustained on one core, median (# = {fmt(unit)})"]
    for name, s in rows:
        out.append(f"{name:<{width}} {'#' * max(1, round(s['median'] / unit))} {fmt(s['median'])}")
    out.append("```")
    return out


def section(out):
    v = versions(out)
    summaries = [(sys_, name, dur, summarise(out, sys_)) for sys_, name, dur in SYSTEMS]
    summaries = [t for t in summaries if t[3] is not None]
    m = [BEGIN, "### Capacity on one core", ""]
    m.append(
        f"Highest sustained deliveries/s, {v.get('shape', '100 x 5').replace(' x ', ' documents × ')} "
        f"clients, the server pinned to one core and the load generator to the other: the update "
        f"rate rises until a step's p99 passes {v.get('p99_limit_ms', '50')} ms or a delivery is "
        f"missing ([method](#capacity-on-one-core-how-it-is-measured)). Median of "
        f"{v.get('runs', '?')} interleaved runs (range); run {v.get('date', '?')}, Tandem git "
        f"{v.get('git', '?')}, {v.get('wall_secs', '?')} s in all; load average before "
        f"{v.get('uptime_before', '?')}, after {v.get('uptime_after', '?')}."
    )
    m.append("")
    m.append(
        "| system | durability | deliveries/s sustained | per run | updates/s per client there "
        "| p99 ms there | lowest failing rate: why |"
    )
    m.append("|---|---|---:|---|---:|---:|---|")
    for _, name, dur, s in summaries:
        r = s.get("run") or {}
        fail = (r.get("lowest_failure") or {}) if r else {}
        why = fail.get("why") or ("no step failed (raise --max-steps)" if r else "")
        if fail.get("rate_per_client") is not None:
            why = f"{fmt(fail['rate_per_client'])}/s: {why}"
        per_run = ", ".join(fmt(x) for x in s["all"]) if "error" not in s else ""
        m.append(
            f"| {name} | {dur} | {cap_cell(s)} | {per_run} | {fmt(r.get('capacity_rate_per_client'))} "
            f"| {fmt(r.get('capacity_p99_ms'))} | {why} |"
        )
    m.append("")
    m += bars([(f"{name} {dur}", s) for _, name, dur, s in summaries if "median" in s])
    m.append("")
    m.append(
        "CPU per delivery at that step (median run). *Database* = the PostgreSQL backends of the "
        "run's database; *background* = the cluster's WAL writer, checkpointer and background "
        "writer (they flush what Tandem commits); PostgreSQL is not pinned, so Tandem on "
        "PostgreSQL has more than one core in all. *Server core busy* is the server's CPU ÷ wall "
        "time (1.00 = its core saturated; well below it, the limit was latency: the commit path, "
        "or other processes on that core); a load generator near 1.00 would mean the figure is "
        "the load generator's limit, not the server's."
    )
    m.append("")
    m.append(
        "| system | durability | server µs / delivery | database µs / delivery | background µs / delivery "
        "| server + database µs / delivery | server core busy | load generator core busy |"
    )
    m.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for key, name, dur, s in summaries:
        r = s.get("run")
        if not r:
            continue
        server = r.get("capacity_server_cpu_us_per_delivery")
        db, bg = r.get("capacity_db_cpu_us_per_delivery"), r.get("capacity_db_background_cpu_us_per_delivery")
        both = fmt(r.get("capacity_server_and_db_cpu_us_per_delivery"))
        if key.startswith("tandem-sqlite"):
            # SQLite runs inside Tandem's process: the server's CPU already holds it.
            db_cell, bg_cell, both = "in the server", "in the server", fmt(server)
        else:
            db_cell, bg_cell = fmt(db), fmt(bg)
        m.append(
            f"| {name} | {dur} | {fmt(server)} | {db_cell} | {bg_cell} | {both} "
            f"| {fmt(r.get('capacity_server_cpu_share'))} | {fmt(r.get('capacity_loadgen_cpu_share'))} |"
        )
    busy = [f"{name} {dur}" for _, name, dur, s in summaries if s.get("loadgen_max", 0) >= 0.9]
    if busy:
        m.append("")
        m.append(
            "**Caveat:** the load generator's core was at least 90 % busy at the capacity step "
            "in some run of: " + ", ".join(busy) + "; those figures may be the load generator's limit."
        )
    m.append("")
    m.append(END)
    return "\n".join(m)


def main():
    out, md = sys.argv[1:3]
    text = section(out)
    if md == "-":
        print(text)
        return
    old = ""
    if os.path.exists(md):
        with open(md) as fh:
            old = fh.read()
    if BEGIN in old and END in old:
        pre, rest = old.split(BEGIN, 1)
        _, post = rest.split(END, 1)
        new = pre + text + post
    elif "### Latency" in old:
        pre, post = old.split("### Latency", 1)
        new = pre + text + "\n\n### Latency" + post
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    with open(md, "w") as fh:
        fh.write(new)


if __name__ == "__main__":
    main()
