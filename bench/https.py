#!/usr/bin/env python3
"""HTTPS benchmark: ringo-httpd over TLS (io_uring and epoll backends) side
by side with nginx and h2o, one server CPU against one load CPU, the same
machine rules as bench/http.py.

    python3 bench/https.py --build build [--servers ...] [--scenarios ...]
        [--reps 3] [--duration 5] [--warmup 1] [--out bench/out]

Every server runs with one worker/thread, pinned to CPU 0, with the same
self-signed ECDSA P-256 certificate (scripts/tls-cert.sh) and TLS 1.3; the
load runs pinned to CPU 1. For every scenario and repetition the servers
take turns (A B C ... A B C ...). Each run starts the server on a fresh
port and validates it: curl over https verifying the certificate (status,
body, Server, Date, Content-Type, Content-Length of /plaintext), and
`openssl s_client` (TLS 1.3 negotiated, the certificate served is ours and
verifies, ECDSA signature, then a second connection that must resume from
the first one's ticket). Scenarios:

  https-c100, https-c1000   keep-alive GET /plaintext with wrk -t1 -cN over
      https://. wrk opens its N connections (N full handshakes, ~1 s of wrk
      CPU for 1000) inside its own run, and reports only totals, so one
      wrk run cannot leave the set-up out. Each run therefore takes two
      wrk runs after the warm-up: SETUP seconds (--setup) and SETUP +
      DURATION seconds; requests, server CPU and syscalls are the long
      run's minus the short run's, which is the steady keep-alive state
      with the handshakes subtracted. Latency percentiles are the long
      run's. The raw figures of both runs are in the JSON.
  handshake-full, handshake-resumed   a connection per request: TLS
      handshake (full, or resumed from a TLS 1.3 ticket), one GET
      /plaintext, close. Load: `ringo-bench http --tls --new-conn
      [--tls-resume]` when BUILD/ringo-bench has those flags, otherwise
      --handshake-conns parallel `openssl s_time -new|-reuse -www /plaintext`
      (one s_time is latency-bound: it leaves its CPU idle while the
      server answers; several keep CPU 1 busy). s_time prints one
      character per connection as it completes ('*' new, 'r' resumed):
      the harness reads them as they come, so the window (after
      --warmup) is sampled exactly, like ringo-bench's MEASURE START/END.
      The resumed run must show >= 95 % resumed connections, the full run
      none.

For every window: the rate, server CPU time (utime+stime of all threads,
/proc/PID/stat; nginx: the worker, not the idle master), server syscalls
(perf stat -e raw_syscalls:sys_enter -p PID, gated through perf's control
FIFO), the load generator's CPU and the CPU used by anything else on CPUs
0+1 (bench/http.py's "other CPU").

A full TLS handshake costs the client more than the server (ECDSA verify
is ~2.5x a sign, and both sides do the same X25519), so with one load CPU
the handshake rate is bounded by the load generator, not by the server:
read "load CPU %" next to it. The server-side figure is CPU µs per
handshake; "1-CPU capacity" (10^6 / that) is the rate one server CPU
could sustain.

Python standard library only. See bench/README.md ("HTTPS benchmark").
"""
import argparse
import datetime
import importlib.util
import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ASSETS = os.path.join(HERE, "http")
CERT_SCRIPT = os.path.join(ROOT, "scripts", "tls-cert.sh")


