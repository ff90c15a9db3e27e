#!/usr/bin/env python3
"""make demo: ringo-echo on io_uring and on epoll, each loaded by ringo-bench
(100 connections, 1 KiB messages, 3 s), printed side by side with the
server's CPU time and syscalls per message from its own counters."""
import argparse, json, os, signal, socket, subprocess, sys, time

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

def wait_listening(port, proc, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit("demo: server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("demo: server did not start listening")

def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def read_stats(path, pid):
    before = os.path.getmtime(path) if os.path.exists(path) else 0
    os.kill(pid, signal.SIGUSR1)
    end = time.time() + 2
    while time.time() < end:
        if os.path.exists(path) and os.path.getmtime(path) != before:
            break
        time.sleep(0.01)
    stats = {}
    with open(path) as f:
        for line in f:
            k, v = line.split()
            stats[k] = int(v)
    return stats

def run(build, backend, conns, seconds, pin):
    port = free_port()
    stats_file = f"/tmp/ringo-demo-{os.getpid()}-{backend}.stats"
    srv = [f"{build}/ringo-echo", "--port", str(port), "--workers", "1",
           "--backend", backend, "--quiet", "--stats-file", stats_file]
    cli = [f"{build}/ringo-bench", "echo", "--addr", f"127.0.0.1:{port}", "-c", str(conns),
           "--size", "1024", "-d", str(seconds), "--warmup", "1", "--workers", "1",
           "--json", "--quiet"]
    if pin:
        srv = ["taskset", "-c", "0"] + srv
        cli = ["taskset", "-c", "1"] + cli
    server = subprocess.Popen(srv)
    try:
        wait_listening(port, server)
        bench = subprocess.Popen(cli, stdout=subprocess.PIPE, text=True)
        result, cpu0, st0 = None, None, None
        for line in bench.stdout:
            line = line.strip()
            if line == "MEASURE START":
                cpu0, st0 = cpu_seconds(server.pid), read_stats(stats_file, server.pid)
            elif line == "MEASURE END":
                cpu1, st1 = cpu_seconds(server.pid), read_stats(stats_file, server.pid)
            elif line.startswith("{"):
                result = json.loads(line)
        rc = bench.wait()
        if result is None or cpu0 is None:
            raise SystemExit(f"demo: ringo-bench failed (exit {rc})")
        msgs = max(result["msgs"], 1)
        result["cpu_us"] = (cpu1 - cpu0) * 1e6 / msgs
        result["sys_per_msg"] = (st1["syscalls"] - st0["syscalls"]) / msgs
        result["exit"] = rc
        return result
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            server.kill()
        if os.path.exists(stats_file):
            os.unlink(stats_file)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=3)
    a = ap.parse_args()
    pin = (os.cpu_count() or 1) >= 2
    print(f"ringo demo: echo server (1 worker) on each backend, {a.conns} connections, "
          f"1 KiB ping-pong, {a.seconds} s each" + (", server on CPU 0, load on CPU 1" if pin else ""))
    rows = []
    for be in ("uring", "epoll"):
        print(f"  running ringo-echo --backend {be} ...", flush=True)
        rows.append((be, run(a.build, be, a.conns, a.seconds, pin)))
    print()
    hdr = f"{'backend':8} {'msgs/s':>10} {'p50 us':>8} {'p99 us':>8} {'CPU us/msg':>11} {'syscalls/msg':>13} {'errors':>7}"
    print(hdr)
    print("-" * len(hdr))
    for be, r in rows:
        print(f"{be:8} {r['msgs_per_s']:10.0f} {r['p50_us']:8.1f} {r['p99_us']:8.1f} "
              f"{r['cpu_us']:11.2f} {r['sys_per_msg']:13.3f} {r['errors']:7d}")
    u, e = rows[0][1], rows[1][1]
    print(f"\nio_uring vs epoll: {u['msgs_per_s'] / max(e['msgs_per_s'], 1):.2f}x throughput, "
          f"{u['cpu_us'] / max(e['cpu_us'], 1e-9):.2f}x server CPU per message, "
          f"{u['sys_per_msg'] / max(e['sys_per_msg'], 1e-9):.3f}x syscalls per message")
    print("The load generator saturates its core first on a 2-core machine, so CPU per message "
          "is the figure that decides. Full comparison with baselines and Go: make bench")
    if any(r["errors"] or r["exit"] for _, r in rows):
        sys.exit(1)

if __name__ == "__main__":
    main()
