#!/usr/bin/env python3
"""HTTP benchmark: ringo-httpd (io_uring and epoll backends) side by side with
hand-written liburing/epoll responders, nginx, h2o, Go net/http and fasthttp,
one server CPU against one wrk CPU.

    python3 bench/http.py --build build [--servers ...] [--scenarios ...]
        [--reps 3] [--duration 5] [--warmup 1] [--out bench/out]

Every server runs with one worker/thread, pinned to CPU 0; wrk runs pinned to
CPU 1 (`taskset -c 1 wrk -t1 -cN -dT --latency`). For every scenario and
repetition the servers take turns (A B C ... A B C ...). Each run starts the
server on a fresh port, validates it with curl (status, body, Server, Date,
Content-Type and Content-Length headers; the 4 KiB file byte for byte),
warms it up with a short wrk run, then measures one wrk run:

  - requests/s, p50/p99 latency, socket errors and non-2xx/3xx responses,
    all from wrk's own report;
  - server CPU time (utime+stime of all threads, /proc/PID/stat; for nginx
    the worker process, the idle master is not counted) between the moment
    just before wrk starts and the moment it has exited;
  - server syscalls (perf stat -e raw_syscalls:sys_enter -p PID, enabled
    and disabled through perf's control FIFO at the same two moments);
  - CPU used by anything else on the machine during the window (the
    busy time of /proc/stat minus the server's and wrk's own), so that a
    build running next to the benchmark shows up in the table.

With --loadgen ringo-bench, `ringo-bench http --workers 1` (also on CPU 1)
replaces wrk: warm-up and window run in one process, the samples above are
taken when it prints MEASURE START / MEASURE END, and its own checks
(status, framing, the plaintext body byte for byte) count the errors. It
needs less CPU per request than wrk, so throughput is no longer capped at
what one wrk core can generate (~80k req/s here); wrk stays the reference.

Python standard library only. See bench/README.md ("HTTP benchmark").
"""
import argparse
import datetime
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import echo  # noqa: E402  (bench/echo.py: Perf, PerfSession, ports, CPU ticks, formatting)

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.join(HERE, "http")
WWW = os.path.join(ASSETS, "www")
SERVER_CPU = echo.SERVER_CPU
LOAD_CPU = echo.LOAD_CPU
CLK_TCK = echo.CLK_TCK

DEFAULT_SERVERS = ["ringo-uring", "ringo-epoll", "baseline-uring", "baseline-epoll", "nginx",
                   "h2o", "go-http", "fasthttp"]
# h2o-file: h2o answering /plaintext from a 13-byte file instead of mruby.
ALL_SERVERS = DEFAULT_SERVERS + ["h2o-file"]
REFERENCE = "ringo-uring"
FALLBACK_REFERENCE = "baseline-uring"

# name: (path, connections, pipeline depth)
SCENARIOS = {
    "plaintext-c100": ("/plaintext", 100, 1),
    "plaintext-c1000": ("/plaintext", 1000, 1),
    "pipeline16-c100": ("/plaintext", 100, 16),
    "static4k-c100": ("/4k.bin", 100, 1),
}
# The hand-written responders answer every request with the plaintext
# response: they have no file to serve.
NO_STATIC = {"baseline-uring", "baseline-epoll"}

PLAINTEXT_BODY = b"Hello, World!"


# --------------------------------------------------------------------------
# servers


