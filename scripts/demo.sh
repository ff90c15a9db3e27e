#!/bin/sh
# make demo: ringo-httpd serving examples/site on each backend, loaded by
# ringo-bench http for a few seconds, side by side (scripts/demo_http.py).
# Server on CPU 0, load generator on CPU 1 (when the machine has two CPUs).
# The earlier echo demo is still there: python3 scripts/demo.py --build build
set -e
BUILD=${1:-build}
exec python3 "$(dirname "$0")/demo_http.py" --build "$BUILD"
