#!/usr/bin/env python3
"""Quick interleaved A/B of echo-server variants (for deciding one knob; the
full comparison is echo.py). Server pinned to CPU 0, ringo-bench (1 worker)
on CPU 1, 1 KiB ping-pong, 1 s warm-up + 4 s measured per run, variants
interleaved rep by rep; prints median [min-max] of server CPU us/msg and
msgs/s.

  python3 bench/ab.py --conns 100 --reps 4 \\
      on:RINGO_SQPOLL=1 off:RINGO_SQPOLL=0 baseline-uring

A variant is NAME:VAR=VALUE[,VAR=VALUE...] (ringo-echo on io_uring with that
environment; a NAME:BINARY=path part swaps the ringo-echo binary) or
baseline-uring / baseline-epoll."""
import argparse, json, os, signal, statistics, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True
import echo  # noqa: E402  (bench/echo.py: cpu_ticks, stop_process)

def cpu_seconds(pid):
    return echo.cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")

def server_cmd(build, spec, port):
    if spec in ("baseline-uring", "baseline-epoll"):
        return spec, [f"{build}/bench/{spec}-echo", str(port)], dict(os.environ)
    name, _, assigns = spec.partition(":")
    env, binary = dict(os.environ), f"{build}/ringo-echo"
    for kv in filter(None, assigns.split(",")):
        k, _, v = kv.partition("=")
        if k == "BINARY":
            binary = v
        else:
            env[k] = v
    return name, [binary, "--workers", "1", "--backend", "uring", "--quiet",
                  "--port", str(port)], env

def run(build, spec, port, conns, seconds):
    name, cmd, env = server_cmd(build, spec, port)
    srv = subprocess.Popen(["taskset", "-c", "0"] + cmd, env=env)
    try:
        time.sleep(0.4)
        bench = subprocess.Popen(
            ["taskset", "-c", "1", f"{build}/ringo-bench", "echo", "--addr", f"127.0.0.1:{port}",
             "-c", str(conns), "--size", "1024", "-d", str(seconds), "--warmup", "1",
             "--workers", "1", "--json", "--quiet"], stdout=subprocess.PIPE, text=True)
        c0 = c1 = result = None
        for line in bench.stdout:
            line = line.strip()
            if line == "MEASURE START":
                c0 = cpu_seconds(srv.pid)
            elif line == "MEASURE END":
                c1 = cpu_seconds(srv.pid)
            elif line.startswith("{"):
                result = json.loads(line)
        if bench.wait() != 0 or result is None or c0 is None or c1 is None:
            raise SystemExit(f"ab: run of {name} failed")
        return name, (c1 - c0) * 1e6 / result["msgs"], result["msgs_per_s"]
    finally:
        echo.stop_process(srv, grace=5, sig=signal.SIGINT)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("variants", nargs="+")
    a = ap.parse_args()
    res, port = {}, 7600 + os.getpid() % 300
    for _ in range(a.reps):
        for spec in a.variants:
            port += 1
            name, cpu, rate = run(a.build, spec, port, a.conns, a.seconds)
            res.setdefault(name, []).append((cpu, rate))
    print(f"{a.conns} connections, {a.reps} interleaved reps of {a.seconds} s")
    for name, runs in res.items():
        cpu = [r[0] for r in runs]
        rate = [r[1] for r in runs]
        print(f"{name:16} CPU us/msg {statistics.median(cpu):6.2f} [{min(cpu):.2f}-{max(cpu):.2f}]"
              f"  msgs/s {statistics.median(rate):8.0f}")

if __name__ == "__main__":
    main()
