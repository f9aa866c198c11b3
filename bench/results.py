"""What every benchmark report shares: the systems compared and their names, reading a run's
results (one JSON line per scenario, the last line of each file) and versions, and formatting
numbers and cells for the Markdown tables.
"""
import json
import os
import statistics

SYSTEMS = ["tandem-sqlite", "tandem-hocuspocus", "tandem-postgres", "y-websocket-server", "hocuspocus"]
NAMES = {
    "tandem-sqlite": "Tandem (SQLite)",
    "tandem-postgres": "Tandem (PostgreSQL)",
    "tandem-hocuspocus": "Tandem (SQLite) over /hocuspocus",
    "y-websocket-server": "@y/websocket-server",
    "hocuspocus": "@hocuspocus/server",
}
TANDEM = ["tandem-sqlite", "tandem-postgres", "tandem-hocuspocus"]
NODE = ["y-websocket-server", "hocuspocus"]
FANOUT = [("f2", 2), ("f50", 50), ("f200", 200), ("f500", 500)]


def load(out):
    res = {}
    for s in SYSTEMS:
        d = os.path.join(out, s)
        if not os.path.isdir(d):
            continue
        res[s] = {}
        for f in sorted(os.listdir(d)):
            if f.endswith(".json"):
                try:
                    with open(os.path.join(d, f)) as fh:
                        lines = [l for l in fh.read().splitlines() if l.strip()]
                    res[s][f[:-5]] = json.loads(lines[-1]) if lines else {"error": "no output"}
                except (OSError, ValueError) as e:
                    res[s][f[:-5]] = {"error": str(e)}
    return res


def versions(out):
    v = {}
    try:
        with open(os.path.join(out, "versions.txt")) as fh:
            for line in fh:
                if "=" in line:
                    k, _, val = line.strip().partition("=")
                    v[k] = val
    except OSError:
        pass
    return v


def get(res, s, sc, key):
    r = res.get(s, {}).get(sc)
    if not r or "error" in r:
        return None
    return r.get(key)


def fmt(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.{digits}f}"


def cell(values):
    """Median, and the range when there are several runs."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    med = fmt(statistics.median(values))
    if len(values) == 1:
        return med
    return f"{med} ({fmt(min(values))}–{fmt(max(values))})"


def ratio(v, ref):
    if v is None or ref in (None, 0):
        return "–"
    return f"×{v / ref:.2f}"


def err_cell(res, s, sc):
    r = res.get(s, {}).get(sc)
    if r is None:
        return "not run"
    if "error" in r:
        return "FAILED: " + str(r["error"])[:80]
    return None


def systems_in(res):
    return [s for s in SYSTEMS if s in res]
