#!/bin/bash
# sanitize_bench.sh - throughput of the 無害化 engine beside its floor and two
# peers, on one generated mixed corpus, in one run.
#
# usage: bench/sanitize_bench.sh            (no root needed)
#   BENCH_SECONDS=3       minimum timed seconds per in-process figure
#   BENCH_CORPUS=DIR      use these *.eml instead of generating (class = name up to '-')
#   BENCH_SCAN_DB=DIR     signature database (default: the tests' tiny one, built
#                         with tests/clamav/make_db.sh; /var/lib/clamav = production)
#   BENCH_NO_BUILD=1      reuse the build in $SEKISHO_BENCH_BUILD (default build-bench, Release)
#   BENCH_JP/HTML/ALT/ATT message counts per class (default 300 60 60 10)
#   BENCH_TMPDIR=DIR      TMPDIR of the tools (default: a directory on /dev/shm, as the
#                         sanitiser worker should have: libclamav's mail parser writes
#                         every part to a temporary file)
#   BENCH_CACHE=1         keep libclamav's clean cache on (it answers repeated passes)
#
# Rows (MB = 10^6 bytes of raw message; msgs/s):
#   (a) engine        sanitize_message() in process, ClamAV on (sanitize_bench -m engine)
#   (b) gmime         bare GMime parse + transfer-decode of every part (the floor)
#   ref gmime+scan    (b) plus scan_buffer() of the raw message and every decoded part
#   (c) altermime     `altermime --input=- --removeall` per message (a process each)
#   (d) python email  python3's email extracting the body text, in process
# Target: (a)/(b) >= 0.70 on the mix ("all").
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

secs=${BENCH_SECONDS:-3}
work=$(mktemp -d /tmp/sk-bench-sanitize.XXXXXX)
if [ -n "${BENCH_TMPDIR:-}" ]; then
	tmpdir=$BENCH_TMPDIR
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
	tmpdir=$(mktemp -d /dev/shm/sk-bench-tmp.XXXXXX)
else
	tmpdir=$work/tmp
	mkdir "$tmpdir"
fi
trap 'rm -rf "$work"; [ -n "${BENCH_TMPDIR:-}" ] || rm -rf "$tmpdir"' EXIT
trap 'exit 130' INT TERM

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	if ! { cmake -S "$bench_top" -B "$bench_build" -DCMAKE_BUILD_TYPE=Release &&
		cmake --build "$bench_build" -j2 --target sanitize_bench; } >"$work/build.log" 2>&1; then
		tail -30 "$work/build.log" >&2
		echo "$0: Release build failed" >&2
		exit 2
	fi
fi
sb=$bench_build/bench/sanitize_bench
[ -x "$sb" ] || {
	echo "$0: no $sb" >&2
	exit 2
}

corpus=${BENCH_CORPUS:-}
if [ -z "$corpus" ]; then
	corpus=$work/corpus
	python3 "$bench_top/bench/gen_mail.py" "$corpus" --jp "${BENCH_JP:-300}" \
		--html "${BENCH_HTML:-60}" --alt "${BENCH_ALT:-60}" --att "${BENCH_ATT:-10}" >/dev/null
fi
db=${BENCH_SCAN_DB:-}
if [ -z "$db" ]; then
	db=$work/db
	"$bench_top/tests/clamav/make_db.sh" "$db" >/dev/null
