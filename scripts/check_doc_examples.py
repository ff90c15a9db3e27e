#!/usr/bin/env python3
"""Compile and run every C example of README.md and docs/*.md against the
installed library, and check that every public header compiles on its own.

    python3 scripts/check_doc_examples.py [--build DIR] [--san SAN] [--cc=CC] [--flags="..."]
                                          [--no-netns] [FILE.md...]
    python3 scripts/check_doc_examples.py --self-test   (broken blocks must be reported)

`make test` runs both after the test binary; --san and --flags carry a
sanitizer build's SAN and LDFLAGS (write --flags=..., the value starts
with '-').

The library is staged with `make install DESTDIR=<tmp> PREFIX=/usr` and every
example is compiled as a user would compile it, through the staged ringo.pc:

    cc -O2 -Wall -Wextra -Werror -Wno-unused-parameter ex.c $(pkg-config --cflags --libs ringo)

(-Wno-unused-parameter because callbacks have fixed signatures such as
`void fn(void *arg)`; it is the project's own warning set.) Programs link the
shared library and run with LD_LIBRARY_PATH pointing at the stage.

Each ```c block is one example; `#line` directives make the compiler name the
Markdown file and line. A block with `int main` is a whole program: it is
linked and run under each backend (RINGO_BACKEND=uring and epoll) and must
exit 0 within a timeout. A block without `main` is a fragment: statements are
wrapped in a function, file-scope code (a function definition at column 0)
is kept as it is; both get `#include <ringo.h>` and are compiled, not linked.
Fragments also get -Wno-unused-variable -Wno-unused-function
-Wno-unused-but-set-variable: a fragment shows a call, not a program that
uses every result.

A block may be preceded by a marker line (directives separated by ';'):

    <!-- doc-example: http PORT PATH TEXT -->   serves HTTP: start it, GET PATH
                                               on 127.0.0.1:PORT, expect 200
                                               and TEXT in the body, then
                                               SIGINT: must exit 0
    <!-- doc-example: echo PORT -->             echo server: same with a TCP
                                               round trip
    <!-- doc-example: stdout TEXT -->           stdout must contain TEXT
    <!-- doc-example: compile-only REASON -->   a program that cannot be run
                                               here (the reason is required)
    <!-- doc-example: prelude NAME ... -->      declarations a fragment needs
                                               (PRELUDES below; kept minimal)
    <!-- doc-example: file-scope -->            force file scope for a fragment

Servers run in their own network namespace (unshare -rn) so the fixed ports
of the examples cannot collide with anything else on the machine; without
unshare they run in the host's namespace.

Exit status: 0 when everything passed, 1 otherwise (each failure names
file:line of the block and shows the compiler's or the program's output).
"""

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import http.client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WARN = ["-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"]
FRAGMENT_WARN = ["-Wno-unused-variable", "-Wno-unused-function", "-Wno-unused-but-set-variable"]
RUN_TIMEOUT = 30.0  # seconds; generous: the machine may be loaded
READY_TIMEOUT = 15.0
BACKENDS = ("uring", "epoll")

# Declarations a fragment refers to without declaring. Each is the least a
# reader would have in scope; a fragment names the ones it needs.
PRELUDES = {
    # a coroutine function and its argument
    "fn": "void fn(void *arg);\nextern void *arg;\n",
    # a connected socket and a buffer
    "fd": "extern int fd;\nextern char buf[4096];\n",
    "job": "struct job { int id; int done; ringo_sema sem; };\nextern struct job job;\n",
    "chan": "extern ringo_chan *jobs, *quit, *in1, *in2, *a, *b;\nextern int x, y, v;\n"
    "void handle(long v);\nvoid consume(long v);\nvoid consumer(void *arg);\nvoid on_idle(void);\n",
    "stage": "struct stage { ringo_chan *in, *out; };\n",
    "deadline": "extern int64_t deadline;\n",
    "blocking": "void blocking_fn(void *arg);\nextern void *arg;\n",
    "sync": "extern int ready;\nextern int n;\nvoid init_fn(void *arg);\nextern void *arg;\n",
    "ring": "#define CAP 64\nstatic long buf[CAP];\nstatic int head, len;\n",
    "fetch": "extern int n;\nstruct fetch_job { int id; };\nextern struct fetch_job jobs[];\n"
    "void fetch(void *arg);\n",
    "backend": "void call_backend(void);\n",
    "http-server": "extern ringo_http_server *s;\n",
    "libc": "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n",
}

