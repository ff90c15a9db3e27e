#!/usr/bin/env python3
"""Concurrency micro-benchmarks, ringo against Go in the same run:
channel ping-pong and buffered throughput (one worker / GOMAXPROCS=1 on
CPU 0; across two workers / GOMAXPROCS=2 on CPUs 0,1), spawn+join, mutex
(uncontended and hand-off) and wait-group rounds.

    python3 bench/conc.py --build build [--reps 3] [--out bench/out]

Every repetition runs each program once, in the same order (A B C D ...
A B C D ...), so drifts of the noisy machine spread over all of them.
Each program prints "name ns_per_op value" lines (its own median of 5
runs); the table shows the median [min-max] over repetitions and the
ratio ringo / Go (below 1: ringo is faster). Standard library only.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

# (label, extra environment, CPUs, argv relative to the build dir)
def programs(build):
    b = lambda *p: os.path.join(build, "bench", *p)
    runs = [
        ("ringo-1w", {"RINGO_WORKERS": "1"}, "0", [b("chanbench")]),
        ("ringo-1w", {"RINGO_WORKERS": "1"}, "0", [b("syncbench")]),
        ("go-1p", {"GOMAXPROCS": "1"}, "0", [b("go-conc"), "chan"]),
        ("go-1p", {"GOMAXPROCS": "1"}, "0", [b("go-conc"), "spawnjoin"]),
        ("go-1p", {"GOMAXPROCS": "1"}, "0", [b("go-conc"), "mutex"]),
        ("go-1p", {"GOMAXPROCS": "1"}, "0", [b("go-conc"), "wg"]),
        ("ringo-2w-uring", {"RINGO_WORKERS": "2", "RINGO_BACKEND": "uring"}, "0,1",
         [b("chanbench"), "200000"]),
        ("ringo-2w-epoll", {"RINGO_WORKERS": "2", "RINGO_BACKEND": "epoll"}, "0,1",
         [b("chanbench"), "200000"]),
        ("ringo-2w-nospin", {"RINGO_WORKERS": "2", "RINGO_SPIN_US": "0"}, "0,1",
         [b("chanbench"), "200000"]),
        ("ringo-2w-uring", {"RINGO_WORKERS": "2", "RINGO_BACKEND": "uring"}, "0,1",
         [b("syncbench")]),
        ("go-2p", {"GOMAXPROCS": "2"}, "0,1", [b("go-conc"), "chan"]),
        ("go-2p", {"GOMAXPROCS": "2"}, "0,1", [b("go-conc"), "mutex"]),
        ("go-2p", {"GOMAXPROCS": "2"}, "0,1", [b("go-conc"), "wg"]),
    ]
    return runs

# (what, ringo (label, name), go (label, name))
ROWS = [
    ("unbuffered ping-pong, one worker (ns/msg)",
     ("ringo-1w", "chan_pingpong_1worker"), ("go-1p", "go_chan_pingpong_procs1")),
    ("buffered(128) one-way, one worker (ns/msg)",
     ("ringo-1w", "chan_buffered128_1worker"), ("go-1p", "go_chan_buffered128_procs1")),
    ("unbuffered ping-pong, two workers, io_uring (ns/msg)",
     ("ringo-2w-uring", "chan_pingpong_2workers"), ("go-2p", "go_chan_pingpong_procs2")),
    ("unbuffered ping-pong, two workers, epoll (ns/msg)",
     ("ringo-2w-epoll", "chan_pingpong_2workers"), ("go-2p", "go_chan_pingpong_procs2")),
    ("unbuffered ping-pong, two workers, no idle spin (ns/msg)",
     ("ringo-2w-nospin", "chan_pingpong_2workers"), ("go-2p", "go_chan_pingpong_procs2")),
    ("buffered(128) one-way, two workers, io_uring (ns/msg)",
     ("ringo-2w-uring", "chan_buffered128_2workers"), ("go-2p", "go_chan_buffered128_procs2")),
    ("buffered(128) one-way, two workers, no idle spin (ns/msg)",
     ("ringo-2w-nospin", "chan_buffered128_2workers"), ("go-2p", "go_chan_buffered128_procs2")),
    ("spawn + join (ns)",
     ("ringo-1w", "spawn_join_1worker"), ("go-1p", "go_spawn_join_procs1")),
    ("mutex lock+unlock, uncontended (ns)",
     ("ringo-1w", "mutex_uncontended_1worker"), ("go-1p", "go_mutex_uncontended_procs1")),
    ("mutex hand-off, 2 coroutines, yield inside (ns/pair)",
     ("ringo-1w", "mutex_handoff_1worker"), ("go-1p", "go_mutex_handoff_procs1")),
    ("wait group add/done/wait round (ns)",
     ("ringo-1w", "wg_round_1worker"), ("go-1p", "go_wg_round_procs1")),
    ("wait group ping-pong (ns/round trip)",
     ("ringo-1w", "wg_pingpong_1worker"), ("go-1p", "go_wg_pingpong_procs1")),
    ("mutex hand-off, two workers (ns/pair)",
     ("ringo-2w-uring", "mutex_handoff_2workers"), ("go-2p", "go_mutex_handoff_procs2")),
    ("wait group ping-pong, two workers (ns/round trip)",
     ("ringo-2w-uring", "wg_pingpong_2workers"), ("go-2p", "go_wg_pingpong_procs2")),
]


def run(build, label, env, cpus, argv):
    e = dict(os.environ)
    e.update(env)
    out = subprocess.run(["taskset", "-c", cpus] + argv, env=e, capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        sys.exit(f"conc.py: {' '.join(argv)} failed ({out.returncode}): {out.stderr.strip()}")
    vals = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "ns_per_op":
            vals[parts[0]] = float(parts[2])
    return vals


def cell(xs):
    if not xs:
        return "–"
    return f"{statistics.median(xs):.1f} [{min(xs):.1f}–{max(xs):.1f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args()
    progs = programs(args.build)
    for _, _, _, argv in progs:
        if not os.path.exists(argv[0]):
            sys.exit(f"conc.py: {argv[0]} is missing: run make {argv[0]}")
    samples = {}
    for rep in range(args.reps):
        for label, env, cpus, argv in progs:
            vals = run(args.build, label, env, cpus, argv)
            for name, v in vals.items():
                samples.setdefault((label, name), []).append(v)
            short = " ".join(f"{k}={v:.0f}" for k, v in vals.items())
            print(f"[rep {rep + 1}] {label} {os.path.basename(argv[0])} {' '.join(argv[1:])}: {short}",
                  flush=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    lines = [f"# Concurrency micro-benchmarks, {stamp}", "",
             "```", "python3 bench/conc.py " + " ".join(sys.argv[1:]), "```", "",
             f"{args.reps} interleaved repetitions; each value is the program's own median "
             "of 5 runs; cells: median [min–max] over repetitions. One worker / GOMAXPROCS=1 "
             "pinned to CPU 0; two workers / GOMAXPROCS=2 on CPUs 0,1.", "",
             "| what | ringo | Go | ringo / Go |", "|---|---:|---:|---:|"]
    for what, rk, gk in ROWS:
        r, g = samples.get(rk, []), samples.get(gk, [])
        ratio = (f"{statistics.median(r) / statistics.median(g):.2f}x" if r and g else "–")
        lines.append(f"| {what} | {cell(r)} | {cell(g)} | {ratio} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"conc-{stamp}")
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump({f"{k[0]}/{k[1]}": v for k, v in samples.items()}, f, indent=1)
    print(f"wrote {base}.md and {base}.json")


if __name__ == "__main__":
    main()