def raise_nofile():
    """preexec_fn: 1000 connections need more than the default 1024 fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server_exe(name, build, httpd=None):
    httpd = httpd or os.path.join(build, "ringo-httpd")
    return {
        "ringo-uring": httpd,
        "ringo-epoll": httpd,
        "baseline-uring": os.path.join(build, "bench", "baseline-uring-http"),
        "baseline-epoll": os.path.join(build, "bench", "baseline-epoll-http"),
        "nginx": shutil.which("nginx") or "nginx",
        "h2o": shutil.which("h2o") or "h2o",
        "h2o-file": shutil.which("h2o") or "h2o",
        "go-http": os.path.join(build, "bench", "go-http"),
        "fasthttp": os.path.join(build, "bench", "go-fasthttp"),
    }[name]


def render(template, workdir, port):
    with open(os.path.join(ASSETS, template)) as f:
        text = f.read()
    text = (text.replace("@PORT@", str(port)).replace("@ROOT@", WWW)
            .replace("@PREFIX@", workdir))
    path = os.path.join(workdir, template)
    with open(path, "w") as f:
        f.write(text)
    return path


def server_argv(name, build, port, workdir, httpd=None):
    """Command line and extra environment for one server."""
    exe = server_exe(name, build, httpd)
    if name in ("ringo-uring", "ringo-epoll"):
        return [exe, "--port", str(port), "--workers", "1", "--backend",
                name.split("-", 1)[1], "--root", WWW], {}
    if name in ("baseline-uring", "baseline-epoll"):
        return [exe, str(port)], {}
    if name == "nginx":
        conf = render("nginx.conf", workdir, port)
        return [exe, "-p", workdir, "-c", conf, "-g", "daemon off;"], {}
    if name in ("h2o", "h2o-file"):
        return [exe, "-c", render(name + ".conf", workdir, port)], {}
    if name in ("go-http", "fasthttp"):
        # One P, like the single-threaded C servers; Go's sysmon and GC
        # threads still run, and their CPU time is counted too.
        return [exe, str(port), WWW], {"GOMAXPROCS": "1"}
    raise ValueError(name)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def measured_pids(name, pid):
    """The processes whose CPU and syscalls count: nginx's worker(s) (the
    master only sleeps in sigsuspend), the server process otherwise."""
    if name == "nginx":
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            kids = children(pid)
            if kids:
                return kids
            time.sleep(0.02)
        return []
    return [pid]


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        t = echo.cpu_ticks(pid)
        if t is None:
            return None
        total += t
    return total


def busy_ticks():
    """(busy, steal) clock ticks of CPUs SERVER_CPU and LOAD_CPU from
    /proc/stat: busy is user+nice+system+irq+softirq, steal is the time the
    hypervisor gave to someone else."""
    busy = steal = 0
    with open("/proc/stat") as f:
        for line in f:
            parts = line.split()
            if parts[0] in (f"cpu{SERVER_CPU}", f"cpu{LOAD_CPU}"):
                v = [int(x) for x in parts[1:9]]
                busy += v[0] + v[1] + v[2] + v[5] + v[6]
                steal += v[7]
    return busy, steal


# --------------------------------------------------------------------------
# validation


def curl(url, timeout=5, extra=()):
    """(status, headers dict lower-case -> value, body bytes) or an error
    string; extra: more curl arguments (bench/https.py: --cacert)."""
    try:
        r = subprocess.run(["curl", "-s", "-S", "-i", "--http1.1", *extra, "--max-time",
                            str(timeout), url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout + 5)
    except (OSError, subprocess.SubprocessError) as e:
        return f"curl failed: {e}"
    if r.returncode != 0:
        return f"curl failed: {r.stderr.decode(errors='replace').strip()[:200]}"
    head, sep, body = r.stdout.partition(b"\r\n\r\n")
    if not sep:
        return "curl: no end of headers"
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/\S+ (\d+)", lines[0])
    if not m:
        return f"curl: bad status line {lines[0]!r}"
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers, body


def validate(name, port, static):
    """Returns a list of what is wrong with the server's answers (empty:
    fine). The plaintext response must be exactly TechEmpower's."""
    problems = []
    r = curl(f"http://127.0.0.1:{port}/plaintext")
    if isinstance(r, str):
        return [f"GET /plaintext: {r}"]
    status, headers, body = r
    missing = [h for h in ("server", "date", "content-type", "content-length")
               if h not in headers]
    if status != 200:
        problems.append(f"status {status}")
    if body != PLAINTEXT_BODY:
        problems.append(f"body {body[:40]!r}")
    if missing:
        problems.append("missing header(s) " + ", ".join(missing))
    if "content-type" in headers and not headers["content-type"].startswith("text/plain"):
        problems.append(f"Content-Type {headers['content-type']!r}")
    if headers.get("content-length", "13") != "13":
        problems.append(f"Content-Length {headers['content-length']!r}")
    problems = [f"GET /plaintext: {p}" for p in problems]
    if static:
        r = curl(f"http://127.0.0.1:{port}/4k.bin")
        if isinstance(r, str):
            return problems + [f"GET /4k.bin: {r}"]
        status, headers, body = r
        with open(os.path.join(WWW, "4k.bin"), "rb") as f:
            want = f.read()
        if status != 200:
            problems.append(f"GET /4k.bin: status {status}")
        if body != want:
            problems.append(f"GET /4k.bin: body differs ({len(body)} bytes)")
        if headers.get("content-length") != str(len(want)):
            problems.append(f"GET /4k.bin: Content-Length {headers.get('content-length')!r}")
    return problems


