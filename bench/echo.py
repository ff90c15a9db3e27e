#!/usr/bin/env python3
"""Echo benchmark: ringo-echo (io_uring and epoll backends) side by side with
the hand-written baselines and Go, one server CPU against one load CPU.

    python3 bench/echo.py --build build [--conns 1,10,100,1000] [--reps 3]
        [--duration 5] [--size 1024]
        [--servers ringo-uring,ringo-epoll,baseline-epoll,baseline-uring,go]
        [--out bench/out] [--quick]

For every connection count and repetition the servers run in interleaved
order (A B C D E A B C D E ...) so slow drifts of the machine (thermal,
background load) spread over all servers instead of favouring one. Each run
starts the server pinned to CPU 0 on a fresh port, drives it with
build/ringo-bench pinned to CPU 1, and measures over the window that
ringo-bench marks with MEASURE START / MEASURE END:

  - server CPU time (utime+stime of all threads, /proc/PID/stat);
  - server syscalls (perf stat -e raw_syscalls:sys_enter -p PID), enabled
    and disabled through perf's control FIFO at the window edges;
  - for ringo-echo, its own counters (SIGUSR1 -> --stats-file).

Python standard library only. See bench/README.md for the column meanings.
"""
import argparse
import datetime
import json
import os
import platform
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SERVER_CPU = "0"
LOAD_CPU = "1"
ALL_SERVERS = ["ringo-uring", "ringo-epoll", "baseline-epoll", "baseline-uring", "go"]
REFERENCE = "ringo-uring"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# servers


def server_argv(name, build, port, stats_file):
    """Command line and extra environment for one server."""
    if name in ("ringo-uring", "ringo-epoll"):
        backend = name.split("-", 1)[1]
        return ([os.path.join(build, "ringo-echo"), "--port", str(port), "--workers", "1",
                 "--backend", backend, "--stats-file", stats_file], {})
    if name == "baseline-epoll":
        return [os.path.join(build, "bench", "baseline-epoll-echo"), str(port)], {}
    if name == "baseline-uring":
        return [os.path.join(build, "bench", "baseline-uring-echo"), str(port)], {}
    if name == "go":
        # One P, like the single-threaded C servers; Go still has its sysmon
        # and GC threads, and their CPU time is counted too.
        return [os.path.join(build, "bench", "go-echo"), str(port)], {"GOMAXPROCS": "1"}
    raise ValueError(name)


def is_ringo(name):
    return name.startswith("ringo-")


_port_next = [20000 + os.getpid() % 5000]