def _load_httpbench():
    """bench/http.py as a module. bench/http/ (its assets) shadows Python's
    own http package on sys.path, so `import http` would not find it."""
    spec = importlib.util.spec_from_file_location("ringo_httpbench",
                                                  os.path.join(HERE, "http.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


hb = _load_httpbench()
echo = hb.echo
SERVER_CPU, LOAD_CPU, CLK_TCK = hb.SERVER_CPU, hb.LOAD_CPU, hb.CLK_TCK
med, f_rate, f_num, f_us = echo.med, echo.f_rate, echo.f_num, echo.f_us

ALL_SERVERS = ["ringo-uring", "ringo-epoll", "nginx", "h2o"]
REFERENCE = "ringo-uring"
FALLBACK_REFERENCE = "nginx"

# name: (kind, connections or handshake mode)
SCENARIOS = {
    "https-c100": ("keepalive", 100),
    "https-c1000": ("keepalive", 1000),
    "handshake-full": ("handshake", "full"),
    "handshake-resumed": ("handshake", "resumed"),
}
PLAINTEXT_BODY = b"Hello, World!"
# Below this share of resumed handshakes a resumed run is not what it says
# (ringo-bench offers each ticket once: a server that sends no new ticket
# on a resumed connection gets every other handshake full).
MIN_RESUMED = 0.95


# --------------------------------------------------------------------------
# certificate and servers


def make_cert(directory):
    """scripts/tls-cert.sh DIR: (cert path, key path, SHA-256 fingerprint)."""
    r = subprocess.run(["sh", CERT_SCRIPT, directory], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"https.py: {CERT_SCRIPT} failed: {r.stderr.strip()}")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    fp = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-fingerprint", "-sha256"],
                        stdout=subprocess.PIPE, text=True).stdout.strip().split("=", 1)[-1]
    return cert, key, fp


def server_exe(name, build, httpd=None):
    if name.startswith("ringo-"):
        return httpd or os.path.join(build, "ringo-httpd")
    return shutil.which(name) or name


def render(template, workdir, port, cert, key):
    with open(os.path.join(ASSETS, template)) as f:
        text = f.read()
    for k, v in (("@PORT@", str(port)), ("@PREFIX@", workdir), ("@CERT@", cert),
                 ("@KEY@", key)):
        text = text.replace(k, v)
    path = os.path.join(workdir, template)
    with open(path, "w") as f:
        f.write(text)
    return path


def server_argv(name, args, port, workdir):
    exe = server_exe(name, args.build, args.httpd)
    if name in ("ringo-uring", "ringo-epoll"):
        # TLS 1.3 only and no cap on requests per connection, like the
        # nginx (keepalive_requests 100000000) and h2o configurations.
        return [exe, "--tls-cert", args.cert, "--tls-key", args.key, "--tls-min-version", "1.3",
                "--max-requests-per-conn", "0", "--port", str(port),
                "--workers", "1", "--backend", name.split("-", 1)[1], "--quiet"]
    if name == "nginx":
        conf = render("nginx-tls.conf", workdir, port, args.cert, args.key)
        return [exe, "-p", workdir, "-c", conf, "-g", "daemon off;"]
    if name == "h2o":
        return [exe, "-c", render("h2o-tls.conf", workdir, port, args.cert, args.key)]
    raise ValueError(name)


# --------------------------------------------------------------------------
# validation


def curl_https(port, cert, timeout=5):
    """(status, headers, body) of GET /plaintext over https, verifying the
    certificate against ours (its SAN has IP:127.0.0.1), or an error."""
    return hb.curl(f"https://127.0.0.1:{port}/plaintext", timeout, ("--cacert", cert))


def check_plaintext(r):
    if isinstance(r, str):
        return [r]
    status, headers, body = r
    problems = []
    if status != 200:
        problems.append(f"status {status}")
    if body != PLAINTEXT_BODY:
        problems.append(f"body {body[:40]!r}")
    missing = [h for h in ("server", "date", "content-type", "content-length")
               if h not in headers]
    if missing:
        problems.append("missing header(s) " + ", ".join(missing))
    if "content-type" in headers and not headers["content-type"].startswith("text/plain"):
        problems.append(f"Content-Type {headers['content-type']!r}")
    if headers.get("content-length", "13") != "13":
        problems.append(f"Content-Length {headers['content-length']!r}")
    return problems


def pem_body(text):
    m = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    return "".join(m.group(1).split()) if m else None


def s_client(port, cert, sess_flag, sess_file, timeout=10):
    """One `openssl s_client` connection sending GET /plaintext with
    Connection: close and reading to the end (so the TLS 1.3 tickets, sent
    after the handshake, are read and saved). Returns its output or an
    error string."""
    req = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
           "-CAfile", cert, "-verify_return_error", "-ign_eof", sess_flag, sess_file]
    try:
        r = subprocess.run(cmd, input=req, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        return f"s_client failed: {e}"
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        last = [l for l in out.splitlines() if l.strip()][-3:]
        return f"s_client exited {r.returncode}: {' | '.join(last)[:300]}"
    return out


def http10_problems(port, timeout=5):
    """openssl s_time -www sends exactly "GET PATH HTTP/1.0" and a blank
    line, no Host, and reads until the server closes: the server must
    answer it and close, or the handshake scenarios measure nothing."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet", "-ign_eof"]
    try:
        r = subprocess.run(cmd, input=b"GET /plaintext HTTP/1.0\r\n\r\n",
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [f"GET /plaintext HTTP/1.0: connection not closed within {timeout} s"]
    except OSError as e:
        return [f"GET /plaintext HTTP/1.0: s_client failed: {e}"]
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d+)", head)
    if not m or m.group(1) != b"200" or body != PLAINTEXT_BODY:
        return [f"GET /plaintext HTTP/1.0 (what s_time sends): {r.stdout[:80]!r}"]
    return []


def validate(port, cert, workdir):
    """(problems, TLS facts) for a server on port."""
    problems = [f"GET /plaintext: {p}" for p in check_plaintext(curl_https(port, cert))]
    facts = {}
    sess = os.path.join(workdir, "session.pem")
    out = s_client(port, cert, "-sess_out", sess)
    if out.startswith("s_client"):
        return problems + [out], facts
    m = re.search(r"^(New|Reused), (\S+), Cipher is (\S+)", out, re.M)
    if m:
        facts["protocol"], facts["cipher"] = m.group(2), m.group(3)
    for key, pat in (("group", r"^Server Temp Key: (.+)$"),
                     ("signature", r"^Peer signature type: (\S+)"),
                     ("key_bits", r"^Server public key is (\d+) bit"),
                     ("verify", r"Verify return code: (.+)$")):
        mm = re.search(pat, out, re.M)
        facts[key] = mm.group(1).strip() if mm else None
    if facts.get("protocol") != "TLSv1.3":
        problems.append(f"negotiated {facts.get('protocol')}, not TLSv1.3")
    if facts.get("signature") != "ECDSA" or facts.get("key_bits") != "256":
        problems.append(f"certificate key {facts.get('signature')} {facts.get('key_bits')} "
                        "bit, not ECDSA P-256")
    if not (facts.get("verify") or "").startswith("0 "):
        problems.append(f"certificate verification: {facts.get('verify')}")
    with open(cert) as f:
        if pem_body(out) != pem_body(f.read()):
            problems.append("the server presented a certificate other than ours")
    if "Hello, World!" not in out:
        problems.append("s_client: no Hello, World! in the response")
    problems += http10_problems(port)
    if not os.path.exists(sess):
        problems.append("s_client saved no session (no ticket received)")
        return problems, facts
    out = s_client(port, cert, "-sess_in", sess)
    if out.startswith("s_client"):
        return problems + ["resumption: " + out], facts
    m = re.search(r"^(New|Reused), (\S+)", out, re.M)
    facts["resumed"] = bool(m and m.group(1) == "Reused")
    if not facts["resumed"]:
        problems.append("a second connection offering the first one's ticket was not resumed")
    return problems, facts


# --------------------------------------------------------------------------
# window sampling


def sample(pids, load_pids=()):
    """One edge of a window: (busy/steal ticks, server ticks, load ticks, t)."""
    load = 0
    for p in load_pids:
        t = echo.cpu_ticks(p)
        load = None if (t is None or load is None) else load + t
    return hb.busy_ticks(), hb.cpu_ticks(pids), load, time.monotonic()


def window_figures(rec, ops, e0, e1, load_s=None):
    """Server CPU per operation and the CPU nobody we know of used, from the
    two edges of a window (sample()), into rec."""
    (busy0, cpu0, load0, t0), (busy1, cpu1, load1, t1) = e0, e1
    window = t1 - t0
    rec["window_s"] = window
    if not ops:
        rec["problems"].append("no operations completed in the window")
    if cpu0 is None or cpu1 is None:
        rec["problems"].append("server gone at the window edge: no CPU time")
        return
    rec["cpu_ticks"] = cpu1 - cpu0
    if ops:
        rec["cpu_us_per_op"] = (cpu1 - cpu0) / CLK_TCK * 1e6 / ops
    if load_s is None and load0 is not None and load1 is not None:
        load_s = (load1 - load0) / CLK_TCK
    if load_s is not None and window > 0:
        other = (busy1[0] - busy0[0] - (cpu1 - cpu0)) / CLK_TCK - load_s
        rec["other_cpu_pct"] = max(0.0, other / window * 100)
        rec["steal_pct"] = (busy1[1] - busy0[1]) / CLK_TCK / window * 100
        rec["load_cpu_pct"] = load_s / window * 100


class Perf:
    """One perf session per wrk run (the keep-alive runs difference two)."""

    def __init__(self, perf, pids, workdir):
        self.perf, self.pids, self.workdir, self.n = perf, pids, workdir, 0
        self.session = None

    def begin(self):
        self.n += 1
        d = os.path.join(self.workdir, f"perf{self.n}")
        os.makedirs(d, exist_ok=True)
        self.session = echo.PerfSession(self.perf, ",".join(map(str, self.pids)), d)
        self.session.prepare()

    def start(self):
        self.session.start()

    def stop(self):
        self.session.stop()

    def end(self):
        count, self.session = self.session.finish(), None
        return count

    def close(self):
        if self.session:
            self.session.finish()
            self.session = None


# --------------------------------------------------------------------------
# keep-alive: wrk over https


def wrk_cmd(port, conns, duration):
    return ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{duration:g}s",
            "--latency", "--timeout", "5s", f"https://127.0.0.1:{port}/plaintext"]


def wrk_window(args, port, conns, duration, pids, perf, rec, label):
    """One measured wrk run: its parsed report and the window's samples."""
    cmd = wrk_cmd(port, conns, duration)
    if perf:
        perf.begin()
        perf.start()
    e0 = sample(pids)
    code, out, wrk_cpu = hb.run_wrk(cmd, duration + 60)
    e1 = sample(pids)
    syscalls = None
    if perf:
        perf.stop()
        syscalls = perf.end()
        if syscalls is None:
            rec["problems"].append(f"perf: no syscall count ({label} run)")
    run = {"cmd": cmd, "exit": code, "output": out, "result": hb.parse_wrk(out),
           "wrk_cpu_s": wrk_cpu, "edges": [e0, e1], "syscalls": syscalls}
    if code != 0:
        rec["problems"].append(f"{label} wrk exited {code}: {out.strip()[-200:]}")
    res = run["result"]
    errs = sum(res.get("socket_errors", {}).values())
    if errs:
        rec["problems"].append(f"{label} wrk errors: " + ", ".join(
            f"{k} {v}" for k, v in res["socket_errors"].items() if v))
    if res.get("non_2xx"):
        rec["problems"].append(f"{label} wrk: {res['non_2xx']} non-2xx/3xx responses")
    if not res.get("requests"):
        rec["problems"].append(f"{label} wrk reported no requests" + (
            f" (still connecting after {duration} s: raise --setup)" if label == "short" else ""))
    return run


def measure_keepalive(args, port, conns, pids, perf, rec):
    rec["loadgen"] = "wrk"
    if args.warmup > 0:
        code, out, _ = hb.run_wrk(wrk_cmd(port, conns, args.warmup), args.warmup + 60)
        if code != 0:
            rec["problems"].append(f"warm-up wrk exited {code}: {out.strip()[-200:]}")
            return
    short = wrk_window(args, port, conns, args.setup, pids, perf, rec, "short")
    long_ = wrk_window(args, port, conns, args.setup + args.duration, pids, perf, rec, "long")
    rec["wrk_runs"] = {"short": short, "long": long_}
    rec["load_cmd"] = long_["cmd"]
    if rec["problems"]:
        return
    s, l = short["result"], long_["result"]
    n = l["requests"] - s["requests"]
    secs = l["seconds"] - s["seconds"]
    if n <= 0 or secs < args.duration / 2:
        rec["problems"].append(f"long minus short run: {n} requests in {secs:.2f} s")
        return
    rec["result"] = {"ops": n, "seconds": secs, "ops_per_s": n / secs,
                     "p50_us": l.get("p50_us"), "p99_us": l.get("p99_us")}
    # The differencing holds only if wrk had connected everything before
    # the short run ended. Its set-up time, as the steady rate implies it:
    setup = s["seconds"] - s["requests"] / rec["result"]["ops_per_s"]
    rec["setup_s_est"] = setup
    if setup > 0.75 * s["seconds"]:
        rec["problems"].append(f"wrk took ~{setup:.1f} s to connect, too close to the "
                               f"{args.setup} s short run: raise --setup")
        return
    # The difference of the two windows: set-up (handshakes) cancels out.
    (sb0, sc0, _, st0), (sb1, sc1, _, st1) = short["edges"]
    (lb0, lc0, _, lt0), (lb1, lc1, _, lt1) = long_["edges"]
    if None in (sc0, sc1, lc0, lc1):
        rec["problems"].append("server gone at a window edge: no CPU time")
        return
    e0 = ((0, 0), 0, None, 0.0)
    e1 = ((lb1[0] - lb0[0] - (sb1[0] - sb0[0]), lb1[1] - lb0[1] - (sb1[1] - sb0[1])),
          (lc1 - lc0) - (sc1 - sc0), None, (lt1 - lt0) - (st1 - st0))
    window_figures(rec, n, e0, e1, load_s=long_["wrk_cpu_s"] - short["wrk_cpu_s"])
    # With the set-up, as a single wrk run would report it (for reference).
    rec["with_setup"] = {"req_per_s": l.get("req_per_s"),
                         "cpu_us_per_req": (lc1 - lc0) / CLK_TCK * 1e6 / l["requests"]}
    if perf and short["syscalls"] is not None and long_["syscalls"] is not None:
        rec["perf_syscalls"] = long_["syscalls"] - short["syscalls"]
        rec["syscalls_per_op"] = rec["perf_syscalls"] / n


# --------------------------------------------------------------------------
# handshakes: ringo-bench --tls --new-conn, or parallel openssl s_time


_bench_flags = {}


def ringo_bench_tls(build):
    """Whether BUILD/ringo-bench http has --tls and --new-conn."""
    exe = os.path.join(build, "ringo-bench")
    if exe not in _bench_flags:
        ok = False
        if os.access(exe, os.X_OK):
            r = subprocess.run([exe, "http", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            ok = all(re.search(rf"(^|\s){f}\b", r.stdout) for f in
                     ("--tls", "--new-conn", "--tls-resume"))
        _bench_flags[exe] = ok
    return _bench_flags[exe]


def handshake_loadgen(args):
    if args.handshake_loadgen == "auto":
        return "ringo-bench" if ringo_bench_tls(args.build) else "s_time"
    return args.handshake_loadgen


def ringo_bench(args, cmd, pids, perf, rec):
    """Run a ringo-bench command, sampling the window at its MEASURE START
    and MEASURE END lines. Returns (JSON result, edges) or None (the
    problem is in rec)."""
    rec["load_cmd"] = cmd
    edges = {}
    if perf:
        perf.begin()

    def on_edge(line, pid):
        if perf:
            perf.start() if line == "MEASURE START" else perf.stop()
        edges[line] = sample(pids, [pid])

    code, stderr_lines, json_line = echo.run_ringo_bench(
        cmd, args.warmup + args.duration + 60, on_edge, preexec_fn=hb.raise_nofile)
    rec["syscalls"] = perf.end() if perf else None
    rec["load_exit"] = code
    rec["load_output"] = "".join(stderr_lines[-10:])
    problem = echo.bench_exit_problem(code, stderr_lines)
    if problem:
        rec["problems"].append(problem)
    if len(edges) != 2 or json_line is None:
        rec["problems"].append("ringo-bench printed no MEASURE START/END or no JSON result")
        return None
    try:
        out = json.loads(json_line)
    except ValueError:
        rec["problems"].append(f"unparsable JSON from ringo-bench: {json_line[:200]}")
        return None
    rec["load_json"] = out
    errors = {k: v for k, v in out.get("errors_by_kind", {}).items() if v}
    if errors:
        rec["problems"].append("ringo-bench errors: " + ", ".join(
            f"{k} {v}" for k, v in errors.items()))
    return out, (edges["MEASURE START"], edges["MEASURE END"])


def ringo_bench_cmd(args, port, conns, extra):
    return (["taskset", "-c", LOAD_CPU, os.path.join(args.build, "ringo-bench"), "http",
             "--tls"] + extra + ["--port", str(port), "--path", "/plaintext", "-c", str(conns),
                                 "--warmup", str(args.warmup), "-d", str(args.duration),
                                 "--workers", "1", "--timeout", "5", "--json", "--quiet",
                                 "--expect-body", PLAINTEXT_BODY.decode()])


def finish_ringo_bench(rec, n, got, extra_result):
    out, (e0, e1) = got
    secs = out.get("duration_s") or (e1[3] - e0[3])
    rec["result"] = dict({"ops": n, "seconds": secs, "ops_per_s": n / secs if n else None,
                          "p50_us": out.get("p50_us"), "p99_us": out.get("p99_us")},
                         **extra_result)
    window_figures(rec, n, e0, e1)
    if rec.get("syscalls") is not None and n:
        rec["perf_syscalls"] = rec["syscalls"]
        rec["syscalls_per_op"] = rec["syscalls"] / n


def measure_keepalive_ringo_bench(args, port, conns, pids, perf, rec):
    """ringo-bench connects and warms up before MEASURE START: the window
    holds no handshakes, no differencing needed."""
    got = ringo_bench(args, ringo_bench_cmd(args, port, conns, []), pids, perf, rec)
    if got:
        finish_ringo_bench(rec, got[0].get("requests"), got, {})


def measure_handshake_ringo_bench(args, port, mode, pids, perf, rec):
    extra = ["--new-conn"] + (["--tls-resume"] if mode == "resumed" else [])
    got = ringo_bench(args, ringo_bench_cmd(args, port, args.handshake_conns, extra), pids, perf,
                      rec)
    if not got:
        return
    out = got[0]
    # One request per connection: connections (handshakes) = requests,
    # whichever name the tool gives the count.
    n = next((out[k] for k in ("handshakes", "connections", "requests") if k in out), None)
    resumed = out.get("resumed", out.get("tls_resumed"))
    finish_ringo_bench(rec, n, got, {"resumed": resumed, "new": None if resumed is None or
                                     n is None else n - resumed})
    check_resumption(rec, mode)


def check_resumption(rec, mode):
    res = rec["result"]
    n, resumed = res.get("ops"), res.get("resumed")
    if not n or resumed is None:
        return
    if mode == "full" and resumed:
        rec["problems"].append(f"{resumed} of {n} connections resumed in the full-handshake run")
    if mode == "resumed" and resumed < MIN_RESUMED * n:
        rec["problems"].append(f"only {resumed} of {n} connections resumed "
                               f"({resumed / n * 100:.1f} %, need {MIN_RESUMED * 100:.0f} %)")


def measure_handshake_stime(args, port, mode, pids, perf, workdir, rec):
    # -time outlasts the window: the processes are killed at its end.
    cmd = ["taskset", "-c", LOAD_CPU, "openssl", "s_time", "-connect", f"127.0.0.1:{port}",
           "-new" if mode == "full" else "-reuse", "-www", "/plaintext",
           "-time", str(args.warmup + args.duration + 30)]
    rec["load_cmd"] = cmd
    rec["load_procs"] = args.handshake_conns
    if perf:
        perf.begin()
    procs, errs = [], []
    counts = {"new": 0, "resumed": 0}
    try:
        for i in range(args.handshake_conns):
            err = open(os.path.join(workdir, f"s_time{i}.err"), "w+")
            errs.append(err)
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                          start_new_session=True))
        open_fds = {p.stdout.fileno(): p for p in procs}

        def drain(seconds):
            """Read the progress characters for `seconds`; False if an
            s_time ended (it stops at its first failed connection)."""
            end = time.monotonic() + seconds
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return True
                ready, _, _ = select.select(list(open_fds), [], [], left)
                for fd in ready:
                    data = os.read(fd, 65536)
                    if not data:
                        return False
                    counts["resumed"] += data.count(b"r")
                    counts["new"] += data.count(b"*")

        def dead_problem():
            for e in errs:
                e.seek(0)
            tail = " | ".join(l.strip() for e in errs for l in e.read().splitlines()[-2:]
                              if l.strip())
            rec["problems"].append(f"an openssl s_time ended early: {tail[:300] or 'no message'}")

        if not drain(args.warmup):
            return dead_problem()
        if counts["new"] + counts["resumed"] == 0:
            rec["problems"].append(f"openssl s_time completed no connection in the {args.warmup}"
                                   " s warm-up")
            return
        load_pids = [p.pid for p in procs]  # taskset execs openssl
        if perf:
            perf.start()
        c0, e0 = dict(counts), sample(pids, load_pids)
        alive = drain(args.duration)
        c1, e1 = dict(counts), sample(pids, load_pids)
        if perf:
            perf.stop()
        if not alive:
            return dead_problem()
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            p.stdout.close()
        for e in errs:
            e.close()
        syscalls = perf.end() if perf else None
    new, resumed = c1["new"] - c0["new"], c1["resumed"] - c0["resumed"]
    n, secs = new + resumed, e1[3] - e0[3]
    rec["result"] = {"ops": n, "seconds": secs, "ops_per_s": n / secs if n else None,
                     "p50_us": None, "p99_us": None, "new": new, "resumed": resumed}
    check_resumption(rec, mode)
    window_figures(rec, n, e0, e1)
    if syscalls is not None and n:
        rec["perf_syscalls"] = syscalls
        rec["syscalls_per_op"] = syscalls / n


# --------------------------------------------------------------------------
# one run


def run_one(args, server, scenario, rep, perf, use_perf, perf_only=False):
    port = echo.fresh_port()
    workdir = tempfile.mkdtemp(prefix=f"https-{server}-")
    os.chmod(workdir, 0o755)  # nginx/h2o workers run as nobody
    argv = ["taskset", "-c", SERVER_CPU] + server_argv(server, args, port, workdir)
    kind, what = SCENARIOS[scenario]
    rec = {"server": server, "scenario": scenario, "rep": rep, "perf_only": perf_only,
           "port": port, "server_cmd": argv, "problems": [],
           "loadavg_before": os.getloadavg()}
    log_path = os.path.join(workdir, "server.log")
    log = open(log_path, "w")
    srv = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                           preexec_fn=hb.raise_nofile, cwd=workdir)
    p = None
    try:
        err = echo.wait_accepting(srv, port)
        if err:
            rec["problems"].append(err)
            return rec
        pids = hb.measured_pids(server, srv.pid)
        if not pids:
            rec["problems"].append("no worker process found")
            return rec
        rec["measured_pids"] = pids
        bad, rec["tls"] = validate(port, args.cert, workdir)
        if bad:
            rec["problems"].append("validation: " + "; ".join(bad))
            rec["validation_failed"] = True
            return rec
        p = Perf(perf, pids, workdir) if use_perf else None
        if kind == "keepalive" and args.loadgen == "ringo-bench":
            rec["loadgen"] = "ringo-bench"
            measure_keepalive_ringo_bench(args, port, what, pids, p, rec)
        elif kind == "keepalive":
            measure_keepalive(args, port, what, pids, p, rec)
        elif handshake_loadgen(args) == "ringo-bench":
            rec["loadgen"] = "ringo-bench"
            measure_handshake_ringo_bench(args, port, what, pids, p, rec)
        else:
            rec["loadgen"] = "s_time"
            measure_handshake_stime(args, port, what, pids, p, workdir, rec)
        if srv.poll() is not None:
            rec["problems"].append(f"server died during the run (status {srv.returncode})")
        return rec
    finally:
        if p:
            p.close()
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