# --------------------------------------------------------------------------
# wrk

UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(out):
    res = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        res["requests"] = int(m.group(1))
        res["seconds"] = to_us(m.group(2) + m.group(3)) / 1e6
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["req_per_s"] = float(m.group(1))
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        if m:
            v = to_us(m.group(1))
            # wrk prints 0.00us for a percentile beyond its recorded range
            # (seen with pipelining): unknown, not zero.
            res[key] = v if v else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                    map(int, m.groups()))) if m else {}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    return res


def wrk_cmd(args, port, scenario, duration):
    path, conns, depth = SCENARIOS[scenario]
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{duration:g}s",
           "--latency", "--timeout", "5s"]
    if depth > 1:
        cmd += ["-s", os.path.join(ASSETS, "pipeline.lua")]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    if depth > 1:
        cmd += ["--", str(depth)]
    return cmd


def run_wrk(cmd, timeout):
    """Returns (exit status, stdout+stderr, wrk's own CPU seconds)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=raise_nofile, start_new_session=True)
    deadline = time.monotonic() + timeout
    # wait4 rather than wait: its rusage is wrk's CPU time (taskset execs
    # wrk, so the child is wrk itself). wrk's output is small enough for
    # the pipe buffer.
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(proc.pid, 0)
            break
        time.sleep(0.005)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read().decode(errors="replace")
    proc.stdout.close()
    return proc.returncode, out, ru.ru_utime + ru.ru_stime


# --------------------------------------------------------------------------
# load generators: each fills rec["result"] (requests, req_per_s, p50_us,
# p99_us, socket_errors, non_2xx) and the window's CPU figures


def record_window(rec, cpu0, cpu1, busy0, busy1, window, load_cpu_s):
    """Server CPU per request and the CPU nobody we know of used, from the
    samples taken at the window's edges."""
    n = rec["result"].get("requests")
    if not n:
        rec["problems"].append(f"{rec['loadgen']} reported no requests")
    if cpu0 is None or cpu1 is None:
        rec["problems"].append("server gone at the window edge: no CPU time")
        return
    rec["cpu_ticks"] = cpu1 - cpu0
    if n:
        rec["cpu_us_per_req"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / n
    rec["window_s"] = window
    if load_cpu_s is not None and window > 0:
        # Busy time of the two CPUs that is neither the server's nor the
        # load generator's: a build, perf, this script. In % of one CPU.
        other = (busy1[0] - busy0[0] - (cpu1 - cpu0)) / CLK_TCK - load_cpu_s
        rec["other_cpu_pct"] = max(0.0, other / window * 100)
        rec["steal_pct"] = (busy1[1] - busy0[1]) / CLK_TCK / window * 100
        rec["load_cpu_pct"] = load_cpu_s / window * 100


def check_result(rec):
    res = rec["result"]
    errs = sum(res.get("socket_errors", {}).values())
    if errs:
        rec["problems"].append(f"{rec['loadgen']} errors: " + ", ".join(
            f"{k} {v}" for k, v in res["socket_errors"].items() if v))
    if res.get("non_2xx"):
        rec["problems"].append(f"{res['non_2xx']} non-2xx/3xx responses")


def measure_wrk(args, port, scenario, session, pids, rec):
    if args.warmup > 0:
        wcmd = wrk_cmd(args, port, scenario, args.warmup)
        code, out, _ = run_wrk(wcmd, args.warmup + 30)
        if code != 0:
            rec["problems"].append(f"warm-up wrk exited {code}: {out.strip()[-200:]}")
            return
    cmd = wrk_cmd(args, port, scenario, args.duration)
    rec["load_cmd"] = cmd
    if session:
        session.start()
    busy0 = busy_ticks()
    cpu0 = cpu_ticks(pids)
    t0 = time.monotonic()
    code, out, wrk_cpu = run_wrk(cmd, args.duration + 60)
    t1 = time.monotonic()
    cpu1 = cpu_ticks(pids)
    busy1 = busy_ticks()
    if session:
        session.stop()
    rec["load_exit"] = code
    rec["load_output"] = out
    if code != 0:
        rec["problems"].append(f"wrk exited {code}: {out.strip()[-200:]}")
    rec["result"] = parse_wrk(out)
    check_result(rec)
    record_window(rec, cpu0, cpu1, busy0, busy1, t1 - t0, wrk_cpu)


def loadgen_label(args):
    return "wrk -t1 --latency" if args.loadgen == "wrk" else "ringo-bench http --workers 1"


def ringo_bench_cmd(args, port, scenario):
    path, conns, depth = SCENARIOS[scenario]
    cmd = ["taskset", "-c", LOAD_CPU, os.path.join(args.build, "ringo-bench"), "http",
           "--port", str(port), "--path", path, "-c", str(conns), "--pipeline", str(depth),
           "--warmup", str(args.warmup), "-d", str(args.duration), "--workers", "1",
           "--timeout", "5", "--json", "--quiet"]
    if path == "/plaintext":
        cmd += ["--expect-body", PLAINTEXT_BODY.decode()]
    return cmd


def measure_ringo_bench(args, port, scenario, session, pids, rec):
    """ringo-bench runs warm-up and window in one process and prints
    MEASURE START / MEASURE END at the window's edges: the samples are
    taken there, so connection setup and warm-up are outside the window."""
    cmd = ringo_bench_cmd(args, port, scenario)
    rec["load_cmd"] = cmd
    edges = {}

    def on_edge(line, pid):
        if session:
            session.start() if line == "MEASURE START" else session.stop()
        edges[line] = (busy_ticks(), cpu_ticks(pids), echo.cpu_ticks(pid), time.monotonic())

    code, stderr_lines, json_line = echo.run_ringo_bench(
        cmd, args.warmup + args.duration + 60, on_edge, preexec_fn=raise_nofile)
    rec["load_exit"] = code
    rec["load_output"] = "".join(stderr_lines[-10:])
    problem = echo.bench_exit_problem(code, stderr_lines)
    if problem:
        rec["problems"].append(problem)
    if len(edges) != 2 or json_line is None:
        rec["problems"].append("ringo-bench printed no MEASURE START/END or no JSON result")
        return
    try:
        out = json.loads(json_line)
    except ValueError:
        rec["problems"].append(f"unparsable JSON from ringo-bench: {json_line[:200]}")
        return
    kinds = out.get("errors_by_kind", {})
    rec["result"] = {
        "requests": out["requests"], "seconds": out["duration_s"],
        "req_per_s": out["requests_per_s"], "p50_us": out["p50_us"], "p99_us": out["p99_us"],
        "socket_errors": {k: v for k, v in kinds.items() if k != "status"},
        "non_2xx": kinds.get("status", 0), "reconnects": out.get("reconnects"),
    }
    check_result(rec)
    (busy0, cpu0, load0, t0), (busy1, cpu1, load1, t1) = edges["MEASURE START"], \
        edges["MEASURE END"]
    load_s = None if load0 is None or load1 is None else (load1 - load0) / CLK_TCK
    record_window(rec, cpu0, cpu1, busy0, busy1, t1 - t0, load_s)


# --------------------------------------------------------------------------
# one run


def run_one(args, server, scenario, rep, perf, use_perf, perf_only=False):
    port = echo.fresh_port()
    workdir = tempfile.mkdtemp(prefix=f"http-{server}-")
    os.chmod(workdir, 0o755)  # nginx/h2o workers run as nobody
    argv, extra_env = server_argv(server, args.build, port, workdir, args.httpd)
    env = dict(os.environ, **extra_env)
    rec = {"server": server, "scenario": scenario, "rep": rep, "perf_only": perf_only,
           "port": port, "server_cmd": ["taskset", "-c", SERVER_CPU] + argv, "problems": [],
           "loadgen": args.loadgen, "loadavg_before": os.getloadavg()}
    log_path = os.path.join(workdir, "server.log")
    log = open(log_path, "w")
    srv = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True,
                           preexec_fn=raise_nofile, cwd=workdir)
    session = None
    try:
        err = echo.wait_accepting(srv, port)
        if err:
            rec["problems"].append(err)
            return rec
        pids = measured_pids(server, srv.pid)
        if not pids:
            rec["problems"].append("no worker process found")
            return rec
        rec["measured_pids"] = pids
        bad = validate(server, port, SCENARIOS[scenario][0] != "/plaintext")
        if bad:
            rec["problems"].append("validation: " + "; ".join(bad))
            rec["validation_failed"] = True
            return rec

        if use_perf:
            session = echo.PerfSession(perf, ",".join(map(str, pids)), workdir)
            session.prepare()
        if args.loadgen == "wrk":
            measure_wrk(args, port, scenario, session, pids, rec)
        else:
            measure_ringo_bench(args, port, scenario, session, pids, rec)
        if not rec.get("result"):
            return rec
        n = rec["result"].get("requests")
        if session:
            count = session.finish()
            session = None
            if count is None:
                rec["problems"].append("perf: no syscall count")
            else:
                rec["perf_syscalls"] = count
                if n:
                    rec["syscalls_per_req"] = count / n
        if srv.poll() is not None:
            rec["problems"].append(f"server died during the run (status {srv.returncode})")
        return rec
    finally:
        if session:
            session.finish()
        rec["server_end"] = echo.stop_process(srv)
        log.close()
        try:
            with open(log_path) as f:
                text = f.read()
            if text:
                rec["server_log_tail"] = text[-2000:]
        except OSError:
            pass
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# summary

