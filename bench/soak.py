#!/usr/bin/env python3
"""Soak run of ringo-httpd (issue 13): many concurrent keep-alive
connections with pipelining, slow readers, slow writers and resets for a
long time, every answer verified; the server's RSS, open fds and CPU
sampled the whole time.

    python3 bench/soak.py [--build build] [--backends uring,epoll]
        [--duration 600] [--conns 10000] [--workers 2] [--sample 5]
        [--gen-backend epoll]

For each backend:
  1. write a document root (files f0000..f0999 of distinct sizes, big0..3
     larger than the server's 64 KiB in-memory cache limit; every 32-byte
     block of a file names the file and its offset);
  2. start `ringo-httpd --workers W --backend B --root ROOT`, pinned to
     CPU 0 (taskset), RLIMIT_NOFILE raised to 65536;
  3. take the server's fd baseline, then run bench/soak/gen.c
     (build/bench/soak-gen, built here if missing or older than its source)
     pinned to CPU 1 for --duration seconds; every --sample seconds record
     the server's VmRSS, open fds (sockets, files under the root, other),
     CPU of the server, the generator and the rest of the machine (CSV);
  4. after the generator has closed everything: wait up to --fd-wait
     seconds for the server's sockets and other fds to come back to the
     baseline, check that it is alive, stop it with SIGTERM (graceful
     shutdown: must exit 0).

Checks (any failure makes the exit status 1):
  - the server is alive at the end and exits 0 on SIGTERM;
  - the generator counted no failure (lost, timeout, bad, extra, connect
    errors; see bench/soak/gen.c) and no slot hung;
  - sockets and other fds back to the baseline; file fds at most what the
    static-file cache may hold (256 per worker);
  - RSS growth after warm-up within the bound: the median of the last 3
    samples under load minus the median of the first 3 after warm-up is
    at most max(--rss-bound-mib, --rss-bound-pct % of the latter).

Results: bench/out/soak-BACKEND-YYYYmmdd-HHMMSS.{csv,md,log}. Python
standard library only; see bench/README.md ("Soak run").
"""
import argparse
import datetime
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import echo  # noqa: E402  (fresh_port, wait_accepting, stop_process, cpu_ticks)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SERVER_CPU = "0"
LOAD_CPU = "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
NOFILE = 65536
FC_SLOTS = 256  # src/http/fcache.h: file fds the static cache may keep per worker
NSMALL = 1000
BIG_SIZES = (100_003, 300_007, 1_048_583, 1_572_869)
DEFAULT_MIX = "keepalive=40,pipeline=25,slowread=10,slowwrite=10,reset=15"


# --------------------------------------------------------------------------
# set-up


def small_size(k):
    """Every file its own size (and none 13 bytes, /plaintext's length), so
    even a HEAD answer tells which file it describes."""
    return 20 + 9 * k


def file_bytes(name, size):
    """32-byte blocks "NAME OFFSET soak\\n": a misplaced or shifted byte
    range never matches."""
    blocks = []
    for off in range(0, size, 32):
        blocks.append(f"{name} {off:010d} soak".ljust(31).encode()[:31] + b"\n")
    return b"".join(blocks)[:size]


def make_root(path):
    for k in range(NSMALL):
        name = f"f{k:04d}"
        with open(os.path.join(path, name), "wb") as f:
            f.write(file_bytes(name, small_size(k)))
    for i, size in enumerate(BIG_SIZES):
        name = f"big{i}"
        with open(os.path.join(path, name), "wb") as f:
            f.write(file_bytes(name, size))


