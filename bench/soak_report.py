#!/usr/bin/env python3
"""Turns bench/soak.sh results into a Markdown section (printed) and an SVG chart of the
server's memory over time.

usage: soak_report.py RESULTS_DIR LOAD_SECONDS SAMPLE_SECONDS CHART.svg
"""
import csv
import glob
import json
import os
import re
import statistics as st
import sys

out, load_secs, sample_secs, chart = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = []
with open(os.path.join(out, "samples.csv")) as f:
    for r in csv.DictReader(f):
        rows.append({k: (float(v) if v not in ("", None) else None) for k, v in r.items()})
load_end = int(open(os.path.join(out, "load_end")).read())
nproc = open(os.path.join(out, "nproc")).read().strip()
mib = lambda kib: kib / 1024.0


def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def numbered(pattern):
    """Results of the rounds named like reconnect-3-sse.json, in round order."""
    found = []
    for path in glob.glob(os.path.join(out, pattern)):
        m = re.search(r"-(\d+)(?:-(\w+))?\.json$", path)
        r = load(os.path.basename(path))
        if m and r:
            found.append((int(m.group(1)), m.group(2), r))
    return sorted(found, key=lambda x: x[0])


def fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


during = [r for r in rows if 0 < r["t"] <= load_end]
before = [r for r in rows if r["t"] <= 0] or rows[:1]
after = [r for r in rows if r["t"] > load_end]
rss = lambda rs: [mib(r["rss_kib"]) for r in rs if r["rss_kib"]]
start_rss = rss(before)[-1]
peak_hwm = mib(max(r["hwm_kib"] for r in rows if r["hwm_kib"]))
peak_rss = max(rss(rows))
end_rss = rss(during)[-1]
settled_rss = rss(after)[-1] if after else None



def trend(points):
    """Least-squares slope in MiB per minute."""
    if len(points) < 3:
        return None
    ts, vs = zip(*points)
    mt, mv = st.mean(ts), st.mean(vs)
    return sum((t - mt) * (v - mv) for t, v in points) / sum((t - mt) ** 2 for t in ts) * 60


# Flatness: the trend after the first minute (warm-up: documents, pools and buffers reach
# their working size), and over the second half of the load, which repeats what the first
# half did (the abuse patterns come round again): memory that is only reused stays level
# there, a leak keeps climbing.
steady = [(r["t"], mib(r["rss_kib"])) for r in during if r["t"] > 60 and r["rss_kib"]]
second = [(t, v) for t, v in steady if t > load_end / 2]
slope, slope2 = trend(steady), trend(second)
minute2 = [v for t, v in steady if t <= 120]
last = [mib(r["rss_kib"]) for r in during if r["t"] > load_end - 60 and r["rss_kib"]]
loads = [r["load1"] for r in during if r["load1"] is not None]
cpu = [r for r in rows if r["cpu_ticks"] is not None]
cpu_during = [r for r in cpu if 0 < r["t"] <= load_end]
cores = None
if len(cpu_during) > 1:
    a, b = cpu_during[0], cpu_during[-1]
    cores = (b["cpu_ticks"] - a["cpu_ticks"]) / 100.0 / max(b["t"] - a["t"], 1)

print(f"Server: release `tandem serve`, SQLite, default limits. Machine: {nproc} cores shared "
      f"with other agents' builds and tests; load average (1 min) during the run: median "
      f"{st.median(loads):.1f}, max {max(loads):.1f}. The server used {fmt(cores, 2)} cores "
      f"on average under the load. RSS sampled every {sample_secs} s.\n")
print("| | RSS (MiB) |")
print("|---|---:|")
print(f"| before load | {start_rss:.1f} |")
if minute2:
    print(f"| minute 2 (after warm-up), median | {st.median(minute2):.1f} |")
print(f"| peak (VmHWM) | {peak_hwm:.1f} |")
print(f"| highest sample | {peak_rss:.1f} |")
if last:
    print(f"| last minute of load, median | {st.median(last):.1f} |")
