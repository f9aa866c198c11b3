"""The latency chart of the "Load" section (bench/latency.svg): p99 delivery latency against
fan-out, one line per system, drawn as plain SVG (no plotting library to install).
"""
from results import FANOUT, NAMES, SYSTEMS, get

COLORS = {
    "tandem-sqlite": "#1f77b4",
    "tandem-postgres": "#2ca02c",
    "tandem-hocuspocus": "#9467bd",
    "y-websocket-server": "#d62728",
    "hocuspocus": "#ff7f0e",
}


def svg(res, path):
    W, H, L, R, T, B = 720, 420, 70, 190, 40, 50
    xs = [c for _, c in FANOUT]
    import math

    lx = lambda c: L + (math.log10(c) - math.log10(xs[0])) / (math.log10(xs[-1]) - math.log10(xs[0])) * (W - L - R)
    vals = [
        get(res, s, sc, "latency_p99_ms") for s in SYSTEMS for sc, _ in FANOUT
    ]
    vals = [v for v in vals if v]
    lo = 10 ** math.floor(math.log10(min(vals))) if vals else 0.1
    hi = 10 ** math.ceil(math.log10(max(vals))) if vals else 1000
    if hi <= lo:
        hi = lo * 10
    ly = lambda v: T + (math.log10(hi) - math.log10(v)) / (math.log10(hi) - math.log10(lo)) * (H - T - B)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2 - 40}" y="22" text-anchor="middle" font-size="15">'
        "p99 fan-out latency vs clients in one document (2 updates/s each)</text>",
    ]
    d = lo
    while d <= hi * 1.0001:
        y = ly(d)
        out.append(f'<line x1="{L}" y1="{y:.1f}" x2="{W - R}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{d:g} ms</text>')
        d *= 10
    for c in xs:
        x = lx(c)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{H - B}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{H - B + 18}" text-anchor="middle">{c}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">clients (log scale)</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{W - L - R}" height="{H - T - B}" fill="none" stroke="#333"/>')
    legend_y = T + 10
    for s in SYSTEMS:
        pts = [(lx(c), ly(v)) for sc, c in FANOUT if (v := get(res, s, sc, "latency_p99_ms"))]
        if not pts:
            continue
        col = COLORS[s]
        out.append(
            f'<polyline fill="none" stroke="{col}" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            + '"/>'
        )
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{col}"/>')
        out.append(f'<line x1="{W - R + 12}" y1="{legend_y}" x2="{W - R + 32}" y2="{legend_y}" stroke="{col}" stroke-width="3"/>')
        out.append(f'<text x="{W - R + 38}" y="{legend_y + 4}">{NAMES[s]}</text>')
        legend_y += 20
    out.append("</svg>")
    with open(path, "w") as fh:
        fh.write("\n".join(out) + "\n")
