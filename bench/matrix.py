#!/usr/bin/env python3
"""Fast-path matrix: every io_uring fast path of ringo-echo switched on and
off through its environment knob, against the plain io_uring path, ringo's
epoll backend and the hand-written baselines, at several connection counts
and message sizes.

    python3 bench/matrix.py --build build [--conns 1,10,100,1000]
        [--sizes 64,1024,16384] [--variants a,b,...] [--reps 3]
        [--duration 3] [--quick] [--out bench/out/matrix]

Each run is one bench/echo.py run (echo.run_one): server pinned to CPU 0,
build/ringo-bench pinned to CPU 1, pipeline depth 1, and over the window
ringo-bench marks with MEASURE START / MEASURE END the server's CPU time
(/proc/PID/stat, all threads), its syscalls (perf) and, for ringo-echo, its
own counters. Repetitions are interleaved: for each cell (conns, size), for
each repetition, every variant runs once, the order rotated by one per
repetition (A B C, B C A, C A B), so a drift of the machine spreads over all
variants. Writes <out>.md and <out>.json and prints the Markdown.

Python standard library only. See bench/README.md, "matrix.py".
"""
import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # bench/__pycache__ is tracked: leave it alone
import echo  # noqa: E402  (bench/echo.py: run_one, Perf, summarize, formatting)

# name -> (environment for ringo-echo, or None for a baseline binary; what it is)
VARIANTS = {
    "epoll": ({"RINGO_BACKEND": "epoll"}, "ringo-echo on its epoll backend"),
    "uring-plain": ({"RINGO_BACKEND": "uring", "RINGO_MULTISHOT_RECV": "0",
                     "RINGO_ZC_THRESHOLD": "0"}, "io_uring, plain single-shot ops"),
    "uring-default": ({"RINGO_BACKEND": "uring"}, "io_uring, the runtime's defaults"),
    "uring+msrecv": ({"RINGO_BACKEND": "uring", "RINGO_MULTISHOT_RECV": "1"},
                     "multishot recv + provided-buffer ring"),
    "uring+fixed": ({"RINGO_BACKEND": "uring", "RINGO_FIXED_FILES": "1"}, "registered files"),
    "uring+copy": ({"RINGO_BACKEND": "uring", "_ARGS": "--copy"},
                   "echo through ringo_read into the connection's buffer (a copy) "
                   "instead of ringo_recv_borrow"),
    "uring-noprefetch": ({"RINGO_BACKEND": "uring", "RINGO_PREFETCH": "0"},
                         "defaults without the reap loop's prefetching"),
    "uring+copy256k": ({"RINGO_BACKEND": "uring", "_ARGS": "--copy --buffer 262144"},
                       "copying echo with a 256 KiB buffer, no SEND_ZC: what the zc "
                       "variants are compared with"),
    "uring+zc16k": ({"RINGO_BACKEND": "uring", "RINGO_ZC_THRESHOLD": "16384",
                     "_ARGS": "--copy --buffer 262144"},
                    "SEND_ZC for sends of >= 16 KiB (256 KiB read buffer)"),
    "uring+zc256k": ({"RINGO_BACKEND": "uring", "RINGO_ZC_THRESHOLD": "262144",
                      "_ARGS": "--copy --buffer 262144"},
                     "SEND_ZC for sends of >= 256 KiB (256 KiB read buffer)"),
    "uring+sqpoll": ({"RINGO_BACKEND": "uring", "RINGO_SQPOLL": "1"},
                     "SQPOLL (the iou-sqp thread's CPU is in the CPU column)"),
    "uring+minwait": ({"RINGO_BACKEND": "uring", "RINGO_MIN_WAIT_US": "50"},
                      "batching policy: wait up to 50 µs for more completions"),
    "baseline-uring": (None, "hand-written liburing server (bench/baseline/uring_echo.c)"),
    "baseline-epoll": (None, "hand-written epoll server (bench/baseline/epoll_echo.c)"),
}
ALL_VARIANTS = list(VARIANTS)
# what `make bench` runs: each fast path against the plain path, epoll and
# the baselines (uring+msrecv is the default now; uring-noprefetch is a
# micro-experiment: ask for them by name)
DEFAULT_VARIANTS = [v for v in ALL_VARIANTS if v not in ("uring+msrecv", "uring-noprefetch")]
ZC_VARIANTS = ["uring+zc16k", "uring+zc256k"]
# The large-message cells run the zero-copy variants and what they are
# compared with: zero copy off (default and plain paths), epoll, baseline.
LARGE_VARIANTS = (["epoll", "uring-plain", "uring-default", "uring+copy256k"] + ZC_VARIANTS +
                  ["baseline-uring"])
