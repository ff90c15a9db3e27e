#!/usr/bin/env python3
"""Memory per idle connection: open N connections to an echo server, echo
one small message on each (so every connection's coroutine or goroutine
has run once and is parked in a read), wait, and report the server's RSS
growth per connection. Servers: ringo-echo on io_uring and on epoll, and
Go's net echo. Usage: python3 bench/idle_mem.py [--build build] [-n 10000]
"""
import argparse, os, resource, socket, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import echo  # noqa: E402  (bench/echo.py: wait_accepting, stop_process)

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def measure(cmd, port, n, env=None):
    srv = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    try:
        err = echo.wait_accepting(srv, port, timeout=5.0)
        if err:
            raise SystemExit(err)
        time.sleep(0.3)
        base = rss_kib(srv.pid)
        socks = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            socks.append(s)
        msg = b"x" * 64
        for s in socks:
            s.sendall(msg)
        for s in socks:
            got = b""
            while len(got) < len(msg):
                got += s.recv(64 - len(got))
        time.sleep(1.0)
        after = rss_kib(srv.pid)
        for s in socks:
            s.close()
        return base, after
    finally:
        echo.stop_process(srv, grace=5)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-n", type=int, default=10000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < a.n + 100:
        raise SystemExit(f"RLIMIT_NOFILE hard limit {hard} is below {a.n + 100}")
    servers = [
        ("ringo-uring", lambda p: [f"{a.build}/ringo-echo", "--port", str(p), "--workers", "1",
                                   "--backend", "uring", "--quiet"], None),
        ("ringo-epoll", lambda p: [f"{a.build}/ringo-echo", "--port", str(p), "--workers", "1",
                                   "--backend", "epoll", "--quiet"], None),
        ("go", lambda p: [f"{a.build}/bench/go-echo", str(p)], dict(os.environ, GOMAXPROCS="1")),
    ]
    print(f"idle connections: {a.n}, one 64 B echo each, then idle; server RSS growth")
    print(f"{'server':12} {'RSS before KiB':>15} {'RSS after KiB':>14} {'KiB/conn':>9}")
    port = 17000 + os.getpid() % 1000
    for name, cmd, env in servers:
        port += 1
        if not os.path.exists(cmd(port)[0]):
            print(f"{name:12} (not built: {cmd(port)[0]})")
            continue
        base, after = measure(cmd(port), port, a.n, env)
        print(f"{name:12} {base:15d} {after:14d} {(after - base) / a.n:9.2f}")

if __name__ == "__main__":
    main()
