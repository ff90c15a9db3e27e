#!/usr/bin/env python3
"""Byte-exact correctness check for any echo server.

Opens many connections at once; on each, one task writes a stream of
random-size messages back to back (fully pipelined, never waiting for the
echo) while another task reads the echo and compares it, byte for byte,
with what was sent. At the end each writer half-closes its side and expects
the server to finish echoing and then close (EOF).

    python3 bench/echo_check.py --addr 127.0.0.1:7000 [--conns 200]
        [--msgs 40] [--min-size 1] [--max-size 65536] [--slow-reader]

--slow-reader delays the readers so the server's socket send buffers fill
up: that exercises short writes / EPOLLOUT / partial sends on the server.
Exit status 0 when every connection echoed exactly; 1 otherwise.
"""
import argparse
import asyncio
import math
import random
import resource
import socket
import sys
import time


def msg_sizes(rng, n, lo, hi, dist):
    if dist == "uniform":
        return [rng.randint(lo, hi) for _ in range(n)]
    # Log-uniform: as many tiny messages as large ones, which is where
    # framing and buffer-boundary bugs hide.
    a, b = math.log(lo), math.log(hi + 1)
    return [min(hi, max(lo, int(math.exp(rng.uniform(a, b))))) for _ in range(n)]


async def one_conn(idx, args, stats):
    rng = random.Random(args.seed * 1000003 + idx)
    sizes = msg_sizes(rng, args.msgs, args.min_size, args.max_size, args.dist)
    msgs = [rng.randbytes(s) for s in sizes]
    expected = b"".join(msgs)
    host, port = args.addr.rsplit(":", 1)
    try:
        reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
    except OSError as e:
        stats["errors"].append(f"conn {idx}: connect: {e}")
        return
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def write_all():
        for m in msgs:
            writer.write(m)
            await writer.drain()
        if not args.no_half_close:
            writer.write_eof()

    async def read_all():
        if args.slow_reader:
            await asyncio.sleep(0.5)
        pos = 0
        while pos < len(expected):
            chunk = await reader.read(256 * 1024)
            if not chunk:
                raise RuntimeError(f"conn {idx}: early EOF at byte {pos} of {len(expected)}")
            end = pos + len(chunk)
            if end > len(expected):
                raise RuntimeError(f"conn {idx}: {end - len(expected)} extra bytes")
            if chunk != expected[pos:end]:
                bad = next(i for i in range(len(chunk)) if chunk[i] != expected[pos + i])
                raise RuntimeError(f"conn {idx}: mismatch at byte {pos + bad}")
            pos = end
        if not args.no_half_close:
            tail = await reader.read(1)
            if tail:
                raise RuntimeError(f"conn {idx}: extra bytes after the echo")

    try:
        await asyncio.wait_for(asyncio.gather(write_all(), read_all()), args.timeout)
        stats["ok"] += 1
        stats["bytes"] += len(expected)
    except asyncio.TimeoutError:
        stats["errors"].append(f"conn {idx}: timeout after {args.timeout}s")
    except Exception as e:  # noqa: BLE001 - report every failure kind
        stats["errors"].append(str(e) or repr(e))
    finally:
        writer.close()


async def main_async(args):
    stats = {"ok": 0, "bytes": 0, "errors": []}
    t0 = time.monotonic()
    # Connect in waves so a 1000-connection run does not overflow the
    # listen backlog before the server gets to run.
    tasks = []
    for i in range(args.conns):
        tasks.append(asyncio.create_task(one_conn(i, args, stats)))
        if i % 100 == 99:
            await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    return stats, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", required=True, help="HOST:PORT")
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--msgs", type=int, default=40, help="messages per connection")
    ap.add_argument("--min-size", type=int, default=1)
    ap.add_argument("--max-size", type=int, default=65536)
    ap.add_argument("--dist", choices=["log", "uniform"], default="log")
    ap.add_argument("--slow-reader", action="store_true")
    ap.add_argument("--no-half-close", action="store_true",
                    help="do not shut down the write side at the end")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.conns + 64))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    stats, dt = asyncio.run(main_async(args))
    mb = stats["bytes"] / 1e6
    print(f"{args.addr}: {stats['ok']}/{args.conns} connections echoed exactly, "
          f"{mb:.1f} MB each way in {dt:.2f}s")
    for e in stats["errors"][:20]:
        print("  FAIL", e)
    if len(stats["errors"]) > 20:
        print(f"  ... {len(stats['errors']) - 20} more failures")
    sys.exit(0 if not stats["errors"] else 1)


if __name__ == "__main__":
    main()
