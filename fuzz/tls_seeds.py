#!/usr/bin/env python3
"""fuzz/tls_seeds.py [DIR] - write the seed inputs of fuzz/tls_server.c.

Each seed is the control byte (see fuzz/tls_server.c) and the bytes after
it. The raw ClientHellos come from Python's ssl module over memory BIOs
and, when the openssl command is there, from `openssl s_client` talking
to a local socket that records what it sends; the rest are hand-made
records. DIR defaults to fuzz/seeds-tls next to this script. Needs no
network: everything is on 127.0.0.1 or in memory.
"""
import os
import socket
import ssl
import subprocess
import sys
import threading

MODE_RAW, MODE_FLIGHT, MODE_AFTER, MODE_ECHO = 0, 1, 2, 3
TLS12, RESUME, ALPN = 0x04, 0x08, 0x40
SNI_LOCALHOST, SNI_OTHER, SNI_UNKNOWN = 0x10, 0x20, 0x30


def client_hello(version, sni, alpn):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = version
    ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def s_client_hello():
    """The first bytes `openssl s_client` sends, or None without openssl."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(10)
    port = lsock.getsockname()[1]
    got = []

    def accept():
        try:
            conn, _ = lsock.accept()
        except OSError:
            return
        conn.settimeout(10)
        data = b""
        try:  # the record header says how long the hello is
            while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        got.append(data)
        conn.close()

    th = threading.Thread(target=accept)
    th.start()
    try:
        subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost", "-alpn", "http/1.1"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        pass
    th.join()
    lsock.close()
    return got[0] if got and got[0] else None


def record(ctype, body, version=b"\x03\x03"):
    return bytes([ctype]) + version + len(body).to_bytes(2, "big") + body


def seeds():
    v13, v12 = ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2
    ch13 = client_hello(v13, "localhost", ["http/1.1"])
    ch12 = client_hello(v12, "sni.test", None)
    out = {
        "raw-hello13": bytes([MODE_RAW]) + ch13,
        "raw-hello12": bytes([MODE_RAW]) + ch12,
        # a hello cut short, and one followed by a stray record
        "raw-hello13-cut": bytes([MODE_RAW]) + ch13[: len(ch13) // 2],
        "raw-hello12-ccs": bytes([MODE_RAW]) + ch12 + record(0x14, b"\x01"),
        "raw-http": bytes([MODE_RAW]) + b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "raw-alert": bytes([MODE_RAW]) + record(0x15, b"\x02\x28"),
        # instead of the client's second flight
        "flight13-garbage": bytes([MODE_FLIGHT | SNI_LOCALHOST]) + b"\x17\x03\x03\x00\x05abcde",
        "flight13-alert": bytes([MODE_FLIGHT]) + record(0x15, b"\x02\x28"),
        "flight12-ccs": bytes([MODE_FLIGHT | TLS12]) + record(0x14, b"\x01"),
        "flight12-resume": bytes([MODE_FLIGHT | TLS12 | RESUME]) + record(0x14, b"\x01"),
        # an established session, then bytes no one sealed
        "after13-appdata": bytes([MODE_AFTER]) + record(0x17, bytes(range(32))),
        "after13-ccs": bytes([MODE_AFTER | ALPN]) + record(0x14, b"\x01"),
        "after13-huge": bytes([MODE_AFTER]) + b"\x17\x03\x03\xff\xff" + b"\0" * 64,
        "after13-keyupdate": bytes([MODE_AFTER]) + record(0x16, b"\x18\x00\x00\x01\x01"),
        "after12-close-notify": bytes([MODE_AFTER | TLS12]) + record(0x15, b"\x01\x00"),
        "after12-hello": bytes([MODE_AFTER | TLS12 | SNI_OTHER]) + ch12,
        # application data that must come back, then close_notify or garbage
        "echo13": bytes([MODE_ECHO | SNI_LOCALHOST | ALPN, 0xFF]) + b"hello, ringo",
        "echo13-resume": bytes([MODE_ECHO | RESUME, 0xFF]) + b"again",
        "echo12": bytes([MODE_ECHO | TLS12 | SNI_UNKNOWN, 0xFF]) + b"x" * 100,
        "echo12-resume": bytes([MODE_ECHO | TLS12 | RESUME, 0xFF]) + b"y" * 20,
        # more than one server read and record, back through ringo_tls_queuev
        "echo13-big": bytes([MODE_ECHO, 0xFF]) + bytes(i % 251 for i in range(6000)),
        "echo13-garbage": bytes([MODE_ECHO | SNI_OTHER, 0x80]) + b"z" * 40
        + record(0x17, b"\x00" * 20),
    }
    sc = s_client_hello()
    if sc:
        out["raw-s_client"] = bytes([MODE_RAW]) + sc
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "seeds-tls")
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        print("%-22s %5d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
