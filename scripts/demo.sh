#!/bin/sh
# make demo: ringo-echo on each backend, driven by ringo-bench for a few
# seconds, side by side. Server on CPU 0, load generator on CPU 1 (when the
# machine has two CPUs).
set -e
BUILD=${1:-build}
exec python3 "$(dirname "$0")/demo.py" --build "$BUILD"