def fresh_port():
    """A port never used before in this session and free right now. Taken
    below the ephemeral range so load-generator sockets cannot hold it."""
    while True:
        port = _port_next[0]
        _port_next[0] = 20000 + (port - 20000 + 1) % 12000
        ok = True
        for fam, addr in ((socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")):
            s = socket.socket(fam, socket.SOCK_STREAM)
            try:
                s.bind((addr, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            return port


def wait_accepting(proc, port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"server exited with status {proc.returncode} before accepting"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return None
        except OSError:
            time.sleep(0.02)
    return f"server not accepting on port {port} after {timeout:.0f}s"


def stop_process(proc, grace=3.0, sig=signal.SIGTERM):
    """`sig`, then SIGKILL after `grace` seconds. Returns how it ended."""
    if proc.poll() is not None:
        return f"exited {proc.returncode}"
    name = signal.Signals(sig).name
    proc.send_signal(sig)
    try:
        proc.wait(grace)
        return f"exited {proc.returncode} on {name}"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"SIGKILL (ignored {name} for {grace:g} s)"


def cpu_ticks(pid):
    """utime+stime of the whole process (all threads), in clock ticks;
    None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after it.
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15


def read_stats_file(path):
    stats = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                try:
                    stats[parts[0]] = float(parts[1]) if "." in parts[1] else int(parts[1])
                except ValueError:
                    pass
    return stats


def mtime_ns(path):
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def ringo_snapshot(pid, path, timeout=1.0):
    """Ask ringo-echo to rewrite its counters, wait for the rewrite, read."""
    before = mtime_ns(path)
    try:
        os.kill(pid, signal.SIGUSR1)
    except ProcessLookupError:
        return None, "server gone before SIGUSR1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = mtime_ns(path)
        if now is not None and now != before:
            time.sleep(0.02)  # let a non-atomic writer finish
            try:
                stats = read_stats_file(path)
            except OSError:
                stats = {}
            if stats:
                return stats, None
        time.sleep(0.005)
    return None, f"stats file {path} not rewritten within {timeout:.0f}s of SIGUSR1"


# --------------------------------------------------------------------------
# perf


class Perf:
    """perf stat on raw_syscalls:sys_enter, gated by perf's control FIFO so
    the count covers exactly the measured window (perf itself needs tens of
    milliseconds to start and attach, which a late start would miss)."""

    EVENT = "raw_syscalls:sys_enter"

    def __init__(self):
        self.status = "not probed"
        self.ok = False
        self.control = False
        self.perf = shutil.which("perf")

    def _try(self):
        with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
            r = subprocess.run([self.perf, "stat", "-e", self.EVENT, "-x,", "-o", out.name,
                                "--", "true"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, timeout=30)
            count = parse_perf_count(open(out.name).read())
            return r.returncode == 0 and count is not None, r.stderr.strip()

    def probe(self):
        if not self.perf:
            self.status = "unavailable: perf not installed"
            return
        try:
            ok, err = self._try()
            if not ok and os.geteuid() == 0 and os.path.isdir("/sys/kernel/tracing") \
                    and not os.listdir("/sys/kernel/tracing"):
                # Tracepoints live in tracefs; mount it if nobody has.
                subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"],
                               stderr=subprocess.DEVNULL)
                ok, err = self._try()
        except (OSError, subprocess.SubprocessError) as e:
            ok, err = False, str(e)
        if not ok:
            self.status = f"unavailable: {err.splitlines()[-1] if err else 'no count'}"
            return
        self.ok = True
        help_text = subprocess.run([self.perf, "stat", "-h"], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True).stdout
        self.control = "--control" in help_text
        version = subprocess.run([self.perf, "--version"], stdout=subprocess.PIPE,
                                 text=True).stdout.strip()
        how = ("gated by --control FIFO at MEASURE START/END" if self.control else
               "started at MEASURE START (no --control: misses perf's attach time)")
        self.status = f"ok ({version}, {self.EVENT}, {how})"


def parse_perf_count(text):
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2] == Perf.EVENT:
            try:
                return int(fields[0])
            except ValueError:
                return None  # <not counted> / <not supported>
    return None


class PerfSession:
    def __init__(self, perf, pid, workdir):
        self.perf, self.pid = perf, pid
        self.out = os.path.join(workdir, "perf.out")
        self.log = open(os.path.join(workdir, "perf.log"), "w")
        self.proc = None
        self.ctl = self.ack = None
        self.error = None
        if perf.control:
            self.ctl_path = os.path.join(workdir, "perf.ctl")
            self.ack_path = os.path.join(workdir, "perf.ack")
            os.mkfifo(self.ctl_path)
            os.mkfifo(self.ack_path)

    def _spawn(self, extra):
        self.proc = subprocess.Popen(
            [self.perf.perf, "stat", "-e", Perf.EVENT, "-x,", "-o", self.out,
             "-p", str(self.pid)] + extra,
            stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)

    def _command(self, cmd, timeout=5.0):
        os.write(self.ctl, (cmd + "\n").encode())
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.ack], [], [], 0.05)
            if r:
                chunk = os.read(self.ack, 64)
                buf += chunk
                if b"ack" in buf:
                    return True
                if not chunk:
                    time.sleep(0.01)  # writer not connected yet
            if self.proc.poll() is not None:
                break
        self.error = f"perf did not ack '{cmd}'"
        return False

    def prepare(self):
        """Before the load starts: attach perf, disabled, and wait until
        it answers on the control FIFO (so it is really attached)."""
        if not self.perf.control:
            return
        self._spawn(["-D", "-1", "--control", f"fifo:{self.ctl_path},{self.ack_path}"])
        # O_RDWR on the ack FIFO: never blocks and never sees a false EOF.
        self.ack = os.open(self.ack_path, os.O_RDWR | os.O_NONBLOCK)
        deadline = time.monotonic() + 10
        while self.ctl is None:
            try:
                self.ctl = os.open(self.ctl_path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: perf has not opened it yet
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.error = "perf did not open its control FIFO"
                    return
                time.sleep(0.01)
        self._command("disable", timeout=10)

    def start(self):
        if self.error:
            return
        if self.perf.control:
            self._command("enable")
        else:
            self._spawn([])

    def stop(self):
        if self.error or self.proc is None:
            return
        if self.perf.control:
            self._command("disable")
        else:
            self._interrupt()

    def _interrupt(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def finish(self):
        """Stop perf and return the syscall count (None if unavailable)."""
        count = None
        if self.proc is not None:
            self._interrupt()
            try:
                count = parse_perf_count(open(self.out).read())
            except OSError:
                pass
            if count is None and not self.error:
                self.error = "perf produced no count"
        for fd in (self.ctl, self.ack):
            if fd is not None:
                os.close(fd)
        self.log.close()
        return None if self.error else count


# --------------------------------------------------------------------------
# one run



def sample_window_edge(session, perf_action, srv, ringo, stats_file, rec):
    """At MEASURE START/END: switch perf on/off, read the server's CPU ticks
    and (ringo servers) its counters. Returns (ticks, counters or None)."""
    if session:
        getattr(session, perf_action)()
    ticks = cpu_ticks(srv.pid)
    snap = None
    if ringo:
        snap, err = ringo_snapshot(srv.pid, stats_file)
        if err:
            rec["problems"].append(err)
    return ticks, snap

def add_run_args(ap, what_missing, per_what):
    """Options shared by the benchmark scripts: missing binaries and perf."""
    ap.add_argument("--skip-missing", action="store_true",
                    help=f"leave out {what_missing} instead of failing")
    ap.add_argument("--no-perf", action="store_true", help="do not count syscalls with perf")
    ap.add_argument("--perf-runs", choices=["same", "extra"], default="same",
                    help="same: perf counts syscalls in every measured run (default); "
                         "extra: measured runs go without perf, and one extra round per "
                         f"{per_what}, with perf, gives the syscall column")


def progress_line(prefix, rec):
    """The one-line summary of a run printed while a benchmark goes on."""
    res = rec.get("result") or {}
    msg = (f"{prefix}: {f_rate(res.get('msgs_per_s'))} msg/s, "
           f"p99 {f_us(res.get('p99_us'))} µs, "
           f"CPU {f_num(rec.get('cpu_us_per_msg'))} µs/msg, "
           f"syscalls/msg {f_num(rec.get('syscalls_per_msg_perf'))}")
    if rec["problems"]:
        msg += "  PROBLEMS: " + "; ".join(rec["problems"])
    return msg


def bench_exit_problem(returncode, stderr_lines):
    """The problem to record for a ringo-bench run that failed (with its
    last stderr line, which says why), or None when it exited with 0."""
    if returncode == 0:
        return None
    last = [l.strip() for l in stderr_lines if l.strip()][-1:]
    return (f"ringo-bench exited with status {returncode}"
            + (" (killed by watchdog)" if returncode == -9 else "")
            + (f" ({last[0][:200]})" if last else ""))


def run_ringo_bench(cmd, limit, on_edge, preexec_fn=None):
    """Run a ringo-bench command to its end. It prints MEASURE START and
    MEASURE END at the edges of the measured window: on_edge(line, pid)
    is called as each arrives, so the caller samples the window right
    then (pid: ringo-bench's, as taskset execs it). A hung load generator
    must not hang the benchmark: it is killed after `limit` seconds.
    Returns (exit status, stderr lines, the JSON result line or None)."""
    bench = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             bufsize=1, start_new_session=True, preexec_fn=preexec_fn)
    stderr_lines = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(bench.stderr), daemon=True)
    reader.start()
    watchdog = threading.Timer(limit, bench.kill)
    watchdog.daemon = True
    watchdog.start()
    json_line = None
    try:
        for line in bench.stdout:
            line = line.strip()
            if line in ("MEASURE START", "MEASURE END"):
                on_edge(line, bench.pid)
            elif line.startswith("{"):
                json_line = line
        bench.wait()
    finally:
        watchdog.cancel()
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    reader.join(2)
    return bench.returncode, stderr_lines, json_line


def run_one(args, server, conns, rep, perf, use_perf, perf_only=False, launch=None):
    """One measured run of `server` (a name from ALL_SERVERS) at `conns`
    connections with args.size-byte messages. `launch`, if given, replaces
    server_argv(): launch(port, stats_file) -> (argv, extra_env, is_ringo),
    and `server` is then just the label (bench/matrix.py uses this for
    ringo-echo environment variants)."""
    port = fresh_port()
    workdir = tempfile.mkdtemp(prefix=f"echo-{server}-")
    stats_file = os.path.join(workdir, "stats")
    if launch is None:
        argv, extra_env = server_argv(server, args.build, port, stats_file)
        ringo = is_ringo(server)
    else:
        argv, extra_env, ringo = launch(port, stats_file)
    env = dict(os.environ, **extra_env)
    rec = {"server": server, "conns": conns, "rep": rep, "perf_only": perf_only, "port": port,
           "server_cmd": ["taskset", "-c", SERVER_CPU] + argv, "problems": []}
    log_path = os.path.join(workdir, "server.log")
    log = open(log_path, "w")
    srv = subprocess.Popen(["taskset", "-c", SERVER_CPU] + argv, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    session = None
    try:
        err = wait_accepting(srv, port)
        if err:
            log.flush()
            with open(log_path) as f:
                last = [l.strip() for l in f if l.strip()][-1:]
            rec["problems"].append(err + (f" ({last[0][:200]})" if last else ""))
            return rec
        if use_perf:
            session = PerfSession(perf, srv.pid, workdir)
            session.prepare()

        bench_cmd = ["taskset", "-c", LOAD_CPU, os.path.join(args.build, "ringo-bench"), "echo",
                     "--addr", f"127.0.0.1:{port}", "-c", str(conns), "--size", str(args.size),
                     "--pipeline", str(args.pipeline), "--warmup", str(args.warmup),
                     "-d", str(args.duration), "--workers", "1", "--json", "--quiet"]
        rec["bench_cmd"] = bench_cmd
        edges = {}

        def on_edge(line, _pid):
            action = "start" if line == "MEASURE START" else "stop"
            edges[line] = sample_window_edge(session, action, srv, ringo, stats_file, rec)

        code, stderr_lines, json_line = run_ringo_bench(
            bench_cmd, args.warmup + args.duration + 60, on_edge)
        seen_start, seen_end = "MEASURE START" in edges, "MEASURE END" in edges
        cpu0, snap0 = edges.get("MEASURE START", (None, None))
        cpu1, snap1 = edges.get("MEASURE END", (None, None))
        rec["bench_exit"] = code
        rec["bench_stderr_tail"] = "".join(stderr_lines[-10:])
        problem = bench_exit_problem(code, stderr_lines)
        if problem:
            rec["problems"].append(problem)
        if not seen_start or not seen_end:
            rec["problems"].append("ringo-bench printed no MEASURE START/END")
        elif cpu0 is None or cpu1 is None:
            rec["problems"].append("server gone at the window edge: no CPU time")
        if json_line is None:
            rec["problems"].append("ringo-bench printed no JSON result")
        else:
            try:
                rec["result"] = json.loads(json_line)
            except ValueError:
                rec["problems"].append(f"unparsable JSON: {json_line[:200]}")

        res = rec.get("result") or {}
        msgs = res.get("msgs") or 0
        if cpu0 is not None and cpu1 is not None:
            rec["cpu_ticks"] = cpu1 - cpu0
            if msgs:
                rec["cpu_us_per_msg"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / msgs
        if session:
            count = session.finish()
            if count is None:
                if seen_start:  # no window, no count: not perf's fault
                    rec["problems"].append(f"perf: {session.error or 'no syscall count'}")
            else:
                rec["perf_syscalls"] = count
                if msgs:
                    rec["syscalls_per_msg_perf"] = count / msgs
            session = None
        if snap0 and snap1:
            rec["ringo_counters"] = {k: snap1[k] - snap0.get(k, 0) for k in snap1
                                     if isinstance(snap1[k], (int, float))}
            if "syscalls" in snap1 and msgs:
                rec["syscalls_per_msg_ringo"] = rec["ringo_counters"]["syscalls"] / msgs
            elif "syscalls" not in snap1:
                rec["problems"].append("ringo stats file has no 'syscalls' line")
        if srv.poll() is not None:
            rec["problems"].append(f"server died during the run (status {srv.returncode})")
        return rec
    finally:
        if session:
            session.finish()
        rec["server_end"] = stop_process(srv)
        log.close()
        try:
            with open(log_path) as f:
                text = f.read()
            if text:
                rec["server_log_head"] = text[:1000]
                rec["server_log_tail"] = text[-2000:]
        except OSError:
            pass
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------
# summary


def med(xs):
    return statistics.median(xs) if xs else None


def summarize(runs, servers, conns_list):
    rows = []
    for conns in conns_list:
        ref = None
        group = []
        for server in servers:
            every = [r for r in runs if r["server"] == server and r["conns"] == conns]
            if not every:
                continue
            # With --perf-runs extra, the perf-only runs give the syscall
            # column and nothing else: perf slows every syscall down.
            rs = [r for r in every if not r.get("perf_only")]
            good = [r for r in rs if r.get("result")]
            perf_runs = [r for r in every if "syscalls_per_msg_perf" in r]
            rate = [r["result"]["msgs_per_s"] for r in good]
            cpu = [r["cpu_us_per_msg"] for r in good if "cpu_us_per_msg" in r]
            row = {
                "conns": conns, "server": server,
                "msgs_per_s": med(rate), "msgs_per_s_min": min(rate, default=None),
                "msgs_per_s_max": max(rate, default=None),
                "p50_us": med([r["result"]["p50_us"] for r in good]),
                "p99_us": med([r["result"]["p99_us"] for r in good]),
                "cpu_us_per_msg": med(cpu), "cpu_min": min(cpu, default=None),
                "cpu_max": max(cpu, default=None),
                "syscalls_per_msg_perf": med([r["syscalls_per_msg_perf"] for r in perf_runs]),
                "syscalls_per_msg_ringo": med([r["syscalls_per_msg_ringo"] for r in good
                                               if "syscalls_per_msg_ringo" in r]),
                "runs": len(every),
                "bench_errors": sum(int(r["result"].get("errors") or 0)
                                    for r in every if r.get("result")),
                "failed_runs": sum(1 for r in every if r["problems"]),
            }
            group.append(row)
            if server == REFERENCE:
                ref = row
        for row in group:
            row["rate_ratio"] = row["cpu_ratio"] = None
            if ref and ref["msgs_per_s"] and row["msgs_per_s"] is not None:
                row["rate_ratio"] = row["msgs_per_s"] / ref["msgs_per_s"]
            if ref and ref["cpu_us_per_msg"] and row["cpu_us_per_msg"] is not None:
                row["cpu_ratio"] = row["cpu_us_per_msg"] / ref["cpu_us_per_msg"]
        rows.extend(group)
    return rows


def f_rate(x):
    if x is None:
        return "n/a"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k" if x >= 1e3 else f"{x:.0f}"


def f_num(x, nd=2):
    return "n/a" if x is None else f"{x:.{nd}f}"


def f_us(x):
    return "n/a" if x is None else f"{x:.0f}" if x >= 100 else f"{x:.1f}"


HEADERS = ["conns", "server", "msgs/s median [min–max]", "p50 µs", "p99 µs",
           "CPU µs/msg median [min–max]", "syscalls/msg (perf)", "syscalls/msg (ringo)",
           "msgs/s vs ringo-uring", "CPU vs ringo-uring", "errors"]


def rate_cell(r):
    """msgs/s median [min–max] of a summary row."""
    if r["msgs_per_s"] is None:
        return "n/a"
    return (f"{f_rate(r['msgs_per_s'])} [{f_rate(r['msgs_per_s_min'])}–"
            f"{f_rate(r['msgs_per_s_max'])}]")


def cpu_cell(r):
    """CPU µs/msg median [min–max] of a summary row."""
    if r["cpu_us_per_msg"] is None:
        return "n/a"
    return f"{f_num(r['cpu_us_per_msg'])} [{f_num(r['cpu_min'])}–{f_num(r['cpu_max'])}]"


def errors_cell(r):
    """The errors column of a summary row: "0" or what went wrong."""
    errs = []
    if r["bench_errors"]:
        errs.append(f"{r['bench_errors']} bench errors")
    if r["failed_runs"]:
        errs.append(f"{r['failed_runs']}/{r['runs']} runs with problems")
    return "; ".join(errs) or "0"


def table_cells(rows, perf_ok):
    out = []
    for r in rows:
        rate, cpu = rate_cell(r), cpu_cell(r)
        out.append([
            str(r["conns"]), r["server"], rate, f_us(r["p50_us"]), f_us(r["p99_us"]), cpu,
            f_num(r["syscalls_per_msg_perf"]) if perf_ok else "n/a (no perf)",
            f_num(r["syscalls_per_msg_ringo"]) if is_ringo(r["server"]) else "–",
            "n/a" if r["rate_ratio"] is None else f"{r['rate_ratio']:.2f}x",
            "n/a" if r["cpu_ratio"] is None else f"{r['cpu_ratio']:.2f}x",
            errors_cell(r),
        ])
    return out


def text_table(cells):
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h)
              for i, h in enumerate(HEADERS)]
    left = {0: False, 1: True}
    def fmt(row):
        return "  ".join(c.ljust(w) if left.get(i, False) else c.rjust(w)
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
             "|" + "|".join("---:" if i not in (1,) else ":---" for i in range(len(HEADERS))) + "|"]
    for c in cells:
        lines.append("| " + " | ".join(c) + " |")
    return "\n".join(lines)


def machine_info():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"kernel": platform.release(), "cpu": model, "cpus": os.cpu_count(),
            "python": platform.python_version()}


# --------------------------------------------------------------------------
# main


def parse_args():
    ap = argparse.ArgumentParser(description="ringo echo benchmark (see bench/README.md)")
    ap.add_argument("--build", default="build", help="build directory (default: build)")
    ap.add_argument("--conns", help="comma-separated connection counts (default 1,10,100,1000)")
    ap.add_argument("--reps", type=int, help="repetitions per (conns, server) (default 3)")
    ap.add_argument("--duration", type=float, help="measured seconds per run (default 5)")
    ap.add_argument("--warmup", type=float, default=1, help="warm-up seconds (default 1)")
    ap.add_argument("--size", type=int, default=1024, help="message size in bytes (default 1024)")
    ap.add_argument("--pipeline", type=int, default=1,
                    help="messages in flight per connection (default 1)")
    ap.add_argument("--servers", default=",".join(ALL_SERVERS),
                    help="comma-separated, run in this order (default: all)")
    ap.add_argument("--out", default=os.path.join("bench", "out"),
                    help="directory for the .md and .json results (default bench/out)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: conns 10,100, reps 1, duration 2 (explicit flags win)")
    add_run_args(ap, "servers whose binary is not built", "connection count")
    args = ap.parse_args()
    if args.conns is None:
        args.conns = "10,100" if args.quick else "1,10,100,1000"
    if args.reps is None:
        args.reps = 1 if args.quick else 3
    if args.duration is None:
        args.duration = 2 if args.quick else 5
    try:
        args.conns_list = [int(x) for x in args.conns.split(",") if x.strip()]
    except ValueError:
        ap.error(f"--conns: not a list of integers: {args.conns}")
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in args.server_list:
        if s not in ALL_SERVERS:
            ap.error(f"unknown server '{s}' (known: {', '.join(ALL_SERVERS)})")
    return args


def check_setup(args):
    problems = []
    if not shutil.which("taskset"):
        problems.append("taskset not found (util-linux)")
    cpus = os.sched_getaffinity(0)
    if not {0, 1} <= cpus:
        problems.append(f"need CPUs 0 and 1 for pinning; allowed CPUs are {sorted(cpus)}")
    if not os.access(os.path.join(args.build, "ringo-bench"), os.X_OK):
        problems.append(f"missing {args.build}/ringo-bench (make {args.build}/ringo-bench)")
    keep = []
    for s in args.server_list:
        exe = server_argv(s, args.build, 1, "x")[0][0]
        if os.access(exe, os.X_OK):
            keep.append(s)
        elif args.skip_missing:
            print(f"echo.py: skipping {s}: {exe} not built", file=sys.stderr)
        else:
            problems.append(f"missing {exe} (make {exe}, or --skip-missing)")
    args.server_list = keep
    if problems:
        for p in problems:
            print(f"echo.py: {p}", file=sys.stderr)
        sys.exit(2)


def main():
    args = parse_args()
    check_setup(args)
    command = "python3 " + shlex.join(sys.argv)
    started = datetime.datetime.now()
    print(command)

    perf = Perf()
    if args.no_perf:
        perf.status = "disabled (--no-perf)"
    else:
        perf.probe()
    print(f"perf: {perf.status}")
    print(f"servers pinned to CPU {SERVER_CPU}, ringo-bench to CPU {LOAD_CPU}; "
          f"{args.warmup:g}s warm-up + {args.duration:g}s measured per run, "
          f"{args.size} B messages, pipeline {args.pipeline}\n")

    runs = []
    extra = args.perf_runs == "extra" and perf.ok
    total = len(args.conns_list) * (args.reps + extra) * len(args.server_list)
    interrupted = False
    try:
        for conns in args.conns_list:
            # Rounds: the repetitions, then (--perf-runs extra) one perf round.
            for rep in range(1, args.reps + 1 + extra):
                perf_only = rep > args.reps
                use_perf = perf.ok and (perf_only or not extra)
                for server in args.server_list:
                    rec = run_one(args, server, conns, rep, perf, use_perf, perf_only)
                    runs.append(rec)
                    label = "perf" if perf_only else f"rep={rep}"
                    print(progress_line(f"[{len(runs)}/{total}] c={conns} {label} {server}", rec),
                          file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: summarizing the runs so far", file=sys.stderr)

    rows = summarize(runs, args.server_list, args.conns_list)
    cells = table_cells(rows, perf.ok)
    print()
    print(text_table(cells))

    failed = [r for r in runs if r["problems"]]
    notes = []
    if failed:
        notes.append("Runs with problems (a run still counts in the medians if ringo-bench "
                     "produced a result):")
        for r in failed:
            label = "perf run" if r.get("perf_only") else f"rep={r['rep']}"
            notes.append(f"- c={r['conns']} {label} {r['server']}: "
                         + "; ".join(r["problems"]))
    if interrupted:
        notes.append("- the benchmark was interrupted; the table covers the runs that finished.")
    if notes:
        print("\n" + "\n".join(notes))

    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "echo-" + started.strftime("%Y%m%d-%H%M%S"))
    info = machine_info()
    md = [
        f"# Echo benchmark, {started:%Y-%m-%d %H:%M:%S}",
        "",
        "```",
        command,
        "```",
        "",
        f"- machine: {info['cpu']}, {info['cpus']} CPUs, Linux {info['kernel']}",
        f"- pinning: server on CPU {SERVER_CPU}, ringo-bench on CPU {LOAD_CPU} (`taskset -c`)",
        f"- load: ringo-bench echo, {args.size} B messages, pipeline {args.pipeline}, "
        f"{args.warmup:g} s warm-up, {args.duration:g} s measured, {args.reps} rep(s), "
        "servers interleaved",
        f"- perf: {perf.status}" + ("" if not perf.ok else "; " + (
            "syscall column from one extra perf-only round per connection count, all other "
            "columns from runs without perf" if extra else
            "attached during every measured run (its per-syscall cost is in the CPU column)")),
        "- medians over repetitions; msgs/s and CPU also show [min–max]; ratios are "
        f"this server's median divided by {REFERENCE}'s (msgs/s: higher is faster; "
        "CPU: higher costs more per message)",
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
                   "config": {k: v for k, v in vars(args).items()},
                   "interrupted": interrupted, "summary": rows, "runs": runs}, f, indent=1)
    print(f"\nwrote {stem}.md and {stem}.json")
    return 1 if (failed or interrupted) else 0


if __name__ == "__main__":
    sys.exit(main())
