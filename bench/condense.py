#!/usr/bin/env python3
"""Condense a bench/matrix.py JSON into the compact tables of
bench/RESULTS.md: one row per cell (connections x message size), one
column per variant, for one figure at a time.

    python3 bench/condense.py bench/out/matrix.json [--figure cpu|syscalls|p50|p99|rate]
"""
import argparse
import json

FIGURES = {
    "cpu": ("cpu_us_per_msg", "server CPU µs per message (median)", "{:.2f}"),
    "syscalls": ("syscalls_per_msg_perf", "syscalls per message (perf, median)", "{:.2f}"),
    "p50": ("p50_us", "p50 latency µs (median)", "{:.0f}"),
    "p99": ("p99_us", "p99 latency µs (median)", "{:.0f}"),
    "rate": ("msgs_per_s", "messages/s (median)", "{:.0f}"),
}


def size_name(n):
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} B"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--figure", default="cpu", choices=FIGURES)
    ap.add_argument("--variants", help="comma-separated subset, in this order")
    a = ap.parse_args()
    d = json.load(open(a.json))
    key, title, fmt = FIGURES[a.figure]
    rows = {}
    order = []
    for s in d["summary"]:
        cell = (s["conns"], s["size"])
        rows.setdefault(cell, {})[s["variant"]] = s.get(key)
        if s["variant"] not in order:
            order.append(s["variant"])
    if a.variants:
        order = [v for v in a.variants.split(",") if v in order]
    print(f"{title}\n")
    print("| conns, size | " + " | ".join(order) + " |")
    print("|---|" + "---:|" * len(order))
    for cell in sorted(rows):
        vals = [rows[cell].get(v) for v in order]
        print(f"| {cell[0]}, {size_name(cell[1])} | " +
              " | ".join("–" if x is None else fmt.format(x) for x in vals) + " |")


if __name__ == "__main__":
    main()
