#!/usr/bin/env python3
"""make demo: ringo-httpd serving examples/site on io_uring and on epoll, each
loaded by ringo-bench http (keep-alive GET /plaintext, 100 connections, then
pipelined depth 16), then the same over HTTPS (TLS 1.3, a self-signed ECDSA
P-256 certificate made by scripts/tls-cert.sh), printed side by side with the
server's CPU time and syscalls per request from its own counters. Ends with
the URLs to open."""
import argparse, json, os, signal, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the echo demo's helpers: free port, wait for listen, CPU from /proc, counters
from demo import free_port, wait_listening, cpu_seconds, read_stats  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

def make_cert(build):
    """A self-signed pair in BUILD/demo-tls (kept while valid)."""
    d = os.path.join(build, "demo-tls")
    r = subprocess.run(["sh", os.path.join(HERE, "tls-cert.sh"), d], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"demo: cannot make a certificate: {r.stderr.strip()}")
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")

def start_server(build, root, backend, pin, tls=None):
    port = free_port()
    stats_file = f"/tmp/ringo-demo-{os.getpid()}-{backend}.stats"
    cmd = [f"{build}/ringo-httpd", "--port", str(port), "--host", "127.0.0.1", "--workers", "1",
           "--backend", backend, "--root", root, "--metrics", "--quiet",
           "--stats-file", stats_file]
    if tls:
        cmd += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    if pin:
        cmd = ["taskset", "-c", "0"] + cmd
    server = subprocess.Popen(cmd)
    wait_listening(port, server)
    return server, port, stats_file

def stop_server(server, stats_file):
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
    if os.path.exists(stats_file):
        os.unlink(stats_file)

def load(build, server, port, stats_file, conns, depth, seconds, pin, tls=False):
    cli = [f"{build}/ringo-bench", "http", "--host", "127.0.0.1", "--port", str(port),
           "--path", "/plaintext", "-c", str(conns), "-p", str(depth), "-d", str(seconds),
           "--warmup", "1", "--workers", "1", "--expect-body", "Hello, World!", "--json"]
    if tls:
        cli.append("--tls")
    if pin:
        cli = ["taskset", "-c", "1"] + cli
    bench = subprocess.Popen(cli, stdout=subprocess.PIPE, text=True)
    result, cpu0, st0, cpu1, st1 = None, None, None, None, None
    for line in bench.stdout:
        line = line.strip()
        if line == "MEASURE START":
            cpu0, st0 = cpu_seconds(server.pid), read_stats(stats_file, server.pid)
        elif line == "MEASURE END":
            cpu1, st1 = cpu_seconds(server.pid), read_stats(stats_file, server.pid)
        elif line.startswith("{"):
            result = json.loads(line)
    rc = bench.wait()
    if result is None or cpu0 is None or cpu1 is None:
        raise SystemExit(f"demo: ringo-bench failed (exit {rc})")
    reqs = max(result["requests"], 1)
    result["cpu_us"] = (cpu1 - cpu0) * 1e6 / reqs
    result["sys_per_req"] = (st1["syscalls"] - st0["syscalls"]) / reqs
    result["exit"] = rc
    return result

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", "examples", "site"))
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=3)
    a = ap.parse_args()
    root = os.path.abspath(a.root)
    pin = (os.cpu_count() or 1) >= 2
    print(f"ringo demo: ringo-httpd --root {os.path.relpath(root)} (1 worker) on each backend, "
          f"GET /plaintext, {a.conns} keep-alive connections, {a.seconds} s per run"
          + (", server on CPU 0, load on CPU 1" if pin else ""))
    cert = make_cert(a.build)
    rows = []
    for tls in (None, cert):
        for depth in (1, 16):
            for be in ("uring", "epoll"):
                what = "HTTPS" if tls else "HTTP"
                print(f"  ringo-httpd --backend {be}, {what}, pipeline depth {depth} ...", flush=True)
                server, port, stats = start_server(a.build, root, be, pin, tls)
                try:
                    rows.append((be, depth, tls is not None,
                                 load(a.build, server, port, stats, a.conns, depth, a.seconds, pin,
                                      tls is not None)))
                finally:
                    stop_server(server, stats)
    print()
    hdr = (f"{'backend':8} {'proto':5} {'depth':>5} {'req/s':>10} {'p50 us':>8} {'p99 us':>8} "
           f"{'CPU us/req':>11} {'syscalls/req':>13} {'errors':>7}")
    print(hdr)
    print("-" * len(hdr))
    for be, depth, tls, r in rows:
        print(f"{be:8} {'https' if tls else 'http':5} {depth:5d} {r['requests_per_s']:10.0f} "
              f"{r['p50_us']:8.1f} {r['p99_us']:8.1f} {r['cpu_us']:11.2f} {r['sys_per_req']:13.3f} "
              f"{r['errors']:7d}")
    for tls in (False, True):
        for depth in (1, 16):
            u = next(r for be, d, t, r in rows if be == "uring" and d == depth and t == tls)
            e = next(r for be, d, t, r in rows if be == "epoll" and d == depth and t == tls)
            print(f"{'https' if tls else 'http '} depth {depth:2d}: io_uring vs epoll "
                  f"{u['cpu_us'] / max(e['cpu_us'], 1e-9):.2f}x server CPU per request, "
                  f"{u['sys_per_req'] / max(e['sys_per_req'], 1e-9):.3f}x syscalls per request")
    print("The load generator saturates its core first on a 2-core machine, so CPU per request "
          "is the figure that decides. Against nginx, h2o, Go and fasthttp: make bench")
    bad = any(r["errors"] or r["exit"] for _, _, _, r in rows)
    port = 8080
    print(f"\nTo browse the example site: {a.build}/ringo-httpd --root {os.path.relpath(root)} "
          f"--metrics --port {port}\n  then open http://127.0.0.1:{port}/ "
          f"(and http://127.0.0.1:{port}/metrics)\n"
          f"Over HTTPS: add --tls-cert {os.path.relpath(cert[0])} --tls-key "
          f"{os.path.relpath(cert[1])} and open https://127.0.0.1:{port}/ (self-signed: "
          f"curl -k, or accept the browser's warning)")
    if bad:
        sys.exit(1)

if __name__ == "__main__":
    main()