REF_URING = "baseline-uring"
REF_EPOLL = "epoll"
RUN_OVERHEAD_S = 0.5  # server start, perf attach, connects, teardown (measured 0.3-0.45 s)


def f_size(n):
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


def int_list(text, what, ap):
    if text.strip().lower() in ("", "none"):
        return []
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        ap.error(f"{what}: not a list of integers: {text}")


def parse_args():
    ap = argparse.ArgumentParser(
        description="ringo io_uring fast-path matrix on the echo server (see bench/README.md)")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--conns", help="connection counts (default 1,10,100,1000)")
    ap.add_argument("--sizes", help="message sizes in bytes (default 64,1024,16384)")
    ap.add_argument("--large-size", type=int, default=256 * 1024,
                    help="message size of the extra zero-copy cells (default 262144)")
    ap.add_argument("--large-conns",
                    help="connection counts of the extra zero-copy cells, which run only "
                         + ",".join(LARGE_VARIANTS) + " (default: 1 and 10 if in --conns; "
                         "'none' to skip; none with --quick; never without a zc variant)")
    ap.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                    help="comma-separated, in this order (rotated per repetition); "
                         "default: " + ",".join(DEFAULT_VARIANTS) + "; also known: " +
                         ",".join(v for v in ALL_VARIANTS if v not in DEFAULT_VARIANTS))
    ap.add_argument("--reps", type=int, help="repetitions per cell and variant (default 3)")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 3)")
    ap.add_argument("--warmup", type=float, default=1, help="warm-up seconds (default 1)")
    ap.add_argument("--out", default=os.path.join("bench", "out", "matrix"),
                    help="output stem: writes OUT.md and OUT.json (default bench/out/matrix)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: reps 1, duration 1.5, conns 10,100, sizes 1024, "
                         "no large cells (explicit flags win)")
    echo.add_run_args(ap, "baselines that are not built", "cell")
    args = ap.parse_args()
    q = args.quick
    args.conns_list = int_list(args.conns or ("10,100" if q else "1,10,100,1000"), "--conns", ap)
    args.sizes_list = int_list(args.sizes or ("1024" if q else "64,1024,16384"), "--sizes", ap)
    if args.large_conns is not None:
        args.large_conns_list = int_list(args.large_conns, "--large-conns", ap)
    else:  # default: those of 1 and 10 that --conns has
        args.large_conns_list = [] if q else [c for c in (1, 10) if c in args.conns_list]
    if args.reps is None:
        args.reps = 1 if q else 3
    if args.duration is None:
        args.duration = 1.5 if q else 3
    args.pipeline = 1
    args.variant_list = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in args.variant_list:
        if v not in VARIANTS:
            ap.error(f"unknown variant '{v}' (known: {', '.join(ALL_VARIANTS)})")
    if len(set(args.variant_list)) != len(args.variant_list):
        ap.error("--variants: a variant is listed twice")
    if not args.conns_list or not args.sizes_list or not args.variant_list or args.reps < 1:
        ap.error("need at least one connection count, size, variant and repetition")
    return args


def check_setup(args):
    problems = []
    if not shutil.which("taskset"):
        problems.append("taskset not found (util-linux)")
    if not {0, 1} <= os.sched_getaffinity(0):
        problems.append(f"need CPUs 0 and 1 for pinning; allowed: {sorted(os.sched_getaffinity(0))}")
    for exe in ("ringo-bench", "ringo-echo"):
        if not os.access(os.path.join(args.build, exe), os.X_OK):
            problems.append(f"missing {args.build}/{exe} (make {args.build}/{exe})")
    keep = []
    for v in args.variant_list:
        if VARIANTS[v][0] is None:
            exe = echo.server_argv(v, args.build, 1, "x")[0][0]
            if not os.access(exe, os.X_OK):
                if args.skip_missing:
                    print(f"matrix.py: skipping {v}: {exe} not built", file=sys.stderr)
                    continue
                problems.append(f"missing {exe} (make {exe}, or --skip-missing)")
        keep.append(v)
    args.variant_list = keep
    if problems:
        for p in problems:
            print(f"matrix.py: {p}", file=sys.stderr)
        sys.exit(2)