def build_gen(build):
    """build/bench/soak-gen from bench/soak/gen.c and build/libringo.a."""
    src = os.path.join(HERE, "soak", "gen.c")
    lib = os.path.join(build, "libringo.a")
    exe = os.path.join(build, "bench", "soak-gen")
    if not os.path.exists(lib):
        sys.exit(f"soak.py: {lib} missing: run `make BUILD={build} lib tools` first")
    if os.path.exists(exe) and os.path.getmtime(exe) >= max(os.path.getmtime(src),
                                                            os.path.getmtime(lib)):
        return exe
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    cmd = [os.environ.get("CC", "cc"), "-O2", "-g", "-std=c11", "-D_GNU_SOURCE", "-Wall",
           "-Wextra", "-Werror", "-I" + os.path.join(REPO, "include"), src, lib, "-luring", "-lssl", "-lcrypto",
           "-lpthread", "-o", exe]
    print("soak.py: " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    return exe


def raise_nofile():
    """preexec_fn: 10,000 connections need more than the default 1024 fds
    (root may raise the hard limit; otherwise take the hard limit)."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------------
# sampling


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def fd_counts(pid, root):
    """(sockets, files under root, other) open fds of pid, or None."""
    base = f"/proc/{pid}/fd"
    try:
        names = os.listdir(base)
    except OSError:
        return None
    sock = files = other = 0
    for n in names:
        try:
            target = os.readlink(os.path.join(base, n))
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:"):
            sock += 1
        elif target.startswith(root + "/"):
            files += 1
        else:
            other += 1
    return sock, files, other


def machine_busy():
    """Busy clock ticks of all CPUs (user+nice+system+irq+softirq+steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


class Sampler:
    FIELDS = ["t_s", "phase", "rss_mib", "fds", "fd_sock", "fd_file", "fd_other",
              "server_cpu_pct", "gen_cpu_pct", "other_cpu_pct"]

    def __init__(self, srv_pid, gen_pid, root):
        self.srv, self.gen, self.root = srv_pid, gen_pid, root
        self.t0 = time.monotonic()
        self.rows = []
        self.last = self._ticks()

    def _ticks(self):
        return (time.monotonic(), echo.cpu_ticks(self.srv) or 0,
                (echo.cpu_ticks(self.gen) or 0) if self.gen else 0, machine_busy())

    def sample(self, phase):
        now = self._ticks()
        dt = max(now[0] - self.last[0], 1e-3) * CLK_TCK
        srv = 100.0 * (now[1] - self.last[1]) / dt
        gen = 100.0 * max(now[2] - self.last[2], 0) / dt
        other = max(100.0 * (now[3] - self.last[3]) / dt - srv - gen, 0.0)
        self.last = now
        rss = rss_kib(self.srv)
        fds = fd_counts(self.srv, self.root)
        if rss is None or fds is None:
            return None
        row = {"t_s": round(now[0] - self.t0, 1), "phase": phase,
               "rss_mib": round(rss / 1024, 1), "fds": sum(fds), "fd_sock": fds[0],
               "fd_file": fds[1], "fd_other": fds[2], "server_cpu_pct": round(srv, 1),
               "gen_cpu_pct": round(gen, 1), "other_cpu_pct": round(other, 1)}
        self.rows.append(row)
        return row


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else None


def slope_mib_per_min(rows):
    """Least-squares slope of RSS over time."""
    if len(rows) < 2:
        return 0.0
    ts = [r["t_s"] for r in rows]
    ys = [r["rss_mib"] for r in rows]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return 60.0 * sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den if den else 0.0


# --------------------------------------------------------------------------
# one backend


def run_backend(args, backend, gen_exe, stamp):
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, f"soak-{backend}-{stamp}")
    root = tempfile.mkdtemp(prefix="ringo-soak-root-")
    make_root(root)
    root = os.path.realpath(root)
    port = echo.fresh_port()
    httpd = os.path.join(args.build, "ringo-httpd")
    srv_cmd = ["taskset", "-c", SERVER_CPU, httpd, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(args.workers), "--backend", backend, "--root", root, "--metrics"]
    gen_cmd = ["taskset", "-c", LOAD_CPU, gen_exe, "--addr", f"127.0.0.1:{port}", "--root", root,
               "--conns", str(args.conns), "--duration", str(args.duration), "--mix", args.mix,
               "--timeout", str(args.timeout), "--seed", str(args.seed)]
    if args.gen_backend:
        gen_cmd += ["--backend", args.gen_backend]
    warmup = args.warmup if args.warmup is not None else min(120.0, max(10.0, args.duration / 5))
    res = {"backend": backend, "server_cmd": " ".join(srv_cmd), "gen_cmd": " ".join(gen_cmd),
           "warmup_s": warmup, "failures": [], "loadavg_start": open("/proc/loadavg").read().split()[:3]}
    log = open(base + ".log", "w")
    srv_log = open(base + ".server.log", "w")
    print(f"soak.py: {backend}: server: {res['server_cmd']}", file=sys.stderr)
    srv = subprocess.Popen(srv_cmd, stdout=srv_log, stderr=srv_log, preexec_fn=raise_nofile)
    try:
        problem = echo.wait_accepting(srv, port)
        if problem:
            res["failures"].append(problem)
            return res, base
        time.sleep(1.0)
        fds0 = fd_counts(srv.pid, root)
        res["fd_baseline"] = fds0
        print(f"soak.py: {backend}: fds at start (sockets, files, other): {fds0}", file=sys.stderr)
        print(f"soak.py: {backend}: load: {res['gen_cmd']}", file=sys.stderr)
        gen = subprocess.Popen(gen_cmd, stdout=subprocess.PIPE, stderr=log,
                               preexec_fn=raise_nofile, text=True)
        sampler = Sampler(srv.pid, gen.pid, root)
        t_start = time.monotonic()
        next_print = t_start + 30
        while gen.poll() is None:
            time.sleep(args.sample)
            phase = "load" if time.monotonic() - t_start < args.duration else "drain"
            row = sampler.sample(phase)
            if row is None:
                break
            if time.monotonic() >= next_print:
                next_print += 30
                print(f"soak.py: {backend}: t={row['t_s']:.0f}s rss={row['rss_mib']} MiB "
                      f"fds={row['fds']} cpu={row['server_cpu_pct']}%", file=sys.stderr)
        try:
            gen_out, _ = gen.communicate(timeout=args.duration + args.timeout + 120)
        except subprocess.TimeoutExpired:
            gen.kill()
            gen_out, _ = gen.communicate()
            res["failures"].append("load generator did not finish")
        res["gen_exit"] = gen.returncode
        sampler.gen = None
        try:
            res["gen"] = json.loads(gen_out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            res["gen"] = None
            res["failures"].append(f"no summary from the load generator (exit {gen.returncode})")
        # every client is closed now: the server's fds must come back
        t_closed = time.monotonic()
        fds = None
        while time.monotonic() - t_closed < args.fd_wait:
            time.sleep(1.0)
            row = sampler.sample("after")
            if row is None:
                break
            fds = (row["fd_sock"], row["fd_file"], row["fd_other"])
            if fds0 and fds[0] == fds0[0] and fds[2] == fds0[2]:
                break
        res["metrics"] = scrape_metrics(port)
        res["fd_end"] = fds
        res["fd_back_after_s"] = round(time.monotonic() - t_closed, 1)
        res["alive"] = srv.poll() is None
        res["samples"] = sampler.rows
        res["server_stop"] = echo.stop_process(srv, grace=args.fd_wait)
        res["server_exit"] = srv.returncode
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
        log.close()
        srv_log.close()
        if not args.keep_root:
            shutil.rmtree(root, ignore_errors=True)
    res["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    judge(args, res)
    return res, base


METRICS_SHOWN = ("ringo_http_requests_total", "ringo_http_timeouts_total",
                 "ringo_http_idle_timeouts_total", "ringo_http_connection_errors_total",
                 'ringo_http_errors_total{code="408"}', 'ringo_http_responses_total{class="5xx"}',
                 "ringo_recv_enobufs_total", "ringo_recv_fallbacks_total",
                 "ringo_cq_overflows_total", "ringo_stacks_mapped_total")


def scrape_metrics(port):
    """The server's own counters after the load (it runs with --metrics;
    the scrape itself is one more request)."""
    # a plain socket: bench/http/ (wrk scripts) shadows the http package
    # that urllib needs, this folder being first on sys.path
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        return {"error": str(e)}
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        return {"error": head.split(b"\r\n")[0].decode(errors="replace")}
    text = body.decode(errors="replace")
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            if name in METRICS_SHOWN:
                out[name] = int(float(value))
    return out


def warm_rows(args, res, load):
    """Samples after warm-up: at least --warmup seconds in, and 30 s after
    the open connections first reached 95 % of --conns (the generator
    ramps up over a minute or two; memory grows with the connections)."""
    t_full = next((r["t_s"] for r in load if r["fd_sock"] >= 0.95 * args.conns), None)
    start = res["warmup_s"] if t_full is None else max(res["warmup_s"], t_full + 30)
    res["flat_from_s"] = start
    return [r for r in load if r["t_s"] >= start]


def judge(args, res):
    f = res["failures"]
    if not res.get("alive"):
        f.append(f"server died during the run (exit {res.get('server_exit')})")
    elif res.get("server_exit") != 0:
        f.append(f"server did not exit 0 on SIGTERM: {res.get('server_stop')}")
    g = res.get("gen")
    if g:
        if g["failures"]:
            t = g["total"]
            f.append("load generator: {} failure(s): lost {}, timeout {}, bad {}, extra {}, "
                     "connect errors {}".format(g["failures"], t["lost"], t["timeout"], t["bad"],
                                                t["extra"], t["connect_errors"]))
        if g["hung_slots"]:
            f.append(f"load generator: {g['hung_slots']} connection(s) never finished")
    fds0, fds = res.get("fd_baseline"), res.get("fd_end")
    if fds0 and fds:
        if fds[0] != fds0[0] or fds[2] != fds0[2]:
            f.append(f"fds not back to baseline after {res['fd_back_after_s']} s: sockets "
                     f"{fds0[0]} -> {fds[0]}, other {fds0[2]} -> {fds[2]}")
        if fds[1] > FC_SLOTS * args.workers:
            f.append(f"{fds[1]} file fds open at the end, more than the cache's "
                     f"{FC_SLOTS * args.workers}")
    load = [r for r in res.get("samples", []) if r["phase"] == "load"]
    warm = warm_rows(args, res, load)
    if len(warm) >= 6:
        a = median([r["rss_mib"] for r in warm[:3]])
        b = median([r["rss_mib"] for r in warm[-3:]])
        bound = max(args.rss_bound_mib, a * args.rss_bound_pct / 100.0)
        res["rss"] = {"after_warmup_mib": a, "end_mib": b, "growth_mib": round(b - a, 1),
                      "bound_mib": round(bound, 1), "max_mib": max(r["rss_mib"] for r in load),
                      "slope_mib_per_min": round(slope_mib_per_min(warm), 2)}
        if b - a > bound:
            f.append(f"RSS grew {b - a:.1f} MiB after warm-up ({a} -> {b} MiB), bound "
                     f"{bound:.1f} MiB")
    else:
        f.append(f"too few samples after warm-up to judge RSS ({len(warm)}; lower --warmup "
                 f"or --sample)")


# --------------------------------------------------------------------------
# reporting


def curve(rows, n):
    """About n rows spread evenly over the run, the last one always."""
    if len(rows) <= n:
        return rows
    step = len(rows) / n
    pick = [rows[int(i * step)] for i in range(n)]
    if pick[-1] is not rows[-1]:
        pick.append(rows[-1])
    return pick


def report(args, res, base):
    lines = [f"# Soak run: ringo-httpd, backend {res['backend']}", ""]
    lines.append(f"- server: `{res['server_cmd']}`")
    lines.append(f"- load: `{res['gen_cmd']}`")
    lines.append(f"- warm-up: {res['warmup_s']:g} s; load average at start "
                 f"{' '.join(res['loadavg_start'])}, at end {' '.join(res['loadavg_end'])}")
    lines.append(f"- fds (sockets, files, other): start {res.get('fd_baseline')}, end "
                 f"{res.get('fd_end')} ({res.get('fd_back_after_s')} s after the last client "
                 f"closed)")
    lines.append(f"- server: alive at end: {res.get('alive')}, stop: {res.get('server_stop')}")
    if res.get("metrics"):
        lines.append("- server counters at the end: " + ", ".join(
            f"{k} {v}" for k, v in res["metrics"].items()))
    rss = res.get("rss")
    if rss:
        lines.append(f"- RSS: {rss['after_warmup_mib']} MiB after warm-up (from "
                     f"{res['flat_from_s']:g} s), {rss['end_mib']} MiB "
                     f"at the end of the load (growth {rss['growth_mib']} MiB, bound "
                     f"{rss['bound_mib']} MiB), peak {rss['max_mib']} MiB, slope after warm-up "
                     f"{rss['slope_mib_per_min']} MiB/min")
    g = res.get("gen")
    if g:
        lines += ["", "| kind | conns | sent | answered | after close | abandoned | lost | "
                      "timeout | bad | extra | conn err | 408 (slow head) | resets | max latency |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        kinds = list(g["kinds"].items()) + [("total", g["total"])]
        for name, k in kinds:
            lat = f"{k['lat_max_ms']:.0f} ms" if "lat_max_ms" in k and name in (
                "keepalive", "pipeline") else ""
            lines.append(f"| {name} | {k['conns']} | {k['sent']} | {k['answered']} | "
                         f"{k['after_close']} | {k['abandoned']} | {k['lost']} | {k['timeout']} | "
                         f"{k['bad']} | {k['extra']} | {k['connect_errors']} | {k['legit_408']} | "
                         f"{k['resets']} | {lat} |")
    lines += ["", "| t (s) | phase | RSS (MiB) | fds | sockets | files | server CPU % | "
                  "generator CPU % | other CPU % |", "|---|---|---|---|---|---|---|---|---|"]
    for r in curve(res.get("samples", []), args.curve_rows):
        lines.append(f"| {r['t_s']:.0f} | {r['phase']} | {r['rss_mib']} | {r['fds']} | "
                     f"{r['fd_sock']} | {r['fd_file']} | {r['server_cpu_pct']} | "
                     f"{r['gen_cpu_pct']} | {r['other_cpu_pct']} |")
    lines += ["", "Verdict: " + ("PASS" if not res["failures"] else "FAIL")]
    for f in res["failures"]:
        lines.append(f"- {f}")
    text = "\n".join(lines) + "\n"
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".csv", "w") as f:
        f.write(",".join(Sampler.FIELDS) + "\n")
        for r in res.get("samples", []):
            f.write(",".join(str(r[k]) for k in Sampler.FIELDS) + "\n")
    return text


def shown_failures(base, n=15):
    try:
        with open(base + ".log") as f:
            return [line.rstrip() for line in f if " FAIL " in line][:n]
    except OSError:
        return []


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--backends", default="uring,epoll")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2,
                    help="server workers, all on CPU 0 (default 2: see bench/README.md)")
    ap.add_argument("--mix", default=DEFAULT_MIX)
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="seconds the generator waits for one answer")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gen-backend", default="epoll",
                    help="the generator's ringo backend (default epoll: see bench/README.md)")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds before RSS must stay flat (default: 20%% of the duration, "
                         "10..120 s)")
    ap.add_argument("--rss-bound-mib", type=float, default=16.0)
    ap.add_argument("--rss-bound-pct", type=float, default=5.0)
    ap.add_argument("--fd-wait", type=float, default=30.0,
                    help="seconds the server gets to close everything after the load")
    ap.add_argument("--curve-rows", type=int, default=16)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--keep-root", action="store_true")
    return ap.parse_args()


def main():
    args = parse_args()
    for tool in ("taskset",):
        if not shutil.which(tool):
            sys.exit(f"soak.py: {tool} not found (util-linux)")
    if not os.path.exists(os.path.join(args.build, "ringo-httpd")):
        sys.exit(f"soak.py: {args.build}/ringo-httpd missing: run `make BUILD={args.build} tools`")
    lo, hi = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    if hi - lo + 1 < args.conns + 1000:
        print(f"soak.py: warning: ip_local_port_range {lo}-{hi} has fewer ports than "
              f"{args.conns} connections need with reconnects", file=sys.stderr)
    gen_exe = build_gen(args.build)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    failed = False
    for backend in args.backends.split(","):
        res, base = run_backend(args, backend, gen_exe, stamp)
        text = report(args, res, base)
        print(text)
        for line in shown_failures(base):
            print(line)
        print(f"(files: {base}.md, .csv, .log, .server.log)\n")
        failed |= bool(res["failures"])
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
