#!/usr/bin/env bash
# Builds the C kernels for AArch64 and runs Tools/neon_check.c under user-mode emulation, so the
# NEON micro-kernel is executed and checked on an x86 machine. Needs (Debian):
#   apt-get install gcc-aarch64-linux-gnu qemu-user
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
aarch64-linux-gnu-gcc -std=c11 -O2 -static -Wall -Wextra -Wno-unused-parameter \
    -I Sources/_RecurrentKernels/include -I Sources/_RecurrentKernels \
    Tools/neon_check.c Sources/_RecurrentKernels/*.c -lm -o "$out/neon_check"
qemu-aarch64 "$out/neon_check"