def summarize(runs, servers, scenarios):
    rows = []
    for sc in scenarios:
        group = []
        for server in servers:
            every = [r for r in runs if r["server"] == server and r["scenario"] == sc]
            if not every:
                continue
            good = [r for r in every if not r.get("perf_only") and not r["problems"]
                    and (r.get("result") or {}).get("ops_per_s") is not None]
            # by repetition for the paired ratios below (one good run per rep)
            rate_by_rep = {r["rep"]: r["result"]["ops_per_s"] for r in good}
            cpu_by_rep = {r["rep"]: r["cpu_us_per_op"] for r in good if "cpu_us_per_op" in r}
            rate, cpu = list(rate_by_rep.values()), list(cpu_by_rep.values())
            other = [r["other_cpu_pct"] for r in every if "other_cpu_pct" in r]
            steal = [r["steal_pct"] for r in every if "steal_pct" in r]
            load = [r["load_cpu_pct"] for r in good if "load_cpu_pct" in r]
            pct = [r["result"][k] for r in good for k in ("p50_us",) if r["result"].get(k)]
            p99 = [r["result"]["p99_us"] for r in good if r["result"].get("p99_us")]
            tls = next((r["tls"] for r in every if r.get("tls")), {})
            group.append({
                "scenario": sc, "server": server, "kind": SCENARIOS[sc][0],
                "rate_by_rep": rate_by_rep, "cpu_by_rep": cpu_by_rep,
                "rate": med(rate), "rate_min": min(rate, default=None),
                "rate_max": max(rate, default=None),
                "p50_us": med(pct), "p99_us": med(p99),
                "cpu_us": med(cpu), "cpu_min": min(cpu, default=None),
                "cpu_max": max(cpu, default=None),
                "syscalls": med([r["syscalls_per_op"] for r in every if "syscalls_per_op" in r]),
                "load_cpu": med(load),
                "resumed_pct": med([r["result"]["resumed"] / r["result"]["ops"] * 100
                                    for r in every if (r.get("result") or {}).get("ops")
                                    and r["result"].get("resumed") is not None]),
                "runs": len(every), "failed_runs": sum(1 for r in every if r["problems"]),
                "other_cpu_max": max(other, default=None),
                "steal_max": max(steal, default=None),
                "tls": f"{tls.get('protocol', '?')} {tls.get('cipher', '?')} "
                       f"{(tls.get('group') or '?').split(',')[0]}" if tls else "n/a",
            })
        ref = next((r for r in group if r["server"] == REFERENCE and r["rate"]), None) \
            or next((r for r in group if r["server"] == FALLBACK_REFERENCE and r["rate"]), None)
        for row in group:
            row["reference"] = ref["server"] if ref else None
            # Paired: each repetition's figure over the reference's in the
            # same repetition (they ran back to back), then the median of
            # those ratios. The machine drifts between repetitions by more
            # than the servers differ; a ratio of two medians taken from
            # different repetitions mixes that drift in.
            for key in ("rate", "cpu"):
                mine, theirs = row[key + "_by_rep"], (ref or {}).get(key + "_by_rep") or {}
                ratios = [mine[k] / theirs[k] for k in mine if theirs.get(k)]
                row[key + "_ratio"] = med(ratios)
                row[key + "_ratio_min"] = min(ratios, default=None)
                row[key + "_ratio_max"] = max(ratios, default=None)
        rows.extend(group)
    return rows