print(f"| end of load ({load_end} s) | {end_rss:.1f} |")
if settled_rss is not None:
    print(f"| after {int(after[-1]['t'] - load_end)} s without load | {settled_rss:.1f} |")
trimmed = os.path.join(out, "rss_after_trim")
if os.path.exists(trimmed):
    print(f"| then after `malloc_trim(0)` (freed memory handed back) | {mib(float(open(trimmed).read())):.1f} |")
if slope is not None:
    print(f"\nTrend (least squares) after the first minute: {slope:+.2f} MiB per minute "
          f"({len(steady)} samples); over the second half of the load: "
          f"**{fmt(slope2, 2)} MiB per minute** ({len(second)} samples, "
          f"{min(v for _, v in second):.1f}-{max(v for _, v in second):.1f} MiB).\n")
else:
    print()

print("| minute | RSS min / median / max (MiB) | TCP connections | documents loaded | open fds | load avg |")
print("|---:|---:|---:|---:|---:|---:|")
end_minute = int(max(r["t"] for r in rows) // 60)
for m in range(0, end_minute + 1):
    rs = [r for r in rows if m * 60 < r["t"] <= (m + 1) * 60 or (m == 0 and r["t"] <= 0)]
    vs = rss(rs)
    if not vs:
        continue
    med = lambda key: st.median([r[key] for r in rs if r[key] is not None] or [0])
    tag = " (no load)" if m * 60 >= load_end else ""
    print(f"| {m + 1}{tag} | {min(vs):.1f} / {st.median(vs):.1f} / {max(vs):.1f} | "
          f"{med('tcp_connections'):.0f} | {med('documents_loaded'):.0f} | {med('fds'):.0f} | "
          f"{med('load1'):.1f} |")

typing = load("typing.json")
reconnects = numbered("reconnect-*.json")
joins = numbered("join-*.json")
abuse = numbered("abuse-*.json")
print("\n| load | rounds | connections | connect failures | deliveries / expected | latency p50 / p99 (ms) |")
print("|---|---:|---:|---:|---:|---:|")
if typing:
    print(f"| typing (fanout 16 x 5, 2/s, whole run) | 1 | {typing['connections']} | "
          f"{typing['connect_failures']} | {typing['deliveries']:,} / {typing['deliveries_expected']:,} | "
          f"{fmt(typing['latency_p50_ms'], 1)} / {fmt(typing['latency_p99_ms'], 1)} |")
for t in ("websocket", "sse", "poll"):
    rs = [r for _, tr, r in reconnects if tr == t]
    if rs:
        p99 = [r["latency_p99_ms"] for r in rs if r["latency_p99_ms"] is not None]
        p50 = [r["latency_p50_ms"] for r in rs if r["latency_p50_ms"] is not None]
        print(f"| reconnects over {t} (8 x 3, 15 s rounds) | {len(rs)} | {sum(r['connections'] for r in rs)} | "
              f"{sum(r['connect_failures'] for r in rs)} | "
              f"{sum(r['deliveries'] for r in rs):,} / {sum(r['deliveries_expected'] for r in rs):,} | "
              f"{fmt(st.median(p50) if p50 else None, 1)} / {fmt(st.median(p99) if p99 else None, 1)} (medians of rounds) |")
if joins:
    rs = [r for _, _, r in joins]
    print(f"| joins and leaves (idle 80 over 40 documents, 5 s) | {len(rs)} | "
          f"{sum(r['connections'] for r in rs):,} | {sum(r['connect_failures'] for r in rs)} "
          f"(+{sum(r['unexpected_closes'] for r in rs)} closed) | - | - |")

if abuse:
    print("\n| abuse round | pattern | attack msgs | refused | probe syncs (failed) | probe sync p99 (ms) | /healthz p99 (ms) | peak RSS (MiB) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for i, _, r in abuse:
        print(f"| {i + 1} | {r['pattern']} | {r['attack_messages']:,} | {r['attack_refusals']:,} | "
              f"{r['probe_syncs']} ({r['probe_sync_failures']}) | {fmt(r['probe_sync_p99_ms'], 1)} | "
              f"{fmt(r['healthz_p99_ms'], 1)} | {fmt(r['server_peak_rss_mib'], 0)} |")
failures = os.path.join(out, "failures.txt")
if os.path.exists(failures):
    print("\nRounds whose load generator failed: " + "; ".join(open(failures).read().split("\n")[:-1]))

# The chart: RSS over time, the load period shaded.
W, H, L, R, T, B = 640, 240, 50, 10, 10, 30
tmax = max(r["t"] for r in rows)
vmax = max(peak_rss, 1) * 1.1
x = lambda t: L + (t - rows[0]["t"]) / max(tmax - rows[0]["t"], 1) * (W - L - R)
y = lambda v: T + (1 - v / vmax) * (H - T - B)
pts = " ".join(f"{x(r['t']):.1f},{y(mib(r['rss_kib'])):.1f}" for r in rows if r["rss_kib"])
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">',
       f'<rect x="{x(0):.1f}" y="{T}" width="{x(load_end) - x(0):.1f}" height="{H - T - B}" fill="#eef"/>',
       f'<text x="{x(0) + 4:.1f}" y="{T + 12}" fill="#558">mixed load</text>',
       f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="#999"/>',
       f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#999"/>']
step = next(s for s in (10, 20, 50, 100, 200, 500, 1000, 2000) if vmax / s <= 8)
for v in range(0, int(vmax) + 1, step):
    svg.append(f'<text x="{L - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    svg.append(f'<line x1="{L}" y1="{y(v):.1f}" x2="{W - R}" y2="{y(v):.1f}" stroke="#eee"/>')
for m in range(0, int(tmax // 60) + 1, 2):
    svg.append(f'<text x="{x(m * 60):.1f}" y="{H - B + 14}" text-anchor="middle">{m}</text>')
svg.append(f'<text x="{(L + W) / 2}" y="{H - 3}" text-anchor="middle">minutes</text>')
svg.append(f'<text x="12" y="{T + (H - T - B) / 2}" transform="rotate(-90 12 {T + (H - T - B) / 2})" text-anchor="middle">RSS (MiB)</text>')
# The dense-update rounds of the abuse loop, from when each round's result was written
# (rounds run back to back: one starts when the one before it ends).
start_file = os.path.join(out, "start")
if os.path.exists(start_file):
    epoch = float(open(start_file).read())
else:  # the sampler's file was last written at its last sample
    epoch = os.path.getmtime(os.path.join(out, "samples.csv")) - rows[-1]["t"]
ends = [(os.path.getmtime(p) - epoch, os.path.basename(p)) for p in glob.glob(os.path.join(out, "abuse-*.json"))]
ends.sort()
for k, (end, name) in enumerate(ends):
    if "-dense" in name:
        begin = ends[k - 1][0] if k else 0
        svg.append(f'<rect x="{x(begin):.1f}" y="{T}" width="{x(end) - x(begin):.1f}" height="{H - T - B}" fill="#fdd"/>')
        svg.append(f'<text x="{x(begin) + 2:.1f}" y="{H - B - 6}" fill="#a55">dense</text>')
svg.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{pts}"/>')
if os.path.exists(trimmed):
    v = mib(float(open(trimmed).read()))
    svg.append(f'<circle cx="{W - R - 3}" cy="{y(v):.1f}" r="3" fill="#d62728"/>')
    svg.append(f'<text x="{W - R - 8}" y="{y(v) - 6:.1f}" text-anchor="end" fill="#d62728">after malloc_trim(0)</text>')
svg.append("</svg>")
with open(chart, "w") as f:
    f.write("\n".join(svg) + "\n")