DIRECTIVES = ("http", "echo", "stdout", "compile-only", "prelude", "file-scope")
KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "do", "else"}
FUNC_DEF = re.compile(
    r"^(?:static\s+|inline\s+|extern\s+)*[A-Za-z_][\w\s\*]*?\b([A-Za-z_]\w*)\s*\([^;=]*\)\s*(?:\{.*)?$"
)
MARKER = re.compile(r"^\s*<!--\s*doc-example:(.*?)-->\s*$")


class Block:
    def __init__(self, path, line, code, marker, marker_line):
        self.path = path  # as shown in messages (relative to the repo)
        self.line = line  # first line of code (after the fence)
        self.code = code
        self.marker = marker
        self.marker_line = marker_line
        self.directives = {}
        self.errors = []
        self.timeout = RUN_TIMEOUT

    @property
    def where(self):
        return f"{self.path}:{self.line - 1}"

    @property
    def is_program(self):
        return re.search(r"^\s*int\s+main\s*\(", self.code, re.M) is not None

    def file_scope(self):
        if "file-scope" in self.directives:
            return True
        for ln in self.code.splitlines():
            if ln[:1].isspace() or ln.rstrip().endswith(";"):
                continue
            m = FUNC_DEF.match(ln.split("/*")[0].rstrip())
            if m and m.group(1) not in KEYWORDS:
                return True
        return False


def parse_marker(b):
    if b.marker is None:
        return
    for part in b.marker.split(";"):
        words = part.split(None, 1)
        if not words:
            continue
        name, rest = words[0], (words[1].strip() if len(words) > 1 else "")
        if name not in DIRECTIVES:
            b.errors.append(f"unknown marker directive {name!r} (known: {', '.join(DIRECTIVES)})")
            continue
        b.directives[name] = rest
    d = b.directives
    if "compile-only" in d and not d["compile-only"]:
        b.errors.append("compile-only needs a reason")
    if "http" in d:
        w = d["http"].split(None, 2)
        if len(w) < 3 or not w[0].isdigit() or not w[1].startswith("/"):
            b.errors.append("usage: http PORT PATH TEXT")
    if "echo" in d and not d["echo"].isdigit():
        b.errors.append("usage: echo PORT")
    for p in d.get("prelude", "").split():
        if p not in PRELUDES:
            b.errors.append(f"unknown prelude {p!r} (known: {', '.join(sorted(PRELUDES))})")
    if b.is_program and "prelude" in d:
        b.errors.append("a whole program must not need a prelude")
    if not b.is_program and any(k in d for k in ("http", "echo", "stdout", "compile-only")):
        b.errors.append("run directives apply to programs (a block with int main) only")


def extract(path, shown):
    blocks = []
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```c":
            marker = marker_line = None
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            if j >= 0:
                m = MARKER.match(lines[j])
                if m:
                    marker, marker_line = m.group(1).strip(), j + 1
            start = i + 1
            k = start
            while k < len(lines) and lines[k].strip() != "```":
                k += 1
            b = Block(shown, start + 1, "\n".join(lines[start:k]) + "\n", marker, marker_line)
            parse_marker(b)
            blocks.append(b)
            i = k
        elif MARKER.match(lines[i]):
            # a marker must sit right before its block
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j >= len(lines) or lines[j].strip() != "```c":
                b = Block(shown, i + 2, "", None, None)
                b.errors.append("doc-example marker not followed by a ```c block")
                blocks.append(b)
        i += 1
    return blocks


def source_for(b):
    """The C translation unit for a block; #line keeps the Markdown position."""
    lit = b.path.replace("\\", "\\\\").replace('"', '\\"')
    if b.is_program:
        return f'#line {b.line} "{lit}"\n{b.code}'
    out = "#include <ringo.h>\n"
    for p in b.directives.get("prelude", "").split():
        out += f'#line 1 "<prelude {p}>"\n{PRELUDES[p]}'
    if b.file_scope():
        return out + f'#line {b.line} "{lit}"\n{b.code}'
    fname = "doc_example_" + re.sub(r"\W", "_", f"{b.path}_{b.line}")
    return out + f"void {fname}(void);\nvoid {fname}(void)\n{{\n" f'#line {b.line} "{lit}"\n{b.code}}}\n'


