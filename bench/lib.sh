# shellcheck shell=bash disable=SC2034
# Helpers shared by the benchmark scripts (sourced, bash).  Sets bench_top,
# bench_build, bench_runs and, after bench_build_sekisho, bench_sekisho.

bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_build=${SEKISHO_BENCH_BUILD:-"$bench_top/build-bench"}
bench_runs=${BENCH_RUNS:-3}

bench_need_root() {
	if [ "$(id -u)" != 0 ]; then
		echo "$0: needs root (network namespaces, nftables)" >&2
		exit 2
	fi
}

# Release build of the sekisho binary and the bench helper (skipped with BENCH_NO_BUILD=1).
bench_build_sekisho() {
	if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
		local log
		log=$(mktemp /tmp/sk-bench-build.XXXXXX)
		if ! { cmake -S "$bench_top" -B "$bench_build" -DCMAKE_BUILD_TYPE=Release &&
			cmake --build "$bench_build" -j2 --target sekisho sekisho-udpflood; } >"$log" 2>&1; then
			tail -30 "$log" >&2
			rm -f "$log"
			echo "$0: Release build failed" >&2
			exit 2
		fi
		rm -f "$log"
	fi
	bench_sekisho="$bench_build/gateway/sekisho"
	[ -x "$bench_sekisho" ] || { echo "$0: no $bench_sekisho" >&2; exit 2; }
}

# bench_time CMD...: run CMD (its stdout to $bench_out, default /dev/null;
# stderr appended to $bench_err), print "WALL_US CPU_US": wall time and
# user + system CPU time of CMD in microseconds (bash's time keyword; CPU
# time hardly moves when other work shares the cores, wall time does).
# Fails if CMD fails.
bench_time() {
	local t rc=0 TIMEFORMAT='%3R %3U %3S'
	t=$({ time "$@" >"${bench_out:-/dev/null}" 2>>"${bench_err:-/dev/stderr}"; } 2>&1) || rc=$?
	if [ $rc -ne 0 ]; then
		echo "$0: failed ($rc): $*" >&2
		return $rc
	fi
	echo "$t" | awk '{ printf "%d %d\n", $1 * 1e6, ($2 + $3) * 1e6 }'
}

# bench_median V...: the median (lower middle for an even count).
bench_median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# bench_s US: microseconds as seconds, 3 decimals.
bench_s() {
	awk -v u="$1" 'BEGIN { printf "%.3f", u / 1e6 }'
}

# bench_ratio A B: A / B, 2 decimals ("-" when B is 0 or missing).
bench_ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "-"; else printf "%.2f", a / b }'
}

bench_machine() {
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(uname -sr); cpus: $(nproc);" \
		"load: $(cut -d' ' -f1-3 /proc/loadavg); nft: $(nft --version | awk '{print $2}');" \
		"commit: $(git -C "$bench_top" rev-parse --short HEAD 2>/dev/null || echo -)"
}
