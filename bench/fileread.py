#!/usr/bin/env python3
"""Sequential file read: ringo_pread (io_uring and epoll backends) against a
plain pread loop and dd, page-cache cold and warm.

    python3 bench/fileread.py --build build [--size 1] [--reps 3]
        [--chunk 1M] [--depth 1] [--modes ringo-uring,ringo-epoll,plain,dd]
        [--file /var/tmp/ringo-fileread-1g.dat] [--no-warm] [--no-cold]
        [--out bench/out]

Creates the test file once (--size GiB of pseudo-random bytes, fsynced) and
keeps it for later runs. Then for each repetition the readers take turns:

  cold: before each run `sync; echo 3 > /proc/sys/vm/drop_caches` (root),
        then `fileread --resident` (mincore) must find < 1 % of the file
        cached, else the run is flagged;
  warm: the file fully cached (checked the same way, >= 99 %).

Every reader is pinned to one CPU (taskset -c 0; --cpu): ringo's worker and, by
inheritance, its offload pool threads; the plain loop; dd. Readers:

  ringo-uring / ringo-epoll  build/bench/fileread --backend B --chunk C --depth D
  plain                      build/bench/fileread --plain --chunk C
  dd                         dd if=FILE of=/dev/null bs=1M

Prints and writes (bench/out/fileread-DATE.md and .json) the median [min-max]
MB/s (10^6 bytes/s) of each reader and its ratio to dd's median. Python
standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

ALL_MODES = ["ringo-uring", "ringo-epoll", "plain", "dd"]


def sh(argv, **kw):
    return subprocess.run(argv, check=False, text=True, capture_output=True, **kw)


def make_file(path, size):
    """size bytes of pseudo-random data, written once and fsynced."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return False
    block = 1 << 20
    seed = os.urandom(block)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for i in range(size // block):
            # vary each block a little so no two are alike
            f.write(i.to_bytes(8, "little") + seed[8:])
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    return True


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def resident(build, path):
    r = sh([os.path.join(build, "bench", "fileread"), "--resident", path])
    m = re.search(r"resident=([\d.]+)", r.stdout)
    if not m:
        raise SystemExit("fileread --resident failed: " + r.stderr.strip())
    return float(m.group(1))


def run_reader(mode, args, path):
    """Returns (bytes, seconds) of one run."""
    pin = ["taskset", "-c", args.cpu]
    if mode == "dd":
        r = sh(pin + ["dd", "if=" + path, "of=/dev/null", "bs=1M"])
        # "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 0.52 s, 2.1 GB/s"
        m = re.search(r"^(\d+) bytes .* copied, ([\d.]+) s", r.stderr, re.M)
        if r.returncode != 0 or not m:
            raise SystemExit("dd failed: " + r.stderr.strip())
        return int(m.group(1)), float(m.group(2))
    exe = os.path.join(args.build, "bench", "fileread")
    if mode == "plain":
        argv = [exe, "--plain", "--chunk", args.chunk, path]
    else:
        backend = mode.split("-", 1)[1]
        argv = [exe, "--backend", backend, "--chunk", args.chunk, "--depth", str(args.depth), path]
    env = dict(os.environ)
    env.pop("RINGO_VERBOSE", None)
    r = sh(pin + argv, env=env)
    m = re.search(r"bytes=(\d+) secs=([\d.]+)", r.stdout)
    if r.returncode != 0 or not m:
        raise SystemExit("%s failed: %s %s" % (" ".join(argv), r.stdout.strip(), r.stderr.strip()))
    return int(m.group(1)), float(m.group(2))


def cell(vals):
    if not vals:
        return "-"
    return "%.0f [%.0f–%.0f]" % (statistics.median(vals), min(vals), max(vals))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--size", type=float, default=1, help="file size in GiB (1 or 2)")
    ap.add_argument("--file", default=None)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--chunk", default="1M", help="bytes per ringo_pread / pread call")
    ap.add_argument("--depth", type=int, default=1, help="ringo_pread calls in flight")
    ap.add_argument("--modes", default=",".join(ALL_MODES))
    ap.add_argument("--no-warm", action="store_true")
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--cpu", default="0", help="the CPU every reader is pinned to")
    ap.add_argument("--out", default="bench/out")
    args = ap.parse_args()

    modes = args.modes.split(",")
    for m in modes:
        if m not in ALL_MODES:
            raise SystemExit("unknown mode %s (have %s)" % (m, ",".join(ALL_MODES)))
    path = args.file or "/var/tmp/ringo-fileread-%gg.dat" % args.size
    size = int(args.size * (1 << 30)) // (1 << 20) * (1 << 20)
    caches = ([] if args.no_cold else ["cold"]) + ([] if args.no_warm else ["warm"])
    if "cold" in caches and os.geteuid() != 0:
        raise SystemExit("cold-cache runs need root (drop_caches); use --no-cold")
    if make_file(path, size):
        print("created %s (%g GiB)" % (path, args.size), flush=True)

    load0 = os.getloadavg()[0]
    results = {c: {m: [] for m in modes} for c in caches}
    flags = []
    for rep in range(args.reps):
        for cache in caches:
            for mode in modes:
                if cache == "cold":
                    drop_caches()
                    res = resident(args.build, path)
                    if res >= 1.0:
                        flags.append("rep %d %s %s: %.1f %% cached after the drop" %
                                     (rep + 1, cache, mode, res))
                else:
                    res = resident(args.build, path)
                    if res < 99.0:
                        run_reader("dd", args, path)  # bring it in
                        res = resident(args.build, path)
                    if res < 99.0:
                        flags.append("rep %d warm %s: only %.1f %% cached" % (rep + 1, mode, res))
                nbytes, secs = run_reader(mode, args, path)
                if nbytes != size:
                    flags.append("rep %d %s %s: read %d bytes" % (rep + 1, cache, mode, nbytes))
                mbps = nbytes / 1e6 / secs
                results[cache][mode].append(mbps)
                print("rep %d %-4s %-12s %8.1f MB/s  (%.3f s, %.1f %% cached before)" %
                      (rep + 1, cache, mode, mbps, secs, res), flush=True)

    load1 = os.getloadavg()[0]
    cmd = "python3 bench/fileread.py " + " ".join(sys.argv[1:])
    lines = [
        "# Sequential file read, %g GiB, %s" % (args.size, datetime.datetime.utcnow()
                                                .strftime("%Y-%m-%d %H:%M UTC")),
        "",
        "`%s` — %s, kernel %s, %d CPUs; readers pinned to CPU %s; ringo: chunk %s, "
        "depth %d; plain pread: chunk %s; dd bs=1M. MB/s = 10^6 bytes/s, median [min–max] "
        "of %d runs. Load average %.2f before, %.2f after." %
        (cmd, platform.machine(), platform.release(), os.cpu_count(), args.cpu, args.chunk,
         args.depth, args.chunk, args.reps, load0, load1),
        "",
        "| cache | " + " | ".join(modes) + " |",
        "|---|" + "---|" * len(modes),
    ]
    for cache in caches:
        lines.append("| %s | " % cache + " | ".join(cell(results[cache][m]) for m in modes) + " |")
    if "dd" in modes:
        lines.append("")
        lines.append("| cache | " + " | ".join("%s / dd" % m for m in modes if m != "dd") + " |")
        lines.append("|---|" + "---|" * (len(modes) - 1))
        for cache in caches:
            dd = statistics.median(results[cache]["dd"])
            lines.append("| %s | " % cache + " | ".join(
                "%.2f" % (statistics.median(results[cache][m]) / dd) for m in modes
                if m != "dd") + " |")
    if flags:
        lines.append("")
        lines.append("Flags:")
        lines += ["- " + f for f in flags]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    os.makedirs(args.out, exist_ok=True)
    stamp = datetime.datetime.utcnow().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(args.out, "fileread-" + stamp)
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump({"command": cmd, "size_gib": args.size, "load": [load0, load1], "chunk": args.chunk,
                   "depth": args.depth, "results_mbps": results, "flags": flags}, f, indent=1)
    print("wrote %s.md and .json" % base)
    return 1 if flags else 0


if __name__ == "__main__":
    sys.exit(main())