med = echo.med
f_rate, f_num, f_us = echo.f_rate, echo.f_num, echo.f_us


def summarize(runs, servers, scenarios):
    rows = []
    for sc in scenarios:
        group = []
        for server in servers:
            every = [r for r in runs if r["server"] == server and r["scenario"] == sc]
            if not every:
                continue
            good = [r for r in every if not r.get("perf_only") and r.get("result", {})
                    .get("req_per_s") is not None]
            rate = [r["result"]["req_per_s"] for r in good]
            cpu = [r["cpu_us_per_req"] for r in good if "cpu_us_per_req" in r]
            other = [r["other_cpu_pct"] for r in every if "other_cpu_pct" in r]
            steal = [r["steal_pct"] for r in every if "steal_pct" in r]
            row = {
                "scenario": sc, "server": server,
                "req_per_s": med(rate), "req_min": min(rate, default=None),
                "req_max": max(rate, default=None),
                "p50_us": med([r["result"]["p50_us"] for r in good
                               if r["result"].get("p50_us") is not None]),
                "p99_us": med([r["result"]["p99_us"] for r in good
                               if r["result"].get("p99_us") is not None]),
                "cpu_us_per_req": med(cpu), "cpu_min": min(cpu, default=None),
                "cpu_max": max(cpu, default=None),
                "syscalls_per_req": med([r["syscalls_per_req"] for r in every
                                         if "syscalls_per_req" in r]),
                "socket_errors": sum(sum(r.get("result", {}).get("socket_errors", {}).values())
                                     for r in every),
                "non_2xx": sum(r.get("result", {}).get("non_2xx", 0) for r in every),
                "runs": len(every), "failed_runs": sum(1 for r in every if r["problems"]),
                "other_cpu_max": max(other, default=None),
                "steal_max": max(steal, default=None),
            }
            group.append(row)
        ref = next((r for r in group if r["server"] == REFERENCE and r["req_per_s"]), None) \
            or next((r for r in group if r["server"] == FALLBACK_REFERENCE and r["req_per_s"]),
                    None)
        for row in group:
            row["reference"] = ref["server"] if ref else None
            row["rate_ratio"] = row["cpu_ratio"] = None
            if ref and row["req_per_s"] is not None:
                row["rate_ratio"] = row["req_per_s"] / ref["req_per_s"]
            if ref and ref["cpu_us_per_req"] and row["cpu_us_per_req"] is not None:
                row["cpu_ratio"] = row["cpu_us_per_req"] / ref["cpu_us_per_req"]
        rows.extend(group)
    return rows


