#!/bin/sh
# Cross-check the AArch64 context switch on an x86_64 machine: build
# tests/arch/switch_check.c with src/sched/switch_aarch64.S for aarch64 and
# run it under qemu-user. Installs gcc-aarch64-linux-gnu and qemu-user when
# root with apt-get.
set -e
cd "$(dirname "$0")/.."
if ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu qemu-user >/dev/null
    else
        echo "check-aarch64: install gcc-aarch64-linux-gnu and qemu-user" >&2
        exit 1
    fi
fi
out=build/aarch64
mkdir -p $out
aarch64-linux-gnu-gcc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Isrc \
    tests/arch/switch_check.c src/sched/switch_aarch64.S -o $out/switch_check -lm
# a broken switch may loop forever rather than crash
timeout 120 qemu-aarch64 -L /usr/aarch64-linux-gnu $out/switch_check