def missing_knobs(build):
    """Knobs of the selected variants whose name does not occur in the
    ringo-echo binary: the server ignores unknown variables, so such a
    variant runs the defaults (it then measures the same as uring-default)."""
    try:
        with open(os.path.join(build, "ringo-echo"), "rb") as f:
            blob = f.read()
    except OSError:
        return {}
    out = {}
    for name, (env, _) in VARIANTS.items():
        if env:
            miss = [k for k in env if k not in ("RINGO_BACKEND", "_ARGS") and k.encode() not in blob]
            # options: their long names must be in the binary too
            miss += [a for a in shlex.split(env.get("_ARGS", ""))
                     if a.startswith("--") and a[2:].encode() not in blob]
            if miss:
                out[name] = miss
    return out


def ringo_launcher(build, env):
    """echo.run_one launch hook: ringo-echo with the variant's environment.
    --backend repeats RINGO_BACKEND (the command line would override it).
    RINGO_VERBOSE=1 makes the runtime log its backend features at start-up
    (nothing else), which lands in the run record."""
    def launch(port, stats_file):
        argv = [os.path.join(build, "ringo-echo"), "--port", str(port), "--workers", "1",
                "--backend", env.get("RINGO_BACKEND", "auto"), "--stats-file", stats_file]
        # "_ARGS": extra ringo-echo options of the variant, not environment
        argv += shlex.split(env.get("_ARGS", ""))
        real_env = {k: v for k, v in env.items() if k != "_ARGS"}
        return argv, dict(real_env, RINGO_VERBOSE="1"), True
    return launch


FEATURES_RE = re.compile(r"backend (\w+) \([^)]*\), \d+ worker\(s\), features: (.*)")


def features_of(rec):
    m = FEATURES_RE.search(rec.get("server_log_head", ""))
    return f"{m.group(1)}: {m.group(2).strip()}" if m else None


def build_cells(args):
    cells = [(c, s, list(args.variant_list)) for c in args.conns_list for s in args.sizes_list]
    if any(v in args.variant_list for v in ZC_VARIANTS) and args.large_size not in args.sizes_list:
        large = [v for v in args.variant_list if v in LARGE_VARIANTS]
        cells += [(c, args.large_size, large) for c in args.large_conns_list]
    return cells


def summarize(runs, cells):
    rows = []
    for conns, size, variants in cells:
        mine = [r for r in runs if r["conns"] == conns and r["size"] == size]
        group = echo.summarize(mine, variants, [conns])
        by = {r["server"]: r for r in group}
        for row in group:
            row["size"] = size
            row["variant"] = row.pop("server")
            row.pop("rate_ratio", None)
            row.pop("cpu_ratio", None)
            for key, ref in (("cpu_vs_baseline_uring", REF_URING), ("cpu_vs_epoll", REF_EPOLL)):
                base = by.get(ref)
                row[key] = (row["cpu_us_per_msg"] / base["cpu_us_per_msg"]
                            if base and base.get("cpu_us_per_msg") and
                            row["cpu_us_per_msg"] is not None else None)
            row["ringo"] = VARIANTS[row["variant"]][0] is not None
            # every ringo counter per message, median over the runs
            per = {}
            for r in mine:
                if r["server"] == row["variant"] and not r.get("perf_only") and \
                        r.get("result", {}).get("msgs") and "ringo_counters" in r:
                    for k, v in r["ringo_counters"].items():
                        per.setdefault(k, []).append(v / r["result"]["msgs"])
            row["ringo_per_msg"] = {k: echo.med(v) for k, v in per.items()}
            rows.append(row)
    return rows


HEADERS = ["variant", "msgs/s median [min–max]", "p50 µs", "p99 µs",
           "CPU µs/msg median [min–max]", "syscalls/msg (perf)", "syscalls/msg (ringo)",
           "CPU vs baseline-uring", "CPU vs epoll", "errors"]


def row_cells(r, perf_ok):
    ratio = lambda x: "n/a" if x is None else f"{x:.2f}x"  # noqa: E731
    return [r["variant"], echo.rate_cell(r), echo.f_us(r["p50_us"]), echo.f_us(r["p99_us"]),
            echo.cpu_cell(r),
            echo.f_num(r["syscalls_per_msg_perf"]) if perf_ok else "n/a (no perf)",
            echo.f_num(r["syscalls_per_msg_ringo"]) if r["ringo"] else "–",
            ratio(r["cpu_vs_baseline_uring"]), ratio(r["cpu_vs_epoll"]),
            echo.errors_cell(r)]


