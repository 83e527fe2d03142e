#!/bin/sh
# Usage: Tools/fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
# Runs one fuzz target at the lowest priority for SECONDS (default 600) on a copy of its seed
# corpus (.build/corpus/TARGET, kept between runs, so corpus/ is never written to), with the
# dictionary dict/TARGET.dict when there is one; crashes, timeouts and out-of-memory inputs go
# to .build/crashes/TARGET/.
set -eu
cd "$(dirname "$0")"
target=$1; seconds=${2:-600}; shift; [ $# -gt 0 ] && shift
mkdir -p ".build/corpus/$target" ".build/crashes/$target"
cp -n "corpus/$target"/* ".build/corpus/$target/"
dict=""; [ -f "dict/$target.dict" ] && dict="-dict=dict/$target.dict"
# SWIFT_BACKTRACE: the Swift runtime's backtracer, started by a crash, reads other threads'
# stacks, which AddressSanitizer reports as a second, spurious error.
SWIFT_BACKTRACE=enable=no exec nice -n 19 ".build/release/fuzz-$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix=".build/crashes/$target/" $dict "$@" ".build/corpus/$target"
