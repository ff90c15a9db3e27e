#!/bin/sh
# Check (and, as root with apt-get, install) what the build needs.
#   scripts/deps.sh build   compiler, make, liburing-dev, libssl-dev (OpenSSL 3), clang-format
#   scripts/deps.sh bench   + golang-go, linux-perf, python3
set -e
what=${1:-build}

need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
check() { # check PACKAGE [COMMAND-OR-FILE]
    if [ -n "$2" ]; then
        case "$2" in
            /*) [ -e "$2" ] && return 0 ;;
            *) command -v "$2" >/dev/null 2>&1 && return 0 ;;
        esac
    fi
    have_pkg "$1" && return 0
    need="$need $1"
}

check gcc gcc
check make make
check liburing-dev /usr/include/liburing.h
check libssl-dev /usr/include/openssl/ssl.h
check pkg-config pkg-config
check openssl openssl
check python3 python3
if [ "$what" = fuzz ]; then
    check clang clang
    check libclang-rt-14-dev /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
fi
if [ "$what" = build ] || [ "$what" = bench ]; then
    check curl curl
    check nodejs node
    check nginx-light /usr/sbin/nginx # the TLS client's peer in the tests
fi
if [ "$what" = bench ]; then
    check wrk wrk
    check h2o h2o
    check golang-github-valyala-fasthttp-dev /usr/share/gocode/src/github.com/valyala/fasthttp
    check golang-go go
    check linux-perf perf
    check util-linux taskset
fi

[ -z "$need" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing$need"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    # shellcheck disable=SC2086
    apt-get install -y -qq $need >/dev/null
    echo "deps: done"
else
    echo "deps: missing Debian packages:$need" >&2
    echo "deps: install them with: sudo apt-get install$need" >&2
    exit 1
fi