def md_tables(rows, cells, perf_ok):
    out = []
    for conns, size, _ in cells:
        mine = [r for r in rows if r["conns"] == conns and r["size"] == size]
        if not mine:
            continue
        out += [f"### {conns} connection{'s' if conns != 1 else ''}, {f_size(size)} messages", "",
                "| " + " | ".join(HEADERS) + " |",
                "|:---|" + "---:|" * (len(HEADERS) - 1)]
        out += ["| " + " | ".join(row_cells(r, perf_ok)) + " |" for r in mine]
        # Did the zero-copy threshold trigger at all? (ringo-echo sends what
        # one read returned, so a send is never larger than its read buffer.)
        zc = [f"{r['variant']} {r['ringo_per_msg'].get('zc_sends', 0):.2f}"
              + (f" ({r['ringo_per_msg']['zc_copied']:.2f} copied)"
                 if r["ringo_per_msg"].get("zc_copied") else "")
              for r in mine if r["variant"] in ZC_VARIANTS and r["ringo_per_msg"]]
        if zc and any("zc_sends" in r["ringo_per_msg"] for r in mine):
            out += ["", "zero-copy sends per message (ringo's `zc_sends`): " + ", ".join(zc)]
        out.append("")
    return out


def on_sigterm(signum, frame):
    raise KeyboardInterrupt  # stop the current run cleanly and summarize