HEADERS = ["scenario", "server", "req/s median [min–max]", "p50 µs", "p99 µs",
           "CPU µs/req median [min–max]", "syscalls/req", "req/s vs ref", "CPU vs ref",
           "errors", "other CPU %"]


def table_cells(rows, perf_ok):
    out = []
    for r in rows:
        rate = ("n/a" if r["req_per_s"] is None else
                f"{f_rate(r['req_per_s'])} [{f_rate(r['req_min'])}–{f_rate(r['req_max'])}]")
        cpu = ("n/a" if r["cpu_us_per_req"] is None else
               f"{f_num(r['cpu_us_per_req'])} [{f_num(r['cpu_min'])}–{f_num(r['cpu_max'])}]")
        errs = []
        if r["socket_errors"]:
            errs.append(f"{r['socket_errors']} socket")
        if r["non_2xx"]:
            errs.append(f"{r['non_2xx']} non-2xx")
        if r["failed_runs"]:
            errs.append(f"{r['failed_runs']}/{r['runs']} runs failed")
        ref = r["reference"]
        tag = "" if ref in (None, REFERENCE) else " (b)"
        out.append([
            r["scenario"], r["server"], rate, f_us(r["p50_us"]), f_us(r["p99_us"]), cpu,
            f_num(r["syscalls_per_req"]) if perf_ok else "n/a (no perf)",
            "n/a" if r["rate_ratio"] is None else f"{r['rate_ratio']:.2f}x{tag}",
            "n/a" if r["cpu_ratio"] is None else f"{r['cpu_ratio']:.2f}x{tag}",
            "; ".join(errs) or "0",
            "n/a" if r["other_cpu_max"] is None else f"{r['other_cpu_max']:.0f}"
            + (f" (steal {r['steal_max']:.0f})" if (r["steal_max"] or 0) >= 1 else ""),
        ])
    return out