def f_ratio(r, key, tag):
    if r[key] is None:
        return "n/a"
    return f"{r[key]:.2f}x [{r[key + '_min']:.2f}–{r[key + '_max']:.2f}]{tag}"


KEEPALIVE_HEADERS = ["scenario", "server", "req/s median [min–max]", "p50 µs", "p99 µs",
                     "CPU µs/req median [min–max]", "syscalls/req", "req/s vs ref (paired)",
                     "CPU vs ref (paired)", "failed runs", "other CPU %"]
HANDSHAKE_HEADERS = ["scenario", "server", "handshakes/s median [min–max]", "resumed %",
                     "load CPU %",
                     "CPU µs/handshake median [min–max]", "1-CPU capacity/s",
                     "syscalls/handshake", "hs/s vs ref (paired)", "CPU vs ref (paired)",
                     "failed runs",
                     "other CPU %"]


def cells(rows, perf_ok, kind):
    out = []
    for r in rows:
        if r["kind"] != kind:
            continue
        rate = ("n/a" if r["rate"] is None else
                f"{f_rate(r['rate'])} [{f_rate(r['rate_min'])}–{f_rate(r['rate_max'])}]")
        cpu = ("n/a" if r["cpu_us"] is None else
               f"{f_num(r['cpu_us'])} [{f_num(r['cpu_min'])}–{f_num(r['cpu_max'])}]")
        tag = "" if r["reference"] in (None, REFERENCE) else " (b)"
        common_tail = [
            f_num(r["syscalls"]) if perf_ok else "n/a (no perf)",
            f_ratio(r, "rate_ratio", tag),
            f_ratio(r, "cpu_ratio", tag),
            f"{r['failed_runs']}/{r['runs']}",
            "n/a" if r["other_cpu_max"] is None else f"{r['other_cpu_max']:.0f}"
            + (f" (steal {r['steal_max']:.0f})" if (r["steal_max"] or 0) >= 1 else ""),
        ]
        if kind == "keepalive":
            out.append([r["scenario"], r["server"], rate, f_us(r["p50_us"]), f_us(r["p99_us"]),
                        cpu] + common_tail)
        else:
            cap = "n/a" if not r["cpu_us"] else f_rate(1e6 / r["cpu_us"])
            out.append([r["scenario"], r["server"], rate, f_num(r["resumed_pct"], 1),
                        f_num(r["load_cpu"], 0), cpu, cap]
                       + common_tail)
    return out