def main():
    args = parse_args()
    check_setup(args)
    signal.signal(signal.SIGTERM, on_sigterm)
    command = "python3 " + shlex.join(sys.argv)
    started = datetime.datetime.now()
    # A RINGO_* variable inherited from the shell would leak into every
    # server (and into ringo-bench, a ringo program too): drop them.
    inherited = sorted(k for k in os.environ if k.startswith("RINGO_"))
    for k in inherited:
        del os.environ[k]

    perf = echo.Perf()
    if args.no_perf:
        perf.status = "disabled (--no-perf)"
    else:
        perf.probe()
    extra = args.perf_runs == "extra" and perf.ok

    cells = build_cells(args)
    nruns = sum(len(v) for _, _, v in cells) * (args.reps + extra)
    per_run = args.warmup + args.duration + RUN_OVERHEAD_S
    print(f"matrix.py: {len(cells)} cells, {nruns} runs of {args.warmup:g}+{args.duration:g} s, "
          f"estimated {nruns * per_run / 60:.1f} min", file=sys.stderr)
    print(f"matrix.py: perf: {perf.status}", file=sys.stderr)
    if inherited:
        print(f"matrix.py: ignoring inherited {', '.join(inherited)}", file=sys.stderr)
    missing = {v: k for v, k in missing_knobs(args.build).items() if v in args.variant_list}
    for v, ks in missing.items():
        print(f"matrix.py: note: {', '.join(ks)} not found in {args.build}/ringo-echo: "
              f"'{v}' probably runs the defaults", file=sys.stderr)

    runs = []
    interrupted = False
    t0 = time.monotonic()
    try:
        for conns, size, variants in cells:
            run_args = argparse.Namespace(**vars(args))
            run_args.size = size
            for rep in range(1, args.reps + 1 + extra):
                perf_only = rep > args.reps
                use_perf = perf.ok and (perf_only or not extra)
                k = (rep - 1) % len(variants)
                for v in variants[k:] + variants[:k]:
                    env = VARIANTS[v][0]
                    launch = None if env is None else ringo_launcher(args.build, env)
                    rec = echo.run_one(run_args, v, conns, rep, perf, use_perf, perf_only,
                                       launch=launch)
                    rec["size"] = size
                    rec["variant_env"] = env
                    feats = features_of(rec)
                    if feats:
                        rec["features"] = feats
                    runs.append(rec)
                    left = (time.monotonic() - t0) / len(runs) * (nruns - len(runs))
                    prefix = (f"[{len(runs)}/{nruns}, ~{left / 60:.0f} min left] c={conns} "
                              f"{f_size(size)} {'perf' if perf_only else f'rep={rep}'} {v}")
                    print(echo.progress_line(prefix, rec), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: summarizing the runs so far", file=sys.stderr)
    elapsed = time.monotonic() - t0

    rows = summarize(runs, cells)
    info = echo.machine_info()
    variants_md = ["## Variants", "", "| variant | environment | what | features seen |",
                   "|:---|:---|:---|:---|"]
    features = {}
    for v in args.variant_list:
        env, what = VARIANTS[v]
        seen = sorted({r["features"] for r in runs if r["server"] == v and "features" in r})
        features[v] = seen
        envtext = "`" + " ".join(f"{a}={b}" for a, b in env.items()) + "`" if env else \
            f"`{os.path.basename(echo.server_argv(v, args.build, 1, 'x')[0][0])} PORT`"
        if v in missing:
            what += f" — **{', '.join(missing[v])} not in this ringo-echo: runs the defaults**"
        variants_md.append(f"| {v} | {envtext} | {what} | {'; '.join(seen) or '–'} |")

    failed = [r for r in runs if r["problems"]]
    notes = []
    if failed:
        notes += ["## Runs with problems", "",
                  "(a run still counts in the medians if ringo-bench produced a result)", ""]
        for r in failed:
            label = "perf run" if r.get("perf_only") else f"rep={r['rep']}"
            notes.append(f"- c={r['conns']} {f_size(r['size'])} {label} {r['server']}: "
                         + "; ".join(r["problems"]))
        notes.append("")
    if interrupted:
        notes += ["- the benchmark was interrupted; the tables cover the runs that finished.", ""]

    md = [
        f"# io_uring fast-path matrix, {started:%Y-%m-%d %H:%M:%S}", "",
        "```", command, "```", "",
        f"- machine: {info['cpu']}, {info['cpus']} CPUs, Linux {info['kernel']}",
        f"- pinning: server on CPU {echo.SERVER_CPU}, ringo-bench (1 worker) on CPU "
        f"{echo.LOAD_CPU} (`taskset -c`); ringo-echo runs with `--workers 1`",
        f"- load: ringo-bench echo, pipeline 1, {args.warmup:g} s warm-up, {args.duration:g} s "
        f"measured, {args.reps} rep(s) per cell, variants interleaved (order rotated per rep); "
        f"{len(runs)} runs in {elapsed / 60:.1f} min",
        f"- perf: {perf.status}" + ("" if not perf.ok else "; " + (
            "syscall column from one extra perf-only round per cell, all other columns from "
            "runs without perf" if extra else
            "attached during every measured run (its per-syscall cost is in the CPU column)")),
        "- CPU µs/msg: utime+stime of the whole server process over the measured window ÷ "
        "messages; it includes every thread of the process, so for uring+sqpoll the kernel "
        "SQ thread (iou-sqp-*, a thread of the server process, sharing its CPU 0 affinity) "
        "is counted — not shown separately",
        "- syscalls/msg (ringo): ringo-echo's own `syscalls` counter (ringo variants only)",
        f"- medians over repetitions; ratios are this variant's median CPU µs/msg ÷ "
        f"{REF_URING}'s / {REF_EPOLL}'s in the same cell (>1: more CPU per message); "
        f"'{REF_EPOLL}' is ringo-echo on its epoll backend",
    ]
    if inherited:
        md.append(f"- ignored inherited environment: {', '.join(inherited)}")
    md += [""] + md_tables(rows, cells, perf.ok) + variants_md + [""] + notes
    text = "\n".join(md)
    print(text)

    stem = args.out
    if os.path.dirname(stem):
        os.makedirs(os.path.dirname(stem), exist_ok=True)
    with open(stem + ".md", "w") as f:
        f.write(text)
    with open(stem + ".json", "w") as f:
        config = {k: v for k, v in vars(args).items()}
        json.dump({"command": command, "started": started.isoformat(timespec="seconds"),
                   "elapsed_s": round(elapsed, 1), "machine": info, "perf": perf.status,
                   "clk_tck": echo.CLK_TCK, "config": config,
                   "variants": {v: {"env": VARIANTS[v][0], "what": VARIANTS[v][1],
                                    "knobs_not_in_binary": missing.get(v, []),
                                    "features": features.get(v, [])}
                                for v in args.variant_list},
                   "cells": [{"conns": c, "size": s, "variants": vs} for c, s, vs in cells],
                   "interrupted": interrupted, "summary": rows, "runs": runs}, f, indent=1)
    print(f"\nwrote {stem}.md and {stem}.json", file=sys.stderr)
    return 1 if (failed or interrupted) else 0


if __name__ == "__main__":
    sys.exit(main())