def text_table(cells):
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(HEADERS)]

    def fmt(row):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))
    lines = [fmt(HEADERS), "  ".join("-" * w for w in widths)]
    prev = None
    for c in cells:
        if prev is not None and c[0] != prev:
            lines.append("")
        lines.append(fmt(c))
        prev = c[0]
    return "\n".join(lines)


def md_table(cells):
    lines = ["| " + " | ".join(HEADERS) + " |",
             "|" + "|".join(":---" if i < 2 else "---:" for i in range(len(HEADERS))) + "|"]
    for c in cells:
        lines.append("| " + " | ".join(c) + " |")
    return "\n".join(lines)


def progress_line(prefix, rec):
    res = rec.get("result") or {}
    msg = (f"{prefix}: {f_rate(res.get('req_per_s'))} req/s, p99 {f_us(res.get('p99_us'))} µs, "
           f"CPU {f_num(rec.get('cpu_us_per_req'))} µs/req, "
           f"syscalls/req {f_num(rec.get('syscalls_per_req'))}, "
           f"other CPU {f_num(rec.get('other_cpu_pct'), 0)}%")
    if rec["problems"]:
        msg += "  PROBLEMS: " + "; ".join(rec["problems"])
    return msg


# --------------------------------------------------------------------------
# main


def parse_args():
    ap = argparse.ArgumentParser(description="ringo HTTP benchmark (see bench/README.md)")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--httpd", help="ringo-httpd binary (default: BUILD/ringo-httpd)")
    ap.add_argument("--servers", default=",".join(DEFAULT_SERVERS),
                    help="comma-separated, run in this order (default: all but h2o-file)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma-separated (default: all of {', '.join(SCENARIOS)})")
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--duration", type=int, default=5, help="measured seconds (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up seconds, 0: none (default 1)")
    ap.add_argument("--out", default=os.path.join("bench", "out"),
                    help="directory for the .md and .json results (default bench/out)")
    ap.add_argument("--max-other", type=float, default=25,
                    help="re-measure a run when CPU used by other processes during it "
                         "exceeded this %% of one CPU (default 25)")
    ap.add_argument("--retries", type=int, default=2,
                    help="re-measurements per run for --max-other; the quietest attempt "
                         "counts (default 2)")
    ap.add_argument("--retry-pause", type=float, default=2,
                    help="seconds to wait before re-measuring (default 2)")
    ap.add_argument("--require-all", action="store_true",
                    help="fail instead of skipping servers that are not built/installed")
    ap.add_argument("--loadgen", choices=["wrk", "ringo-bench"], default="wrk",
                    help="load generator (default wrk, the reference); ringo-bench "
                         "(BUILD/ringo-bench http) needs less CPU per request than wrk, so "
                         "it can show throughput beyond the ~80k req/s one wrk core gives")
    ap.add_argument("--no-perf", action="store_true", help="do not count syscalls with perf")
    ap.add_argument("--perf-runs", choices=["same", "extra"], default="extra",
                    help="extra (default): measured runs go without perf, one extra round "
                         "per scenario with perf gives the syscall column; same: perf "
                         "attached during every measured run")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)  # servers run in a temp dir
    if args.httpd:
        args.httpd = os.path.abspath(args.httpd)
    # wrk takes whole seconds only.
    args.duration = max(1, round(args.duration))
    args.warmup = max(0, round(args.warmup))
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in args.server_list:
        if s not in ALL_SERVERS:
            ap.error(f"unknown server '{s}' (known: {', '.join(ALL_SERVERS)})")
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in args.scenario_list:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario '{s}' (known: {', '.join(SCENARIOS)})")
    return args