class Env:
    """The staged installation and how to compile against it."""

    def __init__(self, stage, cc, flags, netns=True):
        self.stage = stage
        self.cc = cc
        self.flags = flags
        pc = dict(os.environ)
        pc["PKG_CONFIG_PATH"] = os.path.join(stage, "usr/lib/pkgconfig")
        pc["PKG_CONFIG_SYSROOT_DIR"] = stage
        pc.pop("PKG_CONFIG_LIBDIR", None)
        r = subprocess.run(
            ["pkg-config", "--cflags", "--libs", "ringo"], env=pc, capture_output=True, text=True
        )
        if r.returncode != 0:
            raise SystemExit(f"pkg-config ringo failed on the staged install:\n{r.stderr}")
        self.pkg = shlex.split(r.stdout)
        self.libdir = os.path.join(stage, "usr/lib")
        self.run_env = dict(os.environ)
        self.run_env["LD_LIBRARY_PATH"] = self.libdir + (
            ":" + os.environ["LD_LIBRARY_PATH"] if os.environ.get("LD_LIBRARY_PATH") else ""
        )
        self.netns = netns and self._netns_works()

    def compile(self, src, out, link, extra=()):
        with tempfile.NamedTemporaryFile("w", suffix=".c", delete=False) as f:
            f.write(src)
            cfile = f.name
        try:
            cmd = [self.cc, "-O2"] + WARN + list(extra) + self.flags + [cfile, "-o", out]
            cmd = cmd + (self.pkg if link else ["-c"] + [a for a in self.pkg if not a.startswith("-l")])
            r = subprocess.run(cmd, capture_output=True, text=True)
            return r.returncode, (r.stdout + r.stderr).replace(cfile, "<generated>")
        finally:
            os.unlink(cfile)

    def _netns_works(self):
        if not shutil.which("unshare") or not shutil.which("ip"):
            return False
        r = subprocess.run(
            ["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True, text=True
        )
        return r.returncode == 0


def clip(text, head=3000, tail=600):
    """The start (where a sanitizer names the fault) and the end of text."""
    text = text.strip()
    if len(text) <= head + tail:
        return text
    return text[:head] + "\n[...]\n" + text[-tail:]


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_port(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def interact(spec):
    """Run one program as spec says; returns (ok, message). Runs inside the
    network namespace when there is one (see --inside)."""
    cwd = tempfile.mkdtemp(prefix="ringo-doc-run-")
    out_path, err_path = os.path.join(cwd, ".stdout"), os.path.join(cwd, ".stderr")
    env = dict(spec["env"])
    if spec["mode"] in ("http", "echo") and not port_free(int(spec["args"][0])):
        shutil.rmtree(cwd, ignore_errors=True)
        return False, f"port {spec['args'][0]} is in use here: cannot tell the example from another server"
    with open(out_path, "wb") as so, open(err_path, "wb") as se:
        proc = subprocess.Popen([spec["binary"]], cwd=cwd, env=env, stdout=so, stderr=se)
    problems = []
    try:
        mode = spec["mode"]
        if mode in ("http", "echo"):
            port = int(spec["args"][0])
            if not wait_port(port, proc, time.monotonic() + READY_TIMEOUT):
                problems.append(f"never accepted on 127.0.0.1:{port}")
            elif mode == "http":
                path, text = spec["args"][1], spec["args"][2]
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    c.request("GET", path)
                    r = c.getresponse()
                    body = r.read().decode("utf-8", "replace")
                    c.close()
                    if r.status != 200 or text not in body:
                        problems.append(f"GET {path}: {r.status}, body {body[:200]!r}, wanted {text!r}")
                except (OSError, http.client.HTTPException) as e:
                    problems.append(f"GET {path}: {e!r}")
            else:
                msg = b"ringo doc example\n" * 64
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        s.sendall(msg)
                        got = b""
                        while len(got) < len(msg):
                            chunk = s.recv(65536)
                            if not chunk:
                                break
                            got += chunk
                    if got != msg:
                        problems.append(f"echo: sent {len(msg)} bytes, got {len(got)} back (or different)")
                except OSError as e:
                    problems.append(f"echo: {e!r}")
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # the documented way to stop a ringo program
            elif not problems:
                problems.append("exited before it was sent SIGINT")
        try:
            rc = proc.wait(timeout=spec["timeout"])
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            problems.append(
                f"did not exit within {spec['timeout']:.0f} s of SIGINT"
                if mode != "run"
                else f"did not exit within {spec['timeout']:.0f} s (a server? mark it http or echo)"
            )
            rc = None
        if rc is not None and rc != 0:
            problems.append(
                f"exit status {rc}" if rc > 0 else f"killed by {signal.Signals(-rc).name}"
            )
        stdout = open(out_path, encoding="utf-8", errors="replace").read()
        stderr = open(err_path, encoding="utf-8", errors="replace").read()
        if spec.get("stdout") is not None and spec["stdout"] not in stdout:
            problems.append(f"stdout lacks {spec['stdout']!r}")
        if problems:
            detail = "; ".join(problems)
            if stdout.strip():
                detail += "\n  stdout: " + clip(stdout).replace("\n", "\n  ")
            if stderr.strip():
                detail += "\n  stderr: " + clip(stderr).replace("\n", "\n  ")
            return False, detail
        return True, ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(cwd, ignore_errors=True)


def run_spec(env, spec):
    if not env.netns:
        return interact(spec)
    r = subprocess.run(
        ["unshare", "-rn", sys.executable, os.path.abspath(__file__), "--inside"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
    )
    try:
        res = json.loads(r.stdout)
        return res["ok"], res["msg"]
    except (ValueError, KeyError):
        return False, f"runner failed (rc {r.returncode}): {r.stdout}{r.stderr}"


def inside():
    spec = json.loads(sys.stdin.read())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    ok, msg = interact(spec)
    print(json.dumps({"ok": ok, "msg": msg}))


class Report:
    def __init__(self, quiet=False):
        self.failures = []
        self.counts = {"programs": 0, "runs": 0, "fragments": 0, "headers": 0, "compile-only": 0}
        self.quiet = quiet

    def fail(self, where, what, detail=""):
        self.failures.append((where, what, detail))
        if not self.quiet:
            print(f"FAIL {where}: {what}" + (f"\n{detail.rstrip()}" if detail else ""), flush=True)


def backends_available(env, workdir):
    """Backends this machine can run (RINGO_BACKEND forces one; a forced
    backend that cannot start makes ringo_main fail)."""
    src = (
        "#include <ringo.h>\n#include <stdio.h>\n"
        "static void app(void *arg) { puts(ringo_backend_name()); }\n"
        "int main(void) { return ringo_main(NULL, app, NULL) < 0; }\n"
    )
    exe = os.path.join(workdir, "probe")
    rc, out = env.compile(src, exe, True)
    if rc != 0:
        raise SystemExit(f"cannot build the backend probe against the staged library:\n{out}")
    have = []
    for be in BACKENDS:
        r = subprocess.run([exe], env=dict(env.run_env, RINGO_BACKEND=be), capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip() == be:
            have.append(be)
        else:
            print(f"note: backend {be} unavailable here, its runs are skipped: {r.stderr.strip()}")
    if not have:
        raise SystemExit("no backend runs here")
    return have


def check_block(env, b, rep, workdir, backends):
    for e in b.errors:
        rep.fail(b.where if b.marker_line is None else f"{b.path}:{b.marker_line}", e)
    if b.errors:
        return
    src = source_for(b)
    if not b.is_program:
        rep.counts["fragments"] += 1
        rc, out = env.compile(src, os.path.join(workdir, "frag.o"), False, FRAGMENT_WARN)
        if rc != 0:
            rep.fail(b.where, "fragment does not compile", out)
        return
    rep.counts["programs"] += 1
    exe = os.path.join(workdir, "prog")
    rc, out = env.compile(src, exe, True)
    if rc != 0:
        rep.fail(b.where, "program does not compile", out)
        return
    if "compile-only" in b.directives:
        rep.counts["compile-only"] += 1
        return
    d = b.directives
    mode, args = "run", []
    if "http" in d:
        mode, args = "http", d["http"].split(None, 2)
    elif "echo" in d:
        mode, args = "echo", [d["echo"]]
    for be in backends:
        spec = {
            "binary": exe,
            "mode": mode,
            "args": args,
            "stdout": d.get("stdout"),
            "timeout": b.timeout,
            "env": dict(env.run_env, RINGO_BACKEND=be),
        }
        rep.counts["runs"] += 1
        ok, msg = run_spec(env, spec)
        if not ok:
            rep.fail(b.where, f"program failed on {be} ({mode})", msg)


def check_headers(env, rep, workdir):
    """Every installed header compiles alone, twice included, as strict C11
    and as C++."""
    inc = os.path.join(env.stage, "usr/include")
    headers = ["ringo.h"] + sorted(
        "ringo/" + h for h in os.listdir(os.path.join(inc, "ringo")) if h.endswith(".h")
    )
    cxx = shutil.which("g++") or shutil.which("c++")
    for h in headers:
        rep.counts["headers"] += 1
        src = f"#include <{h}>\n#include <{h}>\n"
        modes = [(env.cc, ["-x", "c", "-std=c11", "-pedantic"])]
        if cxx:
            modes.append((cxx, ["-x", "c++", "-std=c++17", "-pedantic"]))
        for comp, fl in modes:
            r = subprocess.run(
                [comp, "-fsyntax-only"] + fl + ["-Wall", "-Wextra", "-Werror", "-I" + inc, "-"],
                input=src,
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                rep.fail(f"include/{h}", f"does not compile on its own ({' '.join(fl)})", r.stderr)


def stage_install(build, san, workdir):
    stage = os.path.join(workdir, "stage")
    cmd = ["make", "-C", ROOT, "--no-print-directory", f"BUILD={build}", f"SAN={san}"]
    cmd += [f"DESTDIR={stage}", "PREFIX=/usr", "install"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    return stage


def doc_files():
    docs = os.path.join(ROOT, "docs")
    return [os.path.join(ROOT, "README.md")] + sorted(
        os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md")
    )


def check_files(env, files, rep, workdir, backends):
    for f in files:
        for b in extract(f, os.path.relpath(f, ROOT)):
            check_block(env, b, rep, workdir, backends)


SELF_TEST_MD = """# self-test
```c
int n = undeclared_identifier_in_a_fragment;
```

```c
int main(void) { return 3; }
```

```c
#include <ringo.h>
static void app(void *arg) { int unused_variable_in_a_program; }
int main(void) { return ringo_main(NULL, app, NULL) < 0; }
```

<!-- doc-example: http 8080 /hello text the server never sends -->
```c
#include <ringo.h>
static int h(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    return ringo_http_body_static(resp, "hi", 2);
}
static void serve(void *arg)
{
    ringo_http_server *s;
    ringo_http_server_new(NULL, &s);
    ringo_http_route(s, "GET", "/hello", 0, h, NULL);
    ringo_addr a;
    ringo_addr_parse(&a, "127.0.0.1:8080");
    ringo_http_serve(s, &a);
    ringo_http_server_free(s);
}
int main(void) { return ringo_main(NULL, serve, NULL) < 0; }
```

<!-- doc-example: compile-only -->
```c
int main(void) { return 0; }
```

<!-- doc-example: run-me-please -->
```c
ringo_yield();
```

<!-- doc-example: stdout hello -->
```c
#include <stdio.h>
int main(void) { puts("goodbye"); return 0; }
```

```c
ringo_sleep(1000);
```

<!-- doc-example: echo 7000 -->
```c
#include <ringo.h>
static void server(void *arg)
{
    ringo_addr a;
    ringo_addr_parse(&a, "127.0.0.1:7000");
    int lfd = ringo_tcp_listen(&a, 16, 0);
    int fd;
    while ((fd = ringo_accept(lfd, NULL, RINGO_FOREVER)) != -ECANCELED)
        if (fd >= 0)
            ringo_close(fd);   /* never echoes */
    ringo_close(lfd);
}
int main(void) { return ringo_main(NULL, server, NULL) < 0; }
```

```c
#include <ringo.h>
static void app(void *arg) { ringo_sleep(RINGO_FOREVER); }
int main(void) { return ringo_main(NULL, app, NULL) < 0; }
```

<!-- doc-example: http 8080 /hello hi -->
```c
#include <ringo.h>
static int h(ringo_http_req *req, ringo_http_resp *resp, void *arg)
{
    return ringo_http_body_static(resp, "hi", 2);
}
static void serve(void *arg)
{
    ringo_http_server *s;
    ringo_http_server_new(NULL, &s);
    ringo_http_route(s, "GET", "/hello", 0, h, NULL);
    ringo_addr a;
    ringo_addr_parse(&a, "127.0.0.1:8080");
    ringo_http_serve(s, &a);
    ringo_http_server_free(s);
}
int main(void) { return ringo_main(NULL, serve, NULL) < 0; }
```
"""

# What each block of SELF_TEST_MD must give, in order: a substring of its
# failure, or None for a correct block that must pass.
SELF_TEST_EXPECT = [
    "undeclared_identifier_in_a_fragment",
    "exit status 3",
    "unused_variable_in_a_program",
    "text the server never sends",
    "compile-only needs a reason",
    "unknown marker directive 'run-me-please'",
    "stdout lacks 'hello'",
    None,
    "echo:",
    "did not exit",
    None,
]


def self_test(env, workdir, backends):
    md = os.path.join(workdir, "selftest.md")
    with open(md, "w") as f:
        f.write(SELF_TEST_MD)
    blocks = extract(md, "selftest.md")
    bad = []
    if len(blocks) != len(SELF_TEST_EXPECT):
        bad.append(f"found {len(blocks)} blocks, expected {len(SELF_TEST_EXPECT)}")
    for b, want in zip(blocks, SELF_TEST_EXPECT):
        if want == "did not exit":
            b.timeout = 3.0  # it sleeps forever: waiting for RUN_TIMEOUT proves nothing more
        rep = Report(quiet=True)
        check_block(env, b, rep, workdir, backends)
        got = [f"{w}: {what}\n{detail}" for w, what, detail in rep.failures]
        if want is None and got:
            bad.append(f"{b.where}: a correct block failed:\n" + "\n".join(got))
        elif want is not None and not any(want in g for g in got):
            bad.append(f"{b.where}: expected a failure mentioning {want!r}, got {got or 'none'}")
        elif want is not None and not all(g.startswith("selftest.md:") for g in got):
            bad.append(f"{b.where}: a failure does not name the Markdown file: {got}")
    if bad:
        print("doc examples self-test FAILED:\n" + "\n".join(bad))
        return 1
    n_bad = sum(w is not None for w in SELF_TEST_EXPECT)
    print(f"doc examples self-test: ok ({n_bad} broken blocks reported, "
          f"{len(SELF_TEST_EXPECT) - n_bad} correct ones passed)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build directory of the library (make BUILD=...)")
    ap.add_argument("--san", default="", help="the build's SAN= (asan, ubsan, tsan), for make install")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--flags", default="", help="extra compiler/linker flags (e.g. the sanitizer's)")
    ap.add_argument("--self-test", action="store_true", help="check that broken examples are reported")
    ap.add_argument("--no-netns", action="store_true", help="run servers in this network namespace")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help="Markdown files (default: README.md docs/*.md)")
    a = ap.parse_args()
    if a.inside:
        inside()
        return 0
    workdir = tempfile.mkdtemp(prefix="ringo-doc-")
    try:
        env = Env(stage_install(a.build, a.san, workdir), a.cc, shlex.split(a.flags), not a.no_netns)
        if not env.netns:
            print("note: servers run in this network namespace (no unshare -rn): their ports must be free")
        backends = backends_available(env, workdir)
        if a.self_test:
            return self_test(env, workdir, backends)
        rep = Report()
        check_headers(env, rep, workdir)
        check_files(env, [os.path.abspath(f) for f in a.files] or doc_files(), rep, workdir, backends)
        c = rep.counts
        summary = (
            f"{c['headers']} headers, {c['fragments']} fragments compiled, {c['programs']} programs "
            f"({c['compile-only']} compile-only), {c['runs']} runs on {'+'.join(backends)}"
        )
        if rep.failures:
            print(f"doc examples: {len(rep.failures)} FAILED ({summary})")
            return 1
        print(f"doc examples: ok ({summary})")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
