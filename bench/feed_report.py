#!/usr/bin/env python3
"""Markdown tables from a bench/feed.sh result directory (feed.json, webhook-*.json, meta.json)."""
import glob
import json
import os
import sys


def rng(s, unit=""):
    """'median (min-max)' of a {median, min, max} summary."""
    if not s:
        return "-"
    return f"{s['median']:g}{unit} ({s['min']:g}-{s['max']:g})"


def main(out):
    meta = json.load(open(os.path.join(out, "meta.json")))
    print(f"git {meta['git']}, {meta['cpus']} CPUs, load average before {meta['loadavg_before']}, "
          f"after {' '.join(meta.get('loadavg_after', []))}\n")
    feed_path = os.path.join(out, "feed.json")
    if os.path.getsize(feed_path):
        f = json.load(open(feed_path))
        w, wo = f["with_readers"], f["without_readers"]
        print(f"Change feed: {f['readers']} SSE readers on {f['docs']} documents, {f['rounds']} x "
              f"(with, without) x {f['seconds']} s, interleaved; median (range) of the runs, ms\n")
        print("| | Commit to event p50 | Commit to event p99 | Typing POST p50 | Typing POST p99 |")
        print("|---|---|---|---|---|")
        print(f"| {f['readers']} readers | {rng(w['commit_to_event_p50_ms'])} | {rng(w['commit_to_event_p99_ms'])} "
              f"| {rng(w['post_p50_ms'])} | {rng(w['post_p99_ms'])} |")
        print(f"| no readers | - | - | {rng(wo['post_p50_ms'])} | {rng(wo['post_p99_ms'])} |")
        print(f"\nChange events received {w['change_events']} of {w['expected_events']:g} expected "
              f"({w['events']} matched to their POST, {w['same_length_events']} with the previous event's length), "
              f"snapshot events {w['snapshot_events']}, duplicates {w['duplicates']}, "
              f"readers refused {w['readers_refused']}, readers closed by the server {w['readers_closed_early']}, "
              f"failed POSTs {f['posts_failed']}. Memory per reader (first round, RSS difference / readers): "
              f"{w['memory_per_reader_kib']} KiB.\n")
    hooks = sorted(glob.glob(os.path.join(out, "webhook-*.json")),
                   key=lambda p: -int(p.rsplit("-", 1)[1].split(".")[0]))
    rows = [json.load(open(p)) for p in hooks if os.path.getsize(p)]
    if rows:
        print(f"Webhooks: one change to each of {rows[0]['docs']} documents, a local receiver verifying "
              f"every signature (standardwebhooks); ms unless noted\n")
        print("| Debounce | Delivered | Commits took | Deliveries/s | Commit to delivery p50 / p99 / max | POST p99 without / with endpoint |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            d = r["commit_to_delivery_ms"]
            print(f"| {r['debounce_ms']} ms | {r['delivered']}/{r['committed']} (bad signatures {r['bad_signatures']}, "
                  f"repeats {r['repeats']}) | {r['commit_burst_s']} s | {r['deliveries_per_s']} | {d['p50']} / {d['p99']} / {d['max']} "
                  f"| {r['post_ms_without_endpoint']['p99']} / {r['post_ms_with_endpoint']['p99']} |")


if __name__ == "__main__":
    main(sys.argv[1])