def text_table(headers, rows):
    widths = [max(len(h), *(len(c[i]) for c in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def fmt(row):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))
    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    prev = None
    for c in rows:
        if prev is not None and c[0] != prev:
            lines.append("")
        lines.append(fmt(c))
        prev = c[0]
    return "\n".join(lines)


def md_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join(":---" if i < 2 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(c) + " |" for c in rows]
    return "\n".join(lines)


def progress_line(prefix, rec):
    res = rec.get("result") or {}
    unit = "req" if SCENARIOS[rec["scenario"]][0] == "keepalive" else "handshake"
    msg = (f"{prefix}: {f_rate(res.get('ops_per_s'))} {unit}s/s, "
           f"CPU {f_num(rec.get('cpu_us_per_op'))} µs/{unit}, "
           f"syscalls/{unit} {f_num(rec.get('syscalls_per_op'))}, "
           f"load CPU {f_num(rec.get('load_cpu_pct'), 0)}%, "
           f"other CPU {f_num(rec.get('other_cpu_pct'), 0)}%")
    if res.get("p99_us"):
        msg += f", p99 {f_us(res['p99_us'])} µs"
    if res.get("resumed") is not None and unit == "handshake":
        msg += f", resumed {res['resumed']}/{res['ops']}"
    if rec["problems"]:
        msg += "  PROBLEMS: " + "; ".join(rec["problems"])
    return msg


# --------------------------------------------------------------------------
# main


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="ringo HTTPS benchmark: ringo-httpd over TLS against nginx and h2o, server "
                    "on CPU 0 with one worker, load on CPU 1 (see bench/README.md)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--build", default="build", help="build directory")
    ap.add_argument("--httpd", help="ringo-httpd binary (None: BUILD/ringo-httpd)")
    ap.add_argument("--servers", default=",".join(ALL_SERVERS),
                    help="comma-separated, run in this order")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    ap.add_argument("--reps", type=int, default=3, help="repetitions")
    ap.add_argument("--duration", type=int, default=5, help="measured seconds per run")
    ap.add_argument("--warmup", type=int, default=1,
                    help="warm-up seconds before each measured window (at least 1)")
    ap.add_argument("--setup", type=int, default=3,
                    help="keep-alive: seconds of the short wrk run subtracted from the long "
                         "one (SETUP+DURATION s), which takes the handshakes of the set-up "
                         "out; must exceed the time wrk needs to connect")
    ap.add_argument("--loadgen", choices=["wrk", "ringo-bench"], default="wrk",
                    help="keep-alive load generator: wrk (the reference; its set-up is "
                    "taken out by differencing two runs) or BUILD/ringo-bench http --tls "
                    "(window after connect and warm-up)")
    ap.add_argument("--handshake-loadgen", choices=["auto", "ringo-bench", "s_time"],
                    default="auto", help="handshake load: auto = BUILD/ringo-bench http "
                    "--tls --new-conn if it has those flags, else openssl s_time")
    ap.add_argument("--handshake-conns", type=int, default=16,
                    help="handshakes in flight: ringo-bench -c, or that many parallel openssl "
                         "s_time processes (with 4, client and server mostly wait for each "
                         "other, neither CPU is busy and the rate is the round trip's; with "
                         "16 the busier side saturates)")
    ap.add_argument("--cert-dir", help="where scripts/tls-cert.sh puts (or finds) cert.pem and "
                    "key.pem (None: a temporary directory, removed at the end)")
    ap.add_argument("--out", default=os.path.join("bench", "out"),
                    help="directory for https.md and https.json (plus time-stamped copies)")
    ap.add_argument("--max-other", type=float, default=25,
                    help="re-measure a run when CPU used by other processes during it "
                         "exceeded this %% of one CPU")
    ap.add_argument("--retries", type=int, default=2,
                    help="re-measurements per run for --max-other; the quietest attempt counts")
    ap.add_argument("--retry-pause", type=float, default=2,
                    help="seconds to wait before re-measuring")
    ap.add_argument("--require-all", action="store_true",
                    help="fail instead of skipping servers that are not built/installed")
    ap.add_argument("--no-perf", action="store_true", help="do not count syscalls with perf")
    ap.add_argument("--perf-runs", choices=["same", "extra"], default="extra",
                    help="extra: measured runs go without perf, one extra round per scenario "
                         "with perf gives the syscall column; same: perf attached during "
                         "every measured run")
    args = ap.parse_args(argv)
    for name in ("reps", "duration", "warmup", "setup", "handshake_conns"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.retries < 0:
        ap.error("--retries must be at least 0")
    args.build = os.path.abspath(args.build)  # servers run in a temp dir
    if args.httpd:
        args.httpd = os.path.abspath(args.httpd)
    args.server_list = [s.strip() for s in args.servers.split(",") if s.strip()]
    for s in args.server_list:
        if s not in ALL_SERVERS:
            ap.error(f"unknown server '{s}' (known: {', '.join(ALL_SERVERS)})")
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in args.scenario_list:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario '{s}' (known: {', '.join(SCENARIOS)})")
    if not args.server_list or not args.scenario_list:
        ap.error("no server or no scenario selected")
    return args


def httpd_has_tls(exe):
    try:
        r = subprocess.run([exe, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return all(f in r.stdout for f in ("--tls-cert", "--tls-key", "--tls-min-version"))


def check_setup(args):
    problems, skipped = [], []
    for tool, pkg in (("taskset", "util-linux"), ("wrk", "wrk"), ("curl", "curl"),
                      ("openssl", "openssl")):
        if not shutil.which(tool):
            problems.append(f"{tool} not found (Debian package {pkg}; sh scripts/deps.sh bench)")
    if args.loadgen == "ringo-bench" and not ringo_bench_tls(args.build):
        problems.append(f"{args.build}/ringo-bench has no http --tls (not built, or too old)")
    if args.handshake_loadgen == "ringo-bench" and not ringo_bench_tls(args.build):
        problems.append(f"{args.build}/ringo-bench has no http --tls --new-conn --tls-resume "
                        "(not built, or too old)")
    if not {0, 1} <= os.sched_getaffinity(0):
        problems.append("need CPUs 0 and 1 for pinning")
    keep = []
    for s in args.server_list:
        exe = server_exe(s, args.build, args.httpd)
        if not os.access(exe, os.X_OK):
            skipped.append(f"{s} ({exe} not built/installed)")
        elif s.startswith("ringo-") and not httpd_has_tls(exe):
            skipped.append(f"{s} ({exe} has no --tls-cert/--tls-key/--tls-min-version)")
        else:
            keep.append(s)
    if skipped and args.require_all:
        problems += [f"missing {s}" for s in skipped]
    if not keep:
        problems.append("none of the servers asked for can run")
    for s in skipped:
        print(f"https.py: skipping {s}", file=sys.stderr)
    args.server_list = keep
    if problems:
        for p in problems:
            print(f"https.py: {p}", file=sys.stderr)
        sys.exit(2)
    return skipped


def run_all(args, perf, runs):
    extra = args.perf_runs == "extra" and perf.ok
    total = len(args.scenario_list) * len(args.server_list) * (args.reps + extra)
    for sc in args.scenario_list:
        for rep in range(1, args.reps + 1 + extra):
            perf_only = rep > args.reps
            use_perf = perf.ok and (perf_only or not extra)
            for server in args.server_list:
                rec = hb.run_quietest(args, run_one, server, sc, rep, perf, use_perf, perf_only)
                runs.append(rec)
                label = "perf" if perf_only else f"rep={rep}"
                print(progress_line(f"[{len(runs)}/{total}] {sc} {label} {server}", rec),
                      file=sys.stderr, flush=True)
    return extra


def main():
    args = parse_args()
    skipped = check_setup(args)
    tmp_cert = None
    if not args.cert_dir:
        tmp_cert = args.cert_dir = tempfile.mkdtemp(prefix="https-cert-")
    os.chmod(args.cert_dir, 0o755)
    args.cert, args.key, fingerprint = make_cert(args.cert_dir)
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
    print(f"perf: {perf.status}")
    hs_load = handshake_loadgen(args)
    hs_label = (f"ringo-bench http --tls --new-conn -c {args.handshake_conns}" if hs_load ==
                "ringo-bench" else f"{args.handshake_conns} x openssl s_time -www /plaintext")
    print(f"certificate: ECDSA P-256, SHA-256 {fingerprint}")
    if args.loadgen == "wrk":
        ka_label = (f"wrk -t1, {args.warmup}s warm-up, {args.setup}s and "
                    f"{args.setup + args.duration}s runs differenced")
        ka_md = (f"wrk -t1 -cN --latency over https, GET /plaintext; {args.warmup} s warm-up, "
                 f"then a {args.setup} s and a {args.setup + args.duration} s run: requests, "
                 "server CPU and syscalls are the long run's minus the short run's (wrk's "
                 "connection set-up, N full handshakes, cancels out); latency from the long run")
    else:
        ka_label = (f"ringo-bench http --tls --workers 1, {args.warmup}s warm-up + "
                    f"{args.duration}s")
        ka_md = (f"ringo-bench http --tls --workers 1 -c N, GET /plaintext; window from "
                 f"MEASURE START to END ({args.warmup} s warm-up after connecting, "
                 f"{args.duration} s measured)")
    print(f"servers pinned to CPU {SERVER_CPU}, load to CPU {LOAD_CPU}; keep-alive: {ka_label}; "
          f"handshakes: {hs_label}, {args.warmup}s warm-up + {args.duration}s\n")

    runs = []
    interrupted = False
    extra = False
    try:
        extra = run_all(args, perf, runs)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: summarizing the runs so far", file=sys.stderr)
    finally:
        if tmp_cert:
            shutil.rmtree(tmp_cert, ignore_errors=True)
    load_end = os.getloadavg()
    rows = summarize(runs, args.server_list, args.scenario_list)
    ka = cells(rows, perf.ok, "keepalive")
    hs = cells(rows, perf.ok, "handshake")
    print()
    if ka:
        print(text_table(KEEPALIVE_HEADERS, ka))
    if hs:
        print(("\n" if ka else "") + text_table(HANDSHAKE_HEADERS, hs))

    failed = [r for r in runs if r["problems"]]
    notes = []
    if skipped:
        notes.append("Skipped (not built or not installed): " + ", ".join(skipped) + ".")
    if FALLBACK_REFERENCE in {r["reference"] for r in rows if r["reference"]}:
        notes.append(f"(b): {REFERENCE} has no valid run there: ratios are to {FALLBACK_REFERENCE}.")
    retried = [r for r in runs if r.get("discarded_attempts_other_cpu")]
    if retried:
        notes.append(f"{len(retried)} run(s) were measured again because other processes "
                     f"used more than {args.max_other:g} % of a CPU during them.")
    noisy = [r for r in runs if r.get("other_cpu_pct", 0) > args.max_other]
    if noisy:
        notes.append(f"{len(noisy)} of {len(runs)} kept runs still had other CPU > "
                     f"{args.max_other:g} % (after {args.retries} retries): the machine was "
                     "busy, read those rows with care.")
    if failed:
        notes.append("Runs with problems (left out of the medians):")
        for r in failed:
            label = "perf run" if r.get("perf_only") else f"rep={r['rep']}"
            notes.append(f"- {r['scenario']} {label} {r['server']}: " + "; ".join(r["problems"]))
    if interrupted:
        notes.append("- interrupted; the tables cover the runs that finished.")
    if notes:
        print("\n" + "\n".join(notes))

    tls_seen = sorted({f"{r['server']}: {r['tls']}" for r in rows})
    info = echo.machine_info()
    md = [
        f"# HTTPS benchmark, {started:%Y-%m-%d %H:%M:%S}", "", "```", command, "```", "",
        f"- machine: {info['cpu']}, {info['cpus']} CPUs, Linux {info['kernel']}; load average "
        f"{load_start[0]:.2f} before, {load_end[0]:.2f} after",
        f"- pinning: server on CPU {SERVER_CPU} (one worker/thread), load on CPU {LOAD_CPU}; "
        f"{args.reps} rep(s), servers interleaved",
        f"- certificate: self-signed ECDSA P-256 (scripts/tls-cert.sh), the same for every "
        f"server; negotiated (openssl s_client): " + "; ".join(tls_seen),
        f"- keep-alive (https-cN): {ka_md}",
        f"- handshakes: {hs_label}; each connection = a TLS 1.3 handshake (full, or resumed "
        f"from a ticket), GET /plaintext, close; {args.warmup} s warm-up + {args.duration} s "
        "measured. load CPU % = the load generator's CPU: near 100 the rate is the client's "
        "limit, not the server's; 1-CPU capacity = 10^6 / server CPU µs per handshake",
        f"- perf: {perf.status}" + ("" if not perf.ok else "; " + (
            "syscall column from one extra perf-only round per scenario, the other columns "
            "from runs without perf" if extra else "attached during every measured run")),
        "- CPU µs: server utime+stime (all threads; nginx: the worker) over the window ÷ "
        f"operations; ratios: this row ÷ {REFERENCE} (rate: >1 faster; CPU: >1 costs more)",
        "- other CPU %: busy time of CPUs 0+1 not spent by the server or the load generator, "
        "max over the runs, in % of one CPU",
        "",
    ]
    if ka:
        md += [md_table(KEEPALIVE_HEADERS, ka), ""]
    if hs:
        md += [md_table(HANDSHAKE_HEADERS, hs), ""]
    if notes:
        md += notes + [""]
    os.makedirs(args.out, exist_ok=True)
    stamped = os.path.join(args.out, "https-" + started.strftime("%Y%m%d-%H%M%S"))
    latest = os.path.join(args.out, "https")
    doc = {"command": command, "started": started.isoformat(timespec="seconds"),
           "machine": info, "perf": perf.status, "clk_tck": CLK_TCK,
           "certificate_sha256": fingerprint, "handshake_loadgen": hs_load,
           "loadavg": {"start": load_start, "end": load_end},
           "config": {k: v for k, v in vars(args).items()}, "skipped": skipped,
           "interrupted": interrupted, "summary": rows, "runs": runs}
    for stem in (stamped, latest):
        with open(stem + ".md", "w") as f:
            f.write("\n".join(md))
        with open(stem + ".json", "w") as f:
            json.dump(doc, f, indent=1)
    print(f"\nwrote {latest}.md and {latest}.json (copies: {stamped}.md/.json)")
    if failed:
        print(f"https.py: FAILED: {len(failed)} run(s) had problems (errors, validation, "
              "a dead server): see the list above", file=sys.stderr)
    return 1 if (failed or interrupted) else 0


if __name__ == "__main__":
    sys.exit(main())