fi
mapfile -t files < <(find "$corpus" -maxdepth 1 -name '*.eml' | sort)
[ ${#files[@]} -gt 0 ] || {
	echo "$0: no *.eml in $corpus" >&2
	exit 2
}

echo "sanitize_bench: $(bench_machine)"
echo "sanitize_bench: corpus $corpus: ${#files[@]} messages," \
	"$(cat "${files[@]}" | wc -c | awk '{ printf "%.1f MB", $1 / 1e6 }');" \
	"classes: $(printf '%s\n' "${files[@]##*/}" | sed 's/-.*//' | sort | uniq -c |
		awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }')"
echo "sanitize_bench: ${secs} s minimum per in-process figure; database $db;" \
	"TMPDIR $tmpdir ($(stat -f -c %T "$tmpdir"))"
export TMPDIR=$tmpdir
cache=()
[ "${BENCH_CACHE:-0}" != 1 ] || cache=(-c)

res=$work/results
# (a), (b), ref: in process
"$sb" "${cache[@]}" -d "$db" -t "$secs" "${files[@]}" | tee "$work/sb.out" | grep -v '^RESULT' || true
grep '^RESULT' "$work/sb.out" >"$res" || true

# (c) altermime: one process per message, one pass, timed per class
if command -v altermime >/dev/null 2>&1; then
	for cls in $(printf '%s\n' "${files[@]##*/}" | sed 's/-.*//' | sort -u); do
		mapfile -t cf < <(printf '%s\n' "${files[@]}" | grep "/$cls-")
		bytes=$(cat "${cf[@]}" | wc -c)
		start=$(date +%s%N)
		for f in "${cf[@]}"; do
			altermime --input=- --removeall <"$f" >/dev/null 2>>"$work/altermime.err"
		done
		end=$(date +%s%N)
		awk -v c="$cls" -v n="${#cf[@]}" -v b="$bytes" -v ns=$((end - start)) 'BEGIN {
			s = ns / 1e9; printf "RESULT altermime %s %d %d %.6f %.2f %.1f\n", c, n, b, s, b / 1e6 / s, n / s }' >>"$res"
	done
	awk '$2 == "altermime" { n += $4; b += $5; s += $6 } END {
		printf "RESULT altermime all %d %d %.6f %.2f %.1f\n", n, b, s, b / 1e6 / s, n / s }' "$res" >>"$res.tmp"
	cat "$res.tmp" >>"$res"
else
	echo "NOTE altermime not installed (Debian package altermime): row (c) n/a"
fi

# (d) python3 email
python3 "$bench_top/bench/py_email_text.py" -t "$secs" "${files[@]}" >>"$res"

# The table: MB/s and msgs/s per class and over the mix.
echo
awk -v target=0.70 '
	{ mode = $2; cls = $3; mbs[mode, cls] = $7; mps[mode, cls] = $8
	  if (!(cls in seen_c)) { seen_c[cls] = 1; if (cls != "all") cl[++nc] = cls }
	  if (!(mode in seen_m)) { seen_m[mode] = 1; md[++nm] = mode } }
	END {
		cl[++nc] = "all"
		label["engine"] = "(a) engine"; label["gmime"] = "(b) gmime floor"
		label["gmime+scan"] = "ref gmime+clamav"; label["altermime"] = "(c) altermime"
		label["python-email"] = "(d) python email"
		order[1] = "engine"; order[2] = "gmime"; order[3] = "gmime+scan"
		order[4] = "altermime"; order[5] = "python-email"
		printf "%-18s", "MB/s | msgs/s"
		for (i = 1; i <= nc; i++) printf " %19s", cl[i]
		printf "\n"
		for (o = 1; o <= 5; o++) {
			m = order[o]
			if (!(m in seen_m)) { printf "%-18s n/a\n", label[m]; continue }
			printf "%-18s", label[m]
			for (i = 1; i <= nc; i++)
				printf " %9.1f %9.1f", mbs[m, cl[i]], mps[m, cl[i]]
			printf "\n"
		}
		printf "\n%-18s", "ratio (a)/(b)"
		for (i = 1; i <= nc; i++) {
			if (("engine", cl[i]) in mbs && mbs["gmime", cl[i]] > 0)
				printf " %19.2f", mbs["engine", cl[i]] / mbs["gmime", cl[i]]
			else
				printf " %19s", "n/a"
		}
		printf "\n"
		if (("engine", "all") in mbs && mbs["gmime", "all"] > 0) {
			r = mbs["engine", "all"] / mbs["gmime", "all"]
			printf "target (a) >= %.2f x (b) on the mix: %.2f  %s\n", target, r, (r >= target ? "PASS" : "MISS")
		} else
			printf "target (a) >= %.2f x (b) on the mix: n/a (engine not built)\n", target
		ref = mbs["gmime+scan", "all"] + 0
		eng = mbs["engine", "all"] + 0
		if (ref > 0 && mbs["gmime", "all"] > 0) {
			printf "(scanning alone: ref/(b) = %.2f on the mix", ref / mbs["gmime", "all"]
			if (eng > 0)
				printf "; (a)/ref = %.2f", eng / ref
			printf ")\n"
		}
	}' "$res"