def check_setup(args):
    problems, skipped = [], []
    for tool in ("taskset", "wrk", "curl"):
        if not shutil.which(tool):
            problems.append(f"{tool} not found")
    if args.loadgen == "ringo-bench" and not os.access(
            os.path.join(args.build, "ringo-bench"), os.X_OK):
        problems.append(f"{args.build}/ringo-bench not built (make)")
    if not {0, 1} <= os.sched_getaffinity(0):
        problems.append("need CPUs 0 and 1 for pinning")
    keep = []
    for s in args.server_list:
        exe = server_exe(s, args.build, args.httpd)
        if os.access(exe, os.X_OK):
            keep.append(s)
        else:
            skipped.append(f"{s} ({exe} not built/installed)")
    if skipped and args.require_all:
        problems += [f"missing {s}" for s in skipped]
    for s in skipped:
        print(f"http.py: skipping {s}", file=sys.stderr)
    args.server_list = keep
    if problems:
        for p in problems:
            print(f"http.py: {p}", file=sys.stderr)
        sys.exit(2)
    return skipped


def run_quietest(args, run, server, sc, rep, perf, use_perf, perf_only):
    """run(...) once; while something else took the CPUs (a build, another
    benchmark), measure again, up to args.retries times, and keep the
    quietest attempt (bench/https.py uses it with its own run_one)."""
    rec = run(args, server, sc, rep, perf, use_perf, perf_only)
    tries = [rec]
    while (len(tries) <= args.retries and not rec["problems"]
           and rec.get("other_cpu_pct", 0) > args.max_other):
        print(f"  {sc} {server}: other CPU {rec['other_cpu_pct']:.0f}% > "
              f"{args.max_other:g}%, measuring again", file=sys.stderr)
        time.sleep(args.retry_pause)
        rec = run(args, server, sc, rep, perf, use_perf, perf_only)
        tries.append(rec)
    if len(tries) > 1:
        rec = min(tries, key=lambda r: (bool(r["problems"]), r.get("other_cpu_pct", 1e9)))
        rec["discarded_attempts_other_cpu"] = [
            round(t.get("other_cpu_pct", -1)) for t in tries if t is not rec]
    return rec


