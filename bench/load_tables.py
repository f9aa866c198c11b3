"""The Markdown tables of the "Load" section (bench/report.py): fan-out latency, idle memory,
traced edits, editing throughput, and the targets each system meets.
"""
from results import FANOUT, NAMES, NODE, TANDEM, err_cell, fmt, get, ratio, systems_in


def fanout_table(res, sc, extra_title=""):
    ref = get(res, "tandem-sqlite", sc, "latency_p99_ms")
    rows = [
        "| system | p50 ms | p95 ms | p99 ms | max ms | p99 vs Tandem (SQLite) | deliveries/s "
        "| server CPU µs / delivery | database CPU µs / delivery | server CPU µs / update "
        "| peak RSS MiB | connects/s | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in systems_in(res):
        e = err_cell(res, s, sc)
        if e:
            rows.append(f"| {NAMES[s]} | {e} |" + " |" * 12)
            continue
        g = lambda k: get(res, s, sc, k)
        rss = g("server_peak_rss_kib")
        rows.append(
            f"| {NAMES[s]} | {fmt(g('latency_p50_ms'))} | {fmt(g('latency_p95_ms'))} "
            f"| {fmt(g('latency_p99_ms'))} | {fmt(g('latency_max_ms'))} "
            f"| {ratio(g('latency_p99_ms'), ref)} | {fmt(g('deliveries_per_sec'))} "
            f"| {fmt(g('server_cpu_us_per_delivery'))} | {fmt(g('db_cpu_us_per_delivery'))} "
            f"| {fmt(g('server_cpu_us_per_update'))} "
            f"| {fmt(rss / 1024 if rss else None)} | {fmt(g('connects_per_sec'))} "
            f"| {fmt(g('errors'))} |"
        )
    return "\n".join(rows)


def idle_table(res):
    sc = "idle10k"
    ref = get(res, "tandem-sqlite", sc, "bytes_per_connection")
    rows = [
        "| system | open / 10,000 | errors | bytes / connection | vs Tandem (SQLite) "
        "| bytes / document | RSS with 10k conns MiB | peak RSS MiB | connects/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in systems_in(res):
        e = err_cell(res, s, sc)
        if e:
            rows.append(f"| {NAMES[s]} | {e} |" + " |" * 8)
            continue
        g = lambda k: get(res, s, sc, k)
        rss, hwm = g("server_rss_all_kib"), g("server_peak_rss_kib")
        rows.append(
            f"| {NAMES[s]} | {fmt(g('open_connections'))} | {fmt(g('errors'))} "
            f"| {fmt(g('bytes_per_connection'))} | {ratio(g('bytes_per_connection'), ref)} "
            f"| {fmt(g('bytes_per_document'))} | {fmt(rss / 1024 if rss else None)} "
            f"| {fmt(hwm / 1024 if hwm else None)} | {fmt(g('connects_per_sec'))} |"
        )
    return "\n".join(rows)


def trace_table(res):
    sc = "trace"
    ref = get(res, "tandem-sqlite", sc, "keystrokes_per_sec")
    rows = [
        "| system | keystrokes/s | vs Tandem (SQLite) | updates/s | seconds | readers' text = endContent "
        "| server CPU µs / update | peak RSS MiB | durably stored |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in systems_in(res):
        e = err_cell(res, s, sc)
        if e:
            rows.append(f"| {NAMES[s]} | {e} |" + " |" * 8)
            continue
        g = lambda k: get(res, s, sc, k)
        hwm = g("server_peak_rss_kib")
        rows.append(
            f"| {NAMES[s]} | {fmt(g('keystrokes_per_sec'))} | {ratio(g('keystrokes_per_sec'), ref)} "
            f"| {fmt(g('updates_per_sec'))} | {fmt(g('relay_secs'))} "
            f"| {g('readers_matching_end_content')}/{g('readers')} "
            f"| {fmt(g('server_cpu_us_per_update'))} | {fmt(hwm / 1024 if hwm else None)} "
            f"| {'yes (acked after commit)' if s in TANDEM else 'no (in memory only)'} |"
        )
    return "\n".join(rows)


def edit_table(res):
    rows = [
        "| system | doc size | p50 ms | p99 ms | server CPU µs / edit | CPU 1 MB ÷ 100 KB | peak RSS MiB | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in systems_in(res):
        small = get(res, s, "edit100k", "server_cpu_us_per_update")
        for sc, size in (("edit100k", "100 KB"), ("edit1m", "1 MB")):
            e = err_cell(res, s, sc)
            if e:
                rows.append(f"| {NAMES[s]} | {size} | {e} |" + " |" * 5)
                continue
            g = lambda k: get(res, s, sc, k)
            hwm = g("server_peak_rss_kib")
            growth = ratio(g("server_cpu_us_per_update"), small) if sc == "edit1m" else ""
            rows.append(
                f"| {NAMES[s]} | {size} | {fmt(g('latency_p50_ms'))} | {fmt(g('latency_p99_ms'))} "
                f"| {fmt(g('server_cpu_us_per_update'))} | {growth} "
                f"| {fmt(hwm / 1024 if hwm else None)} | {fmt(g('errors'))} |"
            )
    return "\n".join(rows)


def verdict(ok):
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**missed**"


def targets(res):
    rows = ["| target | system | measured | verdict |", "|---|---|---|---|"]
    for t in [s for s in TANDEM if s in res]:
        n = NAMES[t]
        # CPU per delivered update, in the fan-out scenarios with many receivers.
        for sc, label in (("f50", "1×50"), ("f200", "1×200"), ("f500", "1×500"), ("d200x5", "200×5")):
            v = get(res, t, sc, "server_cpu_us_per_delivery")
            rows.append(
                f"| server CPU ≤ 2 µs per delivered update ({label}) | {n} | {fmt(v)} µs "
                f"| {verdict(None if v is None else v <= 2.0)} |"
            )
        for sc, label in [(s, f"1×{c}") for s, c in FANOUT] + [("d200x5", "200×5"), ("edit100k", "edits 100 KB"), ("edit1m", "edits 1 MB")]:
            v = get(res, t, sc, "latency_p99_ms")
            others = [get(res, o, sc, "latency_p99_ms") for o in NODE if o in res]
            others = [o for o in others if o is not None]
            ok = None
            if v is not None and others:
                ok = all(v <= o for o in others)
            shown = f"{fmt(v)} ms vs " + ", ".join(
                f"{NAMES[o]} {fmt(get(res, o, sc, 'latency_p99_ms'))}" for o in NODE if o in res
            )
            rows.append(f"| p99 ≤ both Node servers ({label}) | {n} | {shown} | {verdict(ok)} |")
        v = get(res, t, "f500", "latency_p99_ms")
        rows.append(f"| p99 < 10 ms at 1×500 | {n} | {fmt(v)} ms | {verdict(None if v is None else v < 10)} |")
        v = get(res, t, "idle10k", "bytes_per_connection")
        rows.append(
            f"| ≤ 4 KiB per idle connection | {n} | {fmt(v)} B | {verdict(None if v is None else v <= 4096)} |"
        )
        v = get(res, t, "idle10k", "bytes_per_document")
        rows.append(
            f"| < 8 KiB per loaded small document | {n} | {fmt(v)} B | {verdict(None if v is None else v < 8192)} |"
        )
        for sc, label in (("idle10k", "10,000 idle connections"), ("d200x5", "200×5")):
            v = get(res, t, sc, "errors")
            rows.append(f"| {label} without errors | {n} | {fmt(v)} errors | {verdict(None if v is None else v == 0)} |")
        v = get(res, t, "trace", "keystrokes_per_sec")
        ok = get(res, t, "trace", "verified")
        rows.append(
            f"| trace replay ≥ 20,000 keystrokes/s, persisted, verified | {n} | {fmt(v)} keys/s, verified: {fmt(ok)} "
            f"| {verdict(None if v is None else (v >= 20000 and bool(ok)))} |"
        )
    return "\n".join(rows)
