#!/bin/bash
# run-all.sh - every benchmark, one after the other (root): the Release
# build once, then rule_apply.sh (1k, 10k, 100k hosts) and forwarding.sh
# (100k hosts).  BENCH_RUNS, BENCH_SECONDS, SEKISHO_BENCH_BUILD pass through.
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bench_need_root
bench_build_sekisho
export BENCH_NO_BUILD=1
"$bench_top/bench/rule_apply.sh" 1000 10000 100000
echo
"$bench_top/bench/forwarding.sh"