def main():
    args = parse_args()
    skipped = check_setup(args)
    command = "python3 " + shlex.join(sys.argv)
    started = datetime.datetime.now()
    print(command)
    load_start = os.getloadavg()
    print(f"load average before: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
    if load_start[0] > 0.5:
        print("WARNING: the machine is not idle; numbers will be noisy", file=sys.stderr)

    perf = echo.Perf()
    if args.no_perf:
        perf.status = "disabled (--no-perf)"
    else:
        perf.probe()
        if args.loadgen == "wrk":
            perf.status = perf.status.replace("MEASURE START/END", "wrk start/exit")
    print(f"perf: {perf.status}")
    print(f"servers pinned to CPU {SERVER_CPU}, {loadgen_label(args)} to CPU {LOAD_CPU}; "
          f"{args.warmup:g}s warm-up + {args.duration:g}s measured per run\n")

    runs = []
    extra = args.perf_runs == "extra" and perf.ok
    plan = [(sc, s) for sc in args.scenario_list for s in args.server_list
            if not (SCENARIOS[sc][0] != "/plaintext" and s in NO_STATIC)]
    total = len(plan) * (args.reps + extra)
    interrupted = False
    try:
        for sc in args.scenario_list:
            servers = [s for (x, s) in plan if x == sc]
            for rep in range(1, args.reps + 1 + extra):
                perf_only = rep > args.reps
                use_perf = perf.ok and (perf_only or not extra)
                for server in servers:
                    rec = run_quietest(args, run_one, server, sc, rep, perf, use_perf, perf_only)
                    runs.append(rec)
                    label = "perf" if perf_only else f"rep={rep}"
                    print(progress_line(f"[{len(runs)}/{total}] {sc} {label} {server}", rec),
                          file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: summarizing the runs so far", file=sys.stderr)

    load_end = os.getloadavg()
    rows = summarize(runs, args.server_list, args.scenario_list)
    cells = table_cells(rows, perf.ok)
    print()
    print(text_table(cells))

    failed = [r for r in runs if r["problems"]]
    notes = []
    if skipped:
        notes.append("Skipped (not built or not installed): " + ", ".join(skipped) + ".")
    if "static4k-c100" in args.scenario_list and NO_STATIC & set(args.server_list):
        notes.append("The baseline-* responders serve no files: no static4k rows for them.")
    refs = {r["reference"] for r in rows if r["reference"]}
    if FALLBACK_REFERENCE in refs:
        notes.append(f"(b): {REFERENCE} was not measured, ratios are to {FALLBACK_REFERENCE}.")
    noisy = [r for r in runs if r.get("other_cpu_pct", 0) > args.max_other]
    retried = [r for r in runs if r.get("discarded_attempts_other_cpu")]
    if retried:
        notes.append(f"{len(retried)} run(s) were measured again because other processes "
                     f"used more than {args.max_other:g} % of a CPU during them.")
    if noisy:
        notes.append(f"{len(noisy)} of {len(runs)} kept runs still had other CPU > "
                     f"{args.max_other:g} % (after {args.retries} retries): the machine was "
                     "busy, read those rows with care.")
    if failed:
        notes.append("Runs with problems:")
        for r in failed:
            label = "perf run" if r.get("perf_only") else f"rep={r['rep']}"
            notes.append(f"- {r['scenario']} {label} {r['server']}: " + "; ".join(r["problems"]))
    if interrupted:
        notes.append("- interrupted; the table covers the runs that finished.")
    if notes:
        print("\n" + "\n".join(notes))

    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "http-" + started.strftime("%Y%m%d-%H%M%S"))
    info = echo.machine_info()
    md = [
        f"# HTTP benchmark, {started:%Y-%m-%d %H:%M:%S}",
        "",
        "```",
        command,
        "```",
        "",
        f"- machine: {info['cpu']}, {info['cpus']} CPUs, Linux {info['kernel']}; load average "
        f"{load_start[0]:.2f} before, {load_end[0]:.2f} after",
        f"- pinning: server on CPU {SERVER_CPU} (one worker/thread), {loadgen_label(args)} on "
        f"CPU {LOAD_CPU}",
        f"- load: {loadgen_label(args)}, {args.warmup:g} s warm-up + {args.duration:g} s "
        "measured, "
        f"{args.reps} rep(s), servers interleaved; pipeline16 = 16 requests per write "
        "(bench/http/pipeline.lua), its latency is per batch of 16",
        f"- perf: {perf.status}" + ("" if not perf.ok else "; " + (
            "syscall column from one extra perf-only round per scenario, all other columns "
            "from runs without perf" if extra else
            "attached during every measured run (its cost is in the CPU column)")),
        "- CPU µs/req: server utime+stime (all threads; nginx: the worker, the idle master "
        "not counted) over the measured window, ÷ requests completed in it; ratios: this "
        "row ÷ "
        f"{REFERENCE} (req/s: >1 faster; CPU: >1 costs more)",
        "- other CPU %: busy time (user+nice+system+irq+softirq) of CPUs 0+1 during the "
        "window not spent by the server or the load generator, max over the runs, in % of one CPU (perf, "
        "ksoftirqd, this script, other jobs: above ~10 the run was disturbed); steal is "
        "shown when the hypervisor took >= 1 %",
        "",
        md_table(cells),
        "",
    ]
    if notes:
        md += notes + [""]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(md))
    with open(stem + ".json", "w") as f:
        json.dump({"command": command, "started": started.isoformat(timespec="seconds"),
                   "machine": info, "perf": perf.status, "clk_tck": CLK_TCK,
                   "loadavg": {"start": load_start, "end": load_end},
                   "config": {k: v for k, v in vars(args).items()}, "skipped": skipped,
                   "interrupted": interrupted, "summary": rows, "runs": runs}, f, indent=1)
    print(f"\nwrote {stem}.md and {stem}.json")
    if failed:
        print(f"http.py: FAILED: {len(failed)} run(s) had problems (errors, validation, "
              "a dead server): see the list above", file=sys.stderr)
    return 1 if (failed or interrupted) else 0


if __name__ == "__main__":
    sys.exit(main())
